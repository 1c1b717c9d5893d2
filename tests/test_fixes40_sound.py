"""`realtime-adain video` on three sound findings of h7: 6.1/7.1 PCM from a .mov copied into
.mkv or .avi with its channels in the wrong speakers; track roles, titles and languages that
.mov, .avi and .ts drop without a word; and `--json` saying an empty audio track was left out
where the output has it. Inputs are made with the FFmpeg CLI, outputs read back with PyAV."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from test_video_audio_edges import with_an_empty_sound_track
from test_video_cli import _sound
from realtime_adain.video.stream_copy import DROPPED_TAGS, TRACK_ROLES, WRITTEN_ROLES
from test_video_realworld_inputs import ffmpeg, style  # noqa: F401  (a fixture)

CHANNELS = {"7.1": 8, "6.1": 7}


def video_json(run_cli, source: Path, style: Path, out: Path) -> tuple[list[dict], str]:
    """(`--json`'s "streams", stderr) of stylizing `source` into `out`."""
    code, printed, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "--threads", "1",
                                 "--stabilize", "off", "--json", "-o", out)
    assert code == 0 and "Traceback" not in err, err
    return json.loads(printed)["streams"], err


@pytest.mark.parametrize("layout, ext", [("7.1", "mkv"), ("6.1", "avi"), ("7.1", "avi"), ("6.1", "mkv")])
def test_pcm_in_a_mov_order_keeps_each_channel_in_its_speaker(layout, ext, run_cli, weights_env, style, tmp_path):
    """`ffmpeg` writes 7.1 PCM in .mov with a `chan` atom that lists its channels in an order of
    their own (FL FR FC LFE SL SR BL BR, as FFmpeg 8 reads it). Copied byte for byte into .mkv or
    .avi, which state no order, the channels were read in FFmpeg's (BL BR SL SR): side and back
    traded speakers (6.1's worse), with `--json` saying "copied". Now the sound is re-encoded to
    the same PCM, its channels put in FFmpeg's order: each channel, told by its level, is where
    its name says, at its level (.mkv's PCM names no channels: FFmpeg's order for the count)."""
    count = CHANNELS[layout]
    pan = "|".join(f"c{i}={(i + 1) / 10}*c0" for i in range(count))  # channel i at level (i + 1) / 10
    source = tmp_path / "in.mov"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=0.5", "-f", "lavfi", "-i",
           "sine=frequency=100:sample_rate=48000:duration=0.5", "-filter_complex", f"[1]pan={layout}|{pan}[a]",
           "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-c:a", "pcm_s16le", source)
    names, source_levels, _ = _sound(source)
    assert names[4:6] != ["BL", "BR"]  # (the input's own order)
    out = tmp_path / f"out.{ext}"
    (report,), err = video_json(run_cli, source, style, out)
    assert (report["action"], report["output_codec"]) == ("re-encoded", "pcm_s16le"), report
    assert f"an order .{ext} cannot state" in report["reason"] and "losslessly" in report["reason"], report
    assert f"an order .{ext} cannot state" in err
    out_names, levels, seconds = _sound(out)
    native = [channel.name for channel in av.AudioLayout(layout).channels]
    assert out_names in (native, ["NONE"] * count) and seconds == pytest.approx(0.5, abs=0.05)  # (.mkv: by count)
    np.testing.assert_allclose(levels, [source_levels[names.index(name)] for name in native], rtol=1e-3)


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_pcm_in_a_mov_order_is_still_copied_into_mov(run_cli, weights_env, style, tmp_path):
    """A .mov states the order (its `chan` atom, copied): the sound is copied as it was."""
    pan = "|".join(f"c{i}={(i + 1) / 10}*c0" for i in range(8))
    source = tmp_path / "in.mov"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=0.5", "-f", "lavfi", "-i",
           "sine=frequency=100:sample_rate=48000:duration=0.5", "-filter_complex", f"[1]pan=7.1|{pan}[a]",
           "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-c:a", "pcm_s16le", source)
    (report,), _ = video_json(run_cli, source, style, tmp_path / "out.mov")
    assert (report["action"], report["reason"]) == ("copied", None), report
    names, source_levels, _ = _sound(source)
    out_names, levels, _ = _sound(tmp_path / "out.mov")
    assert out_names == names
    np.testing.assert_allclose(levels, source_levels, rtol=1e-3)


@pytest.fixture
def roles_clip(tmp_path) -> Path:
    """Two AAC tracks: English by default; French, titled, flagged commentary and hearing impaired."""
    source = tmp_path / "roles.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=0.5", "-f", "lavfi", "-i",
           "sine=f=440:duration=0.5", "-f", "lavfi", "-i", "sine=f=700:duration=0.5", "-map", "0", "-map", "1",
           "-map", "2", "-c:v", "libx264", "-c:a", "aac", "-metadata:s:a:0", "language=eng",
           "-metadata:s:a:1", "language=fra", "-metadata:s:a:1", "title=Commentaire", "-disposition:a:0", "default",
           "-disposition:a:1", "comment+hearing_impaired", source)
    return source


# ext -> what the note (and `--json`'s reason) says of the French track, and what the output read back lacks.
LOST = {
    "mov": (".mov cannot mark audio stream #2 (aac) as commentary or hearing impaired: it is written unmarked "
            "(use .mkv to keep it)", ["comment", "hearing_impaired"], []),
    "ts": (".ts cannot mark audio stream #2 (aac) as commentary: it is written unmarked (use .mkv to keep it); "
           "its title is dropped too (.ts holds none)", ["comment"], ["title"]),
    "avi": (".avi cannot mark audio stream #2 (aac) as commentary or hearing impaired: it is written unmarked "
            "(use .mkv to keep it); its language is dropped too (.avi holds none)",
            ["comment", "hearing_impaired"], ["language"]),
}


@pytest.mark.parametrize("ext", ["ts", "mov", "avi"])
@pytest.mark.slow_cases('mov')  # (default run's time, 2026-12-07: rarer variants of the cases that stay)
def test_roles_titles_and_languages_a_container_drops_are_said(ext, roles_clip, run_cli, weights_env, style,
                                                                 tmp_path):
    """.mov, .avi and .ts dropped a commentary or hearing-impaired flag, .ts a track's title and
    .avi its language, with no note and `--json` saying "copied" with no reason (only .webm's
    loss was named). Now each loss is said; the output read back shows it is real."""
    out = tmp_path / f"out.{ext}"
    streams, err = video_json(run_cli, roles_clip, style, out)
    said, roles, tags = LOST[ext]
    assert f"note: {roles_clip.name}: {said}" in err, err
    assert [(s["action"], s["reason"]) for s in streams][1] == ("copied", said)
    english = streams[0]["reason"]
    assert english == (".avi holds no track language: audio stream #1 (aac) is written without its language "
                       "(use .mkv to keep it)" if ext == "avi" else None), english
    with av.open(str(out)) as container:
        french = container.streams.audio[1]
        assert not any(french.disposition & av.stream.Disposition[role] for role in roles)
        assert not any(french.metadata.get(tag) for tag in tags)


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_an_audio_track_without_packets_is_reported_as_the_output_has_it(ext, run_cli, weights_env, style,
                                                                          tmp_path):
    """An audio track with no packets at all: `--json` said "left out", "it holds no packets",
    while the .mkv has an empty AAC track (MP4's muxer leaves it out). The reason says so."""
    source = with_an_empty_sound_track(tmp_path / "empty_sound.mkv", 6)
    (report,), _ = video_json(run_cli, source, style, tmp_path / f"out.{ext}")
    with av.open(str(tmp_path / f"out.{ext}")) as container:
        tracks = [stream.codec_context.name for stream in container.streams.audio]
    assert tracks == (["aac"] if ext == "mkv" else [])
    reason = "it holds no packets (.mkv gets an empty track)" if ext == "mkv" else "it holds no packets"
    assert (report["action"], report["reason"]) == ("left out", reason), report


def test_the_roles_each_container_writes_are_the_ones_it_keeps(tmp_path):
    """`WRITTEN_ROLES` and `DROPPED_TAGS` as FFmpeg's muxers behave: a sound track given every role,
    a title and a language, written and read back, keeps exactly what the tables say (MOV and MP4
    keep a title as the track's name)."""
    for fmt, ext, codec in [("mov", "mov", "aac"), ("mp4", "mp4", "aac"), ("avi", "avi", "mp2"),
                            ("mpegts", "ts", "mp2")]:
        kept = set()
        for role in TRACK_ROLES:
            path = tmp_path / f"roles.{ext}"
            with av.open(str(path), "w", format=fmt) as out:
                sound = out.add_stream(codec, rate=48000, layout="mono")
                sound.metadata.update(language="fra", title="Commentaire")
                sound.disposition = av.stream.Disposition[role]
                for packet in [*sound.encode(silence(sound)), *sound.encode(None)]:
                    out.mux(packet)
            with av.open(str(path)) as back:
                read = back.streams.audio[0]
                kept |= {role} if read.disposition & av.stream.Disposition[role] else set()
                dropped = {key for key in ("language", "title")
                           if not read.metadata.get(key) and not (key == "title" and read.metadata.get("name"))}
        assert kept == WRITTEN_ROLES[fmt].get("audio", set()), fmt
        assert dropped == set(DROPPED_TAGS.get(fmt, ())), fmt


def silence(stream: av.stream.Stream) -> av.AudioFrame:
    """One frame of silence for `stream`'s encoder."""
    context = stream.codec_context
    frame = av.AudioFrame(format=context.format.name, layout="mono", samples=context.frame_size or 1024)
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    frame.sample_rate, frame.pts = 48000, 0
    return frame
