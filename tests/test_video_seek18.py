"""A late --start in a long MPEG-TS or MPEG-PS (a broadcast capture, a camcorder's .mts, a DVD's
.vob) seeks by byte position instead of reading everything before it, where the timeline runs on
without a jump up to there; the frames, their times and the sound are exactly those a read from
the start gives. Where the timestamps jump before the start the file is read through, as before.
(Files past `READ_THROUGH_BYTES`: a broadcast's constant rate, padded as its muxer pads it.)

And a file whose decoder gives no picture at all (ProRes RAW: FFmpeg 8 takes its packets and
gives nothing) is one line that says why, in `video` and at once in `live`."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from live_support import FAST, copy_styles
from realtime_adain.errors import UserError
from realtime_adain.live.source_opening import open_source
from realtime_adain.live.sources import SourceError
from realtime_adain.video.landing import READ_THROUGH_BYTES
from realtime_adain.video.reader import VideoReader
from test_video_segment_seek16 import assert_as_from_the_start, ffmpeg

SECONDS = 24
START = Fraction(SECONDS - 3) + Fraction(1, 100)


def capture(path: Path, seconds: int = SECONDS, *extra: str) -> Path:
    """`seconds` of testsrc at 25 fps with a sine, padded to a broadcast's 30 Mbit/s (64x48 H.264
    with B-frames and AAC in a TS; 352x288 MPEG-2 at a constant 25 Mbit/s and MP2 in a VOB)."""
    size = "64x48"
    if path.suffix == ".vob":
        size = "352x288"  # (MPEG-2's stuffing fills at most so much of a picture)
        codecs = ("-c:v", "mpeg2video", "-b:v", "25M", "-minrate", "25M", "-maxrate", "25M", "-bufsize", "3000k",
                  "-g", "12", "-c:a", "mp2", "-f", "vob")
    else:
        codecs = ("-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-muxrate", "30M")
    ffmpeg("-f", "lavfi", "-i", f"testsrc=size={size}:rate=25", "-f", "lavfi", "-i", "sine=sample_rate=48000",
           "-t", str(seconds), "-bf", "2", *codecs, *extra, path)
    return path


@pytest.mark.parametrize("kind", ["ts", "m2ts", "vob", "wrap"])
@pytest.mark.slow_cases('wrap', 'vob')  # (default run's time: ts and m2ts stay)
def test_a_late_start_in_a_long_capture_is_seeked_and_gives_what_a_read_from_the_start_gives(kind, tmp_path):
    """A TS, a Blu-ray/AVCHD .m2ts, a DVD VOB (MPEG-2 with open GOPs and MP2), and a TS whose
    33-bit clock wraps before the start (from 95430 s: at 95443.7 s)."""
    if kind == "ts":
        source = capture(tmp_path / "in.ts")
    elif kind == "m2ts":
        source = capture(tmp_path / "in.m2ts")
    elif kind == "vob":
        source = capture(tmp_path / "in.vob")
    else:
        source = capture(tmp_path / "o.ts", SECONDS, "-output_ts_offset", "95430")
    assert source.stat().st_size > READ_THROUGH_BYTES
    reader = assert_as_from_the_start(source, START, Fraction(2))
    assert reader.seeked and reader.skipped < 5 * 25  # read from a keyframe near the start, not from the beginning


def test_a_start_past_the_end_of_a_long_capture_names_its_length(tmp_path):
    """The seek lands on the last keyframe (not the file read through): its last pictures tell
    the length, as a read from the start finds it."""
    source = capture(tmp_path / "in.ts")
    with pytest.raises(UserError, match=rf"--start 40 s is at or past the end of the video, which lasts {SECONDS}\.021 s"):
        VideoReader(source, start=Fraction(40))


@pytest.mark.parametrize("jump", ["back", "forward"])
@pytest.mark.slow_cases('forward')  # (default run's time: 2 s)
def test_a_splice_before_the_start_is_read_through(jump, tmp_path, capsys):
    """Two recordings joined, the second's clock from 1.4 s again (back), or 98 s on (forward):
    the frames after the splice continue the timeline as a read from the start puts them; a seek
    by their own timestamps would land elsewhere."""
    first = capture(tmp_path / "a.ts", SECONDS // 2)
    second = capture(tmp_path / "b.ts", SECONDS // 2, *(["-output_ts_offset", "110"] if jump == "forward" else []))
    joined = tmp_path / "joined.ts"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    reader = assert_as_from_the_start(joined, START, Fraction(2))
    assert not reader.seeked
    assert "the timestamps jump" in capsys.readouterr().err


@pytest.fixture
def prores_raw(tmp_path) -> Path:
    """A MOV whose video is tagged ProRes RAW ('aprn'), its packets ProRes 422's: FFmpeg 8's
    prores_raw decoder takes them without an error and gives no picture, as it does a camera's."""
    source = tmp_path / "pr.mov"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=25", "-t", "0.2", "-c:v", "prores_ks", "-profile:v", "2",
           source)
    data = source.read_bytes()
    assert data.count(b"apcn") == 1  # (the sample description's codec tag)
    raw = tmp_path / "clip.mov"
    raw.write_bytes(data.replace(b"apcn", b"aprn"))
    return raw


SAID = ("the video has no frames: FFmpeg decodes no pictures from ProRes RAW (prores_raw) here; "
        "convert it with the camera maker's software first")


def test_prores_raw_is_one_line_that_says_why(prores_raw, run_cli, weights_env, data_dir, tmp_path):
    """`video` said only "the video has no frames"."""
    style = data_dir / "style" / "asheville.jpg"
    code, _, err = run_cli("video", prores_raw, "-s", style, "-o", tmp_path / "out.mp4")
    assert code != 0 and err.count("\n") == 1 and err.startswith(f"error: {prores_raw}: {SAID}"), err


def test_live_refuses_a_source_without_pictures_at_once(prores_raw, run_cli, weights_env, data_dir, tmp_path):
    """`live` played the file to its end, then waited out 15 s for its first frame: "no frames
    arrived within 15 s"."""
    with pytest.raises(SourceError, match="FFmpeg decodes no pictures from ProRes RAW"):
        open_source(str(prores_raw), loop=False)
    styles = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    code, _, err = run_cli("live", "--source", prores_raw, "--styles", styles, "--no-window", "-o", tmp_path / "o.mp4",
                           "--max-frames", "2", *FAST)
    # (the words tell it from the 15 s wait's "no frames arrived", where a wall-time bound did not on a loaded machine)
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"error: {prores_raw}: {SAID}"), err


def test_a_source_that_decodes_still_plays_from_its_first_picture(tmp_path):
    """Looking for the first picture leaves the file at its start: every frame is played."""
    clip = tmp_path / "clip.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=25", "-t", "0.4", "-c:v", "libx264", "-bf", "2", clip)
    assert len(list(open_source(str(clip), loop=False).frames())) == 10


def test_live_gives_up_at_once_on_a_url_that_ends_without_a_picture(prores_raw, run_cli, weights_env, data_dir,
                                                                    tmp_path):
    """A URL is not looked at before playing (it cannot be seeked back): played to its end without
    a picture, `live` waited out 15 s, then said "no frames arrived"."""
    from test_live_streams15 import serving

    styles = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    with serving(prores_raw.parent) as base:
        url = f"{base}/{prores_raw.name}"
        code, _, err = run_cli("live", "--source", url, "--no-loop", "--styles", styles, "--no-window",
                               "-o", tmp_path / "o.mp4", "--max-frames", "2", *FAST)
    # (the words tell it from the wait: a wall-time bound failed on a loaded machine, where loading
    # the model and the styles before the source took 14-21 s)
    assert code == 2 and err.strip().endswith(f"{url}: the source ended before its first picture"), err
