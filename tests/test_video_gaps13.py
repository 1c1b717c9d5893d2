"""`realtime-adain video` on inputs a thirteenth sweep found left over: each input is made with the
FFmpeg CLI (or PyAV) and each result checked with ffprobe or PyAV, as FFmpeg plays it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import av
import pytest

from test_video_leftovers import ffmpeg
from test_video_more_containers import frame_count
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)
from video_corpus import FFPROBE


def video_packet_times(path: Path) -> list[float]:
    """The decode times (s) of the video packets that hold a picture (an AVI's empty chunks,
    skipped slots, hold none): in an AVI, the slot each picture is shown in."""
    out = subprocess.run([FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=dts_time,size",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True).stdout
    return sorted(float(p["dts_time"]) for p in json.loads(out)["packets"] if int(p["size"]) and "dts_time" in p)


def test_a_slideshow_keeps_its_pauses_in_an_avi_with_sound(run_cli, weights_env, style, tmp_path):
    """Three pictures shown at 0, 10 and 11 s over 12 s of sound (a slideshow, a time-lapse, a
    screen recording that writes only changes), into .avi: the encoder held the pictures back
    (its look-ahead) while over 10 s of sound went to the file, so FFmpeg took no offset for the
    B-frame decode times (-11, -1, 0 s) and the AVI muxer, which fills skipped slots only after a
    picture and never for a negative time, put the three pictures in three slots in a row: 3 s of
    video under 12 s of sound. `ffmpeg -i in.mkv out.avi` keeps them at 0, 10 and 11 s."""
    source = tmp_path / "slides.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=1:duration=12", "-f", "lavfi", "-i", "sine=duration=12",
           "-vf", "select='eq(n\\,0)+eq(n\\,10)+eq(n\\,11)'", "-fps_mode", "vfr", "-c:v", "libx264", "-c:a", "aac",
           source)
    out = tmp_path / "out.avi"
    stylize(run_cli, source, style, out)
    assert video_packet_times(out) == pytest.approx([0, 10, 11], abs=0.01)


@pytest.mark.parametrize("out_name, options", [("out.avi", ()),  # (3-7 s each)
                                               pytest.param("out.ts", ("--codec", "mpeg2video"), marks=pytest.mark.slow)])
@pytest.mark.slow_cases('out.avi-options0')  # (default run's time: 3 s)
def test_film_rate_in_milliseconds_half_a_frame_in_keeps_every_frame(out_name, options, run_cli, weights_env, style,
                                                                     tmp_path):
    """23.976 fps in a .mkv (milliseconds) whose pictures start 21 ms in, after 48 kHz AAC's
    priming: half a frame, so each time rounded to the output's frame slots (AVI, MPEG-2's
    standard rates) fell either side of a slot's middle, 2.49 and 3.50 frames in. Two landed in
    one slot now and then, and 2 of 48 frames were dropped as if the rate rose ("the video runs
    faster ... in places"). `ffmpeg -i in.mkv out.avi` keeps all 48."""
    source = tmp_path / "film.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24000/1001:duration=2", "-f", "lavfi", "-i",
           "sine=sample_rate=48000:duration=2", "-c:v", "libx264", "-c:a", "aac", source)
    out = tmp_path / out_name
    err = stylize(run_cli, source, style, out, *options)
    assert frame_count(out) == frame_count(source) == 48
    assert "runs faster" not in err


def audio_steps(path: Path) -> set[int]:
    """The gaps (in samples) between the output's audio packets, after the first."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        times = sorted(p.pts * p.time_base * rate for p in container.demux(stream) if p.pts is not None and p.size)
    return {round(float(b - a)) for a, b in zip(times[1:], times[2:])}


# Re-encoded sound whose input frames are timed coarser than a sample: (input, its ffmpeg options,
# the output, the samples a frame of its codec holds: MP2 1152, AAC 1024).
COARSE = {
    "adpcm-blocks-avi-to-ts": ("in.avi", ("-c:v", "mpeg4", "-c:a", "adpcm_ms", "-ar", "22050"), "out.ts", 1152),
    "mp3-frames-avi-to-mp4": ("in.avi", ("-c:v", "mpeg4", "-c:a", "libmp3lame", "-ar", "11025"), "out.mp4", 1024),
    "vorbis-milliseconds-mkv-to-ts": ("in.mkv", ("-c:v", "libx264", "-c:a", "libvorbis"), "out.ts", 1152),
}


@pytest.mark.parametrize("name", COARSE)
@pytest.mark.slow_cases('mp3-frames-avi-to-mp4', 'vorbis-milliseconds-mkv-to-ts')  # (default run's time: 1 s)
def test_reencoded_sound_is_timed_by_its_samples(name, run_cli, weights_env, style, tmp_path):
    """An AVI times ADPCM by its blocks of 2036 samples and MP3 by its frames, a .mkv in
    milliseconds; re-encoded, each encoded frame was given the time of the input frame it began in:
    MP2 frames of 1152 samples two to a block, at one time ("packet timestamps that do not
    increase", and FFmpeg's "non monotonically increasing dts" playing it), 1136 to 1184 samples
    apart from a .mkv, AAC frames of 1024 samples 1152 and 576 apart (an MP4 stores those as
    their durations). Now each lasts its samples, as `ffmpeg` times them."""
    source_name, options, out_name, size = COARSE[name]
    source = tmp_path / source_name
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=1", "-f", "lavfi", "-i",
           "sine=sample_rate=48000:duration=1", *options, source)
    out = tmp_path / out_name
    err = stylize(run_cli, source, style, out)
    assert "do not increase" not in err
    assert audio_steps(out) == {size}
