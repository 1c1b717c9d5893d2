"""Fixes of the hostile campaign on the home, caches, styles and weights of session 36 (task h4)."""

from __future__ import annotations

import gzip
import os
import shutil

import pytest
import torch

from cli_support import one_error_line
from realtime_adain.doctor import storage
from realtime_adain.commands.weights import describe
from realtime_adain.errors import UserError
from weights_server import WeightsServer, release_bytes  # noqa: F401  (fixture)

SMALL = ("--size", "16", "--style-size", "32")


def bytes_read() -> int:
    """What this process has read through read(2) and the like so far (/proc/self/io's rchar)."""
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("rchar:"))


def test_a_huge_weights_file_is_refused_before_it_is_hashed(tmp_path, monkeypatch):
    """`weights info` and `doctor` hashed a 40 GB sparse file whole (97 s), then refused it for
    its size; `image` refused it at once."""
    huge = tmp_path / "huge.pth"
    with open(huge, "wb") as handle:
        handle.truncate(3 << 30)
    monkeypatch.setenv("REALTIME_ADAIN_VGG", str(huge))
    before = bytes_read()
    usable, rows = describe("vgg", None)
    finding = storage._check_weights_file("vgg")
    assert bytes_read() - before < 1 << 20
    assert not usable and "too large for a weights file (3,221,225,472 bytes; at most 2048 MiB)" in dict(rows)["status"]
    assert finding.level == "problem" and "too large for a weights file" in finding.value, finding


@pytest.mark.parametrize("kind, keep, says", [
    ("vgg", slice(0, 10), "incomplete VGG encoder weights: '16.weight' and 9 more missing of 20 tensors"),
    ("decoder", slice(0, -2), "incomplete plain decoder weights: '28.weight' and 1 more missing of 18 tensors"),
    ("vgg", slice(0, 6), "incomplete VGG encoder weights: '9.weight' and 13 more missing of 20 tensors"),  # (most gone)
    ("decoder", slice(0, 3), "incomplete plain decoder weights: '5.bias' and 14 more missing of 18 tensors"),
])
def test_weights_with_tensors_missing_say_so(run_cli, published_weights, data_dir, tmp_path, kind, keep, says):
    """Said "not VGG encoder weights; it looks like VGG encoder weights"."""
    source = published_weights[0] if kind == "vgg" else published_weights[1]
    state = torch.load(source, weights_only=True)
    cut = tmp_path / f"{kind}.pth"
    torch.save({key: state[key] for key in list(state)[keep]}, cut)
    other = published_weights[1] if kind == "vgg" else published_weights[0]
    weights = ["--vgg", cut, "--decoder", other] if kind == "vgg" else ["--vgg", other, "--decoder", cut]
    code, _, err = run_cli("image", data_dir / "content" / "lenna.jpg", "-s", data_dir / "style" / "mondrian.jpg",
                           *SMALL, *weights, "-o", tmp_path / "out.png")
    assert one_error_line(err, code) == f"error: {cut}: {says} (a file cut short or edited?)"


def test_a_style_cache_under_a_tilde_is_in_the_home_folder(run_cli, weights_env, data_dir, tmp_path, monkeypatch):
    """`--style-cache=~/c` (no shell expands a ~ after =) made a folder named ~ in the current one."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("image", data_dir / "content" / "lenna.jpg", "-s", data_dir / "style" / "mondrian.jpg",
                           *SMALL, "--sheet", "s.png", "--style-cache=~/c")
    assert code == 0, err
    assert not (tmp_path / "~").exists() and list((tmp_path / "home" / "c").iterdir())


def test_a_link_in_a_style_folder_is_a_tile_of_its_own(run_cli, weights_env, data_dir, tmp_path):
    """A sheet refused one folder given: "styles/asheville.jpg is given twice (also as styles/favourite.jpg)";
    `-o` wrote one output each. The same path given twice is still refused."""
    styles = tmp_path / "styles"
    styles.mkdir()
    shutil.copy(data_dir / "style" / "asheville.jpg", styles)
    (styles / "favourite.jpg").symlink_to("asheville.jpg")
    content = data_dir / "content" / "lenna.jpg"
    code, _, err = run_cli("image", content, "-s", styles, *SMALL, "--sheet", tmp_path / "sheet.png")
    assert code == 0 and (tmp_path / "sheet.png").exists(), err
    code, _, err = run_cli("image", content, "-s", styles / "asheville.jpg", "-s", styles / "asheville.jpg", *SMALL,
                           "--sheet", tmp_path / "again.png")
    assert one_error_line(err, code) == f"error: {styles / 'asheville.jpg'} is given twice: give each once"


@pytest.mark.slow
def test_a_download_sent_compressed_is_said_so(release_bytes, tmp_path):  # noqa: F811
    """Refused as "not a readable weights file (not a PyTorch or safetensors file)"."""
    from realtime_adain import download

    with WeightsServer({name: gzip.compress(body) for name, body in release_bytes.items()}) as server:
        for sent in ({"Content-Encoding": "gzip"}, {"Content-Encoding": "identity", "Content-encoding": "gzip"}):
            server.headers = {name: sent for name in release_bytes}  # (the second: two headers, the first harmless)
            with pytest.raises(UserError, match=r"the server sent the file compressed \(Content-Encoding: gzip\), "
                                                r"which was not asked for"):
                download.download_file("decoder", f"{server.url}/decoder.pth", tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".pth"]


def test_a_device_as_the_home_is_called_one(run_cli, tmp_path, monkeypatch):
    """`REALTIME_ADAIN_HOME=/dev/null engines list` said "/dev/null is a file, not a folder"."""
    monkeypatch.setenv("REALTIME_ADAIN_HOME", os.devnull)
    monkeypatch.delenv("REALTIME_ADAIN_ENGINES", raising=False)
    code, _, err = run_cli("engines", "list")
    assert one_error_line(err, code) == (f"error: {os.devnull}/engines: the engine cache cannot be there "
                                         f"({os.devnull} is a device, fifo or socket, not a folder; check $REALTIME_ADAIN_HOME)")
