"""Cover art and data tracks from hostile files: a cover whose header claims a huge picture (a
decode bomb), hundreds of covers, a data packet or subtitle that lasts hours from before a
segment's start. Each output is read back, and `ffmpeg -v error -i OUT -map 0 -f null -` must say
nothing."""

from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from test_video_devices14 import SOUND, clip, ffmpeg
from video_samples import interrupted_video_run
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)
from test_video_tracks17 import MS, assert_reads_cleanly, data_packets, pictures, streams, telemetry_clip

from realtime_adain.video.streams import COVER_MAX_PIXELS


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bilevel_png(path: Path, side: int) -> None:
    """A valid black `side` x `side` 1-bit PNG: a few KB that FFmpeg decodes into side² pixels."""
    row = bytes(1 + (side + 7) // 8)
    squeeze = zlib.compressobj(9)
    pixels = b"".join(squeeze.compress(row) for _ in range(side)) + squeeze.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
                     + png_chunk(b"IDAT", pixels) + png_chunk(b"IEND", b""))


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
@pytest.mark.slow_cases('.mkv')  # (default run's time: 3 s)
def test_a_cover_claiming_more_pixels_than_covers_are_checked_at_is_left_out(run_cli, weights_env, style, tmp_path,
                                                                              suffix):
    """A decode bomb: a 2 MB PNG claiming 16000x16000 16-bit RGBA took 2 GB and 11 s to check
    (read again, decoded), and was copied for every player to decode. A cover over
    COVER_MAX_PIXELS (here a 9000x9000 bilevel one, a few KB) is left out with a note."""
    side = 9000
    assert side * side > COVER_MAX_PIXELS
    bilevel_png(tmp_path / "bomb.png", side)
    source = tmp_path / "bomb.mp4"
    ffmpeg(*clip(), *SOUND, "-i", tmp_path / "bomb.png", "-map", "0:v", "-map", "1:a", "-map", "2:v", "-c:v", "copy",
           "-c:v:0", "libx264", "-c:a", "aac", "-disposition:v:1", "attached_pic", source)
    out = tmp_path / f"out{suffix}"
    err = stylize(run_cli, source, style, out)
    assert (f"note: {source.name}: cover art #2 (png): {side}x{side}, more than the {COVER_MAX_PIXELS} pixels a cover is checked at; "
            "leaving it out") in err, err
    assert pictures(out) == [] and [s["codec_type"] for s in streams(out)] == ["video", "audio"]
    assert_reads_cleanly(out)


def covers_clip(folder: Path, count: int) -> Path:
    """1 s of video and sound in a .mkv with `count` JPEG covers attached (FFmpeg reads them as cover art)."""
    ffmpeg("-f", "lavfi", "-i", "color=red:size=40x30", "-frames:v", "1", folder / "cover.jpg")
    source = folder / f"covers{count}.mkv"
    attach = [arg for n in range(count) for arg in ("-attach", folder / "cover.jpg", f"-metadata:s:t:{n}",
                                                    "mimetype=image/jpeg", f"-metadata:s:t:{n}", f"filename=c{n}.jpg")]
    ffmpeg(*clip(), *SOUND, "-c:v", "libx264", "-c:a", "aac", *attach, source)
    return source


@pytest.mark.slow  # (5 s; cover art is kept by default in test_video_tracks17)
def test_many_covers_read_the_file_once(run_cli, weights_env, style, tmp_path, monkeypatch):
    """Each cover read the file again (FFmpeg probing every stream each time): 990 covers took a
    minute, 20 times one. The file is read again once, however many covers it has; all are kept."""
    opened: list[str] = []
    real_open = av.open

    def counted(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(av, "open", counted)
    reads = {}
    for count in (1, 12):
        source = covers_clip(tmp_path, count)
        out = tmp_path / f"out{count}.mkv"
        stylize(run_cli, source, style, out)
        assert pictures(out) == [(tmp_path / "cover.jpg").read_bytes()] * count
        assert_reads_cleanly(out)
        reads[count] = opened.count(str(source))
    assert reads[12] == reads[1], reads


@pytest.mark.slow  # (default run's time: 2 s)
def test_covers_a_container_cannot_hold_are_named_in_one_note(run_cli, weights_env, style, tmp_path):
    """A file of 990 covers gave 990 lines "dropping cover art #N" for a .gif (300 telemetry
    tracks for a .mkv, 300): one line names them all."""
    err = stylize(run_cli, covers_clip(tmp_path, 8), style, tmp_path / "out.gif")
    said = [line for line in err.splitlines() if "cover art" in line]
    assert said == ["note: covers8.mkv: dropping cover art #2 (mjpeg): .gif cannot hold it (use .mp4 or .mkv to keep it) "
                    "(also #3, #4, #5, #6, #7, ...: 8 streams)"], err


def data_clip(path: Path, packets: list[tuple[int, int, bytes]], seconds: int = 3, first: int = 0,
              fmt: str | None = None, codec: str = "bin_data", tag: str | None = "gpmd", noise: bool = False) -> None:
    """96x64 H.264 at 30 fps from picture `first` on, for `seconds`, and a data track (GoPro's, as
    GoPro tags it, by default) of `packets` (start ms, length ms, bytes), each muxed before the
    first picture shown after it starts. `noise`: pictures of noise (an output that fills a file)."""
    rng = np.random.default_rng(17)
    with av.open(str(path), "w", format=fmt) as out:
        video = out.add_stream("libx264", rate=30, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 96, 64, "yuv420p"
        data = out.add_data_stream(codec)
        if tag:
            data.codec_tag = tag
        waiting = list(packets)

        def mux_data(until_ms: float) -> None:
            while waiting and waiting[0][0] <= until_ms:
                start, length, payload = waiting.pop(0)
                packet = av.Packet(payload)
                packet.pts = packet.dts = start
                packet.duration, packet.time_base, packet.stream = length, MS, data
                out.mux(packet)

        for i in range(first, first + 30 * seconds):
            mux_data(i * 1000 / 30)
            picture = (rng.integers(0, 256, (64, 96, 3), np.uint8) if noise
                       else np.full((64, 96, 3), i * 3 % 256, np.uint8))
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 30)
            for packet in video.encode(frame):
                out.mux(packet)
        mux_data(float("inf"))
        for packet in video.encode(None):
            out.mux(packet)


def duration(path: Path) -> float:
    with av.open(str(path)) as container:
        return container.duration / av.time_base


@pytest.mark.parametrize("kind", ["data", "subtitle"])
@pytest.mark.slow_cases('data')  # (default run's time: 2 s)
def test_a_packet_from_before_the_start_is_cut_at_the_segments_end(run_cli, weights_env, style, tmp_path, kind):
    """A telemetry packet (or subtitle) that starts before --start and lasts hours was kept whole:
    a 1 s segment lasted 3 hours (the subtitle's: 98.5 s). Shown from the segment's start, it is
    cut at its end, as one starting within the segment is."""
    if kind == "data":
        source = tmp_path / "GX010003.MP4"
        data_clip(source, [(0, 1000, b"DEVC0"), (1000, 3 * 3600 * 1000, b"DEVC-hours")])
    else:
        (tmp_path / "long.srt").write_text("1\n00:00:01,000 --> 00:01:40,000\na long line\n")
        source = tmp_path / "long.mkv"
        ffmpeg(*clip(seconds=3), "-i", tmp_path / "long.srt", "-c:v", "libx264", "-c:s", "srt", source)
    out = tmp_path / ("out.mp4" if kind == "data" else "out.mkv")
    stylize(run_cli, source, style, out, "--start", "1.5", "--duration", "1")
    assert duration(out) == pytest.approx(1, abs=0.05)
    if kind == "data":  # (FFmpeg 5's null muxer takes no subtitles: `-map 0` fails on any)
        assert data_packets(out) == [(0, 1, b"DEVC-hours")]
        assert_reads_cleanly(out)


@pytest.mark.slow  # (default run's time: 2 s)
def test_klv_outside_a_segment_is_named_as_an_empty_stream_in_ts(run_cli, weights_env, style, tmp_path):
    """KLV that stops before `--start` leaves nothing to carry: the note said ".ts gets no track
    for it", yet MPEG-TS lists every stream in its program table (ffprobe shows an empty KLV one)."""
    source = tmp_path / "uav.ts"
    telemetry_clip(source, data_seconds=1, fmt="mpegts", codec="klv", tag=None)
    out = tmp_path / "out.ts"
    err = stylize(run_cli, source, style, out, "--start", "2")
    assert f"note: {source.name}: data stream #2: none of its packets fall within the output; .ts gets an empty stream" in err, err
    assert [s["codec_type"] for s in streams(out)] == ["video", "audio", "data"]
    assert_reads_cleanly(out)


@pytest.mark.parametrize("suffix", [".mp4", ".ts"])
@pytest.mark.slow_cases('.mp4', '.ts')  # (default run's time: .mp4 stays)
def test_data_over_before_the_first_picture_is_left_out(run_cli, weights_env, style, tmp_path, suffix):
    """Telemetry recorded before the first picture (the pictures from 2 s, packets each second
    from 0) was squeezed in at zero a tick apart ("packet timestamps that do not increase; moving
    them on"); what ends by the first picture is left out (KLV in MPEG-TS has no duration: what
    starts before it), the rest shown from it."""
    source = tmp_path / f"late_pictures{suffix}"
    ts = suffix == ".ts"
    data_clip(source, [(n * 1000, 1000, b"DATA%d" % n) for n in range(4)], seconds=2, first=60,
              fmt="mpegts" if ts else None, codec="klv" if ts else "bin_data", tag=None if ts else "gpmd")
    out = tmp_path / f"out{suffix}"
    err = stylize(run_cli, source, style, out)
    assert "do not increase" not in err, err
    assert [payload for _, _, payload in data_packets(out)] == [b"DATA2", b"DATA3"]
    if not ts:
        assert data_packets(out) == [(0, 1, b"DATA2"), (1, 1, b"DATA3")]
    assert_reads_cleanly(out)


@pytest.mark.slow  # about 15 s: frames enough to reach the file before the interrupt
def test_an_interrupted_runs_telemetry_ends_with_its_last_picture(weights_env, style, tmp_path):
    """Ctrl-C: the partial MP4's telemetry ran past its last picture (by up to a second, a GoPro's
    packet; a packet of hours would have made it last hours). Its last packet is cut there, and
    FFmpeg reads the file without a word. (Before the cut, the interrupt could land on a second's
    end: one run in 30 would pass.)"""
    source = tmp_path / "GX010004.MP4"
    data_clip(source, [(n * 1000, 1000, b"DEVC%d" % n) for n in range(30)], seconds=30, noise=True)
    code, err = interrupted_video_run(source, style, tmp_path / "out.mp4")
    partial = tmp_path / "out.partial.mp4"
    assert code == 130 and partial.is_file(), err
    with av.open(str(partial)) as container:
        video = container.streams.video[0]
        pictures_end = max(p.pts + p.duration for p in container.demux(video) if p.size) * video.time_base
    packets = data_packets(partial)
    assert packets and packets[-1][0] + packets[-1][1] <= pictures_end + MS, (packets[-1], pictures_end)
    assert duration(partial) <= pictures_end + 0.05
    assert_reads_cleanly(partial)
