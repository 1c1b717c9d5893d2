"""Session 47's finding h9 on the TLS handshake messages: an https failure through a proxy was
blamed on the host and the URL's scheme ("github.com closed the connection in the TLS (https)
handshake: check the URL's scheme (http:// for a server without TLS)"), not on the proxy; and a
host that hangs up mid-handshake (TLS servers and middleboxes do too) was told to use http://."""

from __future__ import annotations

import pytest

from realtime_adain import download, download_http
from realtime_adain.errors import UserError
from test_fixes47_download import tls_breaking_server


@pytest.fixture(params=["hang-up", "plain http"])
def breaking_handshake(request):
    """(how, "127.0.0.1:PORT") of `tls_breaking_server`, both ways."""
    with tls_breaking_server(request.param) as address:
        yield request.param, address


def test_a_tls_handshake_failing_through_a_proxy_names_the_proxy(breaking_handshake, monkeypatch):
    """Was "weights.example closed the connection in the TLS (https) handshake: check the URL's
    scheme (http:// for a server without TLS)" ("answered, but not with TLS" for plain http)."""
    how, proxy = breaking_handshake
    for name in ("no_proxy", "NO_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("https_proxy", f"http://{proxy}")
    with pytest.raises(UserError) as refused:
        download_http.open_url("https://weights.example/decoder.pth", 0)
    failure = ("the connection closed during the TLS (https) handshake" if how == "hang-up"
               else "the answer to the TLS (https) handshake was not TLS")
    assert str(refused.value) == (f"cannot reach weights.example through the proxy http://{proxy} (set in $https_proxy): "
                                  f"{failure}; check that proxy, or unset https_proxy to connect directly")


@pytest.mark.parametrize("breaking_handshake", ["hang-up"], indirect=True)
def test_a_host_hanging_up_in_the_tls_handshake_is_no_scheme_mistake(breaking_handshake, monkeypatch):
    """Was "... closed the connection in the TLS (https) handshake: check the URL's scheme (http://
    for a server without TLS)": wrong advice for https://github.com behind a middlebox."""
    _, host = breaking_handshake
    for name in ("https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(UserError) as refused:
        download_http.open_url(f"https://{host}/decoder.pth", 0)
    assert str(refused.value) == (f"{host} closed the connection during the TLS (https) handshake; check the network, "
                                  f"or use a mirror with --base-url or ${download.BASE_URL_ENV_VAR}")
