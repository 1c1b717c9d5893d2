"""Fixes of session 52: a .pth archive whose records do not match their checksums (torch.load
checks none), and the trainer's whole-number options echoing a 3,000-digit value whole."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest
import torch

from realtime_adain.errors import UserError
from realtime_adain.training.config import resolve_config
from realtime_adain import weight_files
from realtime_adain.weight_files import read_weights
from cli_support import training_error_line
from test_hostile_export_weights import write_deflated_pth
from train_support import tiny_args, train_tool  # noqa: F401  (a fixture)

HUGE = "9" * 3000
SHOWN_SHORT = f"'{'9' * 80}...' (3000 characters)"


def recompressed_off_its_checksum(path: Path, compress_type: int) -> None:
    """A torch.save archive at `path` whose tensor record is compressed with `compress_type` and
    whose CRC-32 (both headers' copies) no longer matches it."""
    torch.save({"1.weight": torch.ones(4, 4)}, path)
    with zipfile.ZipFile(path) as original:
        entries = [(info, original.read(info)) for info in original.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in entries:
            archive.writestr(info.filename, data,
                             compress_type=compress_type if info.filename.endswith("data/0") else info.compress_type)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        crc = archive.getinfo(next(n for n in archive.namelist() if n.endswith("data/0"))).CRC
    for at in range(len(data) - 3):
        if data[at:at + 4] == struct.pack("<I", crc):
            data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_deflated_record_that_does_not_match_its_checksum_is_refused(tmp_path):
    """torch.load checks no CRC: a compressed record whose sizes were edited (the bomb below) or
    whose checksum is off was read without a word."""
    path = tmp_path / "decoder.pth"
    recompressed_off_its_checksum(path, zipfile.ZIP_DEFLATED)
    with pytest.raises(UserError, match=r"^.*decoder\.pth: not a readable weights file \(damaged: its archive entry "
                                        r"'decoder/data/0' does not match its checksum\)$"):
        read_weights(path)


def test_an_entry_compressed_as_torch_save_never_does_is_not_unpacked(tmp_path):
    """A bzip2 record (zipfile's method 12): the checksum pass unpacked its block whole before
    cutting it to the stated size (8 KB of bzip2 asked for 1 GiB at once). It is passed over now,
    unread (its CRC, made wrong here, is not looked at): torch.load refuses it, as before the pass."""
    path = tmp_path / "decoder.pth"
    recompressed_off_its_checksum(path, zipfile.ZIP_BZIP2)
    with pytest.raises(UserError, match="not a readable weights file") as refused:
        read_weights(path)
    assert "checksum" not in str(refused.value), refused.value


def test_an_archive_of_more_entries_than_torch_save_writes_is_refused(tmp_path, monkeypatch):
    """200 000 one-byte entries took 7 s to read (the file bound allows millions)."""
    monkeypatch.setattr(weight_files, "MAX_ENTRIES", 8)
    path = tmp_path / "decoder.pth"
    torch.save({f"{i}.weight": torch.zeros(1) for i in range(8)}, path)
    with pytest.raises(UserError, match=r"its archive holds \d+ entries: torch.save writes one a tensor, a few dozen"):
        read_weights(path)


def write_lying_bomb(path: Path, numel: int, inflated: int) -> None:
    """A torch.save-style archive whose one tensor's record (`numel` floats) is `inflated` bytes
    of deflated zeros, its sizes in the archive then edited down to the tensor's: the zip bomb
    that claims the right sizes (torch.load inflated 4 GiB and kept the first 4.7 MB)."""
    write_deflated_pth(path, numel, record_bytes=inflated)
    data = bytearray(path.read_bytes())
    name = b"archive/data/0"
    # The uncompressed size in the record's local header and in the directory's entry for it.
    for signature, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        start = -1
        while data[start + name_at:start + name_at + len(name)] != name:
            start = data.index(signature, start + 1)
        data[start + size_at:start + size_at + 4] = struct.pack("<I", 4 * numel)
    path.write_bytes(bytes(data))


def test_a_zip_bomb_claiming_the_right_sizes_is_refused(tmp_path):
    path = tmp_path / "decoder.pth"
    write_lying_bomb(path, 256, 16 << 20)
    assert zipfile.ZipFile(path).getinfo("archive/data/0").file_size == 1024  # (what the size bound sees)
    with pytest.raises(UserError, match=r"damaged: its archive entry 'archive/data/0' does not match its checksum"):
        read_weights(path)


@pytest.mark.parametrize("option", ["--iterations", "--batch-size", "--seed", "--workers", "--load-size", "--crop-size"])
def test_a_3000_digit_whole_number_is_quoted_short(train_tool, tmp_path, option):
    """`--iterations 999...` printed all 3,000 digits, where `--lr 999...` is quoted cut short."""
    for kind in ("content", "style"):
        (tmp_path / kind).mkdir()
    code, _, err = train_tool(*tiny_args(tmp_path, tmp_path / "vgg.pth", tmp_path / "out", 2), option, HUGE)
    line = training_error_line(code, err)
    assert line.startswith(f"error: {option} ") and line.endswith(f", got {SHOWN_SHORT}"), line
    assert not (tmp_path / "out").exists()


def test_a_3000_digit_setting_differing_from_the_checkpoint_is_quoted_short():
    with pytest.raises(UserError) as refused:
        resolve_config({"seed": int(HUGE)}, {"seed": 0})
    assert str(refused.value) == (f"--seed {SHOWN_SHORT} differs from the checkpoint's 0: a resumed run keeps the "
                                  "settings it was started with")


def test_short_numbers_are_still_said_as_given():
    with pytest.raises(UserError, match=r"^--seed 5 differs from the checkpoint's 0: "):
        resolve_config({"seed": 5}, {"seed": 0})
