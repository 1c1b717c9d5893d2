"""Session 42's `weights download` finding (f2): `--base-url file://localhost:80/...` said the file
was "not on localhost:80" (the host is this machine; the port is what is wrong), late and without
"(from --base-url)"; urllib read `file://:80/x` as `/x` and could not look up `file://[::1]/x`.
Now a file:// URL's host is judged once, before anything is fetched: a port or a login is refused
in its own words, and every name of this machine (`[::1]` too) is read as a local path."""

from __future__ import annotations

import pytest

from cli_support import one_error_line
from realtime_adain import download
from realtime_adain.errors import UserError
from weights_server import release_bytes, synthetic_release  # noqa: F401  (fixtures)

DECODER = "decoder.pth"
NO_PORT = "a file:// URL takes no port: file:///folder/name"
NO_LOGIN = "a file:// URL takes no login (user@): file:///folder/name"


def test_a_file_url_with_a_port_is_refused_early_for_the_port(published_weights, run_cli, tmp_path):
    mirror = published_weights[0].parent
    code, out, err = run_cli("weights", "download", "--no-checksum", "--dir", tmp_path / "wd",
                             "--base-url", f"file://localhost:80{mirror}")
    assert one_error_line(err, code) == f"error: file://localhost:80{mirror}/vgg_normalised.pth (from --base-url): {NO_PORT}"
    assert out == "" and not (tmp_path / "wd").exists()


@pytest.mark.parametrize("netloc, problem", [
    ("localhost:", NO_PORT), (":80", NO_PORT), ("[::1]:80", NO_PORT), ("127.0.0.1:0", NO_PORT),
    ("user@localhost", NO_LOGIN), ("user:secret@", NO_LOGIN),
])
def test_a_port_or_login_in_a_file_url_is_refused_before_anything_is_fetched(published_weights, netloc, problem):
    mirror = published_weights[0].parent
    with pytest.raises(UserError) as refused:
        download.file_urls(decoder_url=f"file://{netloc}{mirror}/{DECODER}")
    assert str(refused.value).endswith(f"/{DECODER} (from --decoder-url): {problem}")
    assert "secret" not in str(refused.value)


@pytest.mark.parametrize("netloc", [":80", "localhost:80"])
def test_download_file_refuses_a_port_in_a_file_url_too(synthetic_release, tmp_path, netloc):
    """A URL not from file_urls: urllib read `file://:80/x` as `/x`, and said "not on localhost:80"."""
    (tmp_path / DECODER).write_bytes(synthetic_release[DECODER])
    url = f"file://{netloc}{tmp_path}/{DECODER}"
    with pytest.raises(UserError) as refused:
        download.download_file("decoder", url, tmp_path / "wd")
    assert str(refused.value) == f"{url}: {NO_PORT}"
    assert not (tmp_path / "wd").exists()


def test_a_file_url_naming_this_machine_by_its_ipv6_address_is_read(synthetic_release, tmp_path):
    """`file://[::1]/...` was refused as "not on [::1]" (urllib looks hosts up over IPv4 only)."""
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / DECODER).write_bytes(synthetic_release[DECODER])
    url = download.file_urls(base_url=f"file://[::1]{tmp_path / 'mirror'}")["decoder"]
    path, outcome = download.download_file("decoder", url, tmp_path / "wd")
    assert outcome == "downloaded" and path.read_bytes() == synthetic_release[DECODER]
