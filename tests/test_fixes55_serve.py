"""`serve` as a tester found it in session 55: an HTTP/1.0 request with no Host header was served
on loopback (the Host check skipped it), and so was a request whose target in absolute form named
another server (`GET http://evil.example/api/config` with this server's Host); an offer whose
a=mid ended in a NUL was refused as "a=group:BUNDLE names mid '0', which no media section has",
the quote hiding the character that made it another mid."""

from __future__ import annotations

import asyncio

from realtime_adain.serve.sdp import offer_problem
from test_serve import raw_request, registry, served  # noqa: F401 (registry: a fixture)
from test_serve_peers_hostile import offer_sdp


def test_a_missing_host_or_an_absolute_target_naming_another_server_is_refused(stylizer, registry):
    """On loopback: no Host header (HTTP/1.0) is a 403 as an empty one is; an absolute-form target
    is judged by its authority, which replaces the Host header (RFC 9112 3.2.2): another server's
    name (any case of scheme, with user info too) is a 403 whatever the Host says, this server's is
    served; CONNECT (authority form) is still its 405."""
    requests = {
        "1.0 no Host": b"GET /api/config HTTP/1.0\r\n\r\n",
        "1.0 Host": b"GET /api/config HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
        "absolute foreign": b"GET http://evil.example/api/config HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        "absolute HTTPS": b"GET HTTPS://EVIL.example/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        "absolute user info": b"GET http://127.0.0.1@evil.example/api/config HTTP/1.1\r\nHost: localhost\r\n"
                              b"Connection: close\r\n\r\n",
        "absolute own": b"GET http://localhost:{port}/api/config HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
        "absolute own IPv6": b"GET http://[::1]/api/config HTTP/1.0\r\n\r\n",
        "CONNECT": b"CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    }

    async def main():
        async with served(stylizer, registry) as (_server, url):
            port = url.rsplit(":", 1)[1].encode()
            return {name: await raw_request(url, request.replace(b"{port}", port)) for name, request in requests.items()}

    answers = asyncio.run(main())
    statuses = {name: status for name, (status, _body) in answers.items()}
    assert statuses == {"1.0 no Host": 403, "1.0 Host": 200, "absolute foreign": 403, "absolute HTTPS": 403,
                        "absolute user info": 403, "absolute own": 200, "absolute own IPv6": 200, "CONNECT": 405}, answers
    assert b"not to the name in the request's URL" in answers["absolute foreign"][1], answers
    assert b"and the request names none (no Host header)" in answers["1.0 no Host"][1], answers


def test_a_control_character_in_a_mid_is_refused_as_such():
    """`a=mid:0` with a NUL (or another control character) after it: the mid's own line is refused,
    the character shown escaped; BUNDLE's quote of `0` hid why it matched no section."""
    good = asyncio.run(offer_sdp())
    assert "a=mid:0\r\n" in good and offer_problem(good) is None
    for character in ("\x00", "\x01", "\x7f", "\x9b", "\u200b", "\u202e", "\ufeff", "\u061c", "\u3164", "\U000e0020",
                      "\ue000"):  # (C0, DEL, C1, format, bidi, filler, tag, private use)
        problem = offer_problem(good.replace("a=mid:0\r\n", f"a=mid:0{character}\r\n", 1))
        assert problem is not None and problem.startswith("the offer's a=mid line must be 1 to 256 ASCII letters, "
                                                          "digits or !#$%&'*+-.^_`{|}~ (a token), not '0"), problem
        assert character.isprintable() or character not in problem, problem  # (shown escaped)
