"""A real browser against `realtime-adain serve` (issue #14): headless Chromium with its fake camera opens the
page, connects over WebRTC, and the stylized video it shows is a picture that differs from the camera preview,
in its pixels and in a screenshot; a click on another style changes it, a key of the live window's table reaches
the server, and the page throws no JavaScript error.

Chromium is driven over the DevTools protocol (aiohttp's websocket client): `--screenshot` alone would not wait
for WebRTC. REALTIME_ADAIN_SCREENSHOT=FILE.png keeps the page screenshot (docs/serve_page.png is made so)."""

from __future__ import annotations

import asyncio
import base64
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, Iterator

import aiohttp  # the dev extra's, as for the server
import cv2
import numpy as np
import pytest

from realtime_adain.live.keys import BINDINGS

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
assert CHROMIUM, "the page's test needs Chromium: run the README's test command, bash .ci/run (Debian's package `chromium`)"

STYLES = ("mondrian.jpg", "en_campo_gris.jpg", "brushstrokes.jpg")  # a light style, then a dark one
WINDOW = (1280, 720)


# ---- the server: the real command, as a user starts it ----

@contextmanager
def serve(*args: str, timeout: float = 60.0) -> Iterator[str]:
    """Run `realtime-adain serve --port 0 ARGS`; yields the URL it prints (token included)."""
    process = subprocess.Popen([sys.executable, "-m", "realtime_adain", "serve", "--port", "0", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: queue.Queue[str | None] = queue.Queue()
    seen: list[str] = []
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout] + [lines.put(None)],
                     daemon=True).start()
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"serve printed no URL in {timeout:.0f} s:\n{''.join(seen)}") from None
            if line is None:
                raise AssertionError(f"serve exited ({process.wait()}) before printing its URL:\n{''.join(seen)}")
            seen.append(line)
            if match := re.search(r"https?://\S+", line):
                yield match.group(0)
                return
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group we started, then SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        if process.poll() is not None:
            break
        try:
            os.killpg(process.pid, sig)
            process.wait(wait)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass


# ---- the browser ----

@contextmanager
def chromium(profile: Path) -> Iterator[int]:
    """Headless Chromium with a fake camera (a moving test pattern) that needs no permission click; yields the
    DevTools port. The process group is always ended, whatever happens in the test."""
    flags = ["--headless=new", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
             "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
             "--autoplay-policy=no-user-gesture-required", f"--window-size={WINDOW[0]},{WINDOW[1]}",
             f"--user-data-dir={profile}", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    process = subprocess.Popen([CHROMIUM, *flags, "about:blank"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert process.poll() is None, f"chromium exited with {process.returncode} at start"
            assert time.monotonic() < deadline, "chromium opened no DevTools port in 30 s"
            time.sleep(0.1)
        yield int(port_file.read_text().split()[0])
    finally:
        stop(process)


class DevTools:
    """One page target over the DevTools protocol: call a method, evaluate JavaScript; the page's uncaught
    exceptions and console errors are kept in `errors` (after Runtime.enable)."""

    def __init__(self, ws: Any):
        self.ws, self.last_id, self.errors = ws, 0, []

    async def call(self, method: str, **params: Any) -> dict:
        self.last_id += 1
        await self.ws.send_json({"id": self.last_id, "method": method, "params": params})
        async for message in self.ws:
            reply = message.json()
            if reply.get("id") == self.last_id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply["result"]
            self._event(reply.get("method"), reply.get("params", {}))
        raise AssertionError(f"the DevTools connection closed during {method}")

    def _event(self, method: str | None, params: dict) -> None:
        if method == "Runtime.exceptionThrown":
            self.errors.append(params["exceptionDetails"].get("exception", {}).get("description", str(params)))
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            self.errors.append(" ".join(str(arg.get("value", arg.get("description"))) for arg in params["args"]))

    async def js(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        assert "exceptionDetails" not in result, f"{expression}: {result['exceptionDetails']}"
        return result["result"].get("value")

    async def wait(self, expression: str, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not await self.js(f"(() => {{ try {{ return Boolean({expression}); }} catch (e) {{ return false; }} }})()"):
            if time.monotonic() > deadline:
                status = await self.js("document.body && `${document.body.dataset.state}: ${document.getElementById('status').textContent}`")
                raise AssertionError(f"{what}: not within {timeout:.0f} s; the page says {status!r}")
            await asyncio.sleep(0.2)


@asynccontextmanager
async def devtools(port: int):
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
            targets = await response.json()
        page = next(t for t in targets if t["type"] == "page")
        async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            yield DevTools(ws)


# Both videos drawn small onto a canvas: the stylized one's mean, spread and mean colour, its mean absolute
# difference from the camera preview and from the previous snapshot of itself, and how far its mean colour moved
# since then (all 0..255 per channel).
PIXELS = """(() => {
  const grab = (id) => {
    const canvas = document.createElement('canvas');
    canvas.width = 160; canvas.height = 120;
    const context = canvas.getContext('2d', {willReadFrequently: true});
    context.drawImage(document.getElementById(id), 0, 0, 160, 120);
    return context.getImageData(0, 0, 160, 120).data;
  };
  const meanAbs = (a, b) => { let s = 0, n = 0;
    for (let i = 0; i < a.length; i += 4) for (let k = 0; k < 3; k++) { s += Math.abs(a[i + k] - b[i + k]); n++; }
    return s / n; };
  const local = grab('local'), remote = grab('remote');
  let sum = 0, squares = 0, n = 0;
  for (let i = 0; i < remote.length; i += 4) for (let k = 0; k < 3; k++) { sum += remote[i + k]; squares += remote[i + k] ** 2; n++; }
  const colour = [0, 1, 2].map((k) => { let s = 0; for (let i = k; i < remote.length; i += 4) s += remote[i]; return s / (n / 3); });
  const mean = sum / n, before = window.__lastRemote;
  window.__lastRemote = {remote, colour};
  const video = document.getElementById('remote');
  return {mean, std: Math.sqrt(squares / n - mean * mean), vsPreview: meanAbs(remote, local), colour,
          vsBefore: before ? meanAbs(remote, before.remote) : null,
          colourShift: before ? colour.reduce((s, c, k) => s + Math.abs(c - before.colour[k]), 0) / 3 : null,
          width: video.videoWidth, height: video.videoHeight, frames: window.adain.frames.remote};
})()"""

RECTS = """['local', 'remote'].map((id) => { const r = document.getElementById(id).getBoundingClientRect();
  return [r.x, r.y, r.width, r.height].map(Math.round); })"""


def region(screenshot: np.ndarray, rect: list[int]) -> np.ndarray:
    x, y, w, h = rect
    return screenshot[y + 4:y + h - 4, x + 4:x + w - 4].astype(np.float32)


async def drive(url: str, port: int, shot: Path) -> dict:
    """Open the page, wait for the stylized stream, measure it, click the next style, measure again.
    On a loaded CPU the server may return under one frame a second: every wait counts frames, not time."""
    async with devtools(port) as page:
        await page.call("Emulation.setDeviceMetricsOverride", width=WINDOW[0], height=WINDOW[1], deviceScaleFactor=1,
                        mobile=False)
        await page.call("Runtime.enable")
        await page.call("Page.navigate", url=url)
        await page.wait("document.body.dataset.state === 'streaming' && adain.frames.remote >= 2", 40,
                        "the stylized stream")
        first = await page.js(PIXELS)
        await page.wait(f"adain.frames.remote > {first['frames']}", 10, "a second stylized frame")
        steady = await page.js(PIXELS)  # the same style one frame later: the camera's own motion
        png = await page.call("Page.captureScreenshot", format="png")
        rects = await page.js(RECTS)
        shot.write_bytes(base64.b64decode(png["data"]))

        frames = await page.js("document.querySelectorAll('#strip .thumb')[1].click(), adain.frames.remote")
        await page.wait("adain.state && adain.state.style === adain.config.styles[1].id", 10,
                        "the server's state after a style click")
        await page.wait(f"adain.frames.remote >= {frames} + 3", 15, "frames after the style click")
        switched = await page.js(PIXELS)
        # On a loaded machine frames stylized before the click are still arriving: look at up to 20
        # more before deciding the style did not change the picture.
        for _ in range(20):
            shift = sum(abs(a - b) for a, b in zip(switched["colour"], steady["colour"])) / 3
            if shift > max(4 * steady["colourShift"], 8):
                break
            await page.wait(f"adain.frames.remote > {switched['frames']}", 15, "another frame after the style click")
            switched = await page.js(PIXELS)
        switched["colourShift"] = sum(abs(a - b) for a, b in zip(switched["colour"], steady["colour"])) / 3

        for kind in ("keyDown", "keyUp"):  # a key of the live window's table: `-` lowers alpha by 0.1
            await page.call("Input.dispatchKeyEvent", type=kind, key="-", code="Minus", text="-" if kind == "keyDown" else "")
        await page.wait("adain.state.alpha === 0.9", 10, "the server's alpha after the key `-`")
        stats = await page.js("({stats: adain.stats, rtt: adain.rtt, state: document.body.dataset.state, "
                              "keys: [...document.querySelectorAll('#keys tr')].map((tr) => tr.cells[0].textContent), "
                              "thumbnails: [...document.querySelectorAll('#strip img')].map((img) => img.naturalWidth)})")
    return {"first": first, "steady": steady, "switched": switched, "rects": rects, "stats": stats, "errors": page.errors}


def test_a_real_browser_shows_a_stylized_stream_beside_its_camera(weights_env, data_dir, tmp_path):
    styles = [str(data_dir / "style" / name) for name in STYLES]
    shot = Path(os.environ.get("REALTIME_ADAIN_SCREENSHOT") or tmp_path / "serve_page.png")
    started = time.monotonic()
    # With a token, as off loopback: the page must carry it from its URL to every /api request, thumbnails included.
    with serve("--styles", *styles, "--style-size", "256", "--token", "token-for-the-browser") as url, chromium(tmp_path / "profile") as port:
        print(f"serving after {time.monotonic() - started:.1f} s")
        result = asyncio.run(asyncio.wait_for(drive(url, port, shot), 50))
    first, steady, switched = result["first"], result["steady"], result["switched"]
    print(f"stylized mean {first['mean']:.1f} std {first['std']:.1f}, vs preview {first['vsPreview']:.1f}; colour moved "
          f"{steady['colourShift']:.1f} with the camera's motion, {switched['colourShift']:.1f} with the style; {result['stats']}")

    assert first["width"] > 0 and first["height"] > 0, "the stylized video has no size"
    assert first["mean"] > 10 and first["std"] > 8, f"the stylized video is black or flat: {first}"
    assert first["vsPreview"] > 20, f"the stylized video looks like the camera: {first}"
    motion = steady["colourShift"]
    assert switched["colourShift"] > max(4 * motion, 8), \
        f"another style moved the mean colour by {switched['colourShift']:.1f} (against the frame before the click), " \
        f"the camera's own motion by {motion:.1f}"

    assert not result["errors"], f"JavaScript errors on the page: {result['errors']}"
    stats = result["stats"]["stats"]
    assert stats and stats["fps"] > 0 and stats["clients"] == 1, f"the server's stats: {result['stats']}"
    assert result["stats"]["rtt"] is not None, "no pong to the page's ping"
    assert "?token=token-for-the-browser" in url
    thumbnails = result["stats"]["thumbnails"]
    assert len(thumbnails) == len(STYLES) and all(0 < width <= 160 for width in thumbnails), f"thumbnails: {thumbnails}"
    assert result["stats"]["keys"] == [binding.keys for binding in BINDINGS], "the page's key table is not the live window's"

    # The screenshot itself: the stylized video is a picture, and not the preview's.
    picture = cv2.imread(str(shot))
    assert picture is not None and picture.shape[1] == WINDOW[0], f"screenshot {shot}: {None if picture is None else picture.shape}"
    local, remote = (region(picture, rect) for rect in result["rects"])
    assert remote.std() > 8, "the screenshot shows no picture in the stylized video"
    assert np.abs(cv2.resize(remote, local.shape[1::-1]) - local).mean() > 20, "the screenshot's two videos look alike"
