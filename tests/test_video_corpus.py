"""`realtime-adain video` on the kinds of files users feed in (tests/video_corpus.py): each must
give as many frames as FFmpeg decodes, strictly increasing timestamps, the same duration within one
frame, and its audio. The few most telling cases run always; the whole corpus is marked slow."""

from __future__ import annotations

import pytest

from video_corpus import CASES, FAST, FFMPEG, FFPROBE, Case, facts, ffmpeg_made, make, missing_encoders

# The FFmpeg CLI is software the test command installs (bash .ci/run), not absent hardware: no skip.
assert FFMPEG and FFPROBE, "the corpus needs the FFmpeg CLI (ffmpeg, ffprobe): run the README's test command, bash .ci/run"


@pytest.fixture
def style(data_dir):
    return data_dir / "style" / "brushstrokes.jpg"


def stylize_and_compare(case: Case, run_cli, style, tmp_path) -> None:
    missing = missing_encoders(case)
    assert not missing, f"this FFmpeg build has no encoder {', '.join(missing)} (Debian's ffmpeg, which the test command installs, has them all)"
    source = make(case, tmp_path)
    expected = facts(ffmpeg_made(source, tmp_path / "ffmpeg.mp4") if case.ffmpeg_reference else source)
    out = tmp_path / f"{case.name}.out.mp4"
    code, _, err = run_cli("video", source, "-s", style, "--style-size", "64", "--size", "32", "--threads", "1",
                           *case.cli, "-o", out)
    assert code == 0, err
    notes = [line for line in err.splitlines() if "out of order" in line]
    assert len(notes) == (1 if case.broken_pts else 0), err
    result = facts(out)
    assert result.frames == expected.frames
    assert result.increasing
    # One frame at the clip's average rate: MP4 derives a frame's duration from the next decode
    # timestamp, so after B-frames a variable-rate clip's last frame may last an average frame.
    one_frame = max(expected.frame_s, result.frame_s)
    assert abs(result.seconds - expected.seconds) <= one_frame + 1e-3, (result.seconds, expected.seconds)
    assert result.audio_tracks == expected.audio_tracks >= 1


@pytest.mark.parametrize("case", FAST, ids=lambda case: case.name)
@pytest.mark.slow_cases('mpeg4-divx-avi-bframes-ac3', 'vp9-webm-opus', 'mpeg4-divx-avi-bframes-ac3', 'vp9-webm-opus', 
    'dv-pal-pcm-timecode',
    'mpeg4-avi-packed-bframes-ac3',
    'h264-bframes-timebase-1us-decode-order-pts')
def test_telling_inputs(case, run_cli, weights_env, style, tmp_path):
    stylize_and_compare(case, run_cli, style, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in CASES if not c.fast], ids=lambda case: case.name)
def test_corpus(case, run_cli, weights_env, style, tmp_path):
    stylize_and_compare(case, run_cli, style, tmp_path)
