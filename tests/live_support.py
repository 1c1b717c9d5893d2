"""Helpers shared by the live tests: small style folders, tiny videos, reading results back."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
STYLE_PICKS = ("brushstrokes.jpg", "en_campo_gris.jpg", "trial.jpg")
# Small sizes keep a frame through the network at tens of milliseconds on the shared CPU.
FAST = ("--size", "64", "--style-size", "64")


def copy_styles(data_dir: Path, target: Path, names=STYLE_PICKS) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(data_dir / "style" / name, target / name)
    return target


def write_video(path: Path, frames: int = 12, size: tuple[int, int] = (96, 64), fps: int = 24) -> Path:
    """A tiny H.264 clip whose frames differ (a moving bar), written with PyAV."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(frames):
            image = np.full((size[1], size[0], 3), 40, np.uint8)
            x = (i * 7) % size[0]
            image[:, x:x + 8] = (220, 180, 60)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def read_video(path: Path) -> tuple[int, int, int]:
    """(decoded frames, width, height): decoding every frame is what 'playable' means here."""
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    assert frames, f"{path} has no decodable frames"
    return len(frames), frames[0].width, frames[0].height


def cli_env(weights: tuple[Path, Path], home: Path) -> dict[str, str]:
    """Environment for a `realtime-adain` subprocess using the test weights and this checkout's code
    (whatever copy of the package happens to be installed)."""
    env = dict(os.environ)
    pythonpath = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update(REALTIME_ADAIN_VGG=str(weights[0]), REALTIME_ADAIN_DECODER=str(weights[1]),
               REALTIME_ADAIN_HOME=str(home), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", PYTHONPATH=pythonpath)
    return env


def live_command(*args: str | os.PathLike) -> list[str]:
    return [sys.executable, "-m", "realtime_adain", "live", *map(str, args)]


def start(cmd: list[str], env: dict[str, str], cwd: Path, stderr_path: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=open(stderr_path, "wb"))


def record_noise(recorder, count: int, pause: float) -> int:
    """Feed `recorder` up to `count` frames of 160x120 noise (which does not compress), `pause`
    seconds apart and each once its encoder took the one before (on a loaded machine a fixed pace
    filled the queue, frames were dropped and the file never reached its limit), until it reports
    an error; returns the index of the last frame fed."""
    frames = np.random.default_rng(0).integers(0, 256, (count, 120, 160, 3), dtype=np.uint8)
    for i, image in enumerate(frames):
        recorder.submit(image, i / 24)
        time.sleep(pause)
        deadline = time.monotonic() + 30
        while not recorder._encoder._queue.empty() and not recorder.error and time.monotonic() < deadline:
            time.sleep(0.002)
        if recorder.error:
            break
    return i
