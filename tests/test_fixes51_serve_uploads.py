"""`serve` as a tester found it: a form of many small parts (or a million lines before its first
boundary) held the event loop, every client's frames with it, for 50 s; a form aiohttp could not
parse (a line past its limit, too many headers in a part) was a 500 logged as the server's failure,
a part's unreadable Content-Disposition two lines of warning on stderr; an offer whose video is
recvonly was said to have no video track; /static/app.js/ served the file."""

from __future__ import annotations

import asyncio
import gzip
import warnings

import aiohttp
import cv2
import numpy as np
import pytest
from aiohttp import BadContentDispositionHeader

from realtime_adain.serve.sdp import offer_problem
from realtime_adain.serve.uploads import MAX_FORM_LINES, MAX_FORM_PARTS
from test_serve import registry, served  # noqa: F401  (fixture)
from test_serve_peers_hostile import offer_sdp

FORM = {"Content-Type": "multipart/form-data; boundary=zz"}


def part(name: bytes, body: bytes = b"x", headers: bytes = b"") -> bytes:
    return b'--zz\r\nContent-Disposition: form-data; name="' + name + b'"\r\n' + headers + b"\r\n" + body + b"\r\n"


def posted(stylizer, registry, bodies: dict[str, bytes | tuple[bytes, dict] | aiohttp.FormData]) -> dict:  # noqa: F811
    """Each body (bytes: as multipart/form-data; with headers of its own) POSTed to /api/styles of a
    server with uploads on: name -> (status, JSON)."""
    async def main():
        answers = {}
        async with served(stylizer, registry, allow_uploads=True) as (_server, url), aiohttp.ClientSession() as http:
            for name, body in bodies.items():
                body, extra = body if isinstance(body, tuple) else (body, {})
                headers = {} if isinstance(body, aiohttp.FormData) else {**FORM, **extra}
                async with http.post(f"{url}/api/styles", data=body, headers=headers) as response:
                    answers[name] = response.status, await response.json()
        return answers

    return asyncio.run(main())


def test_a_form_of_many_parts_or_lines_is_refused_naming_the_bound(stylizer, registry):  # noqa: F811
    """The parts looked at for `image` are bounded, and so are the lines of the form's own (text
    before the first boundary, boundaries, headers): aiohttp's reader walked them all without
    giving the event loop a turn. A form with the image after a few other fields is still taken."""
    png = cv2.imencode(".png", np.full((20, 30, 3), 90, np.uint8))[1].tobytes()
    form = aiohttp.FormData()
    for name in ("a", "b", "c"):
        form.add_field(name, "1")
    form.add_field("image", png, filename="style.png", content_type="image/png")
    answers = posted(stylizer, registry, {
        "parts": b"".join(part(b"f%d" % i) for i in range(1000)) + b"--zz--\r\n",
        "lines": b"\r\n" * 100000 + part(b"image") + b"--zz--\r\n",
        "fields first": form,
    })
    assert answers["parts"] == (400, {"error": f"the field 'image' is not among the form's first {MAX_FORM_PARTS} "
                                               "parts (the page sends that field alone)"})
    assert answers["lines"][0] == 400 and f"more than {MAX_FORM_LINES} lines" in answers["lines"][1]["error"]
    assert answers["fields first"][0] == 200, answers


def test_a_form_aiohttp_cannot_parse_is_a_400_not_a_server_failure(stylizer, registry, capfd):  # noqa: F811
    """Each was a 500, "the server could not keep the style", its log line two lines with the
    client's bytes in them."""
    capfd.readouterr()
    answers = posted(stylizer, registry, {
        "long line": b"x" * 600000,
        "long header": part(b"image", headers=b"X-A: " + b"a" * 9000 + b"\r\n") + b"--zz--\r\n",
        "5000 headers": part(b"image", headers=b"".join(b"X-%d: a\r\n" % i for i in range(5000))) + b"--zz--\r\n",
        "long charset": part(b"_charset_", b"u" * 100) + part(b"image") + b"--zz--\r\n",
        "gzip": (gzip.compress(b"{" * 3_000_000), {"Content-Encoding": "gzip"}),
    })
    log = capfd.readouterr().err
    for name, (status, body) in answers.items():
        assert status == 400 and body["error"].startswith("the body must be multipart/form-data"), (name, body)
        assert "\n" not in body["error"] and "xxxx" not in body["error"], body
    assert "a line of it is longer than the 8190 bytes allowed" in answers["long header"][1]["error"]
    assert "could not be kept" not in log, log


def test_an_unreadable_content_disposition_prints_no_warning(stylizer, registry, recwarn):  # noqa: F811
    """aiohttp warned (BadContentDispositionHeader: two lines on the server's stderr) for each."""
    warnings.simplefilter("always")
    answers = posted(stylizer, registry, {"bad": b"--zz\r\nContent-Disposition: ;;;;=\r\n\r\nx\r\n--zz--\r\n"})
    assert answers["bad"][0] == 400
    assert not [w for w in recwarn if issubclass(w.category, BadContentDispositionHeader)], [str(w) for w in recwarn]


@pytest.mark.parametrize("direction, refused", [("recvonly", True), ("inactive", True), ("sendonly", False),
                                                ("sendrecv", False)])
def test_an_offer_whose_video_is_not_sent_says_so(direction, refused):
    """It was "the offer has no video track" (aiortc makes no track of such a section)."""
    sdp = asyncio.run(offer_sdp()).replace("a=sendrecv", f"a={direction}")
    problem = offer_problem(sdp)
    if refused:
        assert problem is not None and problem.startswith(f"the offer's video is a={direction}: ") \
            and "must be a=sendrecv" in problem, problem
    else:
        assert problem is None


def test_an_offer_with_a_recvonly_video_is_a_400_saying_so(stylizer, registry):  # noqa: F811
    async def main():
        sdp = (await offer_sdp()).replace("a=sendrecv", "a=recvonly")
        async with served(stylizer, registry) as (_server, url), aiohttp.ClientSession() as http:
            async with http.post(f"{url}/api/offer", json={"sdp": sdp, "type": "offer"}) as response:
                return response.status, await response.json()

    status, body = asyncio.run(main())
    assert status == 400 and body["error"].startswith("bad offer: the offer's video is a=recvonly"), body


def test_a_static_name_with_a_trailing_slash_is_a_404(stylizer, registry):  # noqa: F811
    """aiohttp served /static/app.js for /static/app.js/ (the path dropped the slash)."""
    async def main():
        answers = {}
        async with served(stylizer, registry) as (_server, url), aiohttp.ClientSession() as http:
            for path in ("/static/app.js/", "/static/app.js//", "/static/app.js", "/nope"):
                async with http.get(f"{url}{path}") as response:
                    answers[path] = response.status, await response.text()
        return answers

    answers = asyncio.run(main())
    assert answers["/static/app.js/"] == answers["/static/app.js//"] == answers["/nope"] == (404, "404: Not Found")
    assert answers["/static/app.js"][0] == 200
