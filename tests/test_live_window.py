"""A real OpenCV window under Xvfb, driven with xdotool like a user at the keyboard."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from live_support import FAST, cli_env, live_command, read_video, start
from realtime_adain.imageio import read_image

TITLE = "realtime-adain live"


@pytest.fixture
def display():
    """A private X server: Xvfb picks a free display number itself (-displayfd)."""
    if not (shutil.which("Xvfb") and shutil.which("xdotool")):
        pytest.fail("Xvfb and xdotool are needed for the window test: apt-get install xvfb xdotool (.ci/run does)")
    server = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        number = server.stdout.readline().strip()
        assert number.isdigit(), "Xvfb did not report a display number"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def wait_for(predicate, what: str, process: subprocess.Popen, stderr: Path, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        assert process.poll() is None, f"live exited early while waiting for {what}:\n{stderr.read_text()}"
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}:\n{stderr.read_text()}")


def test_keys_in_a_real_window(display, published_weights, data_dir, tmp_path):
    log, stderr = tmp_path / "live.log", tmp_path / "stderr.txt"
    snaps, records = tmp_path / "snaps", tmp_path / "records"
    env = cli_env(published_weights, tmp_path / "home") | {"DISPLAY": display}
    cmd = live_command("--source", data_dir / "videos" / "cutBunny.mp4", "--styles", data_dir / "style",
                       "--log", log, "--snapshot-dir", snaps, "--record-dir", records, *FAST)
    process = start(cmd, env, tmp_path, stderr)
    logged = lambda text: log.exists() and text in log.read_text()  # noqa: E731

    def xdotool(*args: str) -> str:
        return subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True, timeout=10).stdout

    try:
        wait_for(lambda: logged("live: window "), "the first picture", process, stderr)
        window = wait_for(lambda: xdotool("search", "--name", TITLE).split(), "the window", process, stderr)[0]

        def lines() -> int:
            return len(log.read_text().splitlines())

        def keys(*names: str) -> None:
            """Each of these keys logs one line: the next is typed once it has. HighGUI's Qt keeps only
            the last key that came while the loop was busy, so keys typed at a fixed pace were lost
            on a loaded machine (CI: 'Right' went, 150 ms before 'Left')."""
            for name in names:
                before = lines()
                xdotool("key", "--window", window, name)
                wait_for(lambda: lines() > before, f"the line of key {name!r}", process, stderr, timeout=30)

        def width() -> int:
            return int(re.search(r"Geometry: (\d+)x", xdotool("getwindowgeometry", window)).group(1))

        keys("2", "n", "Right", "Left", "minus", "minus", "plus", "m", "o")
        single = width()
        keys("o")  # side by side: the window doubles its width rather than squeezing both views
        wait_for(lambda: width() == 2 * single, "the side-by-side window", process, stderr, timeout=10)
        keys("o")
        wait_for(lambda: width() == single, "the single-view window", process, stderr, timeout=10)
        keys("h", "h", "i", "i", "t", "space", "space", "l", "s")
        wait_for(lambda: logged("live: snapshot "), "the snapshot", process, stderr)
        keys("r")
        assert logged("live: record-start ")
        time.sleep(1.5)
        keys("r")
        assert logged("live: record-stop ")
        xdotool("key", "--window", window, "q")  # (its line may come as the process ends)
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    text = log.read_text()
    assert code == 0, stderr.read_text()

    styles = [int(i) for i in re.findall(r"^live: style index=(\d+) name=\S+$", text, re.M)]
    assert styles == [2, 3, 4, 3]
    assert re.findall(r"^live: alpha alpha=([\d.]+)$", text, re.M) == ["0.9", "0.8", "0.9"]
    assert "live: mix weight=0.25 with=" in text and "live: view view=side-by-side" in text
    assert "live: help on=True" in text and "live: hud on=False" in text and "live: quit" in text
    assert "live: paused on=True" in text and "live: paused on=False" in text
    assert "live: stabilize mode=stats" in text  # from the default flow
    assert "live: rescan styles=17 added=" in text.replace('added=""', "added=")

    stylized, = snaps.glob("*-stylized.png")
    original, = snaps.glob("*-original.png")
    assert read_image(stylized).shape == (64, 114, 3) and read_image(original).shape == (360, 640, 3)

    recording, = records.glob("*.mp4")
    frames, width, height = read_video(recording)
    assert frames > 0 and (width, height) == (114, 64)
    assert f"live: record-stop path={recording} frames={frames}" in text
    assert "live: session frames_shown=" in text
