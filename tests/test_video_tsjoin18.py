"""MPEG-TS files joined byte for byte (`cat a.ts a.ts`) with data tracks beside the sound, and data
tracks of very many packets (a GoPro's telemetry: packets of a few bytes, in their hundreds of
thousands, crossed the pipeline's threads one queue hop each, and as many waited for a frame).

A muxer interleaves by its own clock, so in a join the second file's sound (and its KLV) comes
before the first file's last pictures: the splice, found on the sound, moved those pictures 2 s
ahead, and the second file's first pictures then read as another splice (a hole, as long as one
file, in the middle of the output). Every stream must move by the same amount across the splice:
the second copy's packets are the first copy's, later by one constant (a file's length)."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from realtime_adain.temporal.two_pass import TwoPassStabilizer
from realtime_adain.video.pipeline import HELD_PACKETS, RUN_PACKETS, Pipeline
from realtime_adain.video.held_packets import PACKET_BYTES, HeldPackets
from realtime_adain.video.frames import Frame
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)
from test_video_tracks17 import assert_reads_cleanly, streams
from video_corpus import flush, mux_silence, FFMPEG

MS = Fraction(1, 1000)
RATE = 12  # pictures a second
SECONDS = 2  # each file's
DATA_EVERY_MS = 250


def dvb_page(n: int) -> bytes:
    """A DVB subtitle display set that shows nothing: a page composition (page 1, version `n`)
    and its end."""
    return bytes([0x0F, 0x10, 0, 1, 0, 2, 1, (n % 16) << 4 | 2 << 2, 0x0F, 0x80, 0, 1, 0, 0])


def ts_with_data(path: Path, codec: str = "klv", seconds: int = SECONDS) -> None:
    """96x64 H.264 at `RATE` fps, AAC, and a data track (`codec`: klv, timed_id3; or dvbsub, a
    subtitle track) of a packet every `DATA_EVERY_MS`, each of other bytes, in MPEG-TS: as a
    drone's or a broadcast's recording."""
    with av.open(str(path), "w", format="mpegts") as out:
        video = out.add_stream("libx264", rate=RATE, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 96, 64, "yuv420p"
        sound = out.add_stream("aac", rate=48000, layout="mono")
        data = out.add_stream(codec) if codec == "dvbsub" else out.add_data_stream(codec)
        for i in range(RATE * seconds):
            frame = av.VideoFrame.from_ndarray(np.full((64, 96, 3), i * 9 % 256, np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, RATE)
            for packet in video.encode(frame):
                out.mux(packet)
        for n in range(seconds * 1000 // DATA_EVERY_MS):
            packet = av.Packet(dvb_page(n) if codec == "dvbsub" else b"KLV%03d" % n + bytes(20 + n))
            packet.pts = packet.dts = n * DATA_EVERY_MS
            packet.duration = DATA_EVERY_MS if codec == "dvbsub" else 0
            packet.time_base, packet.stream = MS, data
            out.mux(packet)
        for i in range(48 * seconds):
            mux_silence(out, sound, i, 1000)
        flush(out, sound, video)


def joined(folder: Path, codec: str = "klv", copies: int = 2) -> Path:
    one = folder / f"one_{codec}.ts"
    ts_with_data(one, codec)
    path = folder / f"joined_{codec}.ts"
    path.write_bytes(one.read_bytes() * copies)
    return path


def times(path: Path) -> dict[str, list[tuple[Fraction, bytes]]]:
    """Each stream's packets (by type) as (pts s, bytes), in presentation order."""
    found: dict[str, list[tuple[Fraction, bytes]]] = {}
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.size and packet.pts is not None:
                found.setdefault(packet.stream.type, []).append((packet.pts * packet.time_base, bytes(packet)))
    return {kind: sorted(packets) for kind, packets in found.items()}


def assert_copies_follow(path: Path, copies: int = 2, kinds: tuple[str, ...] = ("video", "audio", "data")) -> Fraction:
    """Every stream of `path` holds `copies` equal runs of packets, each later than the one before
    by one amount, the same for every stream (to a millisecond: time bases round); returns it."""
    found = times(path)
    assert sorted(found) == sorted(kinds), found.keys()
    steps = []
    for kind in kinds:
        packets = found[kind]
        assert len(packets) % copies == 0, (kind, len(packets))
        n = len(packets) // copies
        for copy in range(1, copies):
            moved = [packets[copy * n + i][0] - packets[(copy - 1) * n + i][0] for i in range(n)]
            assert max(moved) - min(moved) <= MS, (kind, copy, min(moved), max(moved))
            if kind != "video":  # (pictures are re-encoded: the bytes differ)
                assert [p[1] for p in packets[copy * n:(copy + 1) * n]] == [p[1] for p in packets[:n]], kind
            steps.append((kind, moved[0]))
    assert max(s for _, s in steps) - min(s for _, s in steps) <= 2 * MS, steps
    return steps[0][1]


@pytest.fixture(scope="module")
def klv_join(tmp_path_factory) -> Path:
    return joined(tmp_path_factory.mktemp("tsjoin"))


@pytest.mark.slow  # (the default run time, as the three below)
def test_joined_ts_with_klv_moves_every_stream_alike(run_cli, weights_env, style, tmp_path, klv_join):
    """`cat a.ts a.ts` with KLV: the output lasted one file and a half more than the join (the
    second file's pictures 2 s after its sound), and `ffmpeg -i out.ts` read a hole in the middle."""
    out = tmp_path / "out.ts"
    err = stylize(run_cli, klv_join, style, out)
    assert "the timestamps jump (segments joined together)" in err, err
    step = assert_copies_follow(out)
    assert step == pytest.approx(SECONDS, abs=0.05)
    assert_reads_cleanly(out)


@pytest.mark.slow
def test_joined_ts_with_klv_into_mp4_keeps_its_length(run_cli, weights_env, style, tmp_path, klv_join):
    out = tmp_path / "out.mp4"
    stylize(run_cli, klv_join, style, out)
    assert assert_copies_follow(out, kinds=("video", "audio")) == pytest.approx(SECONDS, abs=0.05)
    with av.open(str(out)) as container:
        assert container.duration / av.time_base == pytest.approx(2 * SECONDS, abs=0.1)
    assert_reads_cleanly(out)


@pytest.mark.slow  # (default run's time: 2 s)
def test_joined_ts_with_timed_id3(run_cli, weights_env, style, tmp_path):
    """Timed ID3 (HLS's metadata track) in the join, as KLV."""
    out = tmp_path / "out.ts"
    stylize(run_cli, joined(tmp_path, "timed_id3"), style, out)
    assert [s["codec_name"] for s in streams(out) if s["codec_type"] == "data"] == ["timed_id3"]
    assert assert_copies_follow(out) == pytest.approx(SECONDS, abs=0.05)
    assert_reads_cleanly(out)


@pytest.mark.slow  # (default run's time: 2 s)
def test_joined_ts_with_dvb_subtitles(run_cli, weights_env, style, tmp_path):
    """DVB subtitles (a broadcast's) in the join, as KLV: each moves with the pictures."""
    out = tmp_path / "out.ts"
    stylize(run_cli, joined(tmp_path, "dvbsub"), style, out)
    assert assert_copies_follow(out, kinds=("video", "audio", "subtitle")) == pytest.approx(SECONDS, abs=0.05)


@pytest.mark.slow  # (default run's time: the other joined files stay)
def test_three_copies_joined(run_cli, weights_env, style, tmp_path):
    out = tmp_path / "out.ts"
    stylize(run_cli, joined(tmp_path, copies=3), style, out)
    assert assert_copies_follow(out, copies=3) == pytest.approx(SECONDS, abs=0.05)


def parts_moved(parts: list[Path], out: Path, kinds: tuple[str, ...]) -> list[list[Fraction]]:
    """How far each of the files `parts` (joined, then stylized into `out`) moved there: the
    packets of each stream (of `kinds`) from each part, in order, each moved by one amount (to a
    millisecond); returns, per stream, that amount per part. (Each part read alone tells its own
    times: at a 33-bit wrap, joined, they read 26 hours apart.)"""
    written = times(out)
    moved = []
    for kind in kinds:
        amounts, done = [], 0
        for part in parts:
            read = [t for t, _ in times(part).get(kind, [])]
            steps = [after - before for (after, _), before in zip(written[kind][done:done + len(read)], read)]
            assert len(steps) == len(read) and max(steps) - min(steps) <= MS, (kind, part.name, min(steps), max(steps))
            amounts.append(steps[0])
            done += len(read)
        assert done == len(written[kind]), (kind, done, len(written[kind]))
        moved.append(amounts)
    return moved


def assert_moved_alike(parts: list[Path], out: Path, kinds: tuple[str, ...] = ("video", "audio", "data")) -> None:
    """Every stream of each part moved by one amount, the same for every stream (time bases
    round: 2 ms)."""
    moved = parts_moved(parts, out, kinds)
    for part in range(len(parts)):
        amounts = [stream[part] for stream in moved]
        assert max(amounts) - min(amounts) <= 2 * MS, (part, amounts)


@pytest.mark.slow  # (default run's time: 2 s)
def test_a_second_file_without_sound(run_cli, weights_env, style, tmp_path):
    """The second file has pictures and KLV only (same PIDs): its KLV comes before its pictures,
    so no sound or picture had told of the splice yet, and its first packet took the first file's
    timeline (0.6 s before the second file's pictures; FFmpeg 5's `-c copy` refuses the file: "non
    monotonically increasing dts"). Both streams of the second file move by one amount."""
    first, second = tmp_path / "a.ts", tmp_path / "b.ts"
    ts_with_data(first)
    subprocess.run([FFMPEG, "-v", "error", "-i", first, "-map", "0:v", "-map", "0:d", "-c", "copy",
                    "-streamid", "0:256", "-streamid", "1:258", second], check=True)
    source = tmp_path / "joined.ts"
    source.write_bytes(first.read_bytes() + second.read_bytes())
    out = tmp_path / "out.ts"
    stylize(run_cli, source, style, out)
    assert_moved_alike([first, second], out, ("video", "data"))
    assert_reads_cleanly(out)


@pytest.mark.slow
def test_joined_to_a_file_whose_clock_wraps(run_cli, weights_env, style, tmp_path):
    """The second file's clock starts 1.3 s before the 33-bit wrap (26.5 hours) and wraps inside
    it; joined after a file that starts at zero, its first packet is KLV: a data stream's jump
    was no splice, and that packet went 26 hours on (the output lasted 26 hours)."""
    first, second = tmp_path / "a.ts", tmp_path / "wraps.ts"
    ts_with_data(first)
    subprocess.run([FFMPEG, "-v", "error", "-i", first, "-map", "0", "-c", "copy", "-output_ts_offset", "95441",
                    second], check=True)
    source = tmp_path / "joined.ts"
    source.write_bytes(first.read_bytes() + second.read_bytes())
    out = tmp_path / "out.ts"
    stylize(run_cli, source, style, out)
    assert_moved_alike([first, second], out)
    with av.open(str(out)) as container:
        assert container.duration / av.time_base == pytest.approx(2 * SECONDS, abs=0.2)
    assert_reads_cleanly(out)


def test_a_start_inside_the_second_file(run_cli, weights_env, style, tmp_path, klv_join):
    """--start 2.5 is the second file's 0.5 s: the pictures, sound and KLV from there."""
    out = tmp_path / "out.ts"
    stylize(run_cli, klv_join, style, out, "--start", str(SECONDS + 0.5))
    found = times(out)
    assert len(found["video"]) == RATE * (SECONDS - 0.5) + 1  # (and the one shown at 2.5 s, for what is left of it)
    first = found["video"][0][0]
    data = [(t - first, payload[:6]) for t, payload in found["data"]]
    assert [p for _, p in data] == [b"KLV%03d" % n for n in range(2, 8)], data
    assert data[0][0] < Fraction(1, RATE), data
    assert found["audio"][-1][0] - first == pytest.approx(SECONDS - 0.5, abs=0.05)
    assert_reads_cleanly(out)


# -- very many data packets -------------------------------------------------------------------


def lagging_stream(batches):
    """As the GPU engine's double buffering: result k comes out after batch k+1 went in."""
    held = None
    for batch in batches:
        if held is not None:
            yield held
        held = batch
    if held is not None:
        yield held


def most_in_flight(pipeline: Pipeline, held_by_stages: int) -> int:
    """The most packets a run may hold at once by design: `held_by_stages` stages holding up to
    `HELD_PACKETS` (and the run that takes them past it), every queue full of runs, and a run in
    the hands of each thread. The queues are sized by the pipeline's frame budget, which a
    two-pass stabiliser's window makes larger."""
    queues = {id(q): q.maxsize for q in (pipeline.decoded, pipeline.stylized, pipeline.to_encode)}
    return held_by_stages * (HELD_PACKETS + RUN_PACKETS) + (sum(queues.values()) + 4) * RUN_PACKETS


def test_packets_between_frames_cross_the_queues_in_runs():
    """20000 packets between two frames were 20000 queue items, each a hop between threads (most
    of a run over a GoPro's telemetry); they go in runs, and leave in the order they came."""
    items = [Frame(np.zeros((4, 4, 3), np.uint8), 0, 1, 0), *range(20000), Frame(np.ones((4, 4, 3), np.uint8), 1, 1, 1)]
    written: list[object] = []
    pipeline = Pipeline(iter(items), stylize_stream=lagging_stream, write_frame=lambda f: written.append("frame"),
                        write_packet=written.append)
    put, puts = pipeline.decoded.put, [0]

    def counted(item, *args, **kwargs):
        puts[0] += 1
        return put(item, *args, **kwargs)

    pipeline.decoded.put = counted
    pipeline.run()
    assert written == ["frame", *range(20000), "frame"]
    assert puts[0] <= 20000 // RUN_PACKETS + 4, puts[0]


def test_packets_waiting_for_a_frame_are_bounded():
    """300000 packets before the next frame were all held for it (a file can claim any number):
    at most `HELD_PACKETS` wait, the rest go ahead of it (the muxer interleaves them by time);
    each is written once, in the order it came."""
    count, made, written = 300_000, [0], []
    waiting: list[int] = []

    def items():
        yield Frame(np.zeros((4, 4, 3), np.uint8), 0, 1, 0)
        for n in range(count):
            made[0] += 1
            if n % 1000 == 0:
                waiting.append(made[0] - len(written))
            yield n
        yield Frame(np.ones((4, 4, 3), np.uint8), 1, 1, 1)

    pipeline = Pipeline(items(), stylize_stream=lagging_stream, write_frame=lambda f: written.append("frame"),
                        write_packet=written.append)
    pipeline.run()
    assert [w for w in written if w != "frame"] == list(range(count)) and written.count("frame") == 2
    assert max(waiting) <= most_in_flight(pipeline, held_by_stages=1) < count // 2, max(waiting)


def test_packets_held_with_two_passes_are_bounded():
    """With two passes the stabilize thread holds frames until their window is final, and the
    packets between them: 800000 of them (200000 a frame) were all held too."""
    count, made, written, waiting = 800_000, [0], [], []

    def items():
        for index in range(4):
            yield Frame(np.full((48, 64, 3), index * 40, np.uint8), index, 1, index)
            for n in range(count // 4):
                made[0] += 1
                if n % 1000 == 0:
                    waiting.append(made[0] - len(written))
                yield (index, n)

    stabilizer = TwoPassStabilizer(0.5, flow_width=80)
    stabilizer.hold_at_most(12)
    pipeline = Pipeline(items(), stylize_stream=lagging_stream, write_frame=lambda f: written.append("frame"),
                        write_packet=written.append, stabilizer=stabilizer)
    pipeline.run()
    assert [w for w in written if w != "frame"] == [(i, n) for i in range(4) for n in range(count // 4)]
    assert written.count("frame") == 4
    assert max(waiting) <= most_in_flight(pipeline, held_by_stages=2) < count // 2, max(waiting)


def gopro_clip(path: Path, packets_per_frame: int, frames: int = 30) -> None:
    """96x64 H.264 at 30 fps, AAC, and `packets_per_frame` GoPro telemetry packets of a few bytes
    before each picture (`gpmd` at 100 kHz: an IMU's samples, each its own packet)."""
    tb, step = Fraction(1, 100_000), 100_000 // (30 * packets_per_frame)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=30, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 96, 64, "yuv420p"
        sound = out.add_stream("aac", rate=48000, layout="mono")
        data = out.add_data_stream("bin_data")
        data.codec_tag = "gpmd"
        n = 0
        for i in range(frames):
            for _ in range(packets_per_frame):
                packet = av.Packet(b"GP%d" % n)
                packet.pts = packet.dts = n * step
                packet.duration, packet.time_base, packet.stream = step, tb, data
                out.mux(packet)
                n += 1
            frame = av.VideoFrame.from_ndarray(np.full((64, 96, 3), i * 8 % 256, np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 30)
            for packet in video.encode(frame):
                out.mux(packet)
            mux_silence(out, sound, i, 1600)
        flush(out, sound, video)


@pytest.mark.slow
def test_many_tiny_telemetry_packets_are_copied_whole(run_cli, weights_env, style, tmp_path):
    """30000 packets of a few bytes (1000 a picture): each copied once, at its time, in order."""
    source = tmp_path / "GX010005.MP4"
    gopro_clip(source, 1000)
    out = tmp_path / "out.mp4"
    stylize(run_cli, source, style, out)
    sent, got = times(source), times(out)
    assert got["data"] == sent["data"]
    assert len(got["audio"]) == len(sent["audio"]) and len(got["video"]) == 30
    assert_reads_cleanly(out)


def test_held_packets_count_what_a_packet_costs(tmp_path):
    """`HeldPackets` counted the bytes a packet carries against its limit (32 MB): a million
    5-byte packets of telemetry fitted, held as 1 GB of packet objects. Each counts as at least
    `PACKET_BYTES`; and a frame lets go of them in the order read."""
    source = tmp_path / "GX010006.MP4"
    gopro_clip(source, 100)
    held, added, gone, order = HeldPackets(Fraction(1, 30), limit=100 * PACKET_BYTES), 0, [], []
    with av.open(str(source)) as container:
        for packet in container.demux(container.streams.data[0]):
            if packet.size:
                order.append(bytes(packet))
                added += 1
                gone += [bytes(p) for p in held.add(packet)]
                assert added - len(gone) <= 100
    gone += [bytes(p) for p in held.before(None, 0)]
    assert gone == order
