"""Videos whose stored times are wrong in ways the reader still got wrong (a twentieth sweep):
every picture at one time (an FLV whose video tags all say 0, an MP4 whose `stts` deltas are all
zero), and a Matroska cluster whose Timestamp element went 0.8 s back. Each file is made with
FFmpeg's CLI and the damage written into its bytes; each is read as a user expects: every
picture, one after another at the time it belongs, with the sound as stored."""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from test_video_realworld_inputs import style  # noqa: F401  (a fixture)
from test_video_timing19 import clip, ffmpeg, flv_tags, frames_and_sound


def pictures_all_at_zero(data: bytes) -> bytes:
    """`data` (FLV) with every video tag's timestamp 0 (the sound's tags keep theirs)."""
    out = bytearray(data)
    for at, _ in flv_tags(data):
        if out[at] == 9:
            out[at + 4:at + 8] = b"\0\0\0\0"
    return bytes(out)


def box(data: bytes, path: tuple[bytes, ...], start: int = 0, end: int | None = None) -> int | None:
    """Where the box at `path` (kinds, outermost first) begins in data[start:end] (ISO media)."""
    end = len(data) if end is None else end
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start:start + 8])
        if kind == path[0]:
            found = start if len(path) == 1 else box(data, path[1:], start + 8, start + size)
            if found is not None:
                return found
        start += size
    return None


def stts_all_zero(data: bytes) -> bytes:
    """`data` (MP4, its video track first, as FFmpeg writes it) with every `stts` sample_delta 0."""
    out = bytearray(data)
    at = box(data, (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stts"))
    for n in range(struct.unpack(">I", data[at + 12:at + 16])[0]):
        out[at + 20 + 8 * n:at + 24 + 8 * n] = b"\0\0\0\0"
    return bytes(out)


def cluster_timestamps(data: bytes) -> list[tuple[int, int, int]]:
    """(where, length, value) of each Matroska cluster's Timestamp (after FFmpeg's CRC-32 element)."""
    found, at = [], data.find(b"\x1f\x43\xb6\x75")
    while at >= 0:
        size_length = 8 - data[at + 4].bit_length() + 1  # (an EBML size: its leading zeros say its length)
        body = at + 4 + size_length
        if data[body] == 0xBF:
            body += 6
        if data[body] == 0xE7:
            length = data[body + 1] & 0x7F
            found.append((body + 2, length, int.from_bytes(data[body + 2:body + 2 + length], "big")))
        at = data.find(b"\x1f\x43\xb6\x75", at + 4)
    return found


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("timing20")


def test_an_flv_whose_pictures_all_say_zero_is_shown_at_its_rate(folder, capsys):
    """Every video tag's time 0 (a stream recorder's): the 50 pictures came within 50 ms (FFmpeg's
    CLI keeps 3). They go one after another at the rate its onMetaData states, 25 fps: 50
    pictures over 2 s, under the sound as stored, and a note says so. --start 1 is the 26th."""
    source = clip(folder / "clip.flv", "libx264", "aac", "-preset", "ultrafast", "-bf", "0")
    path = folder / "zero.flv"
    path.write_bytes(pictures_all_at_zero(source.read_bytes()))
    frames, sound = frames_and_sound(path)
    assert [f.pts for f in frames] == [40 * n for n in range(50)]  # (milliseconds)
    assert sound == frames_and_sound(source)[1]
    assert "every picture has the same timestamp" in capsys.readouterr().err
    late, _ = frames_and_sound(path, start=Fraction(1))
    assert [f.pts for f in late] == [40 * n for n in range(25)]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(late, frames[25:]))


def test_an_mp4_whose_stts_deltas_are_all_zero_is_shown_at_its_rate(folder):
    """Every sample's decode time the same: its edit list discarded 30 of the 50 pictures as
    before its start, and the file was refused as "truncated: only 20 of 50 frames decode". They
    are timed at its frames over its duration (25 fps) with their composition offsets (B-frames):
    the pictures and times of the undamaged file. A late --start, which seeks elsewhere, reads
    such a file from its start (its index holds one time): 13 pictures from 1.5 s."""
    source = clip(folder / "clip.mp4", "libx264", "aac", "-preset", "ultrafast", "-bf", "2", "-g", "10")
    path = folder / "zero.mp4"
    path.write_bytes(stts_all_zero(source.read_bytes()))
    frames, sound = frames_and_sound(path)
    expected, expected_sound = frames_and_sound(source)
    assert [f.pts for f in frames] == [f.pts for f in expected] == [512 * n for n in range(50)]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(frames, expected))
    assert sound == expected_sound
    late, _ = frames_and_sound(path, start=Fraction(3, 2))
    assert [f.pts for f in late] == [f.pts for f in frames_and_sound(source, start=Fraction(3, 2))[0]]
    assert len(late) == 13


def test_a_matroska_cluster_timed_back_is_put_back(folder, capsys):
    """One cluster's Timestamp 0.8 s back (the cluster at 0.9 s, sound and pictures): its packets
    were shown among those before it (7 pictures "out of order", the sound "not increasing").
    The next cluster carries on from before it, so it was damage: put back where it belongs, the
    undamaged file's pictures at its times (a millisecond off within the cluster: its place is
    read from the sound before it) and its sound in order."""
    source = clip(folder / "clip.mkv", "libx264", "aac", "-preset", "ultrafast", "-bf", "2", "-g", "10",
                  "-cluster_time_limit", "400")
    data = bytearray(source.read_bytes())
    clusters = cluster_timestamps(bytes(data))
    at, length, value = clusters[len(clusters) // 2]
    assert value > 800
    data[at:at + length] = (value - 800).to_bytes(length, "big")
    path = folder / "back.mkv"
    path.write_bytes(data)
    frames, sound = frames_and_sound(path)
    expected, expected_sound = frames_and_sound(source)
    assert len(frames) == 50
    assert all(abs(a.pts - b.pts) <= 1 for a, b in zip(frames, expected))
    assert all(np.array_equal(a.image, b.image) for a, b in zip(frames, expected))
    assert all(b > a for a, b in zip(sound, sound[1:]))
    assert all(abs(a - b) <= Fraction(1, 1000) for a, b in zip(sound, expected_sound))
    assert "the times of a cluster go back" in capsys.readouterr().err


def test_pictures_at_one_time_without_a_stated_rate_are_refused(run_cli, weights_env, style, folder):
    """Sorenson pictures in FLV, all at 0, and no framerate in its onMetaData: FFmpeg's guess is
    its time base, 1000 fps (3 frames in its CLI's output). No sane timing: one line that says
    what is wrong and how to give FFmpeg a rate, and no output."""
    source = folder / "sorenson.flv"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=25", "-t", "1", "-c:v", "flv1", source)
    data = bytearray(pictures_all_at_zero(source.read_bytes()))
    at = data.find(b"framerate")
    data[at:at + 9] = b"framerXte"  # (the same length: the metadata still reads)
    path = folder / "no_rate.flv"
    path.write_bytes(data)
    out = folder / "no_rate.mp4"
    code, _, err = run_cli("video", path, "-s", style, "-o", out, "--device", "cpu", "--size", "32")
    assert code == 2
    assert err.strip().splitlines() == [f"error: {path}: every picture has the same timestamp, and the file states no "
                                        "frame rate to show them at: give FFmpeg one to time them by (e.g. `ffmpeg "
                                        "-r 25 -i no_rate.flv fixed.mp4`)"]
    assert not out.exists()
