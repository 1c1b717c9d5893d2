"""Pictures whose kind changes mid-stream: MPEG-TS segments encoded apart and joined byte for byte,
as broadcast captures and joined files have them (pixel format, colour description, frame rate,
display rotation, codec). A change of size is tested in test_video_damage_decoding.py and
test_video_cli.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader

RED = "color=c=0xC03020:size=64x48:rate={rate}:duration={seconds}"


def segment(path: Path, *options: str, rate: str = "25", seconds: float = 0.4, source: str = RED) -> bytes:
    """One MPEG-TS segment of a flat colour (or `source`), encoded with `options`."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    source.format(rate=rate, seconds=seconds), *options, str(path)], check=True)
    return path.read_bytes()


def joined(tmp_path: Path, first: list[str], second: list[str], name: str = "joined.ts", **kwargs) -> Path:
    """Two segments joined byte for byte (`cat a.ts b.ts`)."""
    target = tmp_path / name
    target.write_bytes(segment(tmp_path / "a.ts", *first, **kwargs) + segment(tmp_path / "b.ts", *second, **kwargs))
    return target


def read(path: Path) -> list[Frame]:
    with VideoReader(path) as reader:
        return [item for item in reader.items() if isinstance(item, Frame)]


def ffmpeg_rgb(path: Path) -> np.ndarray:
    """Every frame as `ffmpeg -i IN -f rawvideo -pix_fmt rgb24` gives it (the segment alone: its own colours),
    chroma interpolated in full as `video` reads 10-bit YUV (FFmpeg's default put it ~2 levels low)."""
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-sws_flags", "bilinear+full_chroma_int",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, 48, 64, 3)


def centre(image: np.ndarray) -> np.ndarray:
    return image[8:40, 8:56].reshape(-1, 3).mean(0)


H264 = ["-c:v", "libx264"]


@pytest.mark.parametrize("second", [
    ["-c:v", "libx264", "-pix_fmt", "yuv420p10le"],
    ["-c:v", "libx264", "-pix_fmt", "yuv422p"],
    ["-c:v", "libx264", "-pix_fmt", "yuv444p"],
], ids=["10-bit", "422", "444"])
def test_a_pixel_format_change_keeps_every_picture_and_its_colours(tmp_path, second):
    """8-bit 4:2:0 joined to 10-bit, 4:2:2 or 4:4:4: every picture, each converted from its own format."""
    path = joined(tmp_path, H264 + ["-pix_fmt", "yuv420p"], second)
    frames = read(path)
    assert len(frames) == 20
    for frame, alone in ((frames[0], tmp_path / "a.ts"), (frames[-1], tmp_path / "b.ts")):
        np.testing.assert_allclose(centre(frame.image), centre(ffmpeg_rgb(alone)[0]), atol=1.5)


@pytest.mark.parametrize("first, second, said", [
    (["-vf", "scale=out_color_matrix=bt601", "-colorspace", "smpte170m", "-color_primaries", "smpte170m",
      "-color_trc", "smpte170m"],
     ["-vf", "scale=out_color_matrix=bt709", "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"],
     "matrix 6 to 1, primaries 6 to 1, transfer 6 to 1"),
    (["-vf", "scale=out_color_matrix=bt709", "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"],
     ["-vf", "scale=out_color_matrix=bt709:out_range=full", "-colorspace", "bt709", "-color_primaries", "bt709",
      "-color_trc", "bt709", "-color_range", "pc"],
     "range 1 to 2"),
    (["-vf", "scale=out_color_matrix=bt709", "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"],
     ["-vf", "scale=out_color_matrix=bt2020", "-colorspace", "bt2020nc", "-color_primaries", "bt2020",
      "-color_trc", "smpte2084"],
     "HDR pictures are tone-mapped to SDR BT.709 as read"),
], ids=["601-709", "limited-full", "sdr-pq"])
def test_a_colour_description_change_is_converted_and_noted(tmp_path, capsys, first, second, said):
    """Each picture is read with its own matrix and range (a flat colour comes out as the segment
    alone gives it: FFmpeg's conversion, or for HDR pictures our tone map), and one note says the
    output keeps the first picture's tags."""
    path = joined(tmp_path, H264 + first, H264 + second)
    frames = read(path)
    assert len(frames) == 20
    for frame, alone in ((frames[0], tmp_path / "a.ts"), (frames[-1], tmp_path / "b.ts")):
        expected = read(alone)[0].image if "smpte2084" in second and alone.name == "b.ts" else ffmpeg_rgb(alone)[0]
        np.testing.assert_allclose(centre(frame.image), centre(expected), atol=1.5)
    err = capsys.readouterr().err
    assert err.count("the colour description changes mid-stream") == 1 and said in err


def test_segments_of_a_faster_rate_start_after_the_slower_ones_end(tmp_path, capsys):
    """25 fps joined to 50 fps (B-frames: a longer reorder delay before the join) put the first
    50 fps picture at the last 25 fps one's time; each picture keeps a time of its own."""
    path = tmp_path / "joined.ts"
    path.write_bytes(segment(tmp_path / "a.ts", *H264) + segment(tmp_path / "b.ts", *H264, rate="50"))
    frames = read(path)
    times = [frame.pts / 90000 for frame in frames]
    assert len(frames) == 30
    assert all(later > earlier for earlier, later in zip(times, times[1:]))
    assert times[10] == pytest.approx(0.4) and times[11] - times[10] == pytest.approx(0.02)
    assert "out of order" not in capsys.readouterr().err


@pytest.mark.slow  # (default run's time: the corpus's AVIs)
def test_an_avi_of_a_rate_that_rises_keeps_its_timing(run_cli, weights_env, data_dir, tmp_path):
    """An AVI counts frames at the rate read from the start (25): the 50 fps part's frames each
    moved a slot on made a 2 s clip 3 s long; frames that share a slot are dropped, as FFmpeg
    drops them, with one note. (1 s segments: FFmpeg reads the rate from the first 20 frames.)"""
    path = tmp_path / "joined.ts"
    path.write_bytes(segment(tmp_path / "a.ts", *H264, seconds=1) + segment(tmp_path / "b.ts", *H264, rate="50", seconds=1))
    out = tmp_path / "out.avi"
    code, _, err = run_cli("video", path, "-s", data_dir / "style" / "mondrian.jpg", "--size", "32", "--style-size",
                           "64", "--stabilize", "off", "--engine", "eager", "--threads", "1", "-o", out)
    assert code == 0, err
    with av.open(str(out)) as container:
        assert float(container.duration / 1_000_000) == pytest.approx(2, abs=0.05)
    assert "frames there are dropped to keep the timing" in err and "one tick later" not in err
    assert "Traceback" not in err


def test_a_display_rotation_change_turns_every_frame_as_the_first(tmp_path, capsys):
    """A rotation that differs between segments (H.264's display orientation SEI): every frame is
    turned as the first one is, with a note; each turned its own way gave frames of another
    shape, squeezed into the first one's."""
    turned = segment(tmp_path / "a.ts", *H264, "-bsf:v", "h264_metadata=display_orientation=insert:rotate=90")
    path = tmp_path / "joined.ts"
    path.write_bytes(turned + segment(tmp_path / "b.ts", *H264))
    frames = read(path)
    assert len(frames) == 20 and {frame.image.shape for frame in frames} == {(64, 48, 3)}
    assert "the display rotation changes mid-stream, from 90 to 0 degrees" in capsys.readouterr().err


@pytest.mark.slow  # (default run's time: 3 s)
def test_another_codec_on_the_same_stream_ends_the_video_with_one_note(tmp_path, capsys):
    """H.264 then MPEG-2 on one MPEG-TS PID: FFmpeg decodes the second as H.264 and cannot (its
    output ends at the join). The decoder's noise from the MPEG-2 keyframe was given as a last
    (green) frame, and the reason was "damaged packets FFmpeg conceals"."""
    path = joined(tmp_path, H264, ["-c:v", "mpeg2video"], seconds=1)
    frames = read(path)
    assert 0 < len(frames) <= 25
    for frame in frames:
        np.testing.assert_allclose(centre(frame.image), centre(ffmpeg_rgb(tmp_path / "a.ts")[0]), atol=2)
    err = capsys.readouterr().err
    assert err.count("note:") == 2 and "the timestamps jump" in err  # (the join itself)
    assert "the pictures stop at 0.8" in err and "they do not decode as h264 (another codec joined on" in err
