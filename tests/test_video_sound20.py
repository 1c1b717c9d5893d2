"""`realtime-adain video` on two sound leftovers of h19: surround sound re-encoded for an AVI
output, whose default codec takes two channels, and track roles (commentary, audio description)
that the WebM muxer drops without a word. Inputs are made with the FFmpeg CLI; each
output is read back with ffprobe and decoded with PyAV."""

from __future__ import annotations

import json

import numpy as np
import pytest

from test_video_audio_edges import TONE, sound
from test_video_leftovers import ffmpeg, ffprobe_streams
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)

# Every channel of 5.1 gets the tone, so a channel lost or mixed away shows as silence.
ALL_SIX = "pan=5.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0"


@pytest.mark.parametrize("codec, ext", [("dca", "avi"), ("eac3", "avi"), ("flac", "ts")])
@pytest.mark.slow_cases("eac3-avi")  # (default run's time, 2026-12-07: DTS into AVI takes the same path)
def test_surround_sound_into_avi_or_ts_keeps_its_channels_as_ac3(codec, ext, run_cli, weights_env, style, tmp_path):
    """DTS or E-AC-3 5.1 (a Blu-ray rip's, a streaming download's) cannot be copied into .avi, and
    was re-encoded to AVI's default, MP3, which takes two channels: the 5.1 became stereo; 5.1
    FLAC into .ts the same, to MPEG-TS's MP2 (as `ffmpeg -i in.mkv out.ts` does). Both hold AC-3
    (broadcast's 5.1 is carried so), which keeps 5.1: the sound is re-encoded to it, with its six
    channels sounding."""
    source = tmp_path / f"{codec}.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=1", "-f", "lavfi", "-i",
           f"sine=f={TONE}:sample_rate=48000:duration=1", "-af", ALL_SIX, "-c:v", "mpeg4", "-c:a", codec,
           "-strict", "-2", source)
    out = tmp_path / f"out.{ext}"
    err = stylize(run_cli, source, style, out)
    assert "re-encoding it to ac3" in err and "mixed down" not in err, err
    (audio,) = ffprobe_streams(out, "codec_type,codec_name,channels")[1:]
    assert audio["codec_name"] == "ac3" and audio["channels"] == 6, audio
    rate, samples = sound(out)
    loudness = np.sqrt((samples[:, rate // 4:] ** 2).mean(axis=1))  # (past the encoder's priming)
    lfe = 3  # (the subwoofer's channel carries only what is under 120 Hz: not the tone)
    assert samples.shape[0] == 6 and (np.delete(loudness, lfe) > 0.05).all(), loudness


def test_webm_names_the_track_roles_it_cannot_mark(run_cli, weights_env, style, tmp_path):
    """WebM's muxer writes a track's default and forced flags alone: a commentary track and an
    audio-description (visual impaired) one came out as plain sound tracks, without a word. Now
    the note (and `--json`'s reason for a re-encoded track) names what the output lost, and
    where it is kept; the output read back shows the muxer did drop it."""
    source = tmp_path / "roles.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=1", "-f", "lavfi", "-i",
           f"sine=f={TONE}:sample_rate=48000:duration=1", "-map", "0:v", "-map", "1:a", "-map", "1:a",
           "-c:v", "mpeg4", "-c:a:0", "flac", "-c:a:1", "libopus",
           "-disposition:a:0", "comment", "-disposition:a:1", "visual_impaired", source)
    out = tmp_path / "out.webm"
    code, printed, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "--threads", "1",
                                 "--stabilize", "off", "--json", "-o", out)
    assert code == 0 and "Traceback" not in err, err
    assert ".webm cannot mark audio stream #1 (flac) as commentary: it is written unmarked (use .mkv" in err
    assert ".webm cannot mark audio stream #2 (opus) as visual impaired" in err
    reencoded = json.loads(printed)["streams"][0]
    assert reencoded["action"] == "re-encoded" and "as commentary" in reencoded["reason"]
    flags = [stream["disposition"] for stream in ffprobe_streams(out, "codec_type:stream_disposition")[1:]]
    assert [(each["comment"], each["visual_impaired"]) for each in flags] == [(0, 0), (0, 0)]
