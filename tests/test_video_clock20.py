"""Clocks that stand still, the cases `StuckClock` did not reach (a twentieth sweep, continued):
an FLV whose sound tags also all say 0, an MP4 whose sound samples all share one time, and
clocks that freeze mid-file (after 1 s every picture, and in some files every sound packet,
repeats the time of the one before). Each file is made with FFmpeg's CLI and the damage written
into its bytes; each is read as a user expects: the undamaged file's pictures at its times, its
sound one packet after another, so the two stay together; files with a running clock untouched."""

from __future__ import annotations

import struct
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)
from test_video_timing19 import ffmpeg, flv_tags, frames_and_sound
from test_video_timing20 import box
from test_video_untimed19 import read

SOUND, VIDEO = 8, 9  # FLV tag types


def flv_frozen(data: bytes, kinds: tuple[int, ...], after_ms: int = -1) -> bytes:
    """`data` (FLV) whose tags of `kinds` timed after `after_ms` keep the time of the one before
    (-1: every one at 0)."""
    out, last = bytearray(data), {}
    for at, time in flv_tags(data):
        kind = out[at]
        if kind in kinds:
            if time > after_ms:
                time = last.get(kind, 0)
                out[at + 4:at + 7], out[at + 7] = (time & 0xFFFFFF).to_bytes(3, "big"), time >> 24
            last[kind] = time
    return bytes(out)


def stts_frozen(data: bytes, track: int, kept: int) -> bytes:
    """`data` (MP4 as FFmpeg writes it: `moov` after `mdat`) whose track number `track` keeps the
    `stts` deltas of its first `kept` samples; every later one is 0 (its time stands still)."""
    moov = box(data, (b"moov",))
    at, traks = moov + 8, []
    while at < moov + struct.unpack(">I", data[moov:moov + 4])[0]:
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        if kind == b"trak":
            traks.append((at, size))
        at += size
    trak, size = traks[track]
    path = (b"mdia", b"minf", b"stbl", b"stts")
    stts = box(data, path, trak + 8, trak + size)
    deltas = []
    for n in range(struct.unpack(">I", data[stts + 12:stts + 16])[0]):
        count, delta = struct.unpack(">II", data[stts + 16 + 8 * n:stts + 24 + 8 * n])
        deltas += [delta] * count
    entries: list[list[int]] = []
    for delta in deltas[:kept] + [0] * (len(deltas) - kept):
        if entries and entries[-1][1] == delta:
            entries[-1][0] += 1
        else:
            entries.append([1, delta])
    body = bytes(4) + struct.pack(">I", len(entries)) + b"".join(struct.pack(">II", *e) for e in entries)
    old = struct.unpack(">I", data[stts:stts + 4])[0]
    out = bytearray(data[:stts] + struct.pack(">I4s", 8 + len(body), b"stts") + body + data[stts + old:])
    assert box(data, (b"mdat",)) < moov  # (the chunk offsets stay right)
    for parent in [moov, trak, *(box(data, path[:n], trak + 8, trak + size) for n in (1, 2, 3))]:
        out[parent:parent + 4] = struct.pack(">I", struct.unpack(">I", out[parent:parent + 4])[0] + 8 + len(body) - old)
    return bytes(out)


def ebml_number(data: bytes, at: int, marker: bool = False) -> tuple[int, int]:
    """(value, length) of the EBML number at `at`: an element size (its marker bit taken off), or
    with `marker` an element ID (kept)."""
    length = 9 - data[at].bit_length()
    value = int.from_bytes(data[at:at + length], "big")
    return (value if marker else value & ~(1 << (7 * length))), length


def matroska_frozen(data: bytes, track: int, after_ms: int) -> bytes:
    """`data` (Matroska as FFmpeg writes it: SimpleBlocks) whose blocks of track number `track`
    timed after `after_ms` keep the time of the one before (each block's time is its cluster's
    plus its own 16-bit offset)."""
    out, last = bytearray(data), None
    at = data.find(b"\x1f\x43\xb6\x75")
    while at >= 0:
        size, size_length = ebml_number(data, at + 4)
        inside, end, cluster_time = at + 4 + size_length, at + 4 + size_length + size, 0
        while inside < end:
            kind, kind_length = ebml_number(data, inside, marker=True)
            size, size_length = ebml_number(data, inside + kind_length)
            content = inside + kind_length + size_length
            if kind == 0xE7:  # the cluster's Timestamp
                cluster_time = int.from_bytes(data[content:content + size], "big")
            elif kind == 0xA3:  # a SimpleBlock: its track number, then its time from the cluster's
                number, length = ebml_number(data, content)
                offset = content + length
                time = cluster_time + int.from_bytes(data[offset:offset + 2], "big", signed=True)
                if number == track and time > after_ms and last is not None:
                    out[offset:offset + 2] = (last - cluster_time).to_bytes(2, "big", signed=True)
                elif number == track:
                    last = time
            inside = content + size
        at = data.find(b"\x1f\x43\xb6\x75", end)
    return bytes(out)


def clip(path: Path, seconds: int, *extra: str) -> Path:
    """`seconds` of 64x48 H.264 at 25 fps with AAC (48 kHz) in `path`'s format."""
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=25", "-f", "lavfi", "-i", "sine=sample_rate=48000",
           "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", *extra, path)
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("clock20")


@pytest.fixture(scope="module")
def flv(folder) -> Path:
    return clip(folder / "clip.flv", 2, "-bf", "0")


@pytest.fixture(scope="module")
def mp4(folder) -> Path:
    """4 s with B-frames: a --start of 2.5 s seeks."""
    return clip(folder / "clip.mp4", 4, "-bf", "2", "-g", "10")


def sound_end(path: Path, **options) -> Fraction:
    """Where the sound a reader gives stops (s): its last packet's start plus its duration."""
    end = Fraction(0)
    with VideoReader(path, **options) as reader:
        for item in reader.items():
            if not isinstance(item, Frame) and item.stream.type == "audio":
                end = max(end, (item.pts + item.duration) * item.time_base)
    return end


def within_a_millisecond(sound: list[Fraction], expected: list[Fraction]) -> bool:
    """Whether each sound packet starts within 1 ms of the undamaged file's (FLV stores its
    times in whole milliseconds, rounded as its muxer rounds them)."""
    return len(sound) == len(expected) and all(abs(a - b) <= Fraction(1, 1000) for a, b in zip(sound, expected))


def same_pictures(frames, expected) -> bool:
    return (len(frames) == len(expected) and all(a.pts == b.pts for a, b in zip(frames, expected))
            and all(np.array_equal(a.image, b.image) for a, b in zip(frames, expected)))


def test_an_flv_whose_sound_tags_all_say_zero_plays_them_one_after_another(folder, flv, capsys):
    """Every tag at 0, sound and pictures: the pictures were timed at the stated rate, but the 95
    sound packets all stayed at 0 (the output's sound lasted 23 ms; --start 1 had none). They are
    played one after another by their lengths (1024 samples each, kept exact: 21 or 22 ms in
    FLV's milliseconds), at the undamaged file's times, and a note says so."""
    path = folder / "all_zero.flv"
    path.write_bytes(flv_frozen(flv.read_bytes(), (SOUND, VIDEO)))
    frames, sound = frames_and_sound(path)
    assert [f.pts for f in frames] == [40 * n for n in range(50)]
    assert within_a_millisecond(sound, frames_and_sound(flv)[1])
    assert "the sound's timestamps stand still" in capsys.readouterr().err
    _, late = frames_and_sound(path, start=Fraction(1))
    assert within_a_millisecond(late, frames_and_sound(flv, start=Fraction(1))[1]) and len(late) == 49


@pytest.mark.slow  # (default run's time: 2 s)
def test_a_late_start_of_an_flv_at_zero_keeps_the_sound_under_its_pictures(run_cli, weights_env, style, folder, flv):
    """`video --start 1` of that FLV: the output had 1 s of pictures and no sound at all. Its
    sound now lasts as long as its pictures (1 s), and FFmpeg plays the file."""
    path = folder / "all_zero_cli.flv"
    path.write_bytes(flv_frozen(flv.read_bytes(), (SOUND, VIDEO)))
    out = folder / "all_zero_late.mp4"
    stylize(run_cli, path, style, out, "--start", "1")
    pictures, seconds = read(out)
    assert len(pictures) == 25
    assert abs(seconds - 1) < 0.05
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(out), "-f", "null", "-"], check=True, capture_output=True)


def test_an_mp4_whose_sound_samples_share_one_time_keeps_its_sound(folder, mp4):
    """Every sound sample's `stts` delta 0: its edit list discarded all but the last 2 of 189
    packets as before its start (23 ms of sound under 4 s of pictures). They are played one after
    another, the undamaged file's sound, each for its 1024 samples (the last one's duration, the
    track's whole 4 s, made the sound of --start 2.5 last 5.5 s under 1.5 s of pictures); its
    index puts them all at one time, so a --start reads the file from its start (not seeked)."""
    path = folder / "sound_zero.mp4"
    path.write_bytes(stts_frozen(mp4.read_bytes(), 1, 0))
    frames, sound = frames_and_sound(path)
    expected, expected_sound = frames_and_sound(mp4)
    assert same_pictures(frames, expected)
    assert sound == expected_sound and len(sound) == 189
    late, late_sound = frames_and_sound(path, start=Fraction(5, 2))
    expected, expected_sound = frames_and_sound(mp4, start=Fraction(5, 2))
    assert same_pictures(late, expected)
    assert late_sound == expected_sound
    # (within its last packet, which the undamaged file's `stts` cut to what the encoder gave it)
    assert abs(sound_end(path, start=Fraction(5, 2)) - sound_end(mp4, start=Fraction(5, 2))) < Fraction(1024, 48000)


def test_an_flv_whose_clock_freezes_mid_file_goes_on_at_the_rate_before(folder, flv, capsys):
    """After 1 s every video tag, and every sound tag, repeats the time of the one before (a
    recorder's clock that stopped): 25 pictures were piled at 0.98 s ("out of order"), the sound
    after 0.98 s too (the output's ended there). The pictures go on one after another at the rate
    the clock ran at before (25 fps) and the sound by its lengths: the undamaged file's times and
    pictures, said in a note."""
    path = folder / "frozen.flv"
    path.write_bytes(flv_frozen(flv.read_bytes(), (SOUND, VIDEO), after_ms=1000))
    frames, sound = frames_and_sound(path)
    expected, expected_sound = frames_and_sound(flv)
    assert same_pictures(frames, expected)
    assert within_a_millisecond(sound, expected_sound)
    err = capsys.readouterr().err
    assert "the pictures' timestamps stop advancing at 0.96 s" in err and "at the rate before, 25 fps" in err
    late, late_sound = frames_and_sound(path, start=Fraction(3, 2))
    # (13: the picture shown at 1.5 s for under half its time is skipped, `Segment.ends_before`)
    assert same_pictures(late, frames_and_sound(flv, start=Fraction(3, 2))[0]) and len(late) == 13


def test_an_mp4_frozen_mid_file_goes_on_at_the_rate_before_even_where_a_seek_lands(folder, mp4):
    """`stts` deltas 0 from the 26th picture on (of 100, B-frames): the 75 later pictures were
    piled at 1 s, out of order. Its stated rate is its frames over what is left of its duration
    (100 fps): they go on at the rate its clock ran at before (25 fps), the undamaged file's
    pictures and times. --start 2.5 seeks into the frozen stretch, where the pictures' place is
    unknown: it was refused ("past the end of the video, which lasts 1.16 s"); the file is read
    from its start instead (38 pictures, as the undamaged file's)."""
    path = folder / "frozen.mp4"
    path.write_bytes(stts_frozen(mp4.read_bytes(), 0, 25))
    frames, sound = frames_and_sound(path)
    expected, expected_sound = frames_and_sound(mp4)
    assert same_pictures(frames, expected)
    assert sound == expected_sound
    late, late_sound = frames_and_sound(path, start=Fraction(5, 2))
    expected, expected_sound = frames_and_sound(mp4, start=Fraction(5, 2))
    assert same_pictures(late, expected) and len(late) == 38
    assert late_sound == expected_sound


def test_matroska_sound_frozen_mid_file_is_played_on_even_where_a_seek_lands(folder):
    """After 1 s every sound block of a Matroska file repeats the time of the one before (the
    pictures' clock runs): the sound after 0.98 s was piled there, and --start 2.5, which seeks
    by its cues into that stretch, had no sound at all. The sound goes on by its lengths, the
    undamaged file's (to the millisecond Matroska stores); where the seek lands in sound that
    stands still, the file is read from its start."""
    source = clip(folder / "clip.mkv", 4, "-bf", "2", "-g", "10")
    path = folder / "sound_frozen.mkv"
    path.write_bytes(matroska_frozen(source.read_bytes(), 2, 1000))
    frames, sound = frames_and_sound(path)
    expected, expected_sound = frames_and_sound(source)
    assert same_pictures(frames, expected)
    assert within_a_millisecond(sound, expected_sound)
    late, late_sound = frames_and_sound(path, start=Fraction(5, 2))
    expected, expected_sound = frames_and_sound(source, start=Fraction(5, 2))
    assert same_pictures(late, expected)
    assert within_a_millisecond(late_sound, expected_sound) and len(late_sound) == 72


@pytest.mark.parametrize("name, codecs", [
    ("bframes.mkv", ("-c:v", "libx264", "-bf", "3")),
    ("mpeg2.ts", ("-c:v", "mpeg2video", "-bf", "2", "-c:a", "mp2")),
    ("bframes.flv", ("-c:v", "libx264", "-bf", "3")),
    ("vfr.mkv", ("-vf", "setpts='N/25/TB+if(gt(N,20),0.3,0)+if(gt(N,30),0.01*mod(N,3),0)'", "-fps_mode", "vfr")),
])
def test_files_whose_clock_runs_keep_their_times(folder, capsys, name, codecs):
    """No picture or sound packet of a file FFmpeg writes shares the time of the one before (B-
    frames in Matroska, FLV; MPEG-2 in MPEG-TS; a variable rate): none is retimed, and no note
    speaks of a clock that stands still."""
    path = folder / name
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=25", "-f", "lavfi", "-i", "sine=sample_rate=48000",
           "-t", "2", "-c:a", "aac", *codecs, path)
    frames, _ = frames_and_sound(path)
    err = capsys.readouterr().err
    assert "stand still" not in err and "stop advancing" not in err and "same timestamp" not in err
    assert len(frames) == 50


def one_repeated(data: bytes, kind: int, after_ms: int) -> bytes:
    """`data` (FLV) whose first tag of `kind` timed after `after_ms` repeats the time of the one before."""
    out, before = bytearray(data), None
    for at, time in flv_tags(data):
        if out[at] == kind:
            if time > after_ms and before is not None:
                out[at + 4:at + 7], out[at + 7] = (before & 0xFFFFFF).to_bytes(3, "big"), before >> 24
                return bytes(out)
            before = time
    raise AssertionError("no such tag")


@pytest.mark.parametrize("kind", [SOUND, VIDEO])
def test_two_packets_at_one_time_are_left_as_stored(folder, flv, capsys, kind):
    """Two sound packets at one time are found where sound was joined (Matroska written from
    joined MPEG-TS overlaps 16 ms there; two pictures may share one too): taken for a clock that
    stands still, the rest of that sound went 27 ms late. Only a third in a row tells a
    standstill: one repeat (at 1 s) keeps its stored time, the pictures as before, and no note."""
    path = folder / f"repeat{kind}.flv"
    path.write_bytes(one_repeated(flv.read_bytes(), kind, 1000))
    frames, sound = frames_and_sound(path)
    expected, expected_sound = frames_and_sound(flv)
    err = capsys.readouterr().err
    assert "stand still" not in err and "stop advancing" not in err
    if kind == SOUND:
        assert same_pictures(frames, expected)
        differ = [n for n, (a, b) in enumerate(zip(sound, expected_sound)) if a != b]
        assert len(sound) == len(expected_sound) and len(differ) == 1 and sound[differ[0]] == sound[differ[0] - 1]
    else:
        assert len(frames) == 50 and sound == expected_sound
