"""Hostile MPEG-TS files against the byte seek of a late --start (`StreamLanding`) and the
splices of joined files (`TimestampShift`): each read of a file is bounded in the bytes it costs,
and no stream's packets, however their timestamps run, move a sound or picture stream off the
timeline a read of the same file without them gives.

- A probe read on after its byte seek until a video packet came: where the video stops (4 GB of
  sound after it), each probe read to the end of the file (11 s a probe, `find` 162 s).
- KLV at random times (a damaged or hostile data track, or a clock of its own): the first
  picture read after one went on the KLV's offset, 7 hours from the sound; in joined files the
  pictures went 27 ms off the sound at every join, and KLV packets 22 hours on."""

from __future__ import annotations

import io
import random
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import pytest

from realtime_adain.video.landing import StreamLanding
from realtime_adain.video.timestamps import TimestampShift
from test_video_tsjoin18 import ts_with_data

TS_PACKET = 188
# The most bytes one look (a probe; a keyframe's search past its start) reads: what
# `StreamLanding.PROBE_BYTES` (8 MB) allows and FFmpeg's buffers; the file holds 40 MB.
READ_AT_MOST = 10 << 20


def ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


def pid_of(packet: bytes) -> int:
    return (packet[1] & 0x1F) << 8 | packet[2]


def restamped(data: bytes, pid: int, when) -> bytes:
    """`data` (MPEG-TS) with the decode time of each PES of `pid` (and its presentation time, the
    same amount later) set to `when(n, dts)` (90 kHz ticks) for its `n`-th PES."""

    def get(b: bytearray, i: int) -> int:
        return ((b[i] >> 1) & 7) << 30 | b[i + 1] << 22 | (b[i + 2] >> 1) << 15 | b[i + 3] << 7 | b[i + 4] >> 1

    def put(b: bytearray, i: int, value: int, prefix: int) -> None:
        value %= 1 << 33
        b[i:i + 5] = bytes([prefix << 4 | (value >> 30 & 7) << 1 | 1, value >> 22 & 0xFF, (value >> 15 & 0x7F) << 1 | 1,
                            value >> 7 & 0xFF, (value & 0x7F) << 1 | 1])

    out, n = bytearray(data), 0
    for at in range(0, len(out) - TS_PACKET + 1, TS_PACKET):
        if out[at] != 0x47 or not out[at + 1] & 0x40 or pid_of(out[at:at + 3]) != pid:
            continue
        start = at + 4 + (1 + out[at + 4] if out[at + 3] & 0x20 else 0)
        flags = out[start + 7] >> 6
        if out[start:start + 3] != b"\0\0\1" or not flags & 2:
            continue
        pts = get(out, start + 9)
        dts = get(out, start + 14) if flags == 3 else pts
        new = when(n, dts)
        n += 1
        put(out, start + 9, new + pts - dts, flags)
        if flags == 3:
            put(out, start + 14, new, 1)
    return bytes(out)


class CountedFile(io.RawIOBase):
    """A file whose bytes read are counted (`consumed`), as FFmpeg reads it through PyAV."""

    def __init__(self, path: Path) -> None:
        self.file, self.consumed = open(path, "rb"), 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self.file.readinto(buffer)
        self.consumed += count
        return count

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()

    def close(self) -> None:
        self.file.close()
        super().close()


@pytest.fixture(scope="module")
def video_stops(tmp_path_factory) -> Path:
    """4 s of 64x48 H.264 and AAC, then 40 MB of the sound's packets alone (the pictures stop:
    a recorder that lost its camera, a radio programme after a clip)."""
    folder = tmp_path_factory.mktemp("stops")
    head = folder / "head.ts"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=25", "-f", "lavfi", "-i", "sine=sample_rate=48000",
           "-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", head)
    data = head.read_bytes()
    with av.open(str(head)) as container:
        video = container.streams.video[0].id
    sound = b"".join(data[at:at + TS_PACKET] for at in range(0, len(data), TS_PACKET)
                     if pid_of(data[at:at + 3]) != video)
    path = folder / "stops.ts"
    path.write_bytes(data + sound * (40_000_000 // len(sound)))
    return path


def test_a_probe_where_the_video_stopped_reads_a_bounded_number_of_bytes(video_stops):
    """A probe 2 MB into the sound alone read the 38 MB after it, looking for a picture."""
    with CountedFile(video_stops) as counted, av.open(counted) as container:
        landing = StreamLanding(container, container.streams.video[0], Fraction(0))
        counted.consumed = 0
        assert landing.probe(landing.size // 20) is None
        assert counted.consumed <= READ_AT_MOST, counted.consumed


def test_a_keyframe_is_looked_for_no_further_than_the_start(video_stops):
    """Looking for a keyframe after a position where the pictures stop before the start read on
    to the end of the file."""
    with CountedFile(video_stops) as counted, av.open(counted) as container:
        landing = StreamLanding(container, container.streams.video[0], Fraction(0))
        landing._before(Fraction(3600))  # (the probes it asks first)
        counted.consumed = 0
        assert landing._keyframe_after(landing.size // 20, Fraction(3600)) is None
        assert counted.consumed <= READ_AT_MOST, counted.consumed


# -- data packets at random times ---------------------------------------------------------------


def shifted_times(path: Path) -> dict[str, list[Fraction]]:
    """Each stream's (by type) decode times in file order, as `TimestampShift` moves them."""
    found: dict[str, list[Fraction]] = {}
    with av.open(str(path)) as container:
        shift = TimestampShift(container, path.name)
        for packet in container.demux():
            if packet.size:
                shift.apply(packet)
                found.setdefault(packet.stream.type, []).append(packet.dts * packet.time_base)
    return found


@pytest.fixture(scope="module")
def klv_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("wild") / "one.ts"
    ts_with_data(path)
    return path


@pytest.mark.parametrize("copies", [1, 3])
def test_klv_at_random_times_moves_no_sound_or_picture(klv_file, copies, tmp_path):
    """One file (its pictures went 7 hours before the sound) and three joined (the pictures 27 ms
    off the sound after each join; KLV 22 hours on): the sound and pictures move as in the same
    file without the KLV's times, the KLV stays among them."""
    joined = tmp_path / "joined.ts"
    joined.write_bytes(klv_file.read_bytes() * copies)
    with av.open(str(klv_file)) as container:
        klv = container.streams.data[0].id
    draw = random.Random(4)
    wild = tmp_path / "wild.ts"
    wild.write_bytes(restamped(joined.read_bytes(), klv, lambda n, dts: draw.randrange(1 << 33)))
    plain, moved = shifted_times(joined), shifted_times(wild)
    for kind in ("video", "audio"):
        assert moved[kind] == plain[kind], kind
    end = max(plain["video"] + plain["audio"])
    assert len(moved["data"]) == len(plain["data"])
    assert all(-1 < at < end + 1 for at in moved["data"]), (min(moved["data"]), max(moved["data"]))


# -- bytes that hold no packets -----------------------------------------------------------------


def test_a_stretch_of_zeros_is_skipped_as_ffmpeg_skips_it(tmp_path, capsys):
    """1 MB of zeros inside a TS (a sparse file's hole, a capture's lost signal; a 4 GB one read in
    20 s): FFmpeg's demuxer says EAGAIN for each 64 KB without a sync byte, which was taken for
    threads it could not start ("raise `ulimit -u`"); `ffmpeg -i` reads on, every frame kept."""
    from realtime_adain.video.frames import Frame
    from realtime_adain.video.reader import VideoReader

    clip = tmp_path / "clip.ts"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=25", "-f", "lavfi", "-i", "sine=sample_rate=48000",
           "-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", clip)
    data = clip.read_bytes()
    middle = len(data) // 2 // TS_PACKET * TS_PACKET
    holed = tmp_path / "holed.ts"
    holed.write_bytes(data[:middle] + bytes(1 << 20) + data[middle:])
    with VideoReader(holed) as reader:
        frames = [item for item in reader.items() if isinstance(item, Frame)]
    assert len(frames) == 100
    assert "bytes that hold no packets were skipped" in capsys.readouterr().err
