"""`serve`'s offers and uploads, as a tester found them: ICE credentials of any length (a
30000-character ufrag made every ICE check the server sent a 30 KB packet, to addresses the client
chose), a fingerprint without a value answered with Python's unpacking error, and one client's 64
uploads refusing every later upload, from anyone, until the server restarted."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import cv2
import numpy as np
import pytest

from realtime_adain.live.styles import StyleLibrary
from realtime_adain.serve import styles as serve_styles
from realtime_adain.serve.batcher import Batcher
from realtime_adain.serve.control import Look
from realtime_adain.serve.peers import Client
from realtime_adain.serve.sdp import offer_problem
from realtime_adain.serve.styles import StyleRegistry
from realtime_adain.serve.uploads import UploadRefused
from test_serve import served, upload_form
from test_serve_peers_hostile import offer_sdp


@pytest.fixture
def registry(stylizer, data_dir, tmp_path) -> StyleRegistry:
    library = StyleLibrary([data_dir / "style" / "mondrian.jpg"], stylizer, 64, tmp_path / "cache").load()
    (tmp_path / "uploads").mkdir()
    return StyleRegistry(library, tmp_path / "uploads")


def replaced(sdp: str, attribute: str, value: str) -> str:
    """The offer with every `a=ATTRIBUTE:` line (aiortc writes them per media section) given `value`."""
    return "".join(f"a={attribute}:{value}\r\n" if line.startswith(f"a={attribute}:") else line
                   for line in sdp.splitlines(True))


def session_level(sdp: str, line: str) -> str:
    """The offer with `line` among the session's attributes (before the first m= line)."""
    at = sdp.index("\r\nm=") + 2
    return sdp[:at] + line + "\r\n" + sdp[at:]


LOOPBACK_CANDIDATES = "".join(f"a=candidate:{i} 1 udp 2130706431 127.0.0.1 {40000 + i} typ host\r\n" for i in range(30))
RULE = "characters, each a letter, digit, '+' or '/' (RFC 8839)"

BAD_OFFERS = {
    # The tester's: a 30000-character ufrag and 60 host candidates on 127.0.0.1 (66 KB, under the cap).
    "ufrag of 30000": (lambda good: replaced(good, "ice-ufrag", "A" * 30000).replace(
        "a=end-of-candidates", LOOPBACK_CANDIDATES + "a=end-of-candidates"),
        f"ICE username fragment (a=ice-ufrag) must be 4 to 256 {RULE}: it has 30000"),
    "ufrag of 257": (lambda good: replaced(good, "ice-ufrag", "A" * 257), "(a=ice-ufrag) must be 4 to 256"),
    "ufrag of 3": (lambda good: replaced(good, "ice-ufrag", "abc"), "(a=ice-ufrag) must be 4 to 256 "),
    "ufrag with '-'": (lambda good: replaced(good, "ice-ufrag", "ab-cd"), "(a=ice-ufrag) must be 4 to 256 "
                                                                          f"{RULE}: it holds '-'"),
    "session-level ufrag of 300": (lambda good: session_level(good, "a=ice-ufrag:" + "B" * 300),
                                   "(a=ice-ufrag) must be 4 to 256"),
    "no ufrag": (lambda good: replaced(good, "ice-ufrag", "").replace("a=ice-ufrag:\r\n", ""),
                 "the offer has no ICE username fragment (a=ice-ufrag)"),
    "pwd of 21": (lambda good: replaced(good, "ice-pwd", "p" * 21), f"ICE password (a=ice-pwd) must be 22 to 256 {RULE}"),
    "pwd of 60000": (lambda good: replaced(good, "ice-pwd", "p" * 60000), "(a=ice-pwd) must be 22 to 256"),
    "pwd with a space": (lambda good: replaced(good, "ice-pwd", "p" * 11 + " " + "p" * 11), "it holds ' '"),
    "no pwd": (lambda good: replaced(good, "ice-pwd", "").replace("a=ice-pwd:\r\n", ""),
               "the offer has no ICE password (a=ice-pwd)"),
    # The tester's: aiortc's `algorithm, value = ...split()` said "not enough values to unpack".
    "fingerprint without a value": (lambda good: replaced(good, "fingerprint", "sha-256"),
                                    "the offer's DTLS fingerprint (a=fingerprint) has no value"),
    "fingerprint empty": (lambda good: replaced(good, "fingerprint", ""), "(a=fingerprint) has no value"),
    "fingerprint of three fields": (lambda good: replaced(good, "fingerprint", "sha-256 AB:CD EF"),
                                    "must be a hash function and its value in hex pairs"),
    "fingerprint not hex": (lambda good: replaced(good, "fingerprint", "sha-256 xyz"),
                            "must be a hash function and its value in hex pairs (sha-256 AB:CD:...), not 'sha-256 xyz'"),
}


def test_bad_credentials_and_fingerprints_are_a_400_with_the_reason(stylizer, registry):
    """Each is refused before a peer connection exists (so no ICE check is ever sent), with a
    clear reason; credentials at RFC 8839's bounds and the good offer pass."""
    async def main():
        good = await offer_sdp()
        answers = {}
        async with served(stylizer, registry) as (server, url), aiohttp.ClientSession() as session:
            for name, (make, _says) in BAD_OFFERS.items():
                body = json.dumps({"sdp": make(good), "type": "offer"})
                async with session.post(f"{url}/api/offer", data=body) as response:
                    answers[name] = response.status, (await response.json())["error"], len(server.clients)
        return good, answers

    good, answers = asyncio.run(main())
    for name, (_make, says) in BAD_OFFERS.items():
        status, message, left = answers[name]
        assert status == 400 and message.startswith("bad offer: ") and says in message and left == 0, (name, answers[name])
        assert len(message) < 300, name
    assert offer_problem(good) is None
    at_bounds = replaced(replaced(good, "ice-ufrag", "a+/9"), "ice-pwd", "Z" * 256)
    assert offer_problem(at_bounds) is None
    assert offer_problem(replaced(at_bounds, "ice-ufrag", "u" * 256)) is None
    assert offer_problem(replaced(good, "ice-pwd", "a/+" * 7 + "b")) is None  # 22


def png(value: int) -> bytes:
    return cv2.imencode(".png", np.full((20, 20, 3), value, np.uint8))[1].tobytes()


def test_a_full_upload_store_drops_the_least_recently_used_upload(stylizer, registry, monkeypatch):
    """With no client using them, uploads past the cap (2 here) are taken: each drops the least
    recently used (uploaded, or looked up: a thumbnail, a choice), its file and id gone."""
    monkeypatch.setattr(serve_styles, "MAX_UPLOADS", 2)

    async def main():
        async with served(stylizer, registry, allow_uploads=True, max_upload_mb=4) as (_server, url):
            async with aiohttp.ClientSession() as http:
                async def upload(value: int) -> tuple[int, dict]:
                    async with http.post(f"{url}/api/styles", data=upload_form(png(value))) as response:
                        return response.status, await response.json()

                async def thumbnail(style_id: str) -> int:
                    async with http.get(f"{url}/api/styles/{style_id}/thumbnail.jpg") as response:
                        return response.status

                (_, a), (_, b) = await upload(10), await upload(20)
                used_a = await thumbnail(a["id"])  # a used after b: b is the least recently used
                c_status, c = await upload(30)
                return a, b, c_status, c, used_a, await thumbnail(a["id"]), await thumbnail(b["id"])

    a, b, c_status, c, used_a, thumb_a, thumb_b = asyncio.run(main())
    assert used_a == 200 and c_status == 200 and c["id"].startswith("u"), c
    assert thumb_a == 200 and thumb_b == 404
    assert registry.get(b["id"]) is None and registry.get(a["id"]) and registry.get(c["id"])
    held = sorted(path.name for path in registry.upload_dir.iterdir())
    assert held == sorted(registry.get(i).style.path.name for i in (a["id"], c["id"]))
    assert [style.name for style in registry.library.styles] == ["mondrian", registry.get(a["id"]).name,
                                                                 registry.get(c["id"]).name]


def test_uploads_chosen_by_connected_clients_are_kept(stylizer, registry, monkeypatch):
    """Real `Client`s (the server's, fed data-channel messages as they arrive): an upload a client
    has chosen (style or mix) is never dropped; only when every held one is chosen is an upload
    refused (429, saying so); a client switching away or leaving frees its choice; a dropped
    upload chosen later is the usual "unknown style" error."""
    monkeypatch.setattr(serve_styles, "MAX_UPLOADS", 2)
    image = [np.full((20, 20, 3), value, np.uint8) for value in (10, 20, 30, 40)]

    async def main():
        batcher = Batcher(stylizer, 0, (1280, 720))
        clients = [Client(registry, stylizer, batcher, Look("s0"), 0.7, lambda c: None, lambda: 2) for _ in range(2)]
        a, b = registry.add_upload(image[0], "a" * 64), registry.add_upload(image[1], "b" * 64)
        clients[0]._on_message(json.dumps({"style": b.id}))
        clients[1]._on_message(json.dumps({"mix": {"style": a.id, "weight": 0.5}}))
        with pytest.raises(UploadRefused) as full:
            registry.check_room()
        with pytest.raises(UploadRefused):
            registry.add_upload(image[2], "c" * 64)
        clients[0]._on_message(json.dumps({"style": "s0"}))  # b no longer chosen: it makes room
        c = registry.add_upload(image[2], "c" * 64)
        kept_a, gone_b = a.style.path.exists(), not b.style.path.exists()  # (files: `get` counts as a use)
        clients[0]._on_message(json.dumps({"style": b.id}))  # (answered "unknown style id": no channel here)
        refused_b = clients[0].look.style
        await clients[1].close("left")  # a freed: it makes room for d
        d = registry.add_upload(image[3], "d" * 64)
        await clients[0].close("left")
        return full.value, a, b, c, d, kept_a, gone_b, refused_b

    full, a, b, c, d, kept_a, gone_b, refused_b = asyncio.run(main())
    assert full.status == 429 and "each chosen by a connected client" in str(full), full
    assert kept_a and gone_b
    assert refused_b == "s0"
    assert registry.get(a.id) is None and registry.get(c.id) is c and registry.get(d.id) is d
    assert not b.style.path.exists() and not a.style.path.exists() and d.style.path.exists()
