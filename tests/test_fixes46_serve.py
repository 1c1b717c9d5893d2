"""`serve` as tester h6 found it: an attribute line with no value (`a=setup`, `a=fmtp`, ...)
passed the offer checks and aiortc's own error reached the client ("AttributeError: 'NoneType'
object has no attribute 'split'"); a client opening 20,000 data channels and sending 60 KB on each
was dropped as only "connection closed", never told why (aiortc had closed it: that was not said)."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from realtime_adain.serve.peers import AIORTC_CLOSED, MAX_DATA_CHANNELS
from realtime_adain.serve.sdp import LINE_SHAPES, offer_problem
from test_serve import WEBRTC, all_gone, connected, registry, served  # noqa: F401  (fixture)
from test_serve_peers_hostile import offer_sdp

ANCHOR = "a=mid:0\r\n"


def with_bare(sdp: str, key: str) -> str:
    """The offer with the attribute (or line) `key` named, without a value, after its first a=mid."""
    return sdp.replace(ANCHOR, ANCHOR + key.rstrip(":") + "\r\n", 1)


def test_an_attribute_with_no_value_is_refused_with_its_shape():
    """Each line LINE_SHAPES checks, bare (aiortc reads `a=setup` as the attribute with no value,
    where the check looked for `a=setup:` and checked nothing), is refused as an empty value."""
    good = asyncio.run(offer_sdp())
    assert offer_problem(good) is None
    for key, (_shape, words) in LINE_SHAPES.items():
        assert offer_problem(with_bare(good, key)) == f"the offer's {key.rstrip(':')} line must be {words}, not ''", key
    assert offer_problem(with_bare(good, "a=setup")) == \
        "the offer's a=setup line must be actpass, active or passive, not ''"
    assert offer_problem(with_bare(good, "a=rtcp-mux")) is None  # a flag: bare by design


def test_a_bare_attribute_offer_is_a_400_with_the_reason_not_aiortcs(stylizer, registry):
    async def main():
        bad = with_bare(await offer_sdp(), "a=fmtp")
        async with served(stylizer, registry) as (server, url), aiohttp.ClientSession() as session:
            async with session.post(f"{url}/api/offer", data=json.dumps({"sdp": bad, "type": "offer"})) as response:
                return response.status, (await response.json())["error"], len(server.clients)

    status, error, clients = asyncio.run(main())
    assert (status, clients) == (400, 0)
    assert error == ("bad offer: the offer's a=fmtp line must be PAYLOAD-TYPE PARAMETERS, not ''"), error


@WEBRTC
def test_data_channels_other_than_control_are_closed_and_too_many_close_the_client(stylizer, registry, one_thread,
                                                                                  capsys):
    """A channel the page does not use is closed at once (data sent on it is never read); a client
    opening more than MAX_DATA_CHANNELS is closed, told why on `control`, and the log says it."""
    async def main():
        async with served(stylizer, registry) as (server, url):
            client = await connected(url)
            extras = [client.pc.createDataChannel(f"x{i}") for i in range(MAX_DATA_CHANNELS - 2)]
            extras.append(client.pc.createDataChannel("control"))  # a second `control` is not read either
            for _ in range(200):  # (closed once the server's stream reset is answered)
                states = [channel.readyState for channel in extras]
                if set(states) == {"closed"}:
                    break
                await asyncio.sleep(0.05)
            client.send({"ping": 1})
            pong = await client.wait_message(lambda m: "pong" in m)
            client.pc.createDataChannel("one too many")
            closed = await client.wait_message(lambda m: "closed" in m)
            left = await all_gone(server)
            await client.close()
            return states, pong, closed, left

    states, pong, closed, left = asyncio.run(main())
    assert states == ["closed"] * (MAX_DATA_CHANNELS - 1) and pong == {"pong": 1}
    reason = f"too many data channels: it opened over {MAX_DATA_CHANNELS} (the page uses one, `control`)"
    assert closed == {"closed": reason} and left == 0
    assert f"left: {reason}" in capsys.readouterr().err


@WEBRTC
def test_a_connection_aiortc_closed_is_logged_as_such(stylizer, registry, one_thread, capsys):
    """The peer ends its DTLS transport: aiortc closes the server's connection by itself, which
    ended the video first and was logged as "its video ended"."""
    async def main():
        async with served(stylizer, registry) as (server, url):
            client = await connected(url)
            await client.pc.sctp.transport.stop()
            left = await all_gone(server)
            await client.close()
            return left

    assert asyncio.run(main()) == 0
    assert f"left: {AIORTC_CLOSED} (0 of 4)" in capsys.readouterr().err
