"""Real-world videos, fourth round (2026-12-04): an AVI holding H.264 with B-frames.

An AVI stores only decode slots. FFmpeg's tools show each picture at the slot of the packet whose
decoding releases it, two packets later for x264's B-pyramid; the pictures came out a slot earlier
(libavformat's guess). Since session 59 a video that starts with its sound is moved back by the
decoder's delay, which FFmpeg's AVI muxer added to the video alone (tests/test_fixes59_avi_sync.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from test_video_leftovers import ffmpeg, ffprobe_streams
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)
from video_corpus import FFPROBE


def frame_times(path: Path) -> list[float]:
    """The video's frame times as FFmpeg's tools read them (best effort: its CLI's)."""
    out = subprocess.run([FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "frame=best_effort_timestamp_time", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return [float(line.strip(",")) for line in out.split() if line.strip(",") not in ("", "N/A")]


def as_ffmpeg_reads_it(source: Path, tmp_path: Path) -> list[float]:
    """The times `ffmpeg -i source` gives its pictures (its CLI places the last ones, which the
    file gives no slot, one after another)."""
    reference = tmp_path / "reference.mkv"
    ffmpeg("-i", source, "-map", "0:v", "-c:v", "libx264", "-fps_mode", "passthrough", reference)
    return frame_times(reference)


@pytest.mark.parametrize("offset", [0, 0.5])
@pytest.mark.slow_cases('0', '0.5')  # (default run's time: 2 s)
def test_avi_h264_pictures_keep_ffmpegs_times(offset, run_cli, weights_env, style, tmp_path):
    """Frame k at k / 12 s for a clip from 0, with its sound (it was (k + 2) / 12, x264's delay as
    `ffmpeg` reads it, and before that (k + 1) / 12; session 59), and from exactly 0.5 s for one whose pictures start half a second into the
    sound (0.417 s before). No note calls an AVI's decode order timestamps out of order."""
    source = tmp_path / "in.avi"
    ffmpeg("-itsoffset", offset, "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=1", "-f", "lavfi", "-i",
           f"sine=duration={1 + offset}", "-c:v", "libx264", "-c:a", "pcm_s16le", source)
    out = tmp_path / "out.mkv"
    err = stylize(run_cli, source, style, out)
    times = frame_times(out)
    expected = as_ffmpeg_reads_it(source, tmp_path)
    assert len(times) == len(expected) == 12
    back = 0 if offset else 2 / 12  # (from 0: FFmpeg's AVI muxer moved the video on by x264's delay, not the sound)
    assert times == pytest.approx([time - back for time in expected], abs=0.002)
    assert times[0] == pytest.approx(offset, abs=0.002)
    assert "out of order" not in err, err


@pytest.mark.slow
def test_an_avi_preview_and_segment_keep_the_same_times(run_cli, weights_env, style, tmp_path):
    """--frames stops early and --start seeks in: the pictures kept are those of the whole run, at its times."""
    source = tmp_path / "in.avi"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=2", "-c:v", "libx264", source)

    def times(name: str, *extra: str) -> list[float]:
        stylize(run_cli, source, style, tmp_path / name, *extra)
        return frame_times(tmp_path / name)

    whole = times("whole.mkv")
    assert times("preview.mkv", "--frames", "5") == pytest.approx(whole[:5], abs=0.002)
    segment = times("segment.mkv", "--start", "1")
    assert len(segment) == len([time for time in whole if time >= 1 - 1e-3])


@pytest.mark.slow  # (default run's time: 3 s)
def test_avi_mpeg4_and_mjpeg_keep_their_slots(run_cli, weights_env, style, tmp_path):
    """MJPEG (no decoder delay) keeps FFmpeg's times; MPEG-4 Part 2 with B-frames from 0 shows a
    slot before `ffmpeg`'s reading, its first picture at 0 with the sound (session 59,
    tests/test_fixes59_avi_reorder.py)."""
    for codec, back in ((["-c:v", "mpeg4", "-bf", "2"], 1 / 12), (["-c:v", "mjpeg"], 0)):
        source = tmp_path / "in.avi"
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=1", *codec, source)
        out = tmp_path / "out.mkv"
        stylize(run_cli, source, style, out)
        expected = [time - back for time in as_ffmpeg_reads_it(source, tmp_path)]
        assert frame_times(out) == pytest.approx(expected, abs=0.002)


@pytest.mark.parametrize("rate, suffix, codec, made", [(96000, ".ts", "mp2", 48000), (96000, ".webm", "opus", 48000),
                                                       (8000, ".ts", "mp2", 16000)])
@pytest.mark.slow_cases('96000-.ts-mp2-48000', '8000-.ts-mp2-16000')  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_a_sample_rate_the_encoder_lacks_is_said_in_the_note(rate, suffix, codec, made, run_cli, weights_env, style,
                                                             tmp_path):
    """96 kHz PCM into MP2 or Opus (none above 48 kHz) became 48 kHz, and 8 kHz into MP2 16 kHz,
    with a note that named the channels mixed down but not the rate."""
    source = tmp_path / "in.mov"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=0.5", "-f", "lavfi", "-i",
           f"sine=sample_rate={rate}:duration=0.5", "-c:v", "libx264", "-c:a", "pcm_s24le", source)
    out = tmp_path / f"out{suffix}"
    err = stylize(run_cli, source, style, out)
    assert f"re-encoding it to {codec} at {made} Hz ({codec} takes no {rate} Hz)" in err, err
    rates = [s["sample_rate"] for s in ffprobe_streams(out, "codec_type,sample_rate") if s["codec_type"] == "audio"]
    assert rates == [str(made)]


@pytest.mark.slow  # (default run's time: 2 s)
def test_avi_pictures_past_the_held_bytes_keep_distinct_times(run_cli, weights_env, style, tmp_path, monkeypatch):
    """Where more than `SLOT_HELD_BYTES` of sound lie between pictures (a pause in a variable-rate
    recording), the picture waiting took libavformat's guess, a time already given to the one
    before it: two pictures at one time and a note of timestamps that do not increase. The bound
    is lowered here to the sound of a 1 s pause."""
    from realtime_adain.video import slot_times

    monkeypatch.setattr(slot_times, "SLOT_HELD_BYTES", 60000)
    source = tmp_path / "pause.avi"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=2", "-f", "lavfi", "-i",
           "sine=duration=3:sample_rate=48000", "-ac", "2", "-vf", "settb=1/12,setpts=N+12*gte(N\\,10)",
           "-fps_mode", "passthrough", "-c:v", "libx264", "-c:a", "pcm_s16le", source)
    out = tmp_path / "out.mkv"
    err = stylize(run_cli, source, style, out)
    times = frame_times(out)
    assert len(times) == 24 and times == sorted(set(times)), times
    assert "do not increase" not in err, err

