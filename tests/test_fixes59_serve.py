"""`serve` as a browser met it (session 59): a page reloaded while connecting held its client slot
for the connect timeout; a client that left stayed in memory; "1 clients"; a blank line before
"serving on" on a terminal of no size; the page's "paused" replaced by "streaming" 4 s later."""

from __future__ import annotations

import asyncio
import fcntl
import gc
import os
import select
import struct
import sys
import termios
import time
import weakref

import aiohttp
import pytest

from realtime_adain.live.styles import StyleLibrary
from realtime_adain.serve import app as serve_app
from test_serve import WEBRTC, connected, served
from test_serve_hostile import until
from test_serve_peers_hostile import offer_sdp

KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90"  # a page's leave_key (16 random bytes in hex)


async def post(url: str, path: str, body: dict | str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        data = body if isinstance(body, str) else None
        async with http.post(f"{url}{path}", json=None if data is not None else body, data=data) as response:
            return response.status, await response.json()


@pytest.fixture(scope="module")
def registry(stylizer, data_dir, tmp_path_factory):
    from realtime_adain.serve.styles import StyleRegistry

    library = StyleLibrary([data_dir / "style" / "mondrian.jpg"], stylizer, 64, tmp_path_factory.mktemp("cache")).load()
    return StyleRegistry(library, None)


def test_a_client_that_leaves_before_connecting_frees_its_slot_at_once(stylizer, registry, capsys):
    """An offer answered, its peer connection closed before it connected (a page reloaded while
    "connecting to the server..."): the server cannot see that, and held the slot for the connect
    timeout (15 s), refusing the reloaded page. The page's beacon (`POST /api/leave` with the
    `leave_key` its offer gave) now frees it at once; a full server says "1 client"."""
    async def main():
        async with served(stylizer, registry, max_clients=1, connect_timeout=30.0) as (server, url):
            sdp = await offer_sdp()  # (its peer connection closed already: it never connects)
            offered = await post(url, "/api/offer", {"sdp": sdp, "type": "offer", "leave_key": KEY})
            full = await post(url, "/api/offer", {"sdp": await offer_sdp(), "type": "offer"})
            wrong = await post(url, "/api/leave", {"leave_key": "b" * 32})
            held = len(server.clients)
            started = time.monotonic()
            left = await post(url, "/api/leave", {"leave_key": KEY})
            await until(lambda: not server.clients, timeout=5.0)
            freed_in = time.monotonic() - started
            bad_offer = await post(url, "/api/offer", {"sdp": sdp, "type": "offer", "leave_key": "x y"})
            again = await post(url, "/api/offer", {"sdp": await offer_sdp(), "type": "offer"})
            bad = [await post(url, "/api/leave", body) for body in ("{", {"leave_key": "short"}, {"key": KEY})]
            return offered, full, wrong, held, left, freed_in, again, bad, bad_offer

    offered, full, wrong, held, left, freed_in, again, bad, bad_offer = asyncio.run(main())
    assert offered[0] == 200 and held == 1, offered
    assert full == (429, {"error": "the server already has its maximum of 1 client"}), full
    assert wrong[0] == 404, wrong  # another key frees nothing
    assert left == (200, {"left": 1}), left
    assert freed_in < 1.0, freed_in
    assert again[0] == 200, again  # the slot is free for the reloaded page
    assert [status for status, _ in bad] == [400, 400, 400], bad
    assert bad_offer[0] == 400 and "leave_key" in bad_offer[1]["error"], bad_offer
    assert "left: it left (its page was closed or reloaded) (0 of 1)" in capsys.readouterr().err


def test_a_key_that_left_before_its_offer_refuses_that_offer(stylizer, registry):
    """The beacon can overtake its own offer (a page reloaded while the offer was on its way): the
    offer that comes after its key left takes no slot."""
    async def main():
        async with served(stylizer, registry, max_clients=1) as (server, url):
            early = await post(url, "/api/leave", {"leave_key": KEY})
            late = await post(url, "/api/offer", {"sdp": await offer_sdp(), "type": "offer", "leave_key": KEY})
            return early, late, len(server.clients)

    early, late, clients = asyncio.run(main())
    assert early[0] == 404 and late == (400, {"error": "the offer's page left before it was answered"}), (early, late)
    assert clients == 0


@WEBRTC
@pytest.mark.slow  # (default run's time: 4 connections)
def test_clients_that_left_are_not_kept(stylizer, registry, one_thread, monkeypatch):
    """After clients connected, streamed and left, none is kept in memory: the worker's last batch,
    left bound in its loop while it waited, kept the last client (its peer connection, codecs and
    frames) until another frame came; the server's per-client tables are back to empty."""
    made: list[weakref.ref] = []

    class Recorded(serve_app.Client):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            made.append(weakref.ref(self))

    monkeypatch.setattr(serve_app, "Client", Recorded)

    async def main():
        async with served(stylizer, registry) as (server, url):
            for _ in range(3):
                client = await connected(url)
                await client.wait_frames(2)
                await client.close()
                await until(lambda: not server.clients, timeout=10.0)
            client = None
            deadline = time.monotonic() + 10.0
            while True:
                gc.collect()
                alive = sum(ref() is not None for ref in made)
                if not alive or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            batcher = server.batcher
            return (len(made), alive, len(server.clients), len(batcher._pending), len(batcher._retired),
                    len(registry._choosers))

    made_count, alive, *tables = asyncio.run(main())
    assert made_count == 3 and alive == 0, (made_count, alive)
    assert tables == [0, 0, 0, 0], tables


def pty_output(stylizer, data_dir, tmp_path, rows: int, columns: int) -> bytes:
    """What loading the styles writes on stderr, a pseudo-terminal of `rows` x `columns`."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    stream = os.fdopen(slave, "w", buffering=1)
    before = sys.stderr
    sys.stderr = stream
    try:
        StyleLibrary([data_dir / "style" / "mondrian.jpg"], stylizer, 64, tmp_path / f"cache{rows}").load()
        stream.flush()
    finally:
        sys.stderr = before
        stream.close()
    out = b""
    while select.select([master], [], [], 0.2)[0]:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # (the slave closed: EIO)
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return out


def test_no_empty_line_from_a_progress_bar_on_a_terminal_of_no_size(stylizer, data_dir, tmp_path):
    """`serve` (and `live`, `sheet`, ...) on a pseudo-terminal of size 0x0 (`script`'s): tqdm drew
    nothing there, but its close still ended the line, an empty line before "serving on"."""
    unsized = pty_output(stylizer, data_dir, tmp_path, 0, 0)
    sized = pty_output(stylizer, data_dir, tmp_path, 24, 80)
    assert b"\n" not in unsized, unsized
    assert b"style statistics" in sized, sized  # a terminal of a size still shows the bar


def test_the_page_keeps_saying_paused_and_leaves_with_its_key():
    """The page (read as text, as the browser test cannot pause on time here): a notice's end shows
    the lasting text, which while paused is the pause; its offer carries the key its beacon sends
    on pagehide (and on failing)."""
    from realtime_adain.serve.guards import STATIC

    page = (STATIC / "app.js").read_text()
    assert "noticeTimer = setTimeout(() => { $('status').textContent = lastingText(); }, 4000);" in page
    assert "return paused && statusState !== 'failed' ? PAUSED : statusText;" in page
    assert "leave_key: leaveKey}" in page and "sendBeacon(withToken('/api/leave'), JSON.stringify({leave_key: leaveKey}))" in page
    assert "window.addEventListener('pagehide', leave);" in page


SPY_BEACONS = """(() => { window.__beacons = []; const send = navigator.sendBeacon.bind(navigator);
  navigator.sendBeacon = (url, body) => { const sent = send(url, body); window.__beacons.push([url, body, sent]); return sent; };
  return true; })()"""


async def pause_then_leave(url: str, port: int) -> dict:
    from test_serve_browser import devtools

    async with devtools(port) as page:
        await page.call("Runtime.enable")
        await page.call("Page.navigate", url=url)
        await page.wait("document.body.dataset.state === 'streaming' && adain.frames.remote >= 1", 60, "the stream")
        for kind in ("keyDown", "keyUp"):  # space: pause
            await page.call("Input.dispatchKeyEvent", type=kind, key=" ", code="Space", text=" " if kind == "keyDown" else "")
        await page.wait("paused", 5, "the pause")
        await asyncio.sleep(4.6)  # past a notice's 4 s
        status = await page.js("document.getElementById('status').textContent")
        await page.js(SPY_BEACONS)
        await page.js("window.dispatchEvent(new PageTransitionEvent('pagehide')), true")
        beacons, key = await page.js("[window.__beacons, leaveKey]")
        await page.call("Page.reload")  # with --max-clients 1: the slot is free for the page again
        await page.wait("document.body.dataset.state === 'streaming'", 60, "the stream after the reload")
        return {"status": status, "beacons": beacons, "key": key, "errors": page.errors}


@pytest.mark.slow  # (a real browser: 20-60 s)
def test_a_real_page_stays_paused_and_leaves_with_a_beacon(weights_env, data_dir, tmp_path):
    from test_serve_browser import chromium, serve

    with serve("--styles", str(data_dir / "style" / "mondrian.jpg"), "--style-size", "64", "--size", "64",
               "--max-clients", "1", "--token", "token-for-leaving") as url, chromium(tmp_path / "profile") as port:
        result = asyncio.run(asyncio.wait_for(pause_then_leave(url, port), 150))
    assert result["status"] == "paused: the camera is not sent (space resumes)", result
    assert len(result["beacons"]) == 1, result
    beacon_url, body, sent = result["beacons"][0]
    assert beacon_url == "/api/leave?token=token-for-leaving" and sent, result
    assert body == f'{{"leave_key":"{result["key"]}"}}' and len(result["key"]) == 32, result
    assert not result["errors"], result
