"""Copied AAC keeps where an MP4's edit list ends its sound. A clip cut with `ffmpeg -t 1 -c:a copy`
stores whole 1024-sample packets and ends the track 30 samples before the last one ends (its edit
list); FFmpeg 8's MP4 demuxer gives that packet all 1024, so the .mp4 and .mov outputs played 29
padding samples more than the input (45055 where `ffmpeg -c copy` keeps 45026). The priming (the
edit list's start) stays as `ffmpeg -c copy` writes it."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest

from test_video_leftovers import ffmpeg
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)


def sound_ends(path: Path) -> tuple[int, int, int]:
    """(first packet's pts, last packet's pts, where the track ends) of the first audio stream, in
    its samples: the end is the edit list's (the stream's start time plus its duration)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        assert stream.time_base == Fraction(1, stream.codec_context.sample_rate)
        times = [packet.pts for packet in container.demux(stream) if packet.size]
        return times[0], times[-1], (stream.start_time or 0) + stream.duration


@pytest.fixture(scope="module")
def clip(tmp_path_factory, data_dir) -> Path:
    """One second of the test video with its AAC copied, as a tester cut it: its edit list ends
    the sound 30 samples into the last packet."""
    path = tmp_path_factory.mktemp("audio_end") / "clip.mp4"
    ffmpeg("-i", data_dir / "videos" / "cutBunny.mp4", "-t", "1", "-vf", "scale=64:36", "-c:v", "libx264",
           "-c:a", "copy", path)
    return path


@pytest.mark.slow_cases("mov", "mp4-start", 'mp4')  # (the corpus run's; the default run keeps the mp4 case)
@pytest.mark.parametrize("suffix, extra", [(".mp4", ()), (".mov", ()), (".mp4", ("--start", "0.3"))],
                         ids=["mp4", "mov", "mp4-start"])
def test_copied_aac_ends_where_the_edit_list_ends_it(run_cli, weights_env, style, tmp_path, clip, suffix, extra):
    first, last, end = sound_ends(clip)
    assert end - last < 1024  # (the material: its edit list ends the sound inside the last packet)
    out = tmp_path / f"out{suffix}"
    stylize(run_cli, clip, style, out, *extra)
    copied = tmp_path / f"copy{suffix}"
    ffmpeg("-i", clip, "-c", "copy", copied)
    out_first, out_last, out_end = sound_ends(out)
    assert out_end - out_last == end - last  # the last packet plays as much as in the input, no padding
    if not extra:
        assert (out_first, out_end) == sound_ends(copied)[::2] == (first, end)  # priming and end as `-c copy`
