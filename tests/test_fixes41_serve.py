"""Session 41's serve fixes: a direction stated once at session level (RFC 4566) is each
section's, as aiortc, which reads directions per section only, needs it said."""
from __future__ import annotations

import asyncio
import json

import aiohttp

from realtime_adain.serve.sdp import with_directions
from test_fixes40_serve import registry, without  # noqa: F401  (the fixture)
from test_serve import served
from test_serve_peers_hostile import offer_sdp


def session_level(sdp: str, direction: str) -> str:
    """The offer with its sections' directions removed and `direction` said once, after `t=`."""
    return without(sdp, "a=sendrecv").replace("t=0 0\r\n", f"t=0 0\r\na={direction}\r\n", 1)


def test_a_session_level_direction_goes_to_each_section_without_one():
    sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=recvonly\r\nm=audio 9 X 0\r\nm=video 9 X 96\r\na=sendonly\r\n"
    assert with_directions(sdp) == ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 X 0\r\na=recvonly\r\n"
                                    "m=video 9 X 96\r\na=sendonly\r\n")


def test_an_offer_with_its_direction_at_session_level_is_answered(stylizer, registry):  # noqa: F811
    """Valid SDP was refused with "bad offer: the offer has no video track" (there was one)."""
    async def main():
        offer = session_level(await offer_sdp(), "sendrecv")
        async with served(stylizer, registry) as (_server, url), aiohttp.ClientSession() as session:
            async with session.post(f"{url}/api/offer", data=json.dumps({"sdp": offer, "type": "offer"})) as response:
                return response.status, await response.json()

    status, body = asyncio.run(main())
    assert status == 200 and body.get("type") == "answer", body
