"""Fixes of session 40: `live` quitting during a colour-reference encoding, what the HUD and the
log say (alpha, reconnecting, rescans, an image sequence's name), the side-by-side size, --log's
folder and `file:` sources."""

from __future__ import annotations

import signal
import threading
import time

import cv2
import numpy as np
import pytest
import torch

from live_support import cli_env, copy_styles, live_command, start, write_video
from realtime_adain.adain import StyleStats
from realtime_adain.live import window
from realtime_adain.live.camera import CameraSource
from realtime_adain.live.capture import Capture
from realtime_adain.live.controller import Controller, Effect, LiveState
from realtime_adain.live.effects import KeyEffects
from realtime_adain.live.events import EventLog
from realtime_adain.live.inference import Result
from realtime_adain.live.source_opening import open_source
from realtime_adain.live.sources import Frame
from realtime_adain.live.active_style import ActiveStyle
from realtime_adain.live.styles import StyleLibrary
from realtime_adain.weight_digests import file_sha256
from test_live_hostile_libraries import tiny_png
from test_live_hud import drawn
from test_live_sources import FakeCameraHardware

SIZE = 64


def test_quitting_stops_a_colour_reference_between_styles(stylizer, tmp_path, one_thread):
    """`m` then `c` at a large --style-size, then `q`: both styles were encoded (seconds each on a
    CPU) while the exit waited, then gave up, and the interpreter ended under torch (status 134).
    Now the session's stop ends it between styles."""
    folder = tmp_path / "styles"
    folder.mkdir()
    for name in "ab":
        tiny_png(folder / f"{name}.png", seed=ord(name))
    library = StyleLibrary([folder], stylizer, SIZE, tmp_path / "cache").load()
    stop, encoded, read = threading.Event(), [], library.style_image

    def quit_while_encoding(style):
        encoded.append(style.name)
        stop.set()  # `q` pressed while the first style is being encoded
        return read(style)

    library.style_image = quit_while_encoding
    events = []
    active = ActiveStyle(library, lambda event, **fields: events.append(event), stopped=stop.is_set)
    state = LiveState(tuple(library.names), mix=0.5, preserve_color=True)
    stats = active.stats(state, np.full((32, 48, 3), 90, np.uint8))
    assert encoded == ["a"] and not active.encoding and events == []
    assert torch.equal(stats.mean, StyleStats.mix([s.stats for s in library.styles], [0.5, 0.5]).mean)


@pytest.mark.slow  # (default run's time: a large colour reference)
def test_sigterm_while_a_colour_reference_is_encoded_ends_the_session_cleanly(published_weights, stylizer, data_dir,
                                                                               tmp_path):
    """SIGTERM while a colour reference was encoded at --style-size 1024: "inference did not finish
    its frame within 10 s", then "terminate called without an active exception" (status 134). Now
    the encoding is not waited for, the outputs are finished and the status is a quit's, 0."""
    styles = copy_styles(data_dir, tmp_path / "styles", names=("brushstrokes.jpg",))
    style = styles / "brushstrokes.jpg"
    cache = tmp_path / "cache"
    # The style's entry in the cache, so the start does not encode it at 1024 too (only `c` does).
    library = StyleLibrary([styles], stylizer, 1024, cache)
    library._store(file_sha256(style), StyleStats(torch.zeros(512), torch.ones(512)),
                   np.zeros((64, 64, 3), np.uint8), style.name)
    clip, out, log, stderr = (tmp_path / name for name in ("clip.mp4", "out.mp4", "live.log", "stderr.txt"))
    write_video(clip, frames=24)
    process = start(live_command("--source", clip, "--styles", styles, "--style-size", "1024", "--style-cache", cache,
                                 "--preserve-color", "--no-window", "-o", out, "--log", log, "--size", "32",
                                 "--engine", "eager"),
                    cli_env(published_weights, tmp_path / "home"), tmp_path, stderr)
    try:
        deadline = time.monotonic() + 60
        while not (log.exists() and "live: start" in log.read_text()) and time.monotonic() < deadline:
            assert process.poll() is None, stderr.read_text()
            time.sleep(0.1)
        time.sleep(1.0)  # the first frame's colour reference is being encoded (some 15 s here)
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    text = log.read_text()
    assert code == 0, stderr.read_text()
    assert "cached=1" in text and "live: color-reference-stopped" in text and "live: color-reference " not in text
    assert f"live: output path={out}" in text and "live: session " in text and "live: error" not in text


def test_the_hud_shows_alpha_as_the_log_writes_it():
    """`--alpha 0.35` was drawn as "alpha 0.3" (`.1f`), while the log said 0.35."""
    assert not np.array_equal(drawn(alpha=0.35), drawn(alpha=0.3))


class SlowToReopen(FakeCameraHardware):
    """A camera that drops after a few frames and whose reopening hangs (a USB reset) until `back`."""

    def __init__(self) -> None:
        super().__init__(drop_after=3, refused_reopens=0)
        self.back = threading.Event()

    def open(self, device, backend):
        if self.opens:
            self.back.wait(10)
        return super().open(device, backend)


def test_the_source_status_says_the_wait_and_the_reopening():
    """The HUD said "reconnecting in 0 s" (0.5 s at `.0f`) for the whole reopening, however long
    the open took. Now the wait as it is, then the attempt while the source is reopened."""
    hardware = SlowToReopen()
    source = CameraSource(0, opener=hardware.open)
    source.open()
    said = []
    capture = Capture(source, lambda event, **fields: said.append(capture.status) if event == "source-lost" else None)
    capture.start()
    try:
        deadline = time.monotonic() + 10
        while "attempt" not in capture.status and time.monotonic() < deadline:
            time.sleep(0.01)
        reopening = capture.status
        hardware.back.set()
    finally:
        capture.stop()
        capture.join(timeout=5)
    assert said == ["camera 0 stopped delivering frames; reconnecting in 0.5 s"]
    assert reopening == "camera 0 stopped delivering frames; reconnecting (attempt 1)"


def test_side_by_side_stays_within_the_largest_display():
    """At --resolution 7680x4320 (shown at 3840x2160) side by side was composed at 7680x2160 for
    every frame, and its window made that wide."""
    frame = Frame(np.zeros((36, 64, 3), np.uint8), 0.0, 1)
    result = Result(frame, frame.image, frame.image)
    state = LiveState(("a",), view="side-by-side")
    height, width = window.picture(result, state, window.MAX_DISPLAY, None).shape[:2]
    assert (width, height) == (3840, 1080)
    assert window.within_display((2 * 3840, 2160)) == (3840, 1080)  # (the window's size)


def rescanned(stylizer, tmp_path, selected: int, removed: list[str]) -> list[tuple[str, dict]]:
    """The events of a rescan of styles a, b, c with style `selected` (0-based) picked, after
    `removed` were deleted."""
    folder = tmp_path / "styles"
    folder.mkdir()
    for name in "abc":
        tiny_png(folder / f"{name}.png", seed=ord(name))
    events: list[tuple[str, dict]] = []
    log = lambda event, **fields: events.append((event, fields))  # noqa: E731
    library = StyleLibrary([folder], stylizer, SIZE, tmp_path / "cache", log).load()
    controller = Controller(library.names)
    controller.apply("select", selected)
    for name in removed:
        (folder / f"{name}.png").unlink()
    effects = KeyEffects(log, threading.Event(), controller, library, tmp_path, tmp_path, (48, 32), 24.0)
    effects.perform([Effect("rescan")], None)
    effects.join(30)
    return events


def test_a_rescan_says_where_the_selection_moved(stylizer, tmp_path, one_thread):
    """Style 3 picked, c.png deleted, `l`: the log said only `rescan styles=2`, the selection moved
    to style 2 without a word."""
    events = rescanned(stylizer, tmp_path, 2, ["c"])
    assert events == [("rescan-start", {}), ("rescan", {"styles": 2, "added": ""}), ("style", {"index": 2, "name": "b"})], events


def test_a_rescan_that_keeps_the_styles_says_only_that(stylizer, tmp_path, one_thread):
    """Every image deleted, `l`: `rescan-kept styles=3 ...` and then `rescan styles=3 added=""`."""
    events = rescanned(stylizer, tmp_path, 0, ["a", "b", "c"])
    assert [event for event, _ in events if event != "rescan-skip"] == ["rescan-start", "rescan-kept"], events


def test_the_log_file_gets_its_missing_folders(tmp_path):
    """`--log new/x.log` failed ("error: new/x.log: No such file or directory") where -o,
    --snapshot-dir and --record-dir make their folders."""
    log = EventLog(tmp_path / "new" / "sub" / "x.log")
    log("quit")
    log.close()
    assert (tmp_path / "new" / "sub" / "x.log").read_text() == "live: quit\n"


def test_a_log_that_cannot_be_opened_is_said_naming_log(run_cli, weights_env, data_dir, tmp_path):
    (tmp_path / "file").write_text("")
    code, _, err = run_cli("live", "--source", data_dir / "videos" / "cutBunny.mp4", "--styles", data_dir / "style" / "trial.jpg",
                           "--no-window", "-o", tmp_path / "out.mp4", "--log", tmp_path / "file" / "x.log")
    assert (code, err) == (2, f"error: --log {tmp_path}/file/x.log: its folder {tmp_path}/file cannot be made "
                              "(it is a file, not a folder)\n")


def test_a_file_url_is_refused_with_a_hint(run_cli, weights_env, data_dir, tmp_path):
    """`--source file:clip.mp4` (FFmpeg's file protocol) was "no such file (and not a camera index,
    device or URL)", though clip.mp4 was there."""
    code, _, err = run_cli("live", "--source", "file:clip.mp4", "--styles", data_dir / "style" / "trial.jpg",
                           "--no-window", "-o", tmp_path / "out.mp4")
    assert (code, err) == (2, "error: file:clip.mp4: no such file; for the file clip.mp4 give its path alone, "
                              "without file:\n")


def test_an_image_sequence_ends_under_its_name_as_given(tmp_path):
    """The start line named "seq/f%04d.png", its `source-ended` line "f%04d.png"."""
    (tmp_path / "seq").mkdir()
    for i in range(1, 4):
        cv2.imwrite(str(tmp_path / "seq" / f"f{i:04d}.png"), np.full((16, 16, 3), 40 * i, np.uint8))
    pattern = str(tmp_path / "seq" / "f%04d.png")
    events = []
    capture = Capture(open_source(pattern, loop=False), lambda event, **fields: events.append((event, fields)))
    capture.start()
    capture.join(timeout=10)
    assert events == [("source-ended", {"source": pattern, "frames": 3})], events


def test_opening_a_camera_leaves_opencvs_log_level_as_it_was():
    """The camera's open silenced OpenCV for the whole process: a picture read after it (a live
    session's style, a test later in the same process) lost the library's reason from its error,
    "not a readable image (OpenJPEG2000: ...)" (found by CI, order-dependent)."""
    from realtime_adain.live.sources import SourceError

    before = cv2.utils.logging.getLogLevel()
    with pytest.raises(SourceError):
        CameraSource("/dev/no-such-camera").open()
    assert cv2.utils.logging.getLogLevel() == before != cv2.utils.logging.LOG_LEVEL_SILENT
