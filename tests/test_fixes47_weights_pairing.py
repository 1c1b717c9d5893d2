"""Session 47: the VGG checked as the encoder a decoder was trained against, read from a header at
any path; a missing VGG's hint for a torchvision-trained decoder; `weights info`'s metadata rows (h9)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from realtime_adain import weight_files, weight_paths
from realtime_adain.doctor import storage
from realtime_adain.encoders import TORCHVISION_VGG19
from realtime_adain.imageio import write_image
from test_fixes47_weights import checkpoint


def header_only(path, **metadata: str):
    """A safetensors file carrying `metadata` (its one tensor no decoder's): what is read of it here."""
    save_file({"x": torch.zeros(1)}, path, metadata=metadata)
    return path


def test_a_decoder_path_that_is_not_utf8_still_names_its_encoder(tmp_path):
    """safe_open refused the path ("not valid UTF-8"), read as no metadata: `weights info` and
    doctor approved the normalised VGG for a torchvision-trained decoder that `image` refused."""
    decoder = header_only(tmp_path / os.fsdecode(b"\xff.safetensors"), encoder=TORCHVISION_VGG19)
    assert weight_files.header_metadata(decoder) == {"encoder": TORCHVISION_VGG19}
    assert weight_paths.paired_encoder_kind(decoder) == TORCHVISION_VGG19


@pytest.mark.parametrize("header", [b"[1]", b"{not json", b'{"__metadata__": {"encoder": 5}}', b"[" * 100_000,
                                    b'{"__metadata__": [1]}'], ids=["list", "not-json", "number", "deep", "metadata-list"])
def test_a_header_without_string_metadata_reads_as_none(tmp_path, header):
    """(What safe_open refused, read as no metadata by the parser that replaced it.)"""
    path = tmp_path / "h.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header)
    assert weight_files.header_metadata(path) == {}
    path.write_bytes((1 << 40).to_bytes(8, "little") + header)  # (longer than the file)
    assert weight_files.header_metadata(path) == {}


def test_a_missing_vgg_for_a_torchvision_trained_decoder_is_not_sent_to_download(run_cli, monkeypatch, tmp_path):
    """doctor and `weights info` said to run `weights download`, which fetches the normalised VGG
    this decoder cannot use."""
    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("REALTIME_ADAIN_VGG", raising=False)
    monkeypatch.setenv("REALTIME_ADAIN_DECODER", str(header_only(tmp_path / "tv.safetensors", encoder=TORCHVISION_VGG19)))

    finding = storage._check_weights_file("vgg")
    assert finding.level == "problem" and "vgg19-dcbb9e9d.pth" in finding.fix, finding
    code, out, _ = run_cli("weights", "info")
    status = next(line for line in out.splitlines() if "status" in line)
    assert code == 1 and "vgg19-dcbb9e9d.pth" in status and "run `realtime-adain weights download`" not in status, out


def test_a_command_given_a_torchvision_trained_decoder_without_a_vgg_is_pointed_at_torchvisions(run_cli, monkeypatch,
                                                                                                  tmp_path):
    """`image --decoder TV_DECODER` with no VGG file said to download the normalised VGG where the
    decoder the environment names was not torchvision-trained (the one given was)."""
    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("REALTIME_ADAIN_VGG", raising=False)
    monkeypatch.delenv("REALTIME_ADAIN_DECODER", raising=False)
    decoder = header_only(tmp_path / "tv.safetensors", encoder=TORCHVISION_VGG19)
    for name in ("c.png", "s.png"):
        write_image(tmp_path / name, np.full((16, 16, 3), 128, np.uint8))
    code, _, err = run_cli("image", tmp_path / "c.png", "-s", tmp_path / "s.png", "--decoder", decoder, "-o", tmp_path / "o.png")
    assert code == 2 and "vgg19-dcbb9e9d.pth" in err, err


def test_weights_info_tells_long_metadata_keys_apart_and_bounds_long_values(published_weights, tmp_path):
    """Two long keys sharing their start printed the same name twice; a 400 KB `config` printed
    as one line."""
    from realtime_adain.commands.weights import what_it_holds

    keys = [f"{'p' * 40}_{end}" for end in "ab"]
    decoder = checkpoint(tmp_path / "d.safetensors", published_weights[1], config="{" * 400_000,
                         **dict.fromkeys(keys, "v"))
    rows = [(name, value) for name, value in what_it_holds("decoder", decoder, None) if name.startswith("meta ")]
    assert len({name for name, _ in rows}) == 3, [name for name, _ in rows]
    assert rows[0][0] == "meta config" and len(rows[0][1]) < 2100, rows[0][1][-40:]
    assert rows[0][1].endswith("... (400,000 characters)"), rows[0][1][-40:]
