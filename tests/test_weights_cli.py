"""`realtime-adain weights download|info` end to end, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cli_support import one_error_line
from realtime_adain import download, weight_paths
from weights_server import WeightsServer, closed_port_url, release_bytes, synthetic_release  # noqa: F401


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh user: REALTIME_ADAIN_HOME set, no weights paths in the environment."""
    monkeypatch.setenv(weight_paths.HOME_ENV_VAR, str(tmp_path / "home"))
    for name in (*weight_paths.ENV_VAR.values(), download.BASE_URL_ENV_VAR):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


def test_download_info_then_image_through_the_cache(synthetic_release, home, run_cli, data_dir, tmp_path):
    cache = home / "weights"
    with WeightsServer(synthetic_release) as server:
        code, out, err = run_cli("weights", "download", "--base-url", server.url)
        assert code == 0, err
        assert sorted(p.name for p in cache.iterdir()) == ["decoder.pth", "vgg_normalised.pth"]
        for name, body in synthetic_release.items():
            assert (cache / name).read_bytes() == body
        assert out.count("downloaded") == 2

        requests = len(server.requests)
        code, out, _ = run_cli("weights", "download", "--base-url", server.url)
        assert code == 0 and out.count("already present") == 2 and len(server.requests) == requests

    code, out, err = run_cli("weights", "info")
    assert code == 0, out + err
    for name, body in synthetic_release.items():
        assert str(cache / name) in out
        assert hashlib.sha256(body).hexdigest() + "  (the published v0.0.0 file)" in out
        assert f"{len(body):,} bytes" in out
    assert out.count("weights directory") == 2
    assert "normalised VGG-19 encoder up to relu4_1 (31 modules used)" in out
    assert "decoder, architecture 'plain'" in out
    assert "tensors  34 (" in out  # 17 convolutions of the full VGG, weight and bias each

    result = tmp_path / "out.png"
    code, _, err = run_cli(
        "image", data_dir / "content" / "cornell.jpg", "--style", data_dir / "style" / "asheville.jpg",
        "-o", result, "--size", "64", "--style-size", "64", "--device", "cpu",
    )
    assert code == 0, err
    assert result.is_file()


def test_mirror_from_environment_and_dir_option(synthetic_release, home, run_cli, monkeypatch, tmp_path):
    target = tmp_path / "elsewhere"
    with WeightsServer(synthetic_release) as server:
        monkeypatch.setenv(download.BASE_URL_ENV_VAR, server.url)
        code, out, err = run_cli("weights", "download", "--dir", target)
    assert code == 0, err
    assert (target / "vgg_normalised.pth").is_file() and (target / "decoder.pth").is_file()
    assert "is not the default weights directory" in out
    assert not (home / "weights").exists()


def test_info_without_weights_names_the_download_command(home, run_cli):
    code, out, _ = run_cli("weights", "info")
    assert code == 1
    assert out.count("realtime-adain weights download") == 2
    assert str(home / "weights" / "vgg_normalised.pth") in out


def test_info_reports_flags_env_and_wrong_files(published_weights, home, run_cli, monkeypatch):
    vgg, decoder = published_weights
    monkeypatch.setenv("REALTIME_ADAIN_VGG", str(vgg))
    code, out, _ = run_cli("weights", "info", "--decoder", decoder)
    assert code == 0
    assert "$REALTIME_ADAIN_VGG" in out and "--decoder" in out

    code, out, _ = run_cli("weights", "info", "--vgg", decoder)  # a decoder given as encoder
    assert code == 1
    assert "not usable: not VGG encoder weights; it looks like decoder weights" in out


def test_corrupt_download_is_rejected_and_not_cached(synthetic_release, home, run_cli):
    files = dict(synthetic_release)
    body = bytearray(files["vgg_normalised.pth"])
    body[-100_000] ^= 0x01
    files["vgg_normalised.pth"] = bytes(body)
    with WeightsServer(files) as server:
        code, _, err = run_cli("weights", "download", "--base-url", server.url)
    assert code == 2
    assert "rejected the download (deleted it): SHA-256" in one_error_line(err)
    assert not home.exists()  # nor the directories the run created


def test_decoder_as_vgg_is_rejected_without_checksums(synthetic_release, home, run_cli):
    with WeightsServer(synthetic_release) as server:
        code, _, err = run_cli("weights", "download", "--no-checksum", "--base-url", server.url,
                               "--vgg-url", f"{server.url}/decoder.pth")
    assert code == 2
    assert "not VGG encoder weights; it looks like decoder weights" in one_error_line(err)
    assert not home.exists()


def test_no_network_is_a_clear_error(home, run_cli):
    code, _, err = run_cli("weights", "download", "--base-url", closed_port_url())
    assert code == 2
    assert "cannot reach 127.0.0.1:" in one_error_line(err) and "Connection refused" in err
    assert not home.exists()  # no empty weights folder left behind


def test_http_404_is_a_clear_error(home, run_cli, release_bytes):
    with WeightsServer({}) as server:
        code, _, err = run_cli("weights", "download", "--base-url", server.url)
    assert code == 2
    assert one_error_line(err) == f"error: {server.url}/vgg_normalised.pth: HTTP 404 Not Found"


def test_a_private_mirror_takes_the_login_in_its_url_and_no_line_shows_it(synthetic_release, home, run_cli):
    """user:password in --base-url is sent as an HTTP Basic login (as curl or pip do); without it,
    or with a wrong one, the error line names the URL with the login replaced by ***."""
    with WeightsServer(synthetic_release) as server:
        server.login = "reader:s3 cret"
        code, _, err = run_cli("weights", "download", "--base-url", server.url.replace("//", "//reader:wrong@"))
        assert code == 2 and "wrong" not in err and "reader" not in err
        assert one_error_line(err) == f"error: {server.url.replace('//', '//***@')}/vgg_normalised.pth: HTTP 401 Unauthorized"
        code, _, err = run_cli("weights", "download", "--base-url", server.url)
        assert code == 2 and one_error_line(err).endswith("HTTP 401 Unauthorized")
        code, out, err = run_cli("weights", "download", "--base-url", server.url.replace("//", "//reader:s3%20cret@"))
    assert code == 0, err
    assert "s3" not in out + err
    code, _, err = run_cli("weights", "download", "--force", "--base-url", "http://reader:s3cret@[::1/adain")
    assert code == 2 and "s3cret" not in err and "error:" in one_error_line(err)


def test_image_without_weights_names_the_download_command(home, run_cli, data_dir, tmp_path):
    code, _, err = run_cli(
        "image", data_dir / "content" / "cornell.jpg", "--style", data_dir / "style" / "asheville.jpg",
        "-o", tmp_path / "out.png", "--size", "64",
    )
    assert code == 2
    assert "run `realtime-adain weights download`" in one_error_line(err)
