"""`realtime-adain video` on sound leftovers of h20: AAC that states its kind nowhere (no decoder
configuration, no ADTS headers) and an iPhone's Apple Positional Audio track (5.1 into MPEG-TS:
tests/test_video_sound20.py). Inputs are made with the FFmpeg CLI (and remuxed with PyAV where the CLI writes no
such file); each output is read back with ffprobe and decoded with PyAV."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from test_video_audio_edges import TONE, sound
from test_video_leftovers import ffmpeg, ffprobe_streams
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)

CLIP = ("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=1")
TONE_INPUT = ("-f", "lavfi", "-i", f"sine=f={TONE}:sample_rate=48000:duration=1")


def without_decoder_config(source: Path, out: Path) -> Path:
    """`source` remuxed into `out` with its audio's decoder configuration (the esds's
    AudioSpecificConfig) left out, as some recorders write it: FFmpeg still plays the AAC, as
    AAC-LC of the rate and channels the container states."""
    with av.open(str(source)) as given, av.open(str(out), "w") as made:
        streams = {stream.index: made.add_stream_from_template(stream) for stream in given.streams}
        for stream in given.streams.audio:
            streams[stream.index].codec_context.extradata = None
        for packet in given.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                made.mux(packet)
    return out


@pytest.mark.parametrize("ext", ["mkv", "ts"])
@pytest.mark.slow_cases('ts')  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_aac_with_no_decoder_config_is_copied_with_one(ext, run_cli, weights_env, style, tmp_path):
    """AAC with no decoder configuration and no ADTS headers (a .mov whose esds holds none): the
    Matroska muxer refused its first packet, and the run failed ("the .mkv muxer refused a packet",
    as `ffmpeg -c copy` fails); into .ts it was written as it was, sound no player decodes. Each
    packet now gets the ADTS header of the kind FFmpeg plays it as: copied, not re-encoded, and it
    decodes to the very samples the input does."""
    given = tmp_path / "given.mp4"
    ffmpeg(*CLIP, *TONE_INPUT, "-c:v", "mpeg4", "-c:a", "aac", "-ac", "2", given)
    source = without_decoder_config(given, tmp_path / "raw.mov")
    with av.open(str(source)) as container:
        assert not container.streams.audio[0].codec_context.extradata  # (what this test is about)
    out = tmp_path / f"out.{ext}"
    err = stylize(run_cli, source, style, out)
    assert "re-encoding" not in err, err
    (audio,) = ffprobe_streams(out, "codec_type,codec_name,channels,sample_rate")[1:]
    assert (audio["codec_name"], audio["channels"], audio["sample_rate"]) == ("aac", 2, "48000"), audio
    rate, samples = sound(out)
    _, expected = sound(source)
    assert samples.shape[1] / rate == pytest.approx(1, abs=0.05)
    # (the .mov's edit list trims the encoder's priming, which .mkv and .ts keep before it)
    np.testing.assert_array_equal(samples[:, -expected.shape[1]:], expected)


def test_apple_positional_audio_is_named_and_left_out(run_cli, weights_env, style, tmp_path):
    """An iPhone's video holds its sound twice: AAC stereo, and Apple Positional Audio (`apac`,
    spatial audio), which FFmpeg cannot decode and PyAV cannot copy (it adds no stream of a codec
    FFmpeg does not know). The track was left out as "no codec FFmpeg knows (a damaged header?)",
    blaming the file alone. Now the note (and `--json`'s reason) names the likely case (FFmpeg keeps
    the track's tag to itself); the AAC is copied. The apac track here is a PCM one whose sample
    entry is renamed `apac`, as FFmpeg writes no apac."""
    made = tmp_path / "pcm.mov"
    ffmpeg(*CLIP, *TONE_INPUT, *TONE_INPUT, "-map", "0", "-map", "1", "-map", "2", "-c:v", "mpeg4",
           "-c:a:0", "aac", "-c:a:1", "pcm_s16le", made)
    data = made.read_bytes()
    assert data.count(b"sowt") == 1  # (the PCM track's sample entry, its one mention)
    source = tmp_path / "iphone.mov"
    source.write_bytes(data.replace(b"sowt", b"apac"))
    out = tmp_path / "out.mp4"
    code, printed, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "--threads", "1",
                                 "--stabilize", "off", "--json", "-o", out)
    assert code == 0 and "Traceback" not in err, err
    said = "no codec FFmpeg knows (an iPhone's spatial audio, Apple Positional Audio, is one; else a damaged header)"
    assert f"leaving out audio stream #2: {said}" in err, err
    reasons = {each["index"]: (each["action"], each["reason"]) for each in json.loads(printed)["streams"]}
    assert reasons[2] == ("left out", said) and reasons[1][0] == "copied", reasons
    assert [each["codec_name"] for each in ffprobe_streams(out)] == ["h264", "aac"]
