"""Interlaced video (camcorders, DV, DVD, broadcast) deinterlaced before stylizing: the pictures
are shown to be closer to the scene (PSNR against the progressive source the fields were taken
from), and the frame count, every timestamp and the sound are kept."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from realtime_adain.errors import UserError
from realtime_adain.settings import VideoSettings
from realtime_adain.video.deinterlace import Deinterlacer, deinterlaced
from realtime_adain.video.reader import VideoReader
from test_video_devices14 import assert_same_timing
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)
from video_corpus import FFMPEG
from video_samples import audio_packets

FIELD_RATE = 50  # the scene is sampled 50 times a second, one field each
# The picture moves 2 px a field: every other line of an interlaced frame is 2 px off.
MOVING = f"testsrc2=size=160x120:rate={FIELD_RATE}:duration=1,scroll=horizontal=0.0125,format=yuv420p"
LOSSLESS_X264 = ("-c:v", "libx264", "-qp", "0", "-preset", "ultrafast")
INTERLACED_X264 = ("-flags", "+ildct+ilme", "-x264-params", "tff=1")


def ffmpeg(*args: str | Path) -> None:
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", *map(str, args)], check=True, capture_output=True)


def interlaced_clip(path: Path, *extra: str) -> Path:
    """25 interlaced frames a second from the moving scene at 50: each frame's top field from one
    instant, its bottom field from the next (as a camcorder records), flagged top field first."""
    ffmpeg("-f", "lavfi", "-i", MOVING, *extra, "-vf", "tinterlace=mode=interleave_top,setfield=tff",
           *LOSSLESS_X264, *INTERLACED_X264, path)
    return path


def scene_at_top_fields(tmp_path: Path) -> list[np.ndarray]:
    """The progressive scene at the instants of the top fields (every other picture at 50)."""
    path = tmp_path / "scene.mkv"
    ffmpeg("-f", "lavfi", "-i", MOVING, "-vf", "select=not(mod(n\\,2))", "-fps_mode", "passthrough",
           *LOSSLESS_X264, path)
    return [frame.to_ndarray(format="gray") for frame in av.open(str(path)).decode(video=0)]


def decoded(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(error, 1e-12)))


def mean_psnr(frames: list[np.ndarray], scene: list[np.ndarray]) -> float:
    inner = slice(1, -1)  # the first and last frame have a neighbour on one side only
    return float(np.mean([psnr(a, b) for a, b in zip(frames[inner], scene[inner])]))


def test_deinterlaced_frames_are_closer_to_the_scene_with_every_timestamp_kept(tmp_path):
    """Combed frames against the scene at their top field's instant, then the same deinterlaced:
    FFmpeg's bwdif rebuilds the other field's lines (measured here 20.0 -> 27.0 dB)."""
    frames = decoded(interlaced_clip(tmp_path / "camcorder.mkv"))
    scene = scene_at_top_fields(tmp_path)
    assert len(frames) == len(scene) == 25 and all(f.interlaced_frame for f in frames)
    out = list(deinterlaced(iter(frames), "auto", "camcorder.mkv"))
    assert [(f.pts, f.duration, f.time_base) for f in out] == [(f.pts, f.duration, f.time_base) for f in frames]
    combed = mean_psnr([f.to_ndarray(format="gray") for f in frames], scene)
    whole = mean_psnr([f.to_ndarray(format="gray") for f in out], scene)
    assert whole > combed + 5, (combed, whole)


def test_a_progressive_clip_never_enters_the_filter(tmp_path):
    path = tmp_path / "progressive.mp4"
    ffmpeg("-f", "lavfi", "-i", MOVING, *LOSSLESS_X264, path)
    frames = decoded(path)
    assert not any(f.interlaced_frame for f in frames)
    assert all(a is b for a, b in zip(deinterlaced(iter(frames), "auto", "p.mp4"), frames, strict=True))


def test_off_passes_interlaced_frames_as_they_are(tmp_path):
    frames = decoded(interlaced_clip(tmp_path / "camcorder.mkv"))
    assert all(a is b for a, b in zip(deinterlaced(iter(frames), "off", "c.mkv"), frames, strict=True))


def frame(width: int, height: int, pts: int | None, fmt: str = "yuv420p") -> av.VideoFrame:
    picture = av.VideoFrame.from_ndarray(np.random.default_rng(pts or 0).integers(0, 256, (height, width, 3),
                                                                                  dtype=np.uint8), format="rgb24")
    picture = av.VideoFrame(width, height, fmt) if fmt == "pal8" else picture.reformat(format=fmt)  # (no pal8 writer)
    picture.pts, picture.time_base = pts, Fraction(1, 100)
    return picture


def test_a_new_picture_size_or_format_drains_the_filter_and_keeps_the_order():
    """A broadcast capture switching from SD to HD mid-stream, then to a palette format: every frame
    comes out once, in order, with its own time (also one without a timestamp)."""
    shapes = [(64, 48, "yuv420p")] * 3 + [(80, 60, "yuv422p")] * 3 + [(64, 48, "pal8")] * 2
    frames = [frame(w, h, None if i == 4 else 10 * i, fmt) for i, (w, h, fmt) in enumerate(shapes)]
    deinterlacer = Deinterlacer("on", "capture.ts")
    out = [picture for f in frames for picture in deinterlacer.push(f)] + list(deinterlacer.flush())
    assert [(p.pts, p.width, p.height) for p in out] == [(f.pts, f.width, f.height) for f in frames]


def test_a_frame_ffmpeg_refuses_comes_back_as_it_was_and_the_clip_goes_on(capsys):
    """FFmpeg's graph takes no 4-bit packed bgr4 (ENOSYS): the frames are stylized as they are, said once."""
    frames = [frame(64, 48, i, "bgr4") for i in range(4)]
    deinterlacer = Deinterlacer("on", "tiny.mkv")
    out = [picture for f in frames for picture in deinterlacer.push(f)] + list(deinterlacer.flush())
    assert all(a is b for a, b in zip(out, frames, strict=True))
    assert capsys.readouterr().err.count("could not be deinterlaced") == 1


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="deinterlace must be one of auto, on, off"):
        Deinterlacer("yes", "x.mkv")
    with pytest.raises(UserError, match="--deinterlace yes: use one of auto, on, off"):
        VideoSettings(deinterlace="yes").check_for_command()


def reader_frames(path: Path, mode: str) -> list[np.ndarray]:
    """The frames `video` stylizes, as grey (the reader's RGB, weighted as BT.601 luma)."""
    with VideoReader(path, deinterlace=mode) as reader:
        rgb = [item.image for item in reader.items() if not isinstance(item, av.Packet)]
    return [np.round(image @ np.array([0.299, 0.587, 0.114])).astype(np.uint8) for image in rgb]


def test_the_reader_gives_the_stylizer_whole_pictures(tmp_path):
    source = interlaced_clip(tmp_path / "00001.mts")
    scene = scene_at_top_fields(tmp_path)
    combed, whole = (mean_psnr(reader_frames(source, mode), scene) for mode in ("off", "auto"))
    assert whole > combed + 3, (combed, whole)


@pytest.mark.slow  # (default run's time: 3 s)
def test_video_deinterlaces_a_camcorder_clip_keeping_timing_and_sound(run_cli, weights_env, style, tmp_path):
    """An AVCHD camcorder's .mts (BDAV MPEG-TS, interlaced H.264, AC-3): every frame, its time and
    the AC-3 bytes come out; the note says what was done and how to turn it off."""
    source = tmp_path / "00002.mts"
    ffmpeg("-f", "lavfi", "-i", MOVING, "-f", "lavfi", "-i", "sine=sample_rate=48000:duration=1",
           "-vf", "tinterlace=mode=interleave_top,setfield=tff", "-c:v", "libx264", *INTERLACED_X264,
           "-c:a", "ac3", "-f", "mpegts", "-mpegts_m2ts_mode", "1", source)
    out = tmp_path / "out.mkv"
    err = stylize(run_cli, source, style, out)
    assert_same_timing(out, source)
    assert [p[0] for p in audio_packets(out)] == [p[0] for p in audio_packets(source)]
    assert err.count("00002.mts: the video is interlaced; its frames are deinterlaced") == 1, err
    quiet = stylize(run_cli, source, style, tmp_path / "fields.mkv", "--deinterlace", "off")
    assert "interlaced" not in quiet, quiet


@pytest.mark.slow  # (default run's time: 2 s)
def test_a_progressive_file_gets_no_note(run_cli, weights_env, style, tmp_path):
    source = tmp_path / "progressive.mp4"
    ffmpeg("-f", "lavfi", "-i", MOVING, *LOSSLESS_X264, source)
    assert "interlaced" not in stylize(run_cli, source, style, tmp_path / "out.mp4")


@pytest.mark.slow  # (default run's time: 2 s)
def test_a_turned_interlaced_clip_stays_turned(run_cli, weights_env, style, tmp_path):
    """The display matrix travels on each frame's side data, through the filter: a camcorder
    clip turned 90 degrees comes out upright, as FFmpeg shows it."""
    from test_video_realworld_inputs import set_display_matrix

    source = interlaced_clip(tmp_path / "turned.mp4")
    set_display_matrix(source, 0, 1, -1, 0)
    out = tmp_path / "out.mkv"
    stylize(run_cli, source, style, out, "--deinterlace", "on")
    with av.open(str(out)) as container:
        assert (container.streams.video[0].width, container.streams.video[0].height) == (120, 160)


def test_live_plays_an_interlaced_file_or_stream_as_whole_pictures(tmp_path):
    """`live` from a capture card's or broadcast stream's interlaced video (here a file, paced as
    a camera): the same whole pictures `video` gets."""
    from realtime_adain.live.pyav_source import PyAVSource

    source = PyAVSource(str(interlaced_clip(tmp_path / "capture.ts")), is_file=True, loop=False)
    source.open()
    try:
        shown = [np.round(image @ np.array([0.299, 0.587, 0.114])).astype(np.uint8) for image in source.frames()]
    finally:
        source.close()
    scene = scene_at_top_fields(tmp_path)
    assert len(shown) == len(scene)
    assert mean_psnr(shown, scene) > mean_psnr(reader_frames(tmp_path / "capture.ts", "off"), scene) + 3


def test_frames_made_from_arrays_without_a_time_base_pass_through_the_filter():
    """A frame from `VideoFrame.from_ndarray` has no time base: putting it back was an AttributeError."""
    frames = [av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24") for _ in range(3)]
    deinterlacer = Deinterlacer("on", "arrays")
    out = [picture for f in frames for picture in deinterlacer.push(f)] + list(deinterlacer.flush())
    assert [picture.pts for picture in out] == [None] * 3
