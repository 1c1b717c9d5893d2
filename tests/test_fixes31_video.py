"""Fixes of round 31 (video): a variable-frame-rate MP4 whose display-last picture is not the last
in decode order, and copied MP2, MP3, AC-3 or E-AC-3 sound whose rate or channels change mid-stream.

Each input is made with the FFmpeg CLI (or PyAV) in tmp_path and each result checked with ffmpeg or PyAV.
"""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction

import av
import numpy as np
import pytest

from test_video_audio_edges import TONE, joined, pitch, plays, segment, sound
from test_video_realworld_inputs import style  # noqa: F401  (a fixture)
from video_corpus import FFMPEG
from video_samples import gradient_frames, probe, stylized_vfr_clip, write_video


@pytest.fixture
def asheville(data_dir):
    return data_dir / "style" / "asheville.jpg"


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_display_last_picture_decoded_before_another_keeps_its_duration(run_cli, weights_env, asheville, tmp_path):
    """In .mp4/.mov each sample lasts until the next one's decode time: x264's B-frames put this
    video's display-last picture (at 35/30 s) second to last in decode order, and it lasted until
    the last packet's decode time, 9 frames (FFmpeg 8 read the video as ending at 1.47 s, not 1.2 s).
    The packets after it now decode as late as they may, and it as long before them as it lasts."""
    _, out = stylized_vfr_clip(run_cli, asheville, tmp_path)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        packets = [(p.pts, p.dts) for p in container.demux(stream) if p.size]
    display_last = max(range(len(packets)), key=lambda i: packets[i][0])
    assert display_last < len(packets) - 1  # (the case this is about: a packet decodes after it)
    assert all(dts <= pts for pts, dts in packets) and all(a[1] < b[1] for a, b in zip(packets, packets[1:]))
    result = probe(out)
    assert result.pts[-1] * result.time_base == Fraction(35, 30)
    assert result.durations[-1] * result.time_base == Fraction(1, 30)  # one frame, as in the input
    assert result.end_s == pytest.approx(36 / 30) == pytest.approx(result.duration_s)  # (decode times reach it)
    decoded = subprocess.run([FFMPEG, "-v", "error", "-i", str(out), "-f", "null", "-"], capture_output=True, text=True)
    assert decoded.returncode == 0 and decoded.stderr == ""


# name -> (codec, as the note names it, each joined segment's (rate, layout), the change the note names)
FRAME_HEADER_CHANGES = {
    "mp2-rate": ("mp2", "MP2", [(44100, "mono"), (48000, "mono")], "44100 Hz mono to 48000 Hz mono"),
    "mp3-rate": ("mp3", "MP3", [(44100, "mono"), (48000, "mono")], "44100 Hz mono to 48000 Hz mono"),
    "ac3-channels": ("ac3", "AC-3", [(48000, "stereo"), (48000, "5.1"), (48000, "stereo")],
                     "48000 Hz stereo to 48000 Hz 6 channels"),
    "eac3-rate": ("eac3", "E-AC-3", [(44100, "stereo"), (48000, "stereo")], "44100 Hz stereo to 48000 Hz stereo"),
}


def decoded_kinds(path) -> set[tuple[int, int]]:
    """(rate, channels) of every frame the output's first audio stream decodes to."""
    with av.open(str(path)) as container:
        return {(frame.sample_rate, len(frame.layout.channels)) for frame in container.decode(audio=0)}


@pytest.mark.parametrize("change, ext", [("mp2-rate", "mov"), ("mp3-rate", "avi"), ("ac3-channels", "mp4"),
                                         ("ac3-channels", "mkv"), ("eac3-rate", "mp4")])
@pytest.mark.slow_cases('eac3-rate-mp4', 'ac3-channels-mkv', 'ac3-channels-mp4', 'mp3-rate-avi', 'mp2-rate-mov')
def test_copied_sound_whose_frame_headers_change_kind_is_reencoded_as_the_first(change, ext, run_cli, weights_env,
                                                                                 style, tmp_path):
    """MPEG-TS clips joined at another rate or channel count, their MP2, MP3, AC-3 or E-AC-3
    copied into a container that states the kind once (MOV, MP4, Matroska, AVI): only ADTS AAC was
    checked, so the rest was copied without a word, a 44.1 kHz header over 48 kHz sound (played
    9% slow) or a stereo one over 5.1 frames. Now, as for AAC, the sound from the change on is
    re-encoded with the same codec in the first part's kind, with a note and `--json` saying so;
    where FFmpeg read the second part's kind for the track (these MP3 parts), all of it as that."""
    codec, named, parts, said = FRAME_HEADER_CHANGES[change]
    source = joined(tmp_path / "joined.ts", *(segment(tmp_path / f"{i}.ts", rate, layout, ("-c:a", codec))
                                              for i, (rate, layout) in enumerate(parts)))
    out = tmp_path / f"out.{ext}"
    code, printed, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "--threads", "1",
                                 "--stabilize", "off", "--json", "-o", out)
    assert code == 0 and "Traceback" not in err, err
    (report,) = json.loads(printed)["streams"]  # (was "copied")
    assert report["action"] == "re-encoded" and report["output_codec"] == codec
    first = (parts[0][0], len(av.AudioLayout(parts[0][1]).channels))
    with av.open(str(out)) as container:
        stated = (container.streams.audio[0].sample_rate, container.streams.audio[0].codec_context.channels)
    if stated == first:
        said = f"the sound changes mid-stream ({said}); the output's track holds one kind: the {named} from there"
        assert said in err and report["reason"].startswith(f"copied until {said}")
    else:  # (FFmpeg read the MP3's rate from its second part: so its track says, and all of it is re-encoded)
        said = f"the sound changes mid-stream, and starts as {said.split(' to ')[0]} where its track states"
        assert said in err and report["reason"].startswith(f"copied until its start: {said}")
    assert decoded_kinds(out) == {stated}  # (every frame, not the header alone)
    rate, samples = sound(out)
    assert samples.shape[1] / rate == pytest.approx(len(parts), abs=0.1)
    loudest = samples[np.argmax(np.abs(samples).max(axis=1))]  # (5.1's tone is in its centre: mixed into both)
    # (the middle of each part: the joins hold the input's own priming and padding, near-silence)
    tone = [pitch(loudest[round((part + 0.25) * rate):round((part + 0.75) * rate)], rate)[0]
            for part in range(len(parts))]
    assert all(abs(found - TONE) < 10 for found in tone), tone  # (a 48 kHz part read as 44.1: 404 Hz)
    assert plays(out) == ""



def test_sound_that_cannot_be_re_encoded_as_its_first_kind_is_copied_with_a_note(tmp_path, capsys):
    """Where the encoder refuses the first kind (FFmpeg's MP2 encoder takes two channels at most:
    an MPEG-2 multichannel broadcast's track states 5.1), the sound is copied as it was before,
    with a note, not a traceback that ends the run."""
    from realtime_adain.video.sound_kinds import FrameHeaderChange

    class SixChannelMp2(FrameHeaderChange):
        def _encoder(self):
            encoder = super()._encoder()
            encoder.layout = "5.1"  # (as such a track states it)
            return encoder

    codec, _, parts, _ = FRAME_HEADER_CHANGES["mp2-rate"]
    source = joined(tmp_path / "joined.ts", *(segment(tmp_path / f"{i}.ts", rate, layout, ("-c:a", codec))
                                              for i, (rate, layout) in enumerate(parts)))
    with av.open(str(source)) as container, av.open(str(tmp_path / "out.mkv"), "w") as out:
        stream = container.streams.audio[0]
        target = out.add_stream_from_template(stream)
        change = SixChannelMp2(stream, target)
        results = [change.packets(packet) for packet in container.demux(stream) if packet.size]
    assert results and all(result is None for result in results)  # (every packet copied)
    assert change.given_up and change.reason is None and change.flush() == []
    assert "cannot be re-encoded as its first kind" in capsys.readouterr().err


@pytest.mark.parametrize("ext", ["mov", "mp4"])
@pytest.mark.slow_cases('mp4', 'mov')  # (default run's time: 2 s)
def test_a_held_final_frame_keeps_the_track_to_its_end(run_cli, weights_env, style, tmp_path, ext):
    """A final frame held 1.1 s (a screen recording, a slideshow): its packet, decoded at an earlier
    picture's time by x264's B-frame delay, ended the track at 3.0 s where the input lasts 4.0 s
    (an .mp4's length is counted in decode times). It now decodes as late as that delay allows."""
    stamps = list(range(29)) + [39]
    source = write_video(tmp_path / "held.mkv", gradient_frames(len(stamps), 64, 48), pts=stamps,
                         time_base=Fraction(1, 10))
    out = tmp_path / f"out.{ext}"
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "-o", out)
    assert code == 0, err
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert float(stream.duration * stream.time_base) == pytest.approx(4.0)  # (3.0 before)
    result = probe(out)
    assert result.end_s == pytest.approx(4.0) == pytest.approx(result.duration_s)
    decoded = subprocess.run([FFMPEG, "-v", "error", "-i", str(out), "-f", "null", "-"], capture_output=True, text=True)
    assert decoded.returncode == 0 and decoded.stderr == ""
