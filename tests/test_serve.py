"""`realtime-adain serve`: a real aiortc client against the real server (in-process), frames
checked against the Stylizer's own output by PSNR (VP8 codec loss), controls over the data
channel, limits, the token, uploads, the CLI and its signals."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import cv2
import numpy as np
import pytest

from realtime_adain.adain import StyleStats
from realtime_adain.live.styles import StyleLibrary
from realtime_adain.serve import app as serve_app
from realtime_adain.serve.batcher import stylize_batch, work_size
from realtime_adain.serve.client import CLOCK, FrameSource, ServeClient
from realtime_adain.serve.settings import ServeSettings
from realtime_adain.serve.styles import StyleRegistry
from realtime_adain.settings import ModelSettings

REPO = Path(__file__).resolve().parents[1]
W, H, FPS = 64, 48, 30
# Through VP8 (twice: to the server and back) a right match measures 27-41 dB here; the same frame
# with another style 18-19 dB, another alpha 24-26 dB, the mix's main style alone 28-30 dB.
MATCH_DB = 24.0
MARGIN_DB = 4.0


def moving(k: int, width: int = W, height: int = H) -> np.ndarray:
    """Frame k of a moving gradient (every frame differs, so a returned pts names its frame)."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    return np.stack([(x + 6 * k) % 256 + 0 * y, (y + 3 * k) % 256 + 0 * x, (x + y) / 2 + 0 * y], axis=2).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def index_of(pts: int) -> int:
    return round(pts * FPS / CLOCK)


@pytest.fixture(scope="module")
def registry(stylizer, data_dir, tmp_path_factory) -> StyleRegistry:
    styles = [data_dir / "style" / "mondrian.jpg", data_dir / "style" / "asheville.jpg"]
    library = StyleLibrary(styles, stylizer, 64, tmp_path_factory.mktemp("style-cache")).load()
    return StyleRegistry(library, tmp_path_factory.mktemp("uploads"))


def settings_for(**changes) -> ServeSettings:
    values = dict(styles=("unused",), model=ModelSettings(device="cpu"), port=0, size=0, stabilize="off", idle_timeout=30.0)
    values.update(changes)
    return ServeSettings(**values)


@contextlib.asynccontextmanager
async def served(stylizer, registry, **changes):
    server = serve_app.Server(settings_for(**changes), stylizer, registry, side=0)
    async with serve_app.running(server) as url:
        yield server, url


async def connected(url: str, frames: int | None = None, **kwargs) -> ServeClient:
    client = ServeClient(url, FrameSource(moving, FPS, frames), **kwargs)
    await client.connect()
    return client


def check_frames(client: ServeClient, stylizer, right: tuple, wrong: list[tuple], since: int = 0, until: int | None = None) -> None:
    """Each received frame (from `since` to `until`) against the Stylizer's output for the frame
    sent with its pts: with `right` (style, alpha) over MATCH_DB, and MARGIN_DB nearer than with
    any of `wrong`."""
    frames = client.frames[since:until]
    assert frames
    for got in frames:
        sent = moving(index_of(got.pts))
        near = psnr(got.image, stylizer.stylize(sent, *right))
        other = max(psnr(got.image, stylizer.stylize(sent, *w)) for w in wrong)
        print(f"frame {index_of(got.pts)}: {near:.1f} dB, other {other:.1f} dB")
        assert near > MATCH_DB and near > other + MARGIN_DB, (index_of(got.pts), near, other)


async def all_gone(server, timeout: float = 5.0) -> int:
    """The server's client count once it reached 0 (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    while server.clients and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return len(server.clients)


async def after_change(client: ServeClient, message: dict, test, frames: int = 4) -> int:
    """Send `message`, wait for the state that says it took effect and for `frames` frames after
    two more (frames already in flight used the previous look); returns the index of the first."""
    client.send(message)
    await client.wait_message(lambda m: "state" in m and test(m["state"]))
    since = len(client.frames) + 2
    await client.wait_frames(since + frames)
    return since


def test_frames_come_back_stylized(stylizer, registry, one_thread):
    async def main():
        async with served(stylizer, registry) as (server, url):
            client = await connected(url)
            await client.wait_frames(6)
            await client.close()
            return client, server

    client, server = asyncio.run(main())
    s0, s1 = registry.get("s0").stats, registry.get("s1").stats
    check_frames(client, stylizer, (s0, 1.0), [(s1, 1.0)])
    assert client.frames[0].image.shape == (H, W, 3)
    assert len({got.pts for got in client.frames}) == len(client.frames)  # each frame once, pts kept


def test_style_alpha_mix_and_bad_messages_over_the_data_channel(stylizer, registry, one_thread):
    s0, s1 = registry.get("s0").stats, registry.get("s1").stats

    async def main():
        async with served(stylizer, registry) as (_server, url):
            client = await connected(url)
            await client.wait_frames(2)
            marks = {"style": await after_change(client, {"style": "s1"}, lambda s: s["style"] == "s1")}
            marks["alpha"] = await after_change(client, {"alpha": 0.5}, lambda s: s["alpha"] == 0.5)
            marks["mix"] = await after_change(client, {"alpha": 1.0, "mix": {"style": "s0", "weight": 0.25}},
                                              lambda s: s["mix"] == {"style": "s0", "weight": 0.25} and s["alpha"] == 1.0)
            marks["end"] = len(client.frames)
            for bad in ('{"style": "/etc/passwd"}', '{"alpha": 2}', "not json", '{"rm": 1}', '{"mix": {"style": "s9", "weight": 1}}'):
                client.channel.send(bad)
            client.send({"ping": 1234.5})
            pong = await client.wait_message(lambda m: "pong" in m)
            await client.wait_message(lambda m: sum("error" in x for x in client.messages) >= 5)
            errors = [m for m in client.messages if "error" in m]
            stats = await client.wait_message(lambda m: "stats" in m and m["stats"]["fps"] > 0 and m["state"]["mix"], timeout=5)
            await client.close()
            return client, marks, pong, errors, stats

    client, marks, pong, errors, stats = asyncio.run(main())
    check_frames(client, stylizer, (s0, 1.0), [(s1, 1.0)], until=2)
    check_frames(client, stylizer, (s1, 1.0), [(s0, 1.0), (s1, 0.5)], marks["style"], marks["alpha"] - 2)
    check_frames(client, stylizer, (s1, 0.5), [(s1, 1.0), (s0, 0.5)], marks["alpha"], marks["mix"] - 2)
    mixed = StyleStats.mix([s1, s0], [0.75, 0.25])
    check_frames(client, stylizer, (mixed, 1.0), [(s1, 1.0), (s0, 1.0)], marks["mix"], marks["end"])
    assert pong == {"pong": 1234.5}
    assert len(errors) == 5 and "unknown style id" in errors[0]["error"] and "unknown style id" in errors[4]["error"]
    assert set(stats["stats"]) >= {"fps", "latency_ms", "batch", "clients", "device", "engine"}
    assert stats["stats"]["latency_ms"]["p95"] >= stats["stats"]["latency_ms"]["p50"] > 0
    assert stats["state"]["style"] == "s1"


def test_two_clients_each_get_their_own_style(stylizer, registry, one_thread):
    async def main():
        async with served(stylizer, registry) as (server, url):
            a, b = await connected(url), await connected(url)
            assert len(server.clients) == 2
            await b.wait_frames(1)
            since = await after_change(b, {"style": "s1"}, lambda s: s["style"] == "s1")
            await a.wait_frames(since + 4)
            await asyncio.gather(a.close(), b.close())
            return a, b, since, await all_gone(server)

    a, b, since, left = asyncio.run(main())
    s0, s1 = registry.get("s0").stats, registry.get("s1").stats
    check_frames(a, stylizer, (s0, 1.0), [(s1, 1.0)], since)
    check_frames(b, stylizer, (s1, 1.0), [(s0, 1.0)], since)
    assert left == 0  # closed connections are removed


def test_per_sample_styles_in_one_batch_equal_single_frames(stylizer, registry, one_thread):
    """Frames of clients with different styles and alphas go through the eager engine together."""
    frames = np.stack([moving(0), moving(5), moving(9)])
    styles = [registry.get("s0").stats, registry.get("s1").stats, registry.get("s0").stats]
    alphas = [1.0, 0.6, 0.3]
    batch = stylize_batch(stylizer, frames, styles, alphas)
    for frame, style, alpha, out in zip(frames, styles, alphas, batch):
        assert psnr(out, stylizer.stylize(frame, style, alpha)) > 45


def test_work_size_bounds_and_even_sides():
    assert work_size(480, 640, 160, (7680, 4320)) == (212, 160)
    assert work_size(4320, 7680, 0, (1280, 720)) == (1280, 720)
    assert work_size(47, 63, 0, (7680, 4320)) == (62, 46)


def test_token_limits_and_config(stylizer, registry):
    token = "s3cret-token-123"

    async def main():
        results = {}
        async with served(stylizer, registry, token=token, max_clients=1) as (server, url):
            async with aiohttp.ClientSession() as http:
                for name, kwargs in {"none": {}, "wrong": {"headers": {"Authorization": "Bearer nope-nope-nope"}},
                                     "query": {"params": {"token": token}},
                                     "header": {"headers": {"Authorization": f"Bearer {token}"}}}.items():
                    async with http.get(f"{url}/api/config", **kwargs) as response:
                        results[name] = response.status, await response.json()
                async with http.post(f"{url}/api/offer", json={"sdp": "x", "type": "offer"}) as response:
                    results["offer-no-token"] = response.status, await response.json()
                async with http.post(f"{url}/api/offer", json={"sdp": "x", "type": "offer"}, params={"token": token}) as response:
                    results["offer-bad-sdp"] = response.status, await response.json()
                async with http.get(f"{url}/api/styles/s1/thumbnail.jpg", params={"token": token}) as response:
                    results["thumbnail"] = response.status, await response.read()
                async with http.get(f"{url}/api/styles/..%2Fetc/thumbnail.jpg", params={"token": token}) as response:
                    results["no-style"] = response.status
            with pytest.raises(ConnectionRefusedError, match="401"):
                await connected(url, token="wrong-token-xyz")
            first = await connected(url, token=token)
            with pytest.raises(ConnectionRefusedError, match="429"):
                await connected(url, token=token)
            await first.close()
            results["left"] = await all_gone(server)
        return results

    results = asyncio.run(main())
    assert results["none"][0] == results["wrong"][0] == results["offer-no-token"][0] == 401
    assert "token" in results["none"][1]["error"]
    assert results["query"][0] == results["header"][0] == 200
    config = results["header"][1]
    assert [s["id"] for s in config["styles"]] == ["s0", "s1"] and config["style"] == "s0"
    assert config["styles"][0]["name"] == "mondrian" and "path" not in str(config["styles"])
    assert config["keys"][0]["keys"] == "1-9" and config["stabilize_modes"] == ["off", "flow", "stats", "both"]
    assert results["offer-bad-sdp"][0] == 400
    status, jpeg = results["thumbnail"]
    thumb = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert status == 200 and max(thumb.shape[:2]) <= 160
    assert results["no-style"] == 404
    assert results["left"] == 0


def test_silent_client_is_closed_after_the_idle_timeout(stylizer, registry, one_thread):
    async def main():
        async with served(stylizer, registry, idle_timeout=1.0) as (server, url):
            client = await connected(url, frames=3)  # then silent, connection left open
            await client.wait_frames(1)
            started = time.monotonic()
            while server.clients and time.monotonic() - started < 10:
                await asyncio.sleep(0.1)
            left, waited = len(server.clients), time.monotonic() - started
            await client.close()
            return left, waited

    left, waited = asyncio.run(main())
    assert left == 0 and waited < 5


def upload_form(data: bytes) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("image", data, filename="style.png", content_type="application/octet-stream")
    return form


def test_uploads_are_limited_and_decoded_safely(stylizer, registry, data_dir):
    png = cv2.imencode(".png", np.full((40, 60, 3), 90, np.uint8))[1].tobytes()
    wide = cv2.imencode(".png", np.zeros((8, 3000, 3), np.uint8))[1].tobytes()  # 24000 pixels, a few hundred bytes

    async def main():
        results = {}
        async with served(stylizer, registry, allow_uploads=True, max_upload_mb=0.01, max_upload_pixels=20000) as (server, url):
            async with aiohttp.ClientSession() as http:
                for name, data in {"ok": png, "big": os.urandom(20000), "pixels": wide, "junk": b"GIF89a not really"}.items():
                    async with http.post(f"{url}/api/styles", data=upload_form(data)) as response:
                        results[name] = response.status, await response.json()
                async with http.post(f"{url}/api/styles", data=b"raw") as response:
                    results["no-form"] = response.status, await response.json()
                async with http.get(f"{url}/api/config") as response:
                    results["config"] = await response.json()
            client = await connected(url)
            since = await after_change(client, {"style": results["ok"][1]["id"]}, lambda s: s["style"] == results["ok"][1]["id"])
            await client.close()
        async with served(stylizer, registry) as (server, url):
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{url}/api/styles", data=upload_form(png)) as response:
                    results["off"] = response.status
        return results, client, since

    results, client, since = asyncio.run(main())
    status, body = results["ok"]
    assert status == 200 and body["id"] == "s2" and body["thumbnail"] == "/api/styles/s2/thumbnail.jpg"
    assert [s["id"] for s in results["config"]["styles"]][-1] == "s2"
    assert results["big"][0] == 413 and results["pixels"][0] == 413, results
    assert results["junk"][0] == 400 and "not a readable image" in results["junk"][1]["error"]
    assert results["no-form"][0] == 400
    assert results["off"] == 403
    check_frames(client, stylizer, (registry.get("s2").stats, 1.0), [(registry.get("s0").stats, 1.0)], since)


# ---- the command -----------------------------------------------------------------------------

def env_with(weights_env, **extra) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(extra)
    return env


@pytest.mark.parametrize("args, says", [
    (["--port", "70000"], "--port 70000"),
    (["--max-clients", "0"], "--max-clients"),
    (["--idle-timeout", "-1"], "--idle-timeout"),
    (["--token", "short"], "--token"),
    (["--max-upload-mb", "100"], "--max-upload-mb"),
    (["--stabilize", "wobble"], "--stabilize wobble"),
    (["--max-resolution", "8x8"], "--max-resolution"),
    (["--host", "bad host"], "--host"),
    (["--alpha", "2"], "--alpha"),
])
def test_bad_options_are_one_line(run_cli, weights_env, data_dir, args, says):
    code, out, err = run_cli("serve", "-s", data_dir / "style" / "mondrian.jpg", "--device", "cpu", *args)
    assert code == 2 and says in err and err.startswith("error:") and len(err.strip().splitlines()) == 1, err


def test_missing_extra_is_one_line(weights_env, data_dir, tmp_path):
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\nclass Block:\n    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('aiohttp', 'aiortc'):\n            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n")
    env = env_with(weights_env, PYTHONPATH=f"{tmp_path}{os.pathsep}{REPO}")
    result = subprocess.run([sys.executable, "-m", "realtime_adain", "serve", "-s", str(data_dir / "style")],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == 'error: serve needs aiohttp and aiortc: pip install "realtime-adain[serve]"'


@pytest.mark.parametrize("sig, code, line", [
    (signal.SIGTERM, 143, "terminated"),
    pytest.param(signal.SIGINT, 130, "interrupted", marks=pytest.mark.slow),  # the same path, another signal
])
def test_signal_closes_every_peer_and_exits_like_other_commands(weights_env, data_dir, tmp_path, sig, code, line):
    command = [sys.executable, "-m", "realtime_adain", "serve", "-s", str(data_dir / "style" / "mondrian.jpg"),
               "--port", "0", "--device", "cpu", "--size", "0", "--style-size", "64",
               "--token", "token-for-the-test"]
    process = subprocess.Popen(command, env=env_with(weights_env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("serving on http://127.0.0.1:") and url.endswith("/?token=token-for-the-test"), url
        base = url.removeprefix("serving on ").split("/?")[0]

        async def main():
            client = await connected(base, token="token-for-the-test")
            await client.wait_frames(2)
            process.send_signal(sig)
            started = time.monotonic()
            while client.pc.connectionState not in ("closed", "failed") and time.monotonic() - started < 10:
                await asyncio.sleep(0.05)
            state = client.pc.connectionState
            await client.close()
            return state

        state = asyncio.run(main())
        err = process.communicate(timeout=30)[1]
    finally:
        process.kill()
    assert state in ("closed", "failed")  # the server closed the peer connection on its way out
    assert process.returncode == code
    assert err.strip().splitlines()[-1] == line and "Traceback" not in err, err
