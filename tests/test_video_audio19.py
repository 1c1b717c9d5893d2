"""`realtime-adain video` on the sound of real-world recordings that a sweep of codecs, layouts,
rates, track timings and languages (h19) found wrong: MPEG-TS files joined at another AAC rate or
channel count, copied into a container whose track states the sound's kind once, and track
languages FFmpeg's MOV muxer knows under other names. Inputs are made with the FFmpeg CLI; each
output is decoded with PyAV (rate, pitch, length, languages) and played through `ffmpeg -f null`."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest

from test_video_audio_edges import TONE, joined, pitch, plays, sound
from test_video_leftovers import ffmpeg
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)


def aac_segment(path: Path, rate: int, layout: str) -> Path:
    """One second of 64x48 video with a 440 Hz tone as AAC at `rate` Hz in `layout`, in MPEG-TS
    (ADTS headers on every packet), as a broadcast or a camera cuts it."""
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=1", "-f", "lavfi", "-i",
           f"sine=f={TONE}:sample_rate={rate}:duration=1", "-af", f"aformat=channel_layouts={layout}",
           "-c:v", "libx264", "-c:a", "aac", "-f", "mpegts", path)
    return path


def decoding_errors(path: Path) -> list[str]:
    """What `ffmpeg -f null` says playing `path`, but for the null muxer's word on two decoded
    frames at one millisecond (a .mkv's times where the joined parts' sound overlaps)."""
    return [line for line in plays(path).splitlines() if "non monotonically increasing dts" not in line]


# name -> each joined segment's (rate, layout), the change the note names
AAC_CHANGES = {
    "rate": ([(48000, "mono"), (44100, "mono")], "48000 Hz mono to 44100 Hz mono"),
    "channels": ([(48000, "stereo"), (48000, "5.1"), (48000, "stereo")], "48000 Hz stereo to 48000 Hz 5.1"),
}


@pytest.mark.parametrize("change, ext", [("rate", "mp4"), ("rate", "mkv"),
                                         pytest.param("channels", "mov", marks=pytest.mark.slow)])  # (4-8 s)
@pytest.mark.slow_cases('rate-mkv')  # (default run's time: 2 s)
def test_joined_aac_that_changes_kind_keeps_its_pitch_and_decodes(change, ext, run_cli, weights_env, style,
                                                                  tmp_path):
    """MPEG-TS clips joined at 48 then 44.1 kHz, or 2.0 then 5.1 (an ad break), their AAC copied:
    MP4, MOV and Matroska keep the kind once, in the track's header (the ADTS headers are taken
    off), so the 44.1 kHz second played as 48 kHz, 9% fast and high (508 Hz for 440), ending
    80 ms before its pictures; the 5.1 part did not decode at all ("channel element 1.0 is not
    allocated"), as with `ffmpeg -c copy`. Now the sound from the change on is re-encoded as the
    first kind, with a note: every part at its pitch and length, and the file decodes cleanly."""
    parts, said = AAC_CHANGES[change]
    source = joined(tmp_path / "joined.ts",
                    *(aac_segment(tmp_path / f"{i}.ts", *part) for i, part in enumerate(parts)))
    out = tmp_path / f"out.{ext}"
    code, printed, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "--threads", "1",
                                 "--stabilize", "off", "--json", "-o", out)
    assert code == 0 and "Traceback" not in err, err
    assert f"the sound changes mid-stream ({said}); the output's track holds one kind" in err
    (report,) = json.loads(printed)["streams"]  # (--json: was "copied", with no reason)
    assert report["action"] == "re-encoded" and report["output_codec"] == "aac"
    assert report["reason"].startswith(f"copied until the sound changes mid-stream ({said})")
    assert decoding_errors(out) == []
    rate, samples = sound(out)
    assert rate == parts[0][0] and samples.shape[0] == len(av.AudioLayout(parts[0][1]).channels)
    assert samples.shape[1] / rate == pytest.approx(len(parts), abs=0.1)
    tone = pitch(samples[0], rate)
    assert all(abs(found - TONE) < 30 for found in tone[2:-1]), tone  # (from the second part on)


@pytest.mark.slow  # (default run's time: 2 s)
def test_joined_aac_into_ts_is_still_copied_byte_for_byte(run_cli, weights_env, style, tmp_path):
    """MPEG-TS keeps the ADTS header on every packet, so each part plays as what it is: the packets
    are copied as they were, with no note."""
    source = joined(tmp_path / "joined.ts", aac_segment(tmp_path / "0.ts", 48000, "mono"),
                    aac_segment(tmp_path / "1.ts", 44100, "mono"))
    out = tmp_path / "out.ts"
    err = stylize(run_cli, source, style, out)
    assert "changes mid-stream" not in err

    def payloads(path: Path) -> list[bytes]:
        with av.open(str(path)) as container:
            return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]

    assert payloads(out) == payloads(source)


def test_languages_a_mov_names_otherwise_are_kept(run_cli, weights_env, style, tmp_path):
    """FFmpeg's MOV muxer writes a language only as one of QuickTime's old codes, under the names
    its table gives (German "ger", Dutch "dut", Chinese "chi"), and drops any other: a .mkv or .mp4
    whose tracks say "deu", "nld" and "zho" (ISO 639-2/T, as MP4 writers name them) gave a .mov
    with three tracks of no language (as `ffmpeg -c copy` does). Each keeps its language now."""
    source = tmp_path / "dubbed.mkv"
    tones = [arg for f in (440, 660, 880) for arg in ("-f", "lavfi", "-i", f"sine=f={f}:duration=0.5")]
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=0.5", *tones,
           *(arg for i in range(4) for arg in ("-map", str(i))), "-c:v", "libx264", "-c:a", "aac",
           "-metadata:s:a:0", "language=deu", "-metadata:s:a:1", "language=nld", "-metadata:s:a:2", "language=zho",
           source)
    out = tmp_path / "out.mov"
    stylize(run_cli, source, style, out)
    with av.open(str(out)) as container:
        assert [s.metadata.get("language") for s in container.streams.audio] == ["ger", "dut", "chi"]


def test_sound_outside_the_part_kept_is_not_said_to_be_missing(run_cli, weights_env, style, tmp_path):
    """Sound from 1.5 s on, and `--duration 1`: the note said "audio stream #1 holds no sound (no
    packets)", which reads as if the input's track were empty."""
    source = tmp_path / "late_sound.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=12:duration=2", "-itsoffset", "1.5", "-f", "lavfi", "-i",
           "sine=duration=0.5", "-c:v", "libx264", "-c:a", "aac", source)
    err = stylize(run_cli, source, style, tmp_path / "out.mkv", "--duration", "1")
    assert "audio stream #1: none of its sound falls within --start/--duration; .mkv gets an empty track" in err
    assert "holds no sound" not in err
