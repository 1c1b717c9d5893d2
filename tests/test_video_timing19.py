"""Videos whose timestamps are damaged or odd as real files' are (a nineteenth sweep, reader side):
sound whose PES headers carry no timestamps, pictures timed only every few PES (or several to a
PES), an FLV whose clock starts again. Each file is made with FFmpeg's CLI and the damage written
into its bytes; each is read as FFmpeg times it: every picture and every sound packet, one after
another, sound and pictures together."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from test_attack_ts18 import TS_PACKET, pid_of
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)
from test_video_untimed19 import read

TICKS = 3600  # one picture at 25 fps, in MPEG's 1/90000 s


def ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True, capture_output=True)


def clip(path: Path, video: str, audio: str, *extra: str) -> Path:
    """2 s of 64x48 at 25 fps with a tone (48 kHz), in `path`'s format."""
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=25", "-f", "lavfi", "-i", "sine=sample_rate=48000",
           "-t", "2", "-c:v", video, "-c:a", audio, *extra, path)
    return path


def pes_starts(data: bytes, pid: int) -> list[int]:
    """Where each PES header of `pid` begins in `data` (MPEG-TS)."""
    starts = []
    for at in range(0, len(data) - TS_PACKET + 1, TS_PACKET):
        if data[at] != 0x47 or not data[at + 1] & 0x40 or pid_of(data[at:at + 3]) != pid:
            continue
        start = at + 4 + (1 + data[at + 4] if data[at + 3] & 0x20 else 0)
        if data[start:start + 3] == b"\0\0\1":
            starts.append(start)
    return starts


def ps_pes_starts(data: bytes, stream_id: int) -> list[int]:
    """Where each MPEG-2 PES header of `stream_id` begins in `data` (MPEG-PS)."""
    starts, at = [], data.find(bytes([0, 0, 1, stream_id]))
    while at >= 0:
        if data[at + 6] & 0xC0 == 0x80:
            starts.append(at)
        at = data.find(bytes([0, 0, 1, stream_id]), at + 4)
    return starts


def untimed(data: bytes, starts: list[int], timed_every: int = 0) -> bytes:
    """`data` with the PTS/DTS flags of the PES headers at `starts` cleared, but every
    `timed_every`th (the header keeps its length: the demuxer skips the bytes)."""
    out = bytearray(data)
    for n, start in enumerate(starts):
        if not timed_every or n % timed_every:
            out[start + 7] &= 0x3F
    return bytes(out)


def merged(data: bytes, pid: int, frames: int) -> bytes:
    """`data` (MPEG-TS) with each `frames` PES of `pid` made one, timed by its first: the later
    ones' headers become adaptation-field stuffing, and their packets start no PES."""
    out = bytearray(data)
    for n, start in enumerate(pes_starts(data, pid)):
        at = start - (start % TS_PACKET)
        if n % frames == 0:
            out[start + 4:start + 6] = b"\0\0"  # of no stated length: the next pictures follow in it
            continue
        header = 9 + out[start + 8]
        out[at + 1] &= 0xBF
        if out[at + 3] & 0x20:  # an adaptation field already: stuffing added at its end
            length = out[at + 4]
            out[at + 4] = length + header
            # (a field of length 0 has no flags byte yet: the first added byte is it)
            fill = (b"\0" if length == 0 else b"\xff") + b"\xff" * (header - 1)
            out[at + 5 + length:at + 5 + length + header] = fill
        else:
            out[at + 3] |= 0x20
            out[at + 4:at + 4 + header] = bytes([header - 1, 0]) + b"\xff" * (header - 2)
    return bytes(out)


def frames_and_sound(path: Path, **options) -> tuple[list[Frame], list[Fraction]]:
    """The frames a reader gives, and the start of each sound packet (s). (A packet's stream is
    read while its file is open: PyAV crashes on one after.)"""
    frames, sound = [], []
    with VideoReader(path, **options) as reader:
        for item in reader.items():
            if isinstance(item, Frame):
                frames.append(item)
            elif item.stream.type == "audio":
                sound.append(item.pts * item.time_base)
    return frames, sound


def sound_packets(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for packet in container.demux(audio=0) if packet.size)


@pytest.fixture(scope="module")
def ts_clip(tmp_path_factory) -> Path:
    """H.264 with B-frames and AAC in MPEG-TS."""
    return clip(tmp_path_factory.mktemp("ts") / "clip.ts", "libx264", "aac", "-preset", "ultrafast", "-bf", "2",
                "-g", "10")


def ts_untimed_sound(ts_clip: Path, folder: Path) -> Path:
    with av.open(str(ts_clip)) as container:
        pid = container.streams.audio[0].id
    data = ts_clip.read_bytes()
    path = folder / "untimed_sound.ts"
    path.write_bytes(untimed(data, pes_starts(data, pid)))
    return path


def vob_untimed_sound(ts_clip: Path, folder: Path) -> Path:
    data = clip(folder / "clip.vob", "mpeg2video", "mp2", "-bf", "2", "-g", "12", "-f", "vob").read_bytes()
    path = folder / "untimed_sound.vob"
    path.write_bytes(untimed(data, ps_pes_starts(data, 0xC0)))
    return path


@pytest.mark.parametrize("make", [ts_untimed_sound, vob_untimed_sound], ids=["ts", "vob"])
def test_sound_whose_pes_headers_carry_no_timestamps_is_kept(make, ts_clip, tmp_path):
    """A broadcast recorder's TS (or a DVD's VOB) whose audio PES headers leave out the PTS: FFmpeg
    times the sound by its packets' lengths from the start. Every packet was dropped (taken for
    the empty packet that ends a stream): "audio stream #1 holds no sound", a silent output."""
    path = make(ts_clip, tmp_path)
    frames, sound = frames_and_sound(path)
    assert len(frames) == 50
    assert len(sound) == sound_packets(path)
    assert sound[0] == 0 and abs(sound[-1] - 2) < Fraction(1, 20)
    assert all(b > a for a, b in zip(sound, sound[1:]))
    late, late_sound = frames_and_sound(path, start=Fraction(1))
    assert len(late) == 25
    assert abs(late_sound[-1] - 1) < Fraction(1, 20)


@pytest.mark.slow
def test_a_late_start_in_a_long_capture_keeps_untimed_sound(tmp_path):
    """A late --start in a long TS is found by a byte seek, after which FFmpeg's demuxer makes up
    times from zero for sound packets that carry none: so timed, every one was before the start
    and none was kept. Such a file is read from its start (demuxed, not decoded): the sound from
    18 s on is there."""
    path = clip(tmp_path / "long.ts", "mpeg2video", "mp2", "-s", "320x240", "-t", "20", "-b:v", "20M", "-minrate",
                "20M", "-maxrate", "20M", "-bufsize", "2M", "-g", "25")
    with av.open(str(path)) as container:
        pid = container.streams.audio[0].id
    data = path.read_bytes()
    path.write_bytes(untimed(data, pes_starts(data, pid)))
    frames, sound = frames_and_sound(path, start=Fraction(18))
    assert len(frames) == 50 and sound, "no sound"
    assert sound[0] <= 0 and abs(sound[-1] - 2) < Fraction(1, 20)


def test_a_preview_keeps_untimed_sound_under_its_pictures(run_cli, weights_env, style, ts_clip, tmp_path):
    stylize(run_cli, ts_untimed_sound(ts_clip, tmp_path), style, tmp_path / "p.mp4", "--frames", "5")
    pictures, sound = read(tmp_path / "p.mp4")
    assert len(pictures) == 5
    assert 0.18 <= sound <= 0.25, sound


def every_third_timed(data: bytes, pid: int) -> bytes:
    return untimed(data, pes_starts(data, pid), timed_every=3)


def three_a_pes(data: bytes, pid: int) -> bytes:
    return merged(data, pid, 3)


@pytest.mark.parametrize("damage", [every_third_timed, three_a_pes])
def test_pictures_between_timed_ones_are_shown_one_after_another(damage, ts_clip, tmp_path):
    """PTS on every third PES (allowed: 0.7 s apart at most), or three pictures to a PES timed by
    its first: a timed picture was shown until the next timed one, so the untimed one between
    them got that one's time. Pairs of pictures came at one time (the writer moved one a tick,
    then a gap), and --start 1 gave 31 pictures in 0.98 s instead of 26."""
    with av.open(str(ts_clip)) as container:
        pid = container.streams.video[0].id
    path = tmp_path / "damaged.ts"
    path.write_bytes(damage(ts_clip.read_bytes(), pid))
    whole, _ = frames_and_sound(path)
    first = whole[0].pts
    assert [f.pts for f in whole] == [first + n * TICKS for n in range(50)]
    late, sound = frames_and_sound(path, start=Fraction(1))
    # the picture shown at 1 s (from 0.98 s) first, then those after it at their times
    assert [f.pts for f in late] == [0] + [first + n * TICKS for n in range(25)]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(late, whole[24:]))
    assert abs(sound[-1] - 1) < Fraction(1, 20)


def flv_tags(data: bytes) -> list[tuple[int, int]]:
    """(where, timestamp in ms) of each tag of an FLV."""
    tags, at = [], 13
    while at + 11 <= len(data):
        tags.append((at, int.from_bytes(data[at + 4:at + 7], "big") | data[at + 7] << 24))
        at += 11 + int.from_bytes(data[at + 1:at + 4], "big") + 4
    return tags


def test_an_flv_whose_clock_starts_again_goes_on_from_there(tmp_path):
    """A live stream recorded across a reconnect: from 1 s on, every tag's time is 0.8 s back.
    Read as it came, the second part's pictures were shown among the first's (50 pictures in
    1.2 s, 20 "out of order") and its sound over the first's. It goes on from where the first
    part stops, as joined MPEG-TS segments do."""
    data = bytearray(clip(tmp_path / "clip.flv", "libx264", "aac", "-preset", "ultrafast", "-bf", "0").read_bytes())
    for at, ms in flv_tags(data):
        if ms >= 1000:
            data[at + 4:at + 7] = (ms - 800).to_bytes(3, "big")
    path = tmp_path / "reconnect.flv"
    path.write_bytes(data)
    frames, sound = frames_and_sound(path)
    assert len(frames) == 50
    steps = {b.pts - a.pts for a, b in zip(frames, frames[1:])}
    assert steps == {40}, steps  # (milliseconds)
    assert len(sound) == sound_packets(path)
    assert all(b > a for a, b in zip(sound, sound[1:]))
    assert abs(sound[-1] - frames[-1].pts * Fraction(1, 1000)) < Fraction(1, 20)


def moved_back(data: bytes, start: int, ticks: int) -> bytes:
    """`data` (MPEG-TS) with the PTS (and DTS) of the PES header at `start` `ticks` earlier."""
    out = bytearray(data)
    fields = 2 if out[start + 7] >> 6 == 3 else 1
    for at in range(start + 9, start + 9 + 5 * fields, 5):
        b = out[at:at + 5]
        value = ((b[0] >> 1) & 7) << 30 | b[1] << 22 | (b[2] >> 1) << 15 | b[3] << 7 | b[4] >> 1
        value -= ticks
        out[at:at + 5] = bytes([b[0] & 0xF0 | (value >> 29) & 0x0E | 1, (value >> 22) & 0xFF,
                                (value >> 14) & 0xFE | 1, (value >> 7) & 0xFF, (value << 1) & 0xFE | 1])
    return bytes(out)


def ts_one_back(ts_clip: Path, folder: Path) -> Path:
    with av.open(str(ts_clip)) as container:
        pid = container.streams.video[0].id
    data = ts_clip.read_bytes()
    path = folder / "one_back.ts"
    path.write_bytes(moved_back(data, pes_starts(data, pid)[30], 72000))
    return path


def flv_one_back(ts_clip: Path, folder: Path) -> Path:
    data = bytearray(clip(folder / "clip.flv", "libx264", "aac", "-preset", "ultrafast", "-bf", "0").read_bytes())
    at = [at for at, ms in flv_tags(data) if data[at] == 9 and ms >= 1000][0]
    data[at + 4:at + 7] = (200).to_bytes(3, "big")
    path = folder / "one_back.flv"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("make", [ts_one_back, flv_one_back], ids=["ts", "flv"])
def test_one_damaged_timestamp_leaves_sound_and_pictures_together(make, ts_clip, tmp_path):
    """One picture's timestamp 0.8 s back, the next ones as before (a damaged PES header, a tag
    of a stream that glitched): taken for a splice, every picture after it went 0.88 s past its
    sound, for good (2.9 s of pictures over 2 s of sound). The splice is undone at the next
    picture, which goes on from before it."""
    path = make(ts_clip, tmp_path)
    frames, sound = frames_and_sound(path)
    assert len(frames) == 50
    tb = Fraction(1, 90000) if path.suffix == ".ts" else Fraction(1, 1000)
    end = (frames[-1].pts + frames[-1].duration) * tb
    assert abs(end - 2) < Fraction(1, 20), float(end)
    assert abs(sound[-1] - frames[-1].pts * tb) < Fraction(1, 20)
