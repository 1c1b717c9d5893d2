"""`realtime-adain serve` against the hostile tester's findings of session 36 (task h2): a --host
with an empty or over-long part, LOCALHOST, offers when descriptors run out, an upload that
rescanned the server's own folders, and a style id that is not a string."""

from __future__ import annotations

import asyncio
import json
import shutil

import aiohttp
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from realtime_adain.errors import UserError
from realtime_adain.live.styles import StyleLibrary
from realtime_adain.serve import control
from realtime_adain.serve.client import FrameSource
from realtime_adain.serve.settings import is_loopback
from realtime_adain.serve.styles import StyleRegistry
from test_fixes31_serve import TOKEN, serving
from test_serve import WEBRTC, settings_for


@pytest.mark.parametrize("host", ["a..b", ".a", "a" * 64, "a" * 64 + ".com"])
def test_a_host_name_with_an_empty_or_long_part_is_one_line(run_cli, weights_env, data_dir, host):
    """The resolver's idna encoding raised UnicodeError, a traceback with status 1."""
    with pytest.raises(UserError, match="not a host name"):
        settings_for(host=host, token=TOKEN).check()
    code, _, err = run_cli("serve", "-s", data_dir / "style" / "mondrian.jpg", "--device", "cpu", "--host", host)
    assert code == 2 and err == (f"error: --host {host}: not a host name (a part between dots is empty or longer "
                                 "than 63 characters)\n"), err


def test_localhost_in_capitals_is_loopback():
    """LOCALHOST was taken as off loopback (a token made, 'required off loopback' said)."""
    assert is_loopback("LOCALHOST") and is_loopback("LocalHost") and not is_loopback("localhost.example")


@pytest.mark.parametrize("value, says", [(None, "null"), (5, "int"), (["s0"], "list")])
def test_a_style_that_is_not_a_string_is_said_so(value, says, registry):
    """`{"style": null}` was answered "unknown style id 'None'"."""
    for message, name in (({"style": value}, "style"), ({"mix": {"style": value, "weight": 0.5}}, "mix style")):
        with pytest.raises(control.BadMessage, match=f"^{name} must be a style id \\(a string\\), got {says}$"):
            control.apply(control.Look("s0"), control.parse(json.dumps(message)), registry)


@pytest.fixture
def registry(stylizer, data_dir, tmp_path):
    folder = tmp_path / "styles"
    folder.mkdir()
    for name in ("mondrian.jpg", "asheville.jpg"):
        shutil.copy(data_dir / "style" / name, folder)
    library = StyleLibrary([folder], stylizer, 64, tmp_path / "cache").load()
    return StyleRegistry(library, tmp_path / "uploads")


def test_an_upload_leaves_the_servers_own_styles_as_loaded(registry, tmp_path):
    """An upload rescanned every source: a style added to the server's folder became public, one
    removed stayed listed with a thumbnail that failed, and each upload hashed every style file."""
    (tmp_path / "uploads").mkdir()
    before = registry.describe()
    folder = tmp_path / "styles"
    shutil.copy(folder / "mondrian.jpg", folder / "added.jpg")
    (folder / "asheville.jpg").rename(folder / "asheville.moved")
    served = registry.add_upload(np.full((40, 60, 3), 90, np.uint8), "ab" * 32)
    assert registry.describe() == before and served.id.startswith("u") and registry.get(served.id) is served
    assert registry.add_upload(np.full((40, 60, 3), 90, np.uint8), "ab" * 32) is served  # (the same one again)
    assert [s.name for s in registry.library.styles] == ["asheville", "mondrian", served.name]


async def an_offer() -> str:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.createDataChannel("control")
    pc.addTransceiver(FrameSource(lambda k: np.zeros((8, 8, 3), np.uint8)), direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


@WEBRTC
@pytest.mark.slow
def test_offers_past_the_descriptor_limit_are_the_servers_shortage(weights_env, data_dir):
    """Out of descriptors (ICE's sockets), each offer got 400 "bad offer: its SDP is malformed
    (aiortc: OSError: [Errno 24] Too many open files)" and the log said only "bad offer"."""
    async def offers(port: int) -> list[tuple[int, dict]]:
        sdp, answers = await an_offer(), []
        async with aiohttp.ClientSession() as http:
            for _ in range(20):
                async with http.post(f"http://127.0.0.1:{port}/api/offer", json={"sdp": sdp, "type": "offer"}) as answer:
                    answers.append((answer.status, await answer.json()))
        return answers

    with serving(data_dir, "--max-clients", "64", nofile=32) as (_process, port, stderr):
        answers = asyncio.run(offers(port))
    statuses = [status for status, _ in answers]
    assert 200 in statuses and 503 in statuses and 400 not in statuses, answers
    assert ("the server is out of resources for another client; try again later"
            == next(body["error"] for status, body in answers if status == 503))
    said = [line for line in stderr[0].splitlines() if "cannot take client" in line]
    assert said and said[0].endswith("(too many open files; ulimit -n is 32: raise it)"), stderr[0][-2000:]
    assert "Traceback" not in stderr[0]
