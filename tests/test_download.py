"""The downloader against a real HTTP server on 127.0.0.1 serving weights in the published formats.

`synthetic_release` pins the release's size and SHA-256 to those of the generated files, so the
checksum path runs for real; most tests fetch only decoder.pth (14 MB) to stay quick.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from realtime_adain import download, download_transfer, download_urls
from realtime_adain.errors import UserError
from weights_server import WeightsServer, closed_port_url, release_bytes, synthetic_release  # noqa: F401

DECODER = "decoder.pth"


@pytest.fixture
def server(release_bytes):
    with WeightsServer(release_bytes) as running:
        yield running


def cache_listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_urls_follow_flag_env_default_order(monkeypatch):
    monkeypatch.delenv(download.BASE_URL_ENV_VAR, raising=False)
    assert download.file_urls()["vgg"] == f"{download.DEFAULT_BASE_URL}/vgg_normalised.pth"
    monkeypatch.setenv(download.BASE_URL_ENV_VAR, "https://env.example/w/")
    assert download.file_urls()["decoder"] == "https://env.example/w/decoder.pth"
    urls = download.file_urls("https://flag.example/w", decoder_url="https://one.example/d.pth")
    assert urls == {"vgg": "https://flag.example/w/vgg_normalised.pth", "decoder": "https://one.example/d.pth"}


def test_a_base_url_with_a_query_gets_the_file_name_on_its_path(synthetic_release, server, tmp_path):
    """A signed or token mirror URL (`...?token=...`): the name goes before the query, not into it."""
    urls = download.file_urls("https://mirror.example/adain/?token=s3cret&expires=9")
    assert urls["vgg"] == "https://mirror.example/adain/vgg_normalised.pth?token=s3cret&expires=9"
    server.files[f"adain/{DECODER}"] = synthetic_release[DECODER]
    url = download.file_urls(f"{server.url}/adain?token=s3cret")["decoder"]
    path, outcome = download.download_file("decoder", url, tmp_path)
    assert outcome == "downloaded" and path.read_bytes() == synthetic_release[DECODER]
    assert server.requests == [(f"/adain/{DECODER}?token=s3cret", None)]


def test_query_values_are_masked_in_messages(server, run_cli, tmp_path):
    """As a password in the URL is: the error line shows `token=***`, never the token."""
    code, _, err = run_cli("weights", "download", "--dir", tmp_path / "w", "--base-url",
                           f"{server.url}/missing?token=s3cret&user=me")
    assert code == 2 and err.count("\n") == 1, err
    assert err == f"error: {server.url}/missing/vgg_normalised.pth?token=***&user=***: HTTP 404 Not Found\n"
    # an error of http.client that quotes the request path and its query (a space is not allowed)
    with pytest.raises(UserError, match=r"connection failed .*token=\*\*\*") as raised:
        download.download_file("decoder", f"{server.url}/{DECODER}?token=s3 cret", tmp_path)
    assert "s3 cret" not in str(raised.value)
    assert download_urls.shown("https://u:pw@h.example/a?token=s3cret") == "https://***@h.example/a?token=***"


def test_a_server_that_trickles_is_cut_off(synthetic_release, server, tmp_path):
    """Each byte arrives within the read timeout, but the rate is hopeless: a clear line, what came
    kept in the .part to resume (the window is seconds here, a minute by default)."""
    server.trickle.add(DECODER)
    started = time.monotonic()
    with pytest.raises(UserError, match=r"too slow, \d+ bytes in the last 1 s \(under 1000 bytes/s\); stopped, \d+ bytes kept"):
        download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path / "new",
                               min_rate=download_transfer.MinRate(bytes_per_s=1000, window_s=1.0))
    assert time.monotonic() - started < 10
    assert cache_listing(tmp_path / "new") == [f"{DECODER}.part"]


def test_download_lands_verified_and_is_then_skipped(synthetic_release, server, tmp_path):
    path, outcome = download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path)
    assert outcome == "downloaded" and path == tmp_path / DECODER
    assert path.read_bytes() == synthetic_release[DECODER]
    assert cache_listing(tmp_path) == [DECODER]  # no .part left behind
    requests_before = len(server.requests)
    assert download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path)[1] == "already present"
    assert len(server.requests) == requests_before
    download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path, force=True)
    assert len(server.requests) == requests_before + 1


def test_cut_transfer_resumes_with_range(synthetic_release, server, tmp_path):
    server.cuts[DECODER] = [5_000_000]
    path, _ = download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path)
    assert server.requests == [(f"/{DECODER}", None), (f"/{DECODER}", "bytes=5000000-")]
    assert path.read_bytes() == synthetic_release[DECODER]


def test_part_file_of_an_earlier_run_is_resumed(synthetic_release, server, tmp_path):
    (tmp_path / f"{DECODER}.part").write_bytes(synthetic_release[DECODER][:3_000_000])
    path, _ = download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path)
    assert server.requests == [(f"/{DECODER}", "bytes=3000000-")]
    assert path.read_bytes() == synthetic_release[DECODER]
    assert cache_listing(tmp_path) == [DECODER]


def test_server_ignoring_range_restarts_from_scratch(synthetic_release, server, tmp_path):
    server.ignore_range = True
    (tmp_path / f"{DECODER}.part").write_bytes(b"\0" * 3_000_000)  # not even a prefix of the file
    path, _ = download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path)
    assert server.requests == [(f"/{DECODER}", "bytes=3000000-")]
    assert path.read_bytes() == synthetic_release[DECODER]


def test_oversized_part_file_is_discarded_after_416(synthetic_release, server, tmp_path):
    (tmp_path / f"{DECODER}.part").write_bytes(b"\0" * (len(synthetic_release[DECODER]) + 10))
    path, _ = download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path)
    assert [r for _, r in server.requests] == [f"bytes={len(synthetic_release[DECODER]) + 10}-", None]
    assert path.read_bytes() == synthetic_release[DECODER]


def test_repeated_cuts_keep_the_part_for_the_next_run(synthetic_release, server, tmp_path):
    server.cuts[DECODER] = [1_000_000] * download_transfer.ATTEMPTS
    with pytest.raises(UserError, match="interrupted .* run `realtime-adain weights download` again"):
        download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path)
    assert cache_listing(tmp_path) == [f"{DECODER}.part"]
    assert (tmp_path / f"{DECODER}.part").stat().st_size == download_transfer.ATTEMPTS * 1_000_000
    path, _ = download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path)
    assert server.requests[-1] == (f"/{DECODER}", f"bytes={download_transfer.ATTEMPTS * 1_000_000}-")
    assert path.read_bytes() == synthetic_release[DECODER]


def test_corrupt_bytes_fail_the_checksum_and_are_deleted(synthetic_release, server, tmp_path):
    body = bytearray(synthetic_release[DECODER])
    body[len(body) // 2] ^= 0xFF  # one flipped byte in the tensor data: same size, still loadable
    server.files[DECODER] = bytes(body)
    with pytest.raises(UserError, match=r"rejected the download \(deleted it\): SHA-256 [0-9a-f]{64} does not match"):
        download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path)
    assert cache_listing(tmp_path) == []


def test_garbled_file_fails_the_structure_check_and_is_deleted(synthetic_release, server, tmp_path):
    body = synthetic_release[DECODER]
    server.files[DECODER] = body[:1000] + b"\x5a" * 5000 + body[6000:]  # damaged archive header
    with pytest.raises(UserError, match="rejected the download .*not a readable weights file"):
        download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path, check_checksum=False)
    assert cache_listing(tmp_path) == []


def test_decoder_served_as_vgg_is_rejected(synthetic_release, server, tmp_path):
    server.files["vgg_normalised.pth"] = synthetic_release[DECODER]
    with pytest.raises(UserError, match="not VGG encoder weights; it looks like decoder weights"):
        download.download_file("vgg", f"{server.url}/vgg_normalised.pth", tmp_path, check_checksum=False)
    assert cache_listing(tmp_path) == []


def test_file_other_than_the_published_one_is_rejected_by_the_real_pins(server, tmp_path):
    published = download.PUBLISHED["decoder"]
    assert published.sha256 and len(published.sha256) == 64
    with pytest.raises(UserError, match=f"expected {published.size} .*decoder.pth of the release"):
        download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path)
    assert cache_listing(tmp_path) == []


def test_invalid_file_in_the_cache_is_replaced(synthetic_release, server, tmp_path):
    (tmp_path / DECODER).write_bytes(b"not weights")
    path, outcome = download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path)
    assert outcome == "downloaded" and path.read_bytes() == synthetic_release[DECODER]


def test_http_404_is_one_clear_line(server, tmp_path):
    with pytest.raises(UserError, match=r"/missing\.pth: HTTP 404 Not Found$"):
        download.download_file("decoder", f"{server.url}/missing.pth", tmp_path)
    assert cache_listing(tmp_path) == []


def test_refused_connection_is_one_clear_line(tmp_path):
    url = closed_port_url()
    with pytest.raises(UserError, match=r"cannot reach 127\.0\.0\.1:\d+ \(Connection refused\); check the network"):
        download.download_file("decoder", f"{url}/{DECODER}", tmp_path)
    assert cache_listing(tmp_path) == []


def test_failed_download_removes_the_directories_it_created(tmp_path):
    """No network: the error, and the filesystem as it was (no empty weights folder left behind)."""
    directory = tmp_path / "home" / "realtime-adain" / "weights"
    with pytest.raises(UserError, match=r"cannot reach 127\.0\.0\.1:\d+ \(Connection refused\)"):
        download.download_file("decoder", f"{closed_port_url()}/{DECODER}", directory)
    assert cache_listing(tmp_path) == []


@pytest.mark.parametrize("failure", ["404", "checksum", "no data"])
def test_other_failures_also_leave_no_new_directory(failure, synthetic_release, server, tmp_path):
    if failure == "checksum":
        body = bytearray(synthetic_release[DECODER])
        body[len(body) // 2] ^= 0xFF
        server.files[DECODER] = bytes(body)
    if failure == "no data":  # headers, then the connection drops, every attempt
        server.cuts[DECODER] = [0] * download_transfer.ATTEMPTS
    name = "missing.pth" if failure == "404" else DECODER
    with pytest.raises(UserError, match={"404": "HTTP 404", "checksum": "rejected the download",
                                         "no data": "interrupted 4 times before any data arrived"}[failure]):
        download.download_file("decoder", f"{server.url}/{name}", tmp_path / "new" / "weights")
    assert cache_listing(tmp_path) == []


def test_a_part_worth_resuming_keeps_its_new_directory(synthetic_release, server, tmp_path):
    server.cuts[DECODER] = [1_000_000] * download_transfer.ATTEMPTS
    directory = tmp_path / "new" / "weights"
    with pytest.raises(UserError, match="interrupted"):
        download.download_file("decoder", f"{server.url}/{DECODER}", directory)
    assert cache_listing(directory) == [f"{DECODER}.part"]


def test_malformed_url_is_one_clear_line(tmp_path):
    with pytest.raises(UserError, match="unknown url type"):
        download.download_file("decoder", "mirror.example/decoder.pth", tmp_path)


@pytest.mark.parametrize("check_checksum", [True, False])
def test_a_server_that_keeps_sending_is_cut_off(synthetic_release, server, tmp_path, monkeypatch, check_checksum):
    """The known size (or, with --no-checksum, MAX_DOWNLOAD_BYTES) bounds what is written, not the server."""
    body = synthetic_release[DECODER]
    if not check_checksum:
        monkeypatch.setattr(download, "MAX_DOWNLOAD_BYTES", len(body) + 3_000_000)
    server.endless.add(DECODER)
    with pytest.raises(UserError, match="sends more than .* bytes, .*stopped and deleted the download"):
        download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path, check_checksum=check_checksum)
    assert cache_listing(tmp_path) == []


def test_a_file_url_naming_a_fifo_or_device_is_one_line(synthetic_release, tmp_path):
    """urllib opens a file:// URL by name: a FIFO blocked `weights download` for good."""
    fifo = tmp_path / "vgg.pth"
    os.mkfifo(fifo)
    for url in (fifo.as_uri(), "file:///dev/zero", tmp_path.as_uri()):
        with pytest.raises(UserError, match=r"not a regular file \(a folder, pipe, device or socket\)$"):
            download.download_file("decoder", url, tmp_path / "out")
    assert not (tmp_path / "out").exists() or cache_listing(tmp_path / "out") == []
    good = tmp_path / "mirror" / DECODER
    good.parent.mkdir()
    good.write_bytes(synthetic_release[DECODER])
    path, _ = download.download_file("decoder", good.as_uri(), tmp_path / "out")
    assert path.read_bytes() == synthetic_release[DECODER]


def test_a_length_header_that_is_no_number_is_ignored(synthetic_release, server, tmp_path):
    """"²" is a digit to str.isdigit but not to int: the announced length was a ValueError traceback."""
    server.lengths[DECODER] = "\u00b2"
    path, _ = download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path)
    assert path.read_bytes() == synthetic_release[DECODER]


def test_an_announced_size_over_the_known_one_is_refused_before_writing(synthetic_release, server, tmp_path):
    server.files[DECODER] = synthetic_release[DECODER] + b"\0" * 10
    size = len(synthetic_release[DECODER])
    with pytest.raises(UserError, match=f"sends {size + 10} bytes, expected {size} \\(decoder.pth of the release"):
        download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path)
    assert cache_listing(tmp_path) == []


@pytest.mark.parametrize("name", [DECODER, f"{DECODER}.part"])
def test_a_folder_in_the_way_is_named(synthetic_release, server, tmp_path, name):
    (tmp_path / name).mkdir()
    with pytest.raises(UserError, match=f"^{tmp_path / name}: a folder is where"):
        download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path)
    assert server.requests == []


def test_two_downloads_into_one_folder_do_not_share_a_part_file(synthetic_release, server, tmp_path):
    """A second `weights download` into the folder while the first runs appended to the same .part
    (the bytes interleaved). It is now refused in one line; once the first ends, the folder is free."""
    server.trickle.add(DECODER)
    first: list[BaseException] = []

    def slow() -> None:
        try:
            download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path,
                                   min_rate=download_transfer.MinRate(bytes_per_s=1000, window_s=1.0))
        except UserError as exc:
            first.append(exc)

    running = threading.Thread(target=slow)
    running.start()
    time.sleep(0.5)
    with pytest.raises(UserError, match="another download into this folder is running; wait for it to end, or give "
                                        "another folder with --dir"):
        download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path)
    running.join(20)
    assert first and "too slow" in str(first[0])
    server.trickle.clear()
    assert download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path)[1] == "downloaded"
