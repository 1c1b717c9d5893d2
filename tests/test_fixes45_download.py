"""Session 45's `weights download` findings (h3, h8): a chunked body whose framing never ended
held the command for good; a dead proxy was blamed on github.com; a token with a tab was printed
in clear; a 204 read as "interrupted 4 times"; two first-time runs could remove each other's
folder; a folder removed mid-run was blamed on the server."""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from pathlib import Path

import pytest

from cli_support import one_error_line
from realtime_adain import download, download_http, download_transfer
from realtime_adain.errors import UserError
import weights_server
from weights_server import WeightsServer, closed_port_url, release_bytes, synthetic_release  # noqa: F401  (fixtures)

DECODER = "decoder.pth"
FAST = download_transfer.MinRate(bytes_per_s=1000, window_s=0.25)


@pytest.fixture
def server(release_bytes):
    with WeightsServer(release_bytes) as running:
        yield running


@pytest.mark.parametrize("framing", ["trailer", "chunk size"])
@pytest.mark.slow_cases('trailer')  # (default run's time: 2 s)
def test_chunked_framing_that_never_ends_is_cut_off_as_too_slow(synthetic_release, server, tmp_path, framing,
                                                                 monkeypatch):
    """http.client reads a chunk-size line or the trailer inside one read1, each byte restarting the
    read timeout: checked between reads, neither the rate nor any bound applied (the server here
    gives up after `STALL_S`; before, that ended the body as whole, or as dropped 4 times). (A
    0.25 s window against a 3 s stall failed on a loaded machine: no body byte in the first window.)"""
    monkeypatch.setattr(weights_server, "STALL_S", 30.0)
    server.framing[DECODER] = framing
    part = tmp_path / f"{DECODER}.part"
    started = time.monotonic()
    with pytest.raises(UserError, match=r"too slow, 0 bytes in the last .*bytes kept in .*\(the next run resumes"):
        download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path,
                               min_rate=download_transfer.MinRate(bytes_per_s=1000, window_s=1.0))
    assert time.monotonic() - started < 20  # (cut off by the rate, not by the server's giving up)
    assert 0 < part.stat().st_size <= len(synthetic_release[DECODER])  # (kept for the next run)


def test_a_proxy_that_cannot_be_reached_is_named(monkeypatch):
    """Was "cannot reach weights.example (Connection refused); check the network"."""
    for name in ("no_proxy", "NO_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    proxy = closed_port_url()
    monkeypatch.setenv("HTTP_PROXY", proxy.replace("//", "//me:s3cret@"))
    with pytest.raises(UserError) as refused:
        download_http.open_url("http://weights.example/decoder.pth", 0)
    assert str(refused.value) == (f"cannot reach weights.example through the proxy {proxy.replace('//', '//***@')} (set "
                                  "in $HTTP_PROXY): Connection refused; check that proxy, or unset HTTP_PROXY to connect directly")


def test_a_url_with_a_tab_is_refused_with_its_token_masked(run_cli, tmp_path):
    """http.client refused it quoting the request path: `?token=***: ... 'S3CR\\tET-TOKEN'`."""
    code, _, err = run_cli("weights", "download", "--dir", tmp_path / "w",
                           "--vgg-url", f"{closed_port_url()}/vgg_normalised.pth?token=S3CR\tET-TOKEN")
    line = one_error_line(err, code)
    assert line.endswith("/vgg_normalised.pth?token=*** (from --vgg-url): a URL cannot hold a control character "
                         "(a tab or line break: pasted over two lines?)"), line
    assert "S3CR" not in err and "ET-TOKEN" not in err and not (tmp_path / "w").exists()


def test_204_no_content_is_said_as_such(synthetic_release, server, tmp_path):
    """Was "download interrupted 4 times before any data arrived" (after asking 4 times)."""
    server.statuses[DECODER] = 204
    with pytest.raises(UserError) as refused:
        download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path / "w")
    assert str(refused.value) == f"{server.url}/{DECODER}: HTTP 204 No Content"
    assert len(server.requests) == 1 and not (tmp_path / "w").exists()


def test_a_run_refused_the_folder_leaves_the_folder_another_run_made(synthetic_release, server, tmp_path, monkeypatch):
    """Two first-time runs: the second found the folder missing, then was refused the lock the first
    took once it had made it, and removed that folder (still empty) from under the first. The
    first run is let in at that moment here: it makes the folder and holds it."""
    folder = tmp_path / "weights"
    real_mkdir = Path.mkdir
    held = []

    def mkdir_after_the_other_run(path, *args, **kwargs):
        if path == folder and not held:
            real_mkdir(folder)
            held.append(os.open(folder, os.O_RDONLY))
            fcntl.flock(held[0], fcntl.LOCK_EX)
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir_after_the_other_run)
    try:
        with pytest.raises(UserError, match="another download into this folder is running"):
            download.download_file("decoder", f"{server.url}/{DECODER}", folder)
        assert folder.is_dir()
    finally:
        os.close(held[0])


def test_a_folder_removed_mid_download_is_said_so(synthetic_release, server, tmp_path):
    """`rm -rf $REALTIME_ADAIN_HOME` mid-run was "rejected the download (deleted it): no such weights
    file" with --no-checksum, a traceback (FileNotFoundError) with it: the server was not at fault."""
    folder = tmp_path / "home" / "weights"

    def remove_the_folder() -> None:
        while not (folder / f"{DECODER}.part").exists():
            time.sleep(0.01)
        shutil.rmtree(tmp_path / "home")

    server.midway[DECODER] = remove_the_folder
    for check_checksum in (True, False):
        with pytest.raises(UserError) as refused:
            download.download_file("decoder", f"{server.url}/{DECODER}", folder, check_checksum=check_checksum)
        assert str(refused.value) == (f"{folder / DECODER}: cannot write (its folder {folder} was removed or renamed "
                                      "during the run)")
        assert not folder.exists()


def test_too_slow_before_any_byte_of_the_body_says_nothing_was_kept(tmp_path):
    """Said "0 bytes kept in X.part (the next run resumes from them)" of a file never made (session 50)."""
    message = str(download_transfer.MinRate().too_slow("https://example.org/d.pth", 0, 60, tmp_path / "d.pth.part"))
    assert message.endswith("too slow, 0 bytes in the last 60 s (under 4096 bytes/s); stopped, nothing received to "
                            "keep; try again later, or use a mirror with --base-url"), message
