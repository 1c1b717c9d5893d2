"""`serve`, as a tester found it: a query token with a trailing blank refused while the same in
the header was taken (the stream played, its thumbnails did not); CONNECT and `OPTIONS *` answered
with aiohttp's plain-text 404 (no 401 on a token server either); malformed offers answered with
aiortc's internals ("KeyError: 'x'", "AssertionError", "coroutine raised StopIteration") and
logged "closing its connection failed"; an upload's note printed without the `serve:` prefix and
never told to the uploader."""

from __future__ import annotations

import asyncio
import json
import re

import aiohttp
import cv2
import numpy as np
import pytest
from aiortc import RTCSessionDescription

from realtime_adain.live.styles import StyleLibrary
from realtime_adain.serve.batcher import Batcher
from realtime_adain.serve.control import Look
from realtime_adain.serve.peers import Client
from realtime_adain.serve.sdp import offer_problem
from realtime_adain.serve.styles import StyleRegistry
from test_serve import raw_request, served, upload_form
from test_serve_peers_hostile import offer_sdp

TOKEN = "s3cret-token-123"


@pytest.fixture
def registry(stylizer, data_dir, tmp_path) -> StyleRegistry:
    library = StyleLibrary([data_dir / "style" / "mondrian.jpg"], stylizer, 64, tmp_path / "cache").load()
    (tmp_path / "uploads").mkdir()
    return StyleRegistry(library, tmp_path / "uploads")


def test_a_query_token_with_blanks_around_it_is_taken_as_the_header_is(stylizer, registry):
    """One rule for both: blanks around the token are no part of it (a URL pasted with `%20`);
    anything else added to it is still a wrong token."""
    async def main():
        async with served(stylizer, registry, token=TOKEN) as (_server, url), aiohttp.ClientSession() as http:
            answers = {}
            for name, query in {"query %20": f"token={TOKEN}%20", "query %20 before": f"token=%20{TOKEN}",
                                "query tab": f"token={TOKEN}%09", "query more": f"token={TOKEN}%20x"}.items():
                for route in ("config", "styles/s0/thumbnail.jpg"):
                    async with http.get(f"{url}/api/{route}?{query}") as response:
                        answers[name, route] = response.status
            async with http.get(f"{url}/api/config", headers={"Authorization": f"Bearer {TOKEN} "}) as response:
                answers["header"] = response.status
            return answers

    answers = asyncio.run(main())
    assert answers["header"] == 200
    for route in ("config", "styles/s0/thumbnail.jpg"):
        assert answers["query %20", route] == answers["query %20 before", route] == answers["query tab", route] == 200
        assert answers["query more", route] == 401, answers


def test_requests_naming_no_path_are_answered_in_json(stylizer, registry):
    """CONNECT (authority form) and `OPTIONS *` name no path: a JSON 405/400, token or not, where
    aiohttp answered a plain-text 404."""
    async def main():
        async with served(stylizer, registry, token=TOKEN) as (_server, url):
            head = b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            return {line: await raw_request(url, line.encode() + head)
                    for line in ("CONNECT /api/config", "CONNECT 127.0.0.1:443", "OPTIONS *")}

    answers = asyncio.run(main())
    for line, (status, body) in answers.items():
        message = json.loads(body)["error"]
        assert status == (400 if line == "OPTIONS *" else 405), (line, status, body)
        assert "not a proxy" in message if line.startswith("CONNECT") else "must name a path" in message


def replaced(sdp: str, old: str, new: str) -> str:
    assert old in sdp, old
    return sdp.replace(old, new)


def without(sdp: str, start: str) -> str:
    """The offer without its lines that start with `start`."""
    return "".join(line for line in sdp.splitlines(True) if not line.startswith(start))


# The tester's mutations (and their kin), each with what the reason must say; aiortc said
# "KeyError: 'x'", "AssertionError", "coroutine raised StopIteration", "'NoneType' object has no
# attribute 'role'" / "'transport'", "invalid literal for int()".
MALFORMED = {
    "a=setup:x": (lambda good: replaced(good, "a=setup:actpass", "a=setup:x"),
                  "a=setup line must be actpass, active or passive, not 'x'"),
    "a=setup:holdconn": (lambda good: replaced(good, "a=setup:actpass", "a=setup:holdconn"), "not 'holdconn'"),
    "no a=setup": (lambda good: without(good, "a=setup:"), "video section has no DTLS role (a=setup"),
    "no a=mid:0": (lambda good: without(good, "a=mid:0"), "video section has no a=mid lines; under a=group:BUNDLE"),
    "BUNDLE of nothing": (lambda good: replaced(good, "a=group:BUNDLE", "a=group:BUNDLE x y z"),
                          "a=group:BUNDLE names mid 'x', which no media section has"),
    "m=application dropped": (lambda good: without(good, "m=application"), "video section has 2 a=mid lines"),
    "m= port x": (lambda good: re.sub(r"m=video [0-9]+ ", "m=video x ", good), "m= line must be KIND PORT PROTOCOL FORMATS"),
    "m= payload type 300": (lambda good: replaced(good, "SAVPF ", "SAVPF 300 "), "payload types 0..127"),
    "m= kind text": (lambda good: replaced(good, "m=application", "m=text"), "audio, video or application"),
    "c= without address": (lambda good: re.sub(r"c=IN IP4 \S+", "c=IN IP4", good, count=1),
                           "c= line must be IN IP4|IP6 ADDRESS, not 'IN IP4'"),
    "a=sctp-port:x": (lambda good: replaced(good, "a=sctp-port:5000", "a=sctp-port:x"),
                      "a=sctp-port line must be a port 0..65535, not 'x'"),
    "a=sctp-port:70000": (lambda good: replaced(good, "a=sctp-port:5000", "a=sctp-port:70000"), "a port 0..65535"),
    "a=max-message-size:x": (lambda good: replaced(good, "a=max-message-size:", "a=max-message-size:x"),
                             "a=max-message-size line must be a number"),
    "a=rtpmap without its clock rate": (lambda good: replaced(good, "VP8/90000", "VP8"),
                                        "a=rtpmap line must be PAYLOAD-TYPE NAME/CLOCK-RATE"),
    "a=rtpmap:98 (rtx) dropped": (lambda good: without(good, "a=rtpmap:98 "),
                                  "video section names payload type 98 but has no a=rtpmap:98 line for it"),
    "rtx apt=x": (lambda good: replaced(good, "apt=97", "apt=x"), "a=fmtp line's apt must be a number, not 'x'"),
    "a=candidate cut short": (lambda good: good.replace("a=end-of-candidates", "a=candidate:1 1 udp\r\na=end-of-candidates",
                                                         1),
                              "a=candidate line must be FOUNDATION COMPONENT TRANSPORT PRIORITY ADDRESS PORT typ TYPE"),
    "a=rtcp:x": (lambda good: replaced(good, "a=rtcp:9", "a=rtcp:x"), "a=rtcp line must be PORT"),
    "a=rtcp-fb without a type": (lambda good: replaced(good, "a=rtcp-fb:97 nack\r\n", "a=rtcp-fb:97\r\n"),
                                 "a=rtcp-fb line must be PAYLOAD-TYPE|* TYPE"),
    "a=extmap:x": (lambda good: replaced(good, "a=extmap:1 ", "a=extmap:x "), "a=extmap line must be ID[/DIRECTION] URI"),
    "a=fmtp in the data channel's section": (lambda good: replaced(good, "a=sctp-port:", "a=fmtp:97 x=1\r\na=sctp-port:"),
                                             "application section has an a=fmtp line"),
    "a tab in c=": (lambda good: re.sub(r"c=IN IP4 ", "c=IN\tIP4 ", good, count=1), "c= line must be IN IP4|IP6 ADDRESS"),
    "two data channel sections": (lambda good: good + good[good.index("m=application"):].replace("a=mid:1", "a=mid:2"),
                                  "2 application (data channel) sections; at most one"),
}


def test_malformed_offers_are_a_400_in_our_words(stylizer, registry, capsys):
    """Each is refused before a peer connection exists, with a reason of our own (never aiortc's
    internals); the good offer and a good one without BUNDLE or mids pass."""
    async def main():
        good = await offer_sdp()
        answers = {}
        async with served(stylizer, registry) as (server, url), aiohttp.ClientSession() as session:
            for name, (make, _says) in MALFORMED.items():
                body = json.dumps({"sdp": make(good), "type": "offer"})
                async with session.post(f"{url}/api/offer", data=body) as response:
                    answers[name] = response.status, (await response.json())["error"], len(server.clients)
        return good, answers

    good, answers = asyncio.run(main())
    for name, (_make, says) in MALFORMED.items():
        status, message, left = answers[name]
        assert status == 400 and message.startswith("bad offer: the offer") and says in message, (name, message)
        assert "aiortc" not in message and left == 0, (name, message)
    assert offer_problem(good) is None
    assert offer_problem(without(without(good, "a=group:BUNDLE"), "a=mid:")) is None
    assert "connecting" not in capsys.readouterr().err  # (no peer connection made for any)


# Offers aiortc takes that the first checks refused (h9): aiortc splits these lines at any
# whitespace, takes a payload type written 097, a candidate's odd extension token, a long mid.
ODD_BUT_TAKEN = {
    "blanks after lines": lambda good: re.sub(r"(a=(?:rtpmap|fmtp|mid|extmap|candidate):[^\r]*)\r\n", r"\1 \r\n", good),
    "candidate TYP": lambda good: good.replace(" typ ", " TYP "),
    "candidate odd tail": lambda good: re.sub(r"(a=candidate:[^\r]*)\r\n", r"\1 x\r\n", good, count=1),
    "payload type 097": lambda good: replaced(good, "a=fmtp:98 apt=97", "a=fmtp:098 apt=097"),
    "a 36-character mid": lambda good: good.replace("a=mid:0", "a=mid:" + "a" * 36).replace("BUNDLE 0", "BUNDLE " + "a" * 36),
    "no a=sendrecv": lambda good: without(good, "a=sendrecv"),
    # (blanks at a line's end are taken off before the checks and aiortc: test_fixes47_sdp_leniency)
    "a=setup:actpass with a blank after": lambda good: replaced(good, "a=setup:actpass", "a=setup:actpass "),
}


def test_odd_offers_aiortc_takes_are_answered(stylizer, registry):
    """Each passes our checks and gets an answer (a missing direction is SDP's sendrecv: aiortc's
    answer failed on it, "None is not in list", until `with_directions` says it)."""
    async def main():
        good = await offer_sdp()
        answers = {}
        async with served(stylizer, registry, max_clients=len(ODD_BUT_TAKEN)) as (_server, url), \
                aiohttp.ClientSession() as session:
            for name, make in ODD_BUT_TAKEN.items():
                offer = make(good)
                assert offer != good, name
                async with session.post(f"{url}/api/offer", data=json.dumps({"sdp": offer, "type": "offer"})) as response:
                    answers[name] = response.status, await response.json()
        return answers

    for name, (status, body) in asyncio.run(main()).items():
        assert status == 200 and body.get("type") == "answer", (name, body)


def test_a_refused_offers_connection_that_never_started_closes_quietly(stylizer, registry):
    """aiortc's own close fails inside a connection half made from a malformed offer (past our
    checks, its internals are the only reason left): the "left" line says the refusal, not
    "closing its connection failed (AttributeError ...)"."""
    async def main():
        good = await offer_sdp()
        batcher = Batcher(stylizer, 0, (1280, 720))
        client = Client(registry, stylizer, batcher, Look("s0"), 0.7, lambda c: None, lambda: 1)
        with pytest.raises(AttributeError):  # (as the server takes an offer: `Server.offer`)
            await client.pc.setRemoteDescription(RTCSessionDescription(
                sdp=good.replace("a=group:BUNDLE", "a=group:BUNDLE x y z", 1), type="offer"))
            await client.pc.setLocalDescription(await client.pc.createAnswer())
        await client.close("bad offer")
        return client.reason

    assert asyncio.run(main()) == "bad offer"


def test_an_uploads_note_is_in_its_answer_and_the_servers_log(stylizer, registry, capsys):
    """A picture with transparent areas: the reader's note ("read as over white") comes back in
    the answer's "note" and is logged with the `serve:` prefix, not printed bare; an opaque one has
    no note."""
    rgba = np.zeros((40, 60, 4), np.uint8)
    rgba[..., :3], rgba[:20, :, 3], rgba[20:, :, 3] = 90, 255, 0
    transparent = cv2.imencode(".png", rgba)[1].tobytes()
    opaque = cv2.imencode(".png", np.full((40, 60, 3), 60, np.uint8))[1].tobytes()

    async def main():
        answers = []
        async with served(stylizer, registry, allow_uploads=True, max_upload_mb=4) as (_server, url):
            async with aiohttp.ClientSession() as http:
                for data in (transparent, opaque):
                    async with http.post(f"{url}/api/styles", data=upload_form(data)) as response:
                        answers.append((response.status, await response.json()))
        return answers

    (status, noted), (opaque_status, plain) = asyncio.run(main())
    assert status == opaque_status == 200
    assert "transparent areas are read as over white" in noted["note"] and noted["id"].startswith("u"), noted
    assert "note" not in plain, plain
    said = [line for line in capsys.readouterr().err.splitlines() if "transparent areas" in line]
    assert said and all(line.startswith("serve: note: the upload: ") for line in said), said
