"""Session 55's fixes: `weights download` checks the room for both files (their published sizes)
before fetching either (the 80 MB VGG landed, then the decoder failed "No space left on
device"); `Stylizer.to_uint8` refuses integer and bool tensors (uint8 200 came back 255); `doctor` says
a $REALTIME_ADAIN_HOME with a name too long for the system short, with a hint to shorten it (it was
the whole path and "make it readable and writable")."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from realtime_adain import doctor, download
from realtime_adain.doctor import storage
from realtime_adain.errors import UserError
from test_full_disk import tmpfs
from weights_server import WeightsServer, release_bytes, synthetic_release  # noqa: F401


@pytest.fixture
def server(release_bytes):
    with WeightsServer(release_bytes) as running:
        yield running


def pin_sizes(monkeypatch, sizes: dict[str, int]) -> None:
    """The published sizes (no bytes of them are served: the room is checked first)."""
    for kind, size in sizes.items():
        spec = download.PUBLISHED[kind]
        monkeypatch.setitem(download.PUBLISHED, kind, download.PublishedFile(kind, spec.filename, size, spec.sha256))


def test_no_room_for_both_files_is_refused_before_either_is_fetched(synthetic_release, server, tmp_path,
                                                                     monkeypatch):
    """Each file alone fits in the free space, both do not: one line with what is needed and free."""
    directory = tmp_path / "new" / "weights"
    half = shutil.disk_usage(tmp_path).free // 2 + 1024 * 1024
    pin_sizes(monkeypatch, {"vgg": half, "decoder": half})
    urls = download.file_urls(base_url=server.url)
    with pytest.raises(UserError, match=rf"^{directory}: no room for the download \(vgg_normalised.pth and "
                                        r"decoder.pth need [\d.]+ MB, [\d.]+ MB free\); free some space or "
                                        r"choose another --dir$"):
        download.download_all(urls, directory)
    assert server.requests == [] and not (tmp_path / "new").exists()


def test_a_file_already_in_place_and_a_kept_part_are_not_counted(tmp_path, monkeypatch):
    """Only the bytes still to fetch count: none for a sound file of the published size already
    there (unless --force), the rest for a kept `.part`, none where the size is not known."""
    pin_sizes(monkeypatch, {"vgg": 5000, "decoder": 3000})
    monkeypatch.setattr(download, "is_valid", lambda path, kind, check_checksum=True: True)  # (sound)
    with open(tmp_path / "vgg_normalised.pth", "wb") as present:
        present.truncate(5000)
    (tmp_path / "decoder.pth.part").write_bytes(b"\0" * 1000)
    assert download._bytes_to_fetch("vgg", tmp_path, force=False) == (0, 0)
    assert download._bytes_to_fetch("vgg", tmp_path, force=True) == (5000, 5000)
    assert download._bytes_to_fetch("decoder", tmp_path, force=False) == (2000, 0)
    assert download.room_needed(tmp_path, force=False) == (["decoder.pth"], 2000)
    pin_sizes(monkeypatch, {"decoder": None})
    assert download._bytes_to_fetch("decoder", tmp_path, force=False) == (0, 0)


def test_files_replaced_with_force_need_room_for_one_at_a_time(tmp_path, monkeypatch):
    """Each new file is renamed over the old one, freeing it: --force over both files in place
    needs the larger new file's room, not both (a disk that held them was refused)."""
    pin_sizes(monkeypatch, {"vgg": 5000, "decoder": 3000})
    for name, size in (("vgg_normalised.pth", 5000), ("decoder.pth", 3000)):
        with open(tmp_path / name, "wb") as present:
            present.truncate(size)
    assert download.room_needed(tmp_path, force=True) == (["vgg_normalised.pth", "decoder.pth"], 5000)
    (tmp_path / "decoder.pth").unlink()
    assert download.room_needed(tmp_path, force=True) == (["vgg_normalised.pth", "decoder.pth"], 5000)
    (tmp_path / "vgg_normalised.pth").unlink()
    assert download.room_needed(tmp_path, force=True) == (["vgg_normalised.pth", "decoder.pth"], 8000)


def test_a_read_only_folder_is_not_said_to_need_room(tmp_path):
    """A read-only file system's folder check says so; "free some space" was wrong for it."""
    from realtime_adain.download_folder import check_room

    with tmpfs(tmp_path / "read-only", "1m,ro") as folder:
        check_room(folder / "weights", ["vgg_normalised.pth"], 1 << 30)
    with tmpfs(tmp_path / "small", "1m") as folder:
        with pytest.raises(UserError, match="no room for the download"):
            check_room(folder / "weights", ["vgg_normalised.pth"], 1 << 19)  # (within 1 MB, not with the margin)
        with pytest.raises(UserError, match=r"needs 1,049,576 bytes, [\d,]+ bytes free\)"):  # (not "1.0 MB, 1.0 MB")
            check_room(folder / "weights", ["vgg_normalised.pth"], 1000)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.uint16, torch.int64, torch.bool])
def test_to_uint8_refuses_integer_and_bool_tensors(stylizer, dtype):
    """uint8 200 was taken as 200.0, a value far over 1, and came back 255 without a word."""
    with pytest.raises(TypeError, match=rf"^images must be a floating tensor of values in \[0, 1\], got {dtype}$"):
        stylizer.to_uint8(torch.ones(1, 3, 2, 2, dtype=dtype))
    assert stylizer.to_uint8(torch.full((1, 3, 2, 2), 200, dtype=torch.uint8).float() / 255).tolist() == \
        np.full((1, 2, 2, 3), 200, np.uint8).tolist()


def test_a_home_name_too_long_is_quoted_short_and_asks_for_a_shorter_path(monkeypatch, tmp_path):
    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(tmp_path / ("a" * 300)))
    for variable in ("REALTIME_ADAIN_VGG", "REALTIME_ADAIN_DECODER", "REALTIME_ADAIN_ENGINES"):
        monkeypatch.delenv(variable, raising=False)
    report = doctor.run_checks({"weights": storage.weight_files, "caches": storage.caches})
    for section, finding in report.problems():
        assert finding.name == "check failed", (section, finding)
        assert finding.value.endswith("file name too long (300 bytes in one name; a name holds at most 255)")
        assert len(finding.value) < 200 and "a" * 100 not in finding.value
        assert finding.fix == "point the setting that names it at a shorter path"
    assert [section for section, _ in report.problems()] == ["weights", "caches"]
