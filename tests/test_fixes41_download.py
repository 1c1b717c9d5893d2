"""Session 41's `weights download` / weights-file findings (h5): the usual two-slash typo of a
file:// mirror (`file://tmp/w`) said "No such file or directory", the three-slashes hint showing
only where the path existed here; and a zip that is no PyTorch archive (an .npz, a zip of other
files) was refused in torch's C++ text ("[enforce fail at inline_container.cc:180] ...")."""

from __future__ import annotations

import io
import re
import socket
import tarfile
import zipfile

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from cli_support import one_error_line
from realtime_adain import download, weights
from realtime_adain.errors import UserError

THREE_SLASHES = "a file:// URL names a file on this machine, not on {}: file:///folder/name (three slashes)"


def test_a_file_url_with_two_slashes_gets_the_three_slashes_hint(published_weights, run_cli, tmp_path):
    """`file:/` + `/tmp/...`: the host `tmp`, and the rest a path that does not exist here."""
    mirror = published_weights[0].parent
    typo = "file:/" + str(mirror)
    host = mirror.parts[1]
    code, out, err = run_cli("weights", "download", "--no-checksum", "--base-url", typo, "--dir", tmp_path / "wd")
    line = one_error_line(err, code)
    assert line.endswith(f"(from --base-url): {THREE_SLASHES.format(host)}"), line
    assert out == "" and not (tmp_path / "wd").exists()


def test_a_file_url_naming_another_host_is_refused_before_anything_is_fetched(published_weights):
    """A bad --decoder-url was found only after the VGG had been fetched."""
    mirror = published_weights[0].parent
    with pytest.raises(UserError, match=re.escape(f"(from --decoder-url): {THREE_SLASHES.format('otherhost')}")):
        download.file_urls(base_url=mirror.as_uri(), decoder_url=f"file://otherhost{mirror}/decoder.pth")
    for host in ("", "localhost", "LOCALHOST", "127.0.0.1", socket.gethostname()):  # this machine's names still work
        assert download.file_urls(base_url=f"file://{host}{mirror}")["decoder"] == f"file://{host}{mirror}/decoder.pth"


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, body in entries.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def _npz() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, weight=np.ones(3, dtype=np.float32))
    return buffer.getvalue()


def _tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("decoder.pth")
        info.size = 2
        archive.addfile(info, io.BytesIO(b"hi"))
    return buffer.getvalue()


def _safetensors(tmp_path) -> bytes:
    save_file({"weight": torch.ones(2)}, tmp_path / "x.safetensors")
    return (tmp_path / "x.safetensors").read_bytes()


def _torch_archive_without(record: str) -> bytes:
    """A torch.save archive less its `record` (torch.load needs `data.pkl` and `version`)."""
    buffer = io.BytesIO()
    torch.save({"weight": torch.ones(2)}, buffer)
    archive = zipfile.ZipFile(buffer)
    return _zip({name: archive.read(name) for name in archive.namelist() if name.partition("/")[2] != record})


NOT_PYTORCH_ZIP = "a zip archive that is not a PyTorch weights file"
FOREIGN_FILES = {  # what a .pth holds -> the words that say what it is
    "zip of a text file": (lambda tmp: _zip({"hello.txt": b"hi" * 1000}), NOT_PYTORCH_ZIP),
    "zip of a folder": (lambda tmp: _zip({"stuff/hello.txt": b"hi"}), NOT_PYTORCH_ZIP),
    "numpy npz": (lambda tmp: _npz(), NOT_PYTORCH_ZIP),
    "torch archive without data.pkl": (lambda tmp: _torch_archive_without("data.pkl"), NOT_PYTORCH_ZIP),
    "torch archive without version": (lambda tmp: _torch_archive_without("version"), NOT_PYTORCH_ZIP),
    "empty zip": (lambda tmp: _zip({}), "not a PyTorch or safetensors file"),
    "tar": (lambda tmp: _tar(), "not a PyTorch or safetensors file"),
    "safetensors": (_safetensors, "a safetensors file named .pth: name it .safetensors"),
}


@pytest.mark.parametrize("what", FOREIGN_FILES)
def test_a_foreign_file_as_pth_says_what_it_is(what, tmp_path):
    make, words = FOREIGN_FILES[what]
    path = tmp_path / "decoder.pth"
    path.write_bytes(make(tmp_path))
    with pytest.raises(UserError) as refused:
        weights.load_decoder(path)
    assert str(refused.value) == f"{path}: not a readable weights file ({words})"


def test_a_mirror_serving_a_zip_as_the_decoder_says_so(tmp_path):
    """`weights download --no-checksum` from a mirror whose decoder.pth is a zip of other files."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "decoder.pth").write_bytes(_zip({"hello.txt": b"hi" * 1000}))
    url = (mirror / "decoder.pth").as_uri()
    with pytest.raises(UserError) as refused:
        download.download_file("decoder", url, tmp_path / "wd", check_checksum=False)
    assert str(refused.value) == f"{url}: rejected the download (deleted it): not a readable weights file ({NOT_PYTORCH_ZIP})"
    assert not (tmp_path / "wd").exists()
