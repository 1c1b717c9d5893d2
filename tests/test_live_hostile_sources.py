"""Live sources a user should not have to think about: a variable frame rate, an image sequence,
a folder, a thin strip of a video, an HTTP server that accepts and then says nothing."""

from __future__ import annotations

import socket
import threading
import time
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from live_support import FAST, copy_styles
from realtime_adain.imageio import write_image
from realtime_adain.live.pyav_source import PyAVSource
from realtime_adain.live.source_opening import open_source
from realtime_adain.live.sources import SourceError


def write_timed(path, times: list[float], size=(32, 24), rate: int = 1000):
    """An H.264 clip whose frames are shown at `times` (seconds), declared at `rate` fps."""
    base = Fraction(1, 1000)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        stream.codec_context.time_base = base
        for i, when in enumerate(times):
            frame = av.VideoFrame.from_ndarray(np.full((size[1], size[0], 3), 30 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = round(when * 1000), base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def test_a_variable_frame_rate_file_plays_at_its_timestamps(tmp_path):
    """Frames at 0, 1, 2 ms, then 0.6 s: paced by the average rate (5 fps) they came at 0, 0.2, 0.4, 0.6 s."""
    source = open_source(str(write_timed(tmp_path / "vfr.mp4", [0.0, 0.001, 0.002, 0.6])), loop=False)
    started, arrivals = time.monotonic(), []
    for _ in source.frames():
        arrivals.append(time.monotonic() - started)
    assert len(arrivals) == 4
    assert arrivals[2] < 0.15 and arrivals[3] >= 0.55, arrivals


def test_a_looping_file_keeps_its_pace_across_the_loop(tmp_path):
    source = open_source(str(write_timed(tmp_path / "clip.mp4", [0.0, 0.1, 0.2], rate=10)))
    frames, started = source.frames(), time.monotonic()
    for _ in range(7):  # two loops and the start of a third
        next(frames)
    source.close()
    assert 0.55 <= time.monotonic() - started < 1.5  # 6 periods of 0.1 s, not a burst, not a stall


def test_an_image_sequence_pattern_is_a_source_and_a_folder_is_told_to_give_one(tmp_path):
    """`--source frames/%03d.png` (FFmpeg plays it) and `--source frames/` both said 'no such file'."""
    folder = tmp_path / "frames"
    for i in range(1, 4):
        write_image(folder / f"{i:03d}.png", np.full((24, 32, 3), 50 * i, np.uint8))
    source = open_source(str(folder / "%03d.png"), loop=False)
    assert [image.shape for image in source.frames()] == [(24, 32, 3)] * 3
    with pytest.raises(SourceError, match="a folder, not a video .*%04d.png"):
        open_source(str(folder))
    with pytest.raises(SourceError, match="no such file"):
        open_source(str(tmp_path / "100%.mp4"))  # a "%" that is no pattern


@pytest.fixture
def silent_server():
    """An HTTP server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for connection in held:
        connection.close()


@pytest.mark.slow  # (waits out a silent server (5 s))
def test_a_server_that_says_nothing_is_one_line_with_the_reason(silent_server):
    """FFmpeg's "Immediate exit requested" was the reason given for our own 5 s timeout."""
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        open_source(f"http://127.0.0.1:{silent_server}/live.ts")
    assert str(caught.value) == f"http://127.0.0.1:{silent_server}/live.ts: cannot open (nothing received for 5 s)"
    assert time.monotonic() - started < 20


def test_a_server_that_never_answers_is_said_to_send_nothing(silent_server):
    """Not one byte, not even headers (session 49): said "no stream recognised within 1 s", as
    if bytes had come that no demuxer knew."""
    with pytest.raises(SourceError) as refused:
        PyAVSource(f"http://127.0.0.1:{silent_server}/a.ts", is_file=False, timeout=1.0).open()
    assert str(refused.value) == f"http://127.0.0.1:{silent_server}/a.ts: cannot open (nothing received for 1 s)"


def test_a_thin_strip_video_is_refused_before_it_eats_the_memory(run_cli, weights_env, data_dir, tmp_path):
    """A 4000x2 file at --size 32 became 64000x32 frames: 8 GB, a minute a frame, an H.264 error."""
    clip = tmp_path / "strip.mkv"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("ffv1", rate=10)
        stream.width, stream.height, stream.pix_fmt = 4000, 2, "bgr0"
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((2, 4000, 3), np.uint8), format="rgb24")))
        container.mux(stream.encode(None))
    styles = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    code, _, err = run_cli("live", "--source", clip, "--styles", styles, "--no-window", "-o", tmp_path / "o.mp4",
                           "--max-frames", "2", *FAST)
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("error: strip.mkv: 4000x2 frames at --size 64 are 128000x64") and "lower --size" in err
    assert not list(tmp_path.glob("*o.mp4*"))


def test_a_photo_is_a_camera_that_keeps_seeing_it(tmp_path):
    """A JPEG as the source gave one frame and then 'source-ended' (FFmpeg cannot seek it back to
    its start), however --loop was set; a PNG was decoded anew 25 times a second."""
    photo = tmp_path / "photo.jpg"
    write_image(photo, np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8))
    source = open_source(str(photo))
    frames, started = source.frames(), time.monotonic()
    images = [next(frames) for _ in range(6)]
    source.close()
    assert all(image is images[0] for image in images) and images[0].shape == (48, 64, 3)
    assert 0.15 <= time.monotonic() - started < 1.0  # at 25 fps, as FFmpeg says an image plays
    assert len(list(open_source(str(photo), loop=False).frames())) == 1


def test_pictures_one_after_another_play_as_a_clip(tmp_path):
    """A raw MJPEG stream (.mjpeg: JPEGs back to back, as IP cameras record) is a clip FFmpeg plays
    at 25 fps; it was taken for a photo and its first picture shown on and on."""
    pictures = [np.full((16, 24, 3), 20 * i, np.uint8) for i in range(5)]
    stream = tmp_path / "camera.mjpeg"
    stream.write_bytes(b"".join(cv2.imencode(".jpg", picture)[1].tobytes() for picture in pictures))
    images = list(open_source(str(stream), loop=False).frames())
    assert [round(float(image.mean()) / 20) for image in images] == [0, 1, 2, 3, 4]
    looped = open_source(str(stream))
    frames = looped.frames()
    assert [round(float(next(frames).mean()) / 20) for _ in range(7)] == [0, 1, 2, 3, 4, 0, 1]
    looped.close()
