"""Fixes of session 38: `live`'s file sources: a damaged picture or packet is skipped (as `video`
skips it), a picture that changes shape under --resolution keeps its shape, and FFmpeg's threads
for converting pictures are one where `ulimit -u` leaves no room."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from realtime_adain.live import pyav_decoding, pyav_source
from realtime_adain.live.capture import Capture
from realtime_adain.live.inference import at_work_size
from realtime_adain.live.pyav_source import PyAVSource
from realtime_adain.live.source_opening import open_source
from realtime_adain.video import decoding

LEVELS = [20 * k + 30 for k in range(8)]  # picture k's grey level: which pictures came is read back from them


def grey_sequence(folder: Path, damaged: int) -> str:
    """Eight 64x48 PNGs of distinct greys, f0001.png ..., number `damaged` cut short (a partial copy)."""
    folder.mkdir()
    for number, level in enumerate(LEVELS, 1):
        cv2.imwrite(str(folder / f"f{number:04d}.png"), np.full((48, 64, 3), level, np.uint8))
    picture = folder / f"f{damaged:04d}.png"
    picture.write_bytes(picture.read_bytes()[:60])
    return str(folder / "f%04d.png")


def levels_of(images: list[np.ndarray]) -> list[int]:
    return [int(round(image.mean())) for image in images]


@pytest.mark.parametrize("damaged", [4, 7, 8])
def test_a_damaged_picture_in_a_sequence_is_skipped_and_named(tmp_path, capsys, damaged):
    """One damaged PNG lost the source at it, opened again at picture 1, for ever: pictures after
    it never shown, and --no-loop never ended. Near the end (7, 8) it is reported as the decoder
    drains, which lost the pictures its threads still held, or dropped unsaid (8)."""
    source = open_source(grey_sequence(tmp_path / "seq", damaged), fps=200, loop=False)
    try:
        shown = levels_of(list(source.frames()))
    finally:
        source.close()
    assert shown == [level for number, level in enumerate(LEVELS, 1) if number != damaged]
    said = [line for line in capsys.readouterr().err.splitlines() if "does not decode" in line]
    assert said == [f"note: {tmp_path / 'seq' / 'f%04d.png'}: f{damaged:04d}.png does not decode (Invalid data found "
                    "when processing input): it is skipped, as `video` skips it"], said


def test_a_sequence_played_once_with_a_damaged_picture_ends_without_losing_the_source(tmp_path):
    """The capture behind `live --no-loop`: "source-lost ... retry_in=0.5" and "source-reconnected"
    39 times, until Ctrl-C; now the sequence plays through once and ends."""
    source = open_source(grey_sequence(tmp_path / "seq", 3), fps=200, loop=False)
    events: list[tuple[str, dict]] = []
    capture = Capture(source, lambda event, **fields: events.append((event, fields)), backoff=(0.01, 0.02))
    capture.start()
    try:
        capture.join(timeout=20)
        assert not capture.is_alive()
    finally:
        capture.stop()
        capture.join(timeout=10)
    assert capture.ended and [event for event, _ in events] == ["source-ended"], events
    assert events[0][1]["frames"] == 7


def test_a_damaged_packet_in_a_video_file_is_skipped(tmp_path, capsys):
    """A clip (PNG in MOV) with one packet zeroed was lost at it and played again from its start."""
    clip = tmp_path / "clip.mov"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("png", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "rgb24"
        for level in LEVELS:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), level, np.uint8), "rgb24")))
        container.mux(stream.encode(None))
    with av.open(str(clip)) as container:
        position, size = [(p.pos, p.size) for p in container.demux(video=0) if p.size][4]
    with open(clip, "r+b") as file:
        file.seek(position)
        file.write(bytes(size))
    source = PyAVSource(str(clip), is_file=True, loop=False)
    source.open()
    try:
        shown = levels_of(list(source.frames()))
    finally:
        source.close()
    assert shown == LEVELS[:4] + LEVELS[5:]
    assert "note: clip.mov: damaged video packets are skipped" in capsys.readouterr().err


def square_clip(path: Path, width: int, height: int) -> Path:
    """Three frames of a 100x100 white square on black, as MPEG-TS (which `cat` joins)."""
    image = np.zeros((height, width, 3), np.uint8)
    top, left = (height - 100) // 2, (width - 100) // 2
    image[top:top + 100, left:left + 100] = 255
    with av.open(str(path), "w", format="mpegts") as container:
        stream = container.add_stream("mpeg2video", rate=50)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = 1
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, "rgb24")))
        container.mux(stream.encode(None))
    return path


def white_box(image: np.ndarray) -> tuple[int, int]:
    """(width, height) of the white area."""
    rows, columns = np.nonzero(image.mean(axis=2) > 128)
    return int(columns.max() - columns.min() + 1), int(rows.max() - rows.min() + 1)


def test_a_shape_change_under_resolution_keeps_the_pictures_shape(tmp_path):
    """A 320x180 clip joined with a 180x320 one, played at --resolution 320x180: the portrait
    pictures were stretched to 320x180 (the white square 178x56), and the session, seeing one
    shape, said no `source-resized`. Now they come fitted inside it at their shape, and the
    session frames them with black bars (`at_work_size`), as without --resolution."""
    joined = tmp_path / "joined.ts"
    joined.write_bytes(square_clip(tmp_path / "wide.ts", 320, 180).read_bytes()
                       + square_clip(tmp_path / "tall.ts", 180, 320).read_bytes())
    source = PyAVSource(str(joined), is_file=True, loop=False, resolution=(320, 180))
    source.open()
    try:
        images = list(source.frames())
    finally:
        source.close()
    shapes = [image.shape[:2] for image in images]
    assert shapes[0] == (180, 320) and shapes[-1] == (180, 101) and set(shapes) == {(180, 320), (180, 101)}, shapes
    width, height = white_box(images[-1])
    assert abs(width - height) <= 2, (width, height)  # (it was 178x56)
    framed = at_work_size(images[-1], (160, 90))
    width, height = white_box(framed)
    assert abs(width - height) <= 2 and framed.shape[:2] == (90, 160), (width, height)
    assert framed[:, :40].max() < 30 and framed[:, -40:].max() < 30  # black bars beside it


def test_picture_conversion_runs_one_thread_where_pools_are_reduced():
    """`PictureConverter` (`video`'s and `live`'s) scaled with swscale's default threads, one a CPU,
    though `ulimit -u` left no room for them (`limits.pools_reduced`, which decoders and encoders
    heed). (On one CPU swscale starts none anyway: there the test holds either way.) Counted in a
    fresh process: in a test worker another test's thread ending or starting was counted too."""
    code = """if True:
        import os, av, numpy as np
        from realtime_adain import limits
        from realtime_adain.video.pictures import PictureConverter
        limits.pools_reduced = True
        frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), "rgb24").reformat(format="yuv420p")
        before = len(os.listdir("/proc/self/task"))
        assert PictureConverter("clip").rgb(frame, None, None, False).shape == (48, 64, 3)
        print(len(os.listdir("/proc/self/task")) - before)
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"
    # (`video` and `live` decode alike; video imports no live)
    assert pyav_source.decoder_threads is pyav_decoding.decoder_threads is decoding.decoder_threads
