"""Session 37's `weights download` / `weights info` findings: a kept `.part` from another source was
resumed and the mixed file blamed on the server; a URL's port 99999 said "Connection refused"; a
folder in place of the `.part` was called "where the weights file goes"; a folder given to
`weights info` had no `path` row and said "unusable:" where every other case says "not usable:".
A real HTTP server on 127.0.0.1 (tests/weights_server.py), the real downloader and CLI."""

from __future__ import annotations

import os

import pytest

from cli_support import one_error_line
from realtime_adain import download
from realtime_adain.commands.weights import describe
from realtime_adain.errors import UserError
from weights_server import WeightsServer, release_bytes, synthetic_release  # noqa: F401  (fixtures)

DECODER = "decoder.pth"


@pytest.fixture
def server(release_bytes):
    with WeightsServer(release_bytes) as running:
        yield running


@pytest.mark.parametrize("check_checksum", [True, False])
def test_a_kept_part_that_does_not_fit_is_downloaded_again_from_the_start(synthetic_release, server, tmp_path,
                                                                         capsys, check_checksum):
    """A `.part` of 1000 other bytes (another mirror's, a damaged one) was resumed, and the mixed
    file "rejected" as the server's fault; now it is fetched once more, whole, with a note."""
    (tmp_path / f"{DECODER}.part").write_bytes(os.urandom(1000))
    path, outcome = download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path, check_checksum=check_checksum)
    assert outcome == "downloaded" and path.read_bytes() == synthetic_release[DECODER]
    assert server.requests == [(f"/{DECODER}", "bytes=1000-"), (f"/{DECODER}", None)]
    assert "the partial download kept in decoder.pth.part by an earlier run did not fit" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == [DECODER]


def test_a_bad_file_is_still_refused_after_the_fresh_download(synthetic_release, server, tmp_path):
    """The fresh download failing too is the server's file: one error, nothing left; a download not
    built on a kept `.part` is not fetched twice."""
    body = bytearray(synthetic_release[DECODER])
    body[len(body) // 2] ^= 0xFF
    server.files[DECODER] = bytes(body)
    (tmp_path / f"{DECODER}.part").write_bytes(bytes(body[:1000]))
    with pytest.raises(UserError, match=r"rejected the download \(deleted it\): SHA-256"):
        download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path)
    assert [r for _, r in server.requests] == ["bytes=1000-", None]
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UserError, match=r"rejected the download"):
        download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path)
    assert [r for _, r in server.requests] == ["bytes=1000-", None, None]


@pytest.mark.parametrize("port", ["99999", "0", "65536", "abc", "-1"])
def test_an_invalid_port_is_one_line_before_any_connection(run_cli, tmp_path, port):
    code, out, err = run_cli("weights", "download", "--dir", tmp_path / "w", "--base-url", f"http://127.0.0.1:{port}/x")
    assert one_error_line(err, code) == (f"error: http://127.0.0.1:{port}/x/vgg_normalised.pth (from --base-url): "
                                         f"the URL's port '{port}' is not valid (a number from 1 to 65535)")
    assert not (tmp_path / "w").exists()
    with pytest.raises(UserError, match=r"\(from --decoder-url\): the URL's port '70000' is not valid"):
        download.file_urls(decoder_url="https://[::1]:70000/decoder.pth")
    assert download.file_urls("http://127.0.0.1:65535/x")["vgg"] == "http://127.0.0.1:65535/x/vgg_normalised.pth"


def test_a_folder_where_the_part_goes_is_named_as_the_part(synthetic_release, server, tmp_path):
    (tmp_path / f"{DECODER}.part").mkdir()
    with pytest.raises(UserError, match=f"^{tmp_path / DECODER}.part: a folder is where the partial download of "
                                        f"{DECODER} goes; move it away or use --dir$"):
        download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path)
    assert server.requests == []


@pytest.mark.parametrize("given", ["option", "variable", "weights directory"])
def test_a_folder_given_to_weights_info_has_a_path_and_is_not_usable(published_weights, tmp_path, monkeypatch, given):
    """As a file that is there but unreadable: `path`, then `status  not usable: WHY`."""
    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("REALTIME_ADAIN_DECODER", raising=False)
    folder = tmp_path / "home" / "weights" / DECODER if given == "weights directory" else tmp_path / "dir.pth"
    folder.mkdir(parents=True)
    if given == "variable":
        monkeypatch.setenv("REALTIME_ADAIN_DECODER", str(folder))
    usable, rows = describe("decoder", str(folder) if given == "option" else None)
    assert not usable and [name for name, _ in rows] == ["path", "from", "status"], rows
    assert dict(rows)["path"] == str(folder)
    assert dict(rows)["status"].startswith("not usable: a folder, not a weights file"), rows


@pytest.mark.parametrize("port", ["99999", "abc"])
def test_a_redirect_to_a_bad_port_names_the_redirect(tmp_path, port):
    """A mirror redirecting to `:99999` said "cannot reach ... (Connection refused)", one to `:abc`
    blamed the mirror's own URL ("nonnumeric port"): the redirect's port is named as not valid."""
    from http.server import ThreadingHTTPServer
    import threading

    from test_fixes32_weights import _ToPlainHttp  # (a 302 to the same path on `target`)

    handler = type("Handler", (_ToPlainHttp,), {"target": f"http://127.0.0.1:{port}"})
    mirror = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=mirror.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        with pytest.raises(UserError) as caught:
            download.download_file("decoder", f"http://127.0.0.1:{mirror.server_address[1]}/{DECODER}", tmp_path / "w")
    finally:
        mirror.shutdown()
        mirror.server_close()
        thread.join(5)
    text = str(caught.value)
    assert text.endswith(f"HTTP 302 Found - a redirect to 'http://127.0.0.1:{port}/{DECODER}', whose port is not "
                         "valid (a number from 1 to 65535)"), text
