"""Session 61 fixes of `video` timing: copied sound that starts after the video keeps its start
sample in .mp4/.mov (the movie time scale), and a variable-rate MP4's last picture, decoded before
later packets, keeps its own time."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest

from realtime_adain.video.encoding import movie_timescale
from test_video_leftovers import ffmpeg
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)


class _Track:
    """What `movie_timescale` reads of an output stream: its kind, time base and sample rate."""

    def __init__(self, kind: str, time_base: Fraction, rate: int = 0) -> None:
        self.type, self.time_base = kind, time_base
        self.codec_context = type("Context", (), {"sample_rate": rate})()


@pytest.mark.parametrize("video, rate", [(Fraction(1, 12800), 44100), (Fraction(1, 15360), 48000),
                                         (Fraction(1, 90000), 96000), (Fraction(1, 600), 22050)])
def test_a_sound_delay_written_in_the_movie_scale_reads_back_to_its_sample(video, rate):
    """The MP4 muxer writes a track's delay (empty edit) in the movie's scale rounded down, FFmpeg
    reads it back to the nearest tick of the track: in the video's 1/12800, sound from
    20992/44100 s was written as 6092 ticks and read back as sample 20989. The scale stays a
    multiple of the video track's (its own delay exact)."""
    scale = movie_timescale(video, [_Track("audio", Fraction(1, rate), rate)])
    track = video.denominator
    while track < 10000:
        track *= 2
    assert scale % track == 0
    for start in [20992, 1, 1023, 22050, 44101, 123457, 987654]:
        written = start * scale // rate  # (av_rescale_rnd(..., AV_ROUND_DOWN))
        assert round(Fraction(written * rate, scale)) == start, (start, scale)


def audio_start(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return next(packet.pts for packet in container.demux(stream) if packet.size)


@pytest.mark.slow
@pytest.mark.parametrize("suffix, extra", [(".mp4", ()), (".mov", ("--start", "0.2", "--frames", "7"))])
def test_sound_that_starts_after_the_video_keeps_its_first_sample(run_cli, weights_env, style, tmp_path,
                                                                  suffix, extra):
    """Sound from 20992/44100 s (0.476009) beside 25 fps video (1/12800) came out at sample 20989
    (0.475941 s): its empty edit was written in the video's time scale, rounded down. `ffmpeg -c
    copy` keeps 20992; so does the output now (with --start 0.2: 0.276009 s, as the input has it)."""
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48:r=25:d=1.2", "-f", "lavfi", "-i", "sine=f=440:r=44100:d=1.2",
           "-c:v", "libx264", "-g", "12", "-bf", "2", "-c:a", "aac", "-shortest", base := tmp_path / "base.mp4")
    ffmpeg("-i", base, "-itsoffset", "0.5", "-i", base, "-map", "0:v", "-map", "1:a", "-c", "copy",
           source := tmp_path / f"adelay{suffix}")
    given = audio_start(source)
    assert given == 20992
    stylize(run_cli, source, style, out := tmp_path / f"out{suffix}", *extra)
    expected = given - (round(Fraction(2, 10) * 44100) if extra else 0)
    assert audio_start(out) == expected
