"""`serve` as a tester found it: an offer of 3000 `a=rtpmap` lines (70 KiB, under the body cap)
held the event loop, every client's frames with it, for 10 s while aiortc made a codec of each;
an upload with no Content-Type was answered with a KeyError's repr; the Host check took what came
before the first ':' (`127.0.0.1:PORT@evil.com`, `localhost:abc`, `[::1`) and let an empty Host
through."""

from __future__ import annotations

import asyncio
import json

import pytest

from realtime_adain.serve.guards import host_name
from realtime_adain.serve.sdp import offer_problem
from test_fixes47_sdp_leniency import CHROMIUM
from test_serve import raw_request, registry, served  # noqa: F401  (fixture)

FINGERPRINT = next(line for line in CHROMIUM.splitlines() if line.startswith("a=fingerprint:"))


def with_lines(lines: list[str], before: str = "m=application") -> str:
    """The Chromium offer with `lines` inserted before the line that starts with `before`."""
    at = CHROMIUM.index(before)
    return CHROMIUM[:at] + "".join(f"{line}\r\n" for line in lines) + CHROMIUM[at:]


def with_payload_types(count: int) -> str:
    """The Chromium offer whose video m= line lists `count` payload types (its own four first)."""
    listed = " ".join(["96 97 102 103"] + ["96"] * (count - 4))
    return CHROMIUM.replace("m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103", f"m=video 9 UDP/TLS/RTP/SAVPF {listed}")


# (name, offer, what it is refused for): the video section of the Chromium offer has 4 a=rtcp-fb
# lines, 2 a=extmap, 4 a=ssrc, 1 a=ssrc-group and 1 a=fingerprint of its own
REFUSED = [
    ("3000 a=rtpmap", with_lines([f"a=rtpmap:{96 + i % 31} VP8/90000" for i in range(3000)]),
     "the offer has 3051 lines; at most 1000 (a browser's has a few hundred)"),
    ("a=rtpmap twice", with_lines(["a=rtpmap:96 VP8/90000"]),
     "the offer's video section has two a=rtpmap lines for payload type 96; one at most"),
    ("a=fmtp twice", with_lines(["a=fmtp:97 apt=96"]),
     "the offer's video section has two a=fmtp lines for payload type 97; one at most"),
    ("129 payload types", with_payload_types(129), "the offer's video m= line lists 129 payload types; at most 128"),
    ("257 a=rtcp-fb", with_lines(["a=rtcp-fb:96 nack"] * 253),
     "the offer's video section has 257 a=rtcp-fb lines; at most 256"),
    ("17 a=rtcp-fb:*", with_lines(["a=rtcp-fb:* nack"] * 17),
     "the offer's video section has 17 a=rtcp-fb:* lines; at most 16"),
    ("65 a=extmap", with_lines(["a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid"] * 63),
     "the offer's video section has 65 a=extmap lines; at most 64"),
    ("65 a=ssrc", with_lines([f"a=ssrc:{i} cname:x" for i in range(61)]),
     "the offer's video section has 65 a=ssrc lines; at most 64"),
    ("17 a=ssrc-group", with_lines(["a=ssrc-group:FID 2263377904 2885838785"] * 16),
     "the offer's video section has 17 a=ssrc-group lines; at most 16"),
    ("9 a=fingerprint", with_lines([FINGERPRINT] * 8),
     "the offer's video section has 9 a=fingerprint lines; at most 8"),
    ("9 session a=fingerprint", with_lines([FINGERPRINT] * 9, before="m=video"),
     "the offer's session part has 9 a=fingerprint lines; at most 8"),
]
# The same lines at their bounds: taken
TAKEN = [
    ("128 payload types", with_payload_types(128)),
    ("256 a=rtcp-fb, 16 of them *", with_lines(["a=rtcp-fb:96 nack"] * 236 + ["a=rtcp-fb:* nack"] * 16)),
    ("64 a=extmap, a=ssrc", with_lines(["a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid"] * 62
                                       + [f"a=ssrc:{i} cname:x" for i in range(60)])),
    ("16 a=ssrc-group, 8 a=fingerprint", with_lines(["a=ssrc-group:FID 1 2"] * 15 + [FINGERPRINT] * 7)),
    ("1000 lines", with_lines(["a=x-unknown:1"] * (1000 - len(CHROMIUM.splitlines())))),
]


@pytest.mark.parametrize("name, offer, reason", REFUSED, ids=[case[0] for case in REFUSED])
def test_offers_of_lines_aiortc_works_on_without_bound_are_refused(name, offer, reason):
    """Each was taken: aiortc's work on them grows faster than their number (a codec per a=rtpmap,
    each a=rtcp-fb matched against every codec, each a=ssrc looked up among those before it)."""
    assert offer_problem(offer) == reason


@pytest.mark.parametrize("name, offer", TAKEN, ids=[case[0] for case in TAKEN])
def test_offers_at_the_bounds_are_taken(name, offer):
    assert offer_problem(offer) is None


def test_a_host_header_is_a_name_or_address_and_a_port_of_digits():
    """What came before the first ':' was taken as the name."""
    for header in ("127.0.0.1:18507@evil.com", "localhost:abc", "[::1", "", "localhost:", "[::1]x", "a b",
                   "127.0.0.1:80/x", "[fe80::1%eth0]:80"):
        assert host_name(header) == "", header
    for header, name in (("localhost:8080", "localhost"), ("127.0.0.1:8080", "127.0.0.1"), ("[::1]:8080", "::1"),
                         ("[::1]", "::1"), ("Stylize.Example.com.:8443", "stylize.example.com"),
                         ("localhost", "localhost")):
        assert host_name(header) == name, header


def test_odd_hosts_uploads_without_a_form_and_an_offer_of_many_lines_are_refused(stylizer, registry):  # noqa: F811
    """On a loopback server with no token: an odd or empty Host header is a 403 as a foreign one is
    (browsers' own still pass); an upload without a multipart Content-Type is a 400 that says so
    (not "('Content-Type')"); an offer of 3000 a=rtpmap lines is a 400 before aiortc sees it."""
    offer = json.dumps({"sdp": REFUSED[0][1], "type": "offer"}).encode()

    async def main():
        answers = {}
        async with served(stylizer, registry, allow_uploads=True) as (_server, url):
            port = url.rsplit(":", 1)[1]
            for host in (f"127.0.0.1:{port}@evil.com", "localhost:abc", "[::1", "", f"localhost:{port}",
                         f"127.0.0.1:{port}", f"[::1]:{port}"):
                answers[host] = (await raw_request(url, f"GET /api/config HTTP/1.1\r\nHost: {host}\r\n"
                                                        "Connection: close\r\n\r\n".encode()))[0]
            for name, header in (("no type", b""), ("text", b"Content-Type: text/plain\r\n"),
                                 ("empty boundary", b"Content-Type: multipart/form-data; boundary=\r\n"),
                                 ("long boundary", b"Content-Type: multipart/form-data; boundary=" + b"X" * 7000 + b"\r\n")):
                status, body = await raw_request(url, b"POST /api/styles HTTP/1.1\r\nHost: 127.0.0.1\r\n" + header
                                                 + b"Content-Length: 1\r\nConnection: close\r\n\r\nx")
                answers[name] = status, json.loads(body)
            status, body = await raw_request(url, b"POST /api/offer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                             b"Content-Type: application/json\r\nConnection: close\r\n"
                                             b"Content-Length: %d\r\n\r\n" % len(offer) + offer)
            answers["offer"] = status, json.loads(body)
        return answers

    answers = asyncio.run(main())
    statuses = [status for host, status in answers.items()
                if host not in ("no type", "text", "offer", "empty boundary", "long boundary")]
    assert statuses == [403] * 4 + [200] * 3, answers
    assert answers["no type"] == (400, {"error": "the body is not multipart/form-data: the request has no Content-Type "
                                                 "(the image goes in the form's field 'image')"})
    assert answers["text"] == (400, {"error": "the body is not multipart/form-data: its Content-Type is 'text/plain' "
                                              "(the image goes in the form's field 'image')"})
    assert answers["offer"] == (400, {"error": f"bad offer: {REFUSED[0][2]}"})
    assert answers["empty boundary"] == (400, {"error": "the form's Content-Type names no boundary "
                                                        "(multipart/form-data; boundary=...)"})  # (said "256 lines")
    status, said = answers["long boundary"]  # (its 7000 characters were echoed whole)
    assert status == 400 and "(7" in said["error"] and len(said["error"]) < 400, said


def test_an_offer_body_that_is_not_json_is_said_as_an_empty_one_is(stylizer, registry):  # noqa: F811
    """Bytes no UTF-8 allows, an empty body and JSON of another shape: one wording."""
    async def main():
        answers = []
        async with served(stylizer, registry) as (_server, url):
            for body in (b"", b"\xff\xfe", b"{", b"{}", b"[]"):
                status, text = await raw_request(url, b"POST /api/offer HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                                 b"Content-Length: %d\r\n\r\n" % len(body) + body)
                answers.append((status, json.loads(text)))
        return answers

    assert asyncio.run(main()) == [(400, {"error": 'the body must be JSON {"sdp": ..., "type": "offer"}'})] * 5
