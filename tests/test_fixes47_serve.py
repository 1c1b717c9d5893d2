"""`serve` as tester h1 found it: an upload that failed with an exception without a message was
logged with an empty reason ("serve: an upload could not be kept: "); a bare `a=group` or
`a=msid-semantic` in an offer passed the checks and aiortc's internal error reached the client
("its SDP is malformed (aiortc: AttributeError: 'NoneType' object has no attribute 'split')"), as
did a tab where aiortc splits at a blank (`a=rtpmap:97<TAB>VP8/90000`), an `a=msid` of one field
after a blank, an H264 `packetization-mode` with no value, or a blank after the first of two
bundled sections' `a=mid`."""

from __future__ import annotations

import asyncio
import inspect
import json
import re

import aiohttp
import cv2
import numpy as np
from aiortc import sdp as aiortc_sdp

from realtime_adain.serve.answers import offer_error
from realtime_adain.serve.sdp import for_aiortc, offer_problem
from realtime_adain.serve.styles import StyleRegistry
from test_serve import registry, served, upload_form  # noqa: F401  (fixture)
from test_serve_peers_hostile import offer_sdp


class FailingRegistry(StyleRegistry):
    """Its uploads and thumbnails fail as an allocation does in Python: MemoryError(), no message."""

    def add_upload(self, image: np.ndarray, digest: str):
        raise MemoryError()

    def thumbnail(self, served):
        raise MemoryError()


def test_a_failure_without_a_message_is_logged_by_its_class(stylizer, registry, capsys):
    """The log names the exception's class where it has no message (it said nothing after the colon)."""
    failing = FailingRegistry(registry.library, registry.upload_dir)
    png = cv2.imencode(".png", np.full((20, 20, 3), 90, np.uint8))[1].tobytes()

    async def main():
        async with served(stylizer, failing, allow_uploads=True) as (_server, url), aiohttp.ClientSession() as http:
            async with http.post(f"{url}/api/styles", data=upload_form(png)) as response:
                upload = response.status
            async with http.get(f"{url}/api/styles/s0/thumbnail.jpg") as response:
                thumbnail = response.status
            return upload, thumbnail

    capsys.readouterr()
    assert asyncio.run(main()) == (500, 404)
    log = capsys.readouterr().err
    assert "serve: an upload could not be kept: MemoryError\n" in log, log
    assert ": its thumbnail cannot be made: MemoryError\n" in log, log


def aiortc_error(sdp: str) -> str | None:
    """What aiortc's parser raised on the offer as the server gives it (`for_aiortc`), or None."""
    try:
        aiortc_sdp.SessionDescription.parse(for_aiortc(sdp))
    except Exception as exc:  # (each one is what the client was told)
        return offer_error(exc)
    return None


def inserted(sdp: str, line: str, media: bool) -> str:
    """The offer with `line` before its first m= line (session level) or just after it."""
    lines = sdp.splitlines()
    at = next(i for i, text in enumerate(lines) if text.startswith("m=")) + media
    return "\r\n".join(lines[:at] + [line] + lines[at:]) + "\r\n"


def test_every_attribute_aiortc_reads_bare_is_refused_or_read():
    """Each attribute aiortc's parser names, bare at session and at media level, is refused by
    our checks or read by aiortc: never its internal error."""
    good = asyncio.run(offer_sdp(audio=True))
    attributes = set(re.findall(r'attr == "([^"]+)"', inspect.getsource(aiortc_sdp))) | set(aiortc_sdp.DIRECTIONS)
    assert {"group", "msid-semantic", "rtpmap", "ssrc"} <= attributes
    let_through = {}
    for attribute in sorted(attributes):
        for media in (False, True):
            offer = inserted(good, f"a={attribute}", media)
            if offer_problem(offer) is None and aiortc_error(offer) is not None:
                let_through[attribute, media] = aiortc_error(offer)
    assert let_through == {}
    assert offer_problem(inserted(good, "a=group", False)) == \
        "the offer's a=group line must be SEMANTICS [MID...], not ''"
    assert offer_problem(inserted(good, "a=msid-semantic", False)) == \
        "the offer's a=msid-semantic line must be SEMANTICS [STREAM-ID...], not ''"


def blanks_moved(line: str) -> list[str]:
    """The line with a tab or two blanks for its first blank, a blank before or after its value,
    and its value cut at its first blank."""
    head, colon, value = line.partition(":") if line.startswith("a=") else (line[:1], "=", line[2:])
    start = head + colon
    variants = [start + " " + value, start + value + " ", start + value.split(" ", 1)[0]]
    if " " in value:
        variants += [start + value.replace(" ", "\t", 1), start + value.replace(" ", "  ", 1)]
    return variants


def test_blanks_and_tabs_where_aiortc_splits_are_refused_or_read():
    """Every line of a real offer (audio, video, data channel) with its blanks moved is refused or
    read by aiortc: `a=rtpmap:97<TAB>VP8/90000`, `a=rtcp: 9 ...`, `a=ssrc:1<TAB>cname:x` reached
    aiortc's int() and unpacking ("not enough values to unpack (expected 2, got 1)")."""
    good = asyncio.run(offer_sdp(audio=True))
    lines = good.splitlines()
    let_through = {}
    for at, line in enumerate(lines):
        for variant in blanks_moved(line):
            offer = "\r\n".join(lines[:at] + [variant] + lines[at + 1:]) + "\r\n"
            if offer_problem(offer) is None and aiortc_error(offer) is not None:
                let_through[variant[:60]] = aiortc_error(offer)
    assert let_through == {}
    rtpmap = next(line for line in lines if line.startswith("a=rtpmap:"))
    assert offer_problem(good.replace(rtpmap, rtpmap.replace(" ", "\t"))).startswith("the offer's a=rtpmap line must be")


def test_values_aiortc_fails_on_past_its_parser_are_refused():
    """An `a=msid` whose blank leaves one field (aiortc took its second: "IndexError"), an H264
    `packetization-mode` with no value (int(None) where codecs are matched: "TypeError")."""
    good = asyncio.run(offer_sdp())
    msid = next(line for line in good.splitlines() if line.startswith("a=msid:"))
    assert offer_problem(good.replace(msid, "a=msid: " + msid[7:].split()[0])) == \
        f"the offer's a=msid line must be STREAM-ID [TRACK-ID], not ' {msid[7:].split()[0][:39]}'"
    assert "packetization-mode=1" in good
    assert offer_problem(good.replace("packetization-mode=1", "packetization-mode")) == \
        "the offer's a=fmtp line's packetization-mode must be a number, not ''"


def test_blanks_after_a_bundled_mid_or_msid_are_answered(stylizer, registry):
    """aiortc read `a=mid:0 ` as the mid "0 ", not the "0" that BUNDLE names first, and failed
    inside its answer ("'NoneType' object has no attribute 'transport'"); an `a=msid` with a blank
    after it failed as "IndexError". Trailing blanks are taken off before aiortc reads the offer."""
    async def main():
        good = await offer_sdp()
        msid = next(line for line in good.splitlines() if line.startswith("a=msid:"))
        offers = {"mid": good.replace("a=mid:0\r\n", "a=mid:0 \r\n"), "msid": good.replace(msid, msid + " ")}
        answers = {}
        async with served(stylizer, registry, max_clients=len(offers)) as (_server, url), aiohttp.ClientSession() as http:
            for name, offer in offers.items():
                async with http.post(f"{url}/api/offer", data=json.dumps({"sdp": offer, "type": "offer"})) as response:
                    answers[name] = response.status, await response.json()
        return answers

    for name, (status, body) in asyncio.run(main()).items():
        assert status == 200 and body.get("type") == "answer", (name, body)
