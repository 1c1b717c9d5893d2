"""Sources: newest-frame-only hand-over, reconnecting after a drop, clear errors, clean ends."""

from __future__ import annotations

import os
import socket
import threading
import time

import numpy as np
import pytest

from live_support import FAST, copy_styles, read_video, write_video  # noqa: F401
from realtime_adain.live.camera import CameraSource
from realtime_adain.live.capture import Capture
from realtime_adain.live.pyav_source import PyAVSource
from realtime_adain.live.source_opening import open_source
from realtime_adain.live.sources import Latest, SourceError


def test_latest_keeps_only_the_newest_item():
    slot: Latest[int] = Latest()
    assert slot.newer(0, timeout=0.01) is None
    for i in range(5):
        slot.put(i)
    assert slot.newer(0, timeout=0.01) == (5, 4)  # four were overwritten, none queued
    assert slot.newer(5, timeout=0.01) is None
    threading.Timer(0.05, slot.put, args=(9,)).start()
    assert slot.newer(5, timeout=2.0) == (6, 9)  # a waiting reader wakes up for a new item
    slot.close()
    assert slot.newer(6, timeout=2.0) is None and slot.closed


class FakeCameraHardware:
    """Stands in for the camera hardware only (there is none in CI): unplugs, then comes back."""

    def __init__(self, drop_after: int, refused_reopens: int) -> None:
        self.drop_after, self.refused_reopens = drop_after, refused_reopens
        self.opens = self.reads = 0
        self.requested: dict[int, float] = {}

    def open(self, device, backend):
        return FakeVideoCapture(self)


class FakeVideoCapture:
    def __init__(self, hardware: FakeCameraHardware) -> None:
        self.hw = hardware
        hardware.opens += 1
        self.ok = not (hardware.opens > 1 and hardware.refused_reopens > 0)
        if not self.ok:
            hardware.refused_reopens -= 1

    def isOpened(self) -> bool:
        return self.ok

    def set(self, prop, value) -> bool:
        self.hw.requested[prop] = value
        return True

    def read(self):
        self.hw.reads += 1
        if self.hw.reads == self.hw.drop_after:
            return False, None
        time.sleep(0.005)
        return True, np.full((48, 64, 3), self.hw.reads % 256, np.uint8)

    def release(self) -> None:
        pass


def test_capture_reconnects_with_backoff_after_the_camera_drops():
    import cv2

    hardware = FakeCameraHardware(drop_after=5, refused_reopens=2)
    source = CameraSource(0, resolution=(640, 480), fps=30, opener=hardware.open)
    source.open()
    assert hardware.requested[cv2.CAP_PROP_FRAME_WIDTH] == 640 and hardware.requested[cv2.CAP_PROP_FPS] == 30
    events = []
    capture = Capture(source, lambda event, **f: events.append((event, f)), backoff=(0.01, 0.04))
    capture.start()
    try:
        deadline = time.monotonic() + 10
        while not any(e == "source-reconnected" for e, _ in events) and time.monotonic() < deadline:
            time.sleep(0.01)
        seq, frame = capture.latest.newer(0, timeout=1.0)
        later = capture.latest.newer(seq, timeout=2.0)
        assert later is not None and later[1].index > frame.index  # frames flow again
    finally:
        capture.stop()
        capture.join(timeout=5)
    lost = [f for e, f in events if e == "source-lost"]
    assert [f["attempt"] for f in lost] == [1, 2, 3]  # the drop, then two refused reopens
    assert [f["retry_in"] for f in lost] == [0.01, 0.02, 0.04]  # exponential back-off
    assert "stopped delivering frames" in lost[0]["reason"]
    assert capture.status == "live" and not capture.is_alive()
    assert capture.latest.closed  # consumers are told the stream is over


def test_file_source_loops_or_ends_and_scales_to_the_resolution(tmp_path):
    clip = write_video(tmp_path / "clip.mp4", frames=5)
    looping = PyAVSource(str(clip), is_file=True, loop=True)
    looping.open()
    frames = looping.frames()
    images = [next(frames) for _ in range(8)]  # more than the file has: it looped
    assert images[0].shape == (64, 96, 3) and np.array_equal(images[0], images[5])
    looping.close()
    scaled = open_source(str(clip), resolution=(48, 32), loop=False)
    assert [im.shape for im in scaled.frames()] == [(32, 48, 3)] * 5  # --no-loop: ends
    scaled.close()


def test_file_source_is_paced_at_its_frame_rate(tmp_path):
    clip = write_video(tmp_path / "clip.mp4", frames=12, fps=24)
    source = open_source(str(clip), loop=False)
    started = time.monotonic()
    count = sum(1 for _ in source.frames())
    elapsed = time.monotonic() - started
    assert count == 12 and elapsed >= 11 / 24 * 0.95  # as a camera would deliver them, not faster


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("source, message", [
    ("7", "camera 7: cannot open it"),
    ("2147483648", "camera 2147483648: no such camera (an index is 0 to 2147483647)"),
    ("9" * 5000, f"'{'9' * 80}...' (5000 characters): file name too long (5000 bytes in one name; a name holds at most 255)"),
    ("\u00b2", "\u00b2: no such file"),
    ("/dev/video97", "/dev/video97: no such camera device"),
    ("/dev/null", "/dev/null: not a camera (cameras are video4linux devices, /dev/video*)"),
    ("missing.mp4", "missing.mp4: no such file"),
    ("http://127.0.0.1:{port}/live.mp4", "http://127.0.0.1:{port}/live.mp4: cannot open"),
])
def test_failing_sources_give_one_clear_line(run_cli, weights_env, data_dir, tmp_path, source, message):
    port = closed_port()
    source, message = source.format(port=port), message.format(port=port)
    code, out, err = run_cli("live", "--source", source, "--styles", data_dir / "style", "--no-window",
                             "-o", tmp_path / "out.mp4", *FAST)
    assert code == 2
    assert err.startswith(f"error: {message}") and err.count("\n") == 1, err
    assert not (tmp_path / "out.mp4").exists()


def test_source_that_is_not_video(tmp_path):
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("hello")
    with pytest.raises(SourceError, match="cannot open"):
        open_source(str(not_video))


def test_file_ending_mid_run_stops_cleanly_with_output_finalised(run_cli, weights_env, data_dir, tmp_path, one_thread):
    clip = write_video(tmp_path / "clip.mp4", frames=12)
    styles = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    out = tmp_path / "out.mp4"
    code, _, err = run_cli("live", "--source", clip, "--no-loop", "--styles", styles, "--no-window", "-o", out, *FAST)
    assert code == 0, err
    assert "live: source-ended" in err and "live: session frames_shown=" in err
    frames, width, height = read_video(out)
    assert 0 < frames <= 12 and (width, height) == (96, 64)
    assert not list(tmp_path.glob(".out.mp4*"))  # no temporary left behind


def test_file_source_frames_are_upright_as_the_video_command_reads_them(tmp_path):
    """A phone clip as the live source is shown as the phone showed it (same conversion as `video`)."""
    from realtime_adain.video.reader import VideoReader
    from video_samples import write_video as write_rotated

    image = np.zeros((32, 64, 3), np.uint8)
    image[:, :32] = (255, 0, 0)
    clip = write_rotated(tmp_path / "phone.mp4", [image] * 2, rotation=90, codec="libx264rgb", pix_fmt="rgb24",
                         options={"crf": "0"})
    source = PyAVSource(str(clip), is_file=True, loop=False)
    source.open()
    try:
        first = next(iter(source.frames()))
    finally:
        source.close()
    with VideoReader(clip) as reader:
        expected = reader.first_frame.image
    assert first.shape == (64, 32, 3)
    np.testing.assert_array_equal(first, expected)


def test_a_socket_as_the_source_says_what_it_is(run_cli, weights_env, data_dir, tmp_path):
    """A socket (or a device outside /dev) was "no such file", though it is there."""
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp_path / "sock"))
    code, _, err = run_cli("live", "--source", tmp_path / "sock", "--styles", data_dir / "style", "--no-window",
                           "-o", tmp_path / "out.mp4", *FAST)
    listener.close()
    assert (code, err) == (2, f"error: {tmp_path / 'sock'}: a device or socket, not a video file (a camera "
                              "is a /dev/video* path)\n")
