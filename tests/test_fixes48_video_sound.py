"""Session 48 fixes: re-encoded sound none of which decodes (5.1 TrueHD from FFmpeg 5's encoder)
said as such, with the decoder's reason, not as "a damaged packet" and "no packets"; the notes of
sound that changes kind mid-stream named by the input, as every other note is in a batch."""
from __future__ import annotations

from pathlib import Path

import av
import pytest

from realtime_adain.video.sound_decoding import SoundDecoder
from test_video_audio19 import aac_segment
from test_video_audio_edges import PCM, joined, segment
from test_video_leftovers import ffmpeg
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)

FIVE_ONE = "pan=5.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0"


def truehd_clip(path: Path, pan: str) -> Path:
    """A 1 s clip with TrueHD sound made by the `ffmpeg` CLI's (FFmpeg 5's) experimental encoder."""
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x36:rate=12", "-f", "lavfi", "-i", f"sine=f=440:sample_rate=48000,{pan}",
           "-t", "1", "-c:v", "libx264", "-c:a", "truehd", "-strict", "-2", path)
    return path


def decoded_by(path: Path) -> SoundDecoder:
    """`path`'s sound put through a `SoundDecoder`, packet by packet, failures skipped."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        decoder = SoundDecoder(stream)
        for packet in container.demux(stream):
            try:
                decoder.decode(packet)
            except av.error.FFmpegError:
                pass
    return decoder


def test_a_stream_none_of_which_decodes_keeps_the_decoders_reason(tmp_path):
    """FFmpeg 8's TrueHD decoder fails on every packet of 5.1 TrueHD (the error says only "Invalid
    data found"): its own logged reason is kept; stereo TrueHD decodes, nothing failing."""
    surround = decoded_by(truehd_clip(tmp_path / "surround.mkv", FIVE_ONE))
    if surround.decoded:  # (a later FFmpeg that reads it: nothing failed, nothing to say)
        assert not surround.failed or surround.damaged
        return
    assert surround.failed and not surround.damaged
    assert surround.reason and "Invalid data found" not in surround.reason, surround.reason
    stereo = decoded_by(truehd_clip(tmp_path / "stereo.mkv", "aformat=channel_layouts=stereo"))
    assert stereo.decoded and not stereo.failed and not stereo.damaged


@pytest.mark.slow  # (default run's time: 2 s)
def test_undecodable_surround_truehd_is_said_so_not_damaged(run_cli, weights_env, style, tmp_path):
    """5.1 TrueHD into .mp4 (re-encoded to AAC) came out with no sound, exit 0, said as "a damaged
    audio packet was skipped" and "holds no sound (no packets)". Now one note says none of it
    decodes, with the decoder's reason, and that .mkv copies it."""
    source = truehd_clip(tmp_path / "truehd.mkv", FIVE_ONE)
    err = stylize(run_cli, source, style, tmp_path / "out.mp4")
    assert "damaged" not in err and "no packets" not in err, err
    if decoded_by(source).decoded:  # (a later FFmpeg that reads it: re-encoded, nothing lost)
        assert "none of it decodes" not in err, err
        return
    assert (f"note: {source.name}: audio stream #1: none of it decodes (FFmpeg's truehd decoder: " in err
            and "): .mp4 gets no sound of it (.mkv copies it as it is)" in err), err


@pytest.mark.slow  # (default run's time: 2 s)
def test_a_change_of_copied_sounds_kind_is_noted_with_the_inputs_name(run_cli, weights_env, style, tmp_path):
    """Joined AAC, 48 then 44.1 kHz, copied into .mkv: the note began "stream #1: the sound changes
    mid-stream", the one note of a batch without its file's name."""
    source = joined(tmp_path / "joined.ts", aac_segment(tmp_path / "0.ts", 48000, "mono"),
                    aac_segment(tmp_path / "1.ts", 44100, "mono"))
    err = stylize(run_cli, source, style, tmp_path / "out.mkv")
    assert f"note: {source.name}: stream #1: the sound changes mid-stream (48000 Hz mono to 44100 Hz mono)" in err, err


@pytest.mark.slow
def test_a_change_of_reencoded_sounds_kind_is_noted_with_the_inputs_name(run_cli, weights_env, style, tmp_path):
    """Joined PCM, 48 then 96 kHz, re-encoded to AAC: `SoundConverter`'s note lacked the name too."""
    source = joined(tmp_path / "joined.ts", segment(tmp_path / "0.ts", 48000, "stereo", PCM),
                    segment(tmp_path / "1.ts", 96000, "stereo", PCM))
    err = stylize(run_cli, source, style, tmp_path / "out.mp4")
    assert f"note: {source.name}: stream #1: the sound changes mid-stream (48000 Hz stereo s16 to 96000" in err, err
