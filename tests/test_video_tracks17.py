"""Cover art and data tracks carried into the output where its container holds them, as `ffmpeg
-map 0 -c copy` carries them: a GoPro's telemetry (`gpmd`) into MP4 and MOV, KLV into MPEG-TS,
cover art into MP4 (its cover) and Matroska (an attached picture), byte for byte; shifted and cut
with the pictures for --start/--duration and --frames; named in a note where the container holds
none (they were left out everywhere, with a note). Each output is read back with ffprobe and
PyAV, and `ffmpeg -v error -i OUT -f null -` must say nothing."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from test_video_devices14 import SOUND, clip, ffmpeg
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)
from video_corpus import FFMPEG, FFPROBE, flush, mux_silence

MS = Fraction(1, 1000)


def telemetry_clip(path: Path, seconds: int = 3, data_seconds: int | None = None, fmt: str | None = None,
                   codec: str = "bin_data", tag: str | None = "gpmd") -> list[tuple[Fraction, Fraction, bytes]]:
    """An action camera's look-alike: 96x64 H.264 at 30 fps, AAC, and a data track of one packet a
    second (its first `data_seconds`), each of other bytes and length, tagged as GoPro tags its
    telemetry (the FFmpeg CLI writes none from nothing: made with PyAV). Returns the data packets
    as (start s, duration s, bytes)."""
    sent = []
    with av.open(str(path), "w", format=fmt) as out:
        video = out.add_stream("libx264", rate=30, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 96, 64, "yuv420p"
        sound = out.add_stream("aac", rate=48000, layout="stereo")
        data = out.add_data_stream(codec)
        if tag:
            data.codec_tag = tag
        data.metadata["handler_name"] = "GoPro MET"
        for i in range(30 * seconds):
            frame = av.VideoFrame.from_ndarray(np.full((64, 96, 3), i * 3 % 256, np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 30)
            for packet in video.encode(frame):
                out.mux(packet)
            if i % 30 == 0 and i < 30 * (seconds if data_seconds is None else data_seconds):
                n = len(sent)
                payload = b"DEVC" + bytes((n * 7 + k) % 256 for k in range(100 + 13 * n))
                packet = av.Packet(payload)
                packet.pts = packet.dts = i * 1000 // 30
                packet.duration, packet.time_base, packet.stream = 1000, MS, data
                out.mux(packet)
                sent.append((Fraction(i, 30), Fraction(1), payload))
        for i in range(48 * seconds):
            mux_silence(out, sound, i, 1000, "stereo")
        flush(out, sound, video)
    return sent


def data_packets(path: Path) -> list[tuple[Fraction, Fraction, bytes]]:
    """(start s, duration s, bytes) of each packet of the file's data track, as PyAV reads them."""
    with av.open(str(path)) as container:
        stream = container.streams.data[0]
        return [(p.pts * p.time_base, p.duration * p.time_base, bytes(p)) for p in container.demux(stream) if p.size]


def streams(path: Path) -> list[dict]:
    out = subprocess.run([FFPROBE, "-v", "error", "-show_entries", "stream=index,codec_type,codec_name,"
                          "codec_tag_string:stream_disposition=attached_pic:stream_tags=handler_name,filename,mimetype",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)["streams"]


def pictures(path: Path) -> list[bytes]:
    """The bytes of each cover art (attached picture) of the file, in stream order."""
    with av.open(str(path)) as container:
        covers = [s for s in container.streams.video if s.disposition & av.stream.Disposition.attached_pic]
        found = {s.index: b"" for s in covers}
        for packet in container.demux(covers) if covers else []:
            if packet.size and not found[packet.stream.index]:
                found[packet.stream.index] = bytes(packet)
        return list(found.values())


def assert_reads_cleanly(path: Path) -> None:
    """FFmpeg reads every stream of the file without a word (`-map 0`: cover art and data too)."""
    for args in ((), ("-map", "0")):
        result = subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-i", str(path), *args, "-f", "null", "-"],
                                capture_output=True, text=True)
        assert result.returncode == 0 and not result.stderr.strip(), result.stderr


@pytest.fixture(scope="module")
def gopro(tmp_path_factory) -> tuple[Path, list]:
    path = tmp_path_factory.mktemp("tracks") / "GX010001.MP4"
    return path, telemetry_clip(path)


@pytest.fixture(scope="module")
def covers(tmp_path_factory) -> dict[str, Path]:
    """Cover pictures (JPEG, PNG, BMP, and a JPEG cut short) beside 1 s of video and sound: MP4s
    as a music-video download has them (`-disposition attached_pic`), a .mkv as an attachment
    (which FFmpeg reads as cover art), an MP4 with MP3 sound, one with two covers."""
    folder = tmp_path_factory.mktemp("covers")
    for name, colour, size in (("cover.jpg", "red", "100x80"), ("cover.png", "blue", "90x70"),
                               ("cover.bmp", "green", "60x40")):
        ffmpeg("-f", "lavfi", "-i", f"color={colour}:size={size}", "-frames:v", "1", folder / name)

    def made(name: str, *pictures: str, sound: str = "aac") -> Path:
        inputs = [arg for picture in pictures for arg in ("-i", folder / picture)]
        maps = [arg for n in range(len(pictures)) for arg in ("-map", f"{n + 2}:v")]
        marks = [arg for n in range(len(pictures)) for arg in (f"-disposition:v:{n + 1}", "attached_pic")]
        ffmpeg(*clip(), *SOUND, *inputs, "-map", "0:v", "-map", "1:a", *maps, "-c:v", "copy", "-c:v:0", "libx264",
               "-c:a", sound, *marks, folder / name)
        return folder / name

    files = {"jpg": made("jpg.mp4", "cover.jpg"), "png": made("png.mp4", "cover.png"),
             "bmp": made("bmp.mp4", "cover.bmp"), "two": made("two.mp4", "cover.jpg", "cover.png"),
             "mp3": made("music.mp4", "cover.jpg", sound="libmp3lame"), "cut": made("cut.mp4", "cover.jpg")}
    # a damaged picture: the second half of the JPEG's bytes zeroed where the MP4 stores them
    jpeg, whole = (folder / "cover.jpg").read_bytes(), files["cut"].read_bytes()
    at, half = whole.index(jpeg), len(jpeg) // 2
    damaged = jpeg[:half] + bytes(len(jpeg) - half)
    files["cut"].write_bytes(whole[:at] + damaged + whole[at + len(jpeg):])
    files["mkv"] = folder / "attached.mkv"
    ffmpeg(*clip(), *SOUND, "-c:v", "libx264", "-c:a", "aac", "-attach", folder / "cover.jpg", "-metadata:s:t",
           "mimetype=image/jpeg", "-metadata:s:t", "filename=cover.jpg", files["mkv"])
    return {**files, **{f"{kind} bytes": (folder / f"cover.{kind}").read_bytes() for kind in ("jpg", "png", "bmp")},
            "cut bytes": damaged}


@pytest.mark.slow_cases('.mp4', ".mov")  # (the default run time: .mp4 keeps the same path)
@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_gopro_telemetry_is_kept_byte_for_byte_in_mp4_and_mov(run_cli, weights_env, style, tmp_path, gopro, suffix):
    """The telemetry track (GPS, gyro) was left out with a note; `ffmpeg -map 0 -c copy` keeps it:
    every packet's bytes and times as the input's, tagged `gpmd` under its track's name."""
    source, sent = gopro
    out = tmp_path / f"out{suffix}"
    err = stylize(run_cli, source, style, out)
    assert "leaving out" not in err and "dropping" not in err, err
    data = [s for s in streams(out) if s["codec_type"] == "data"]
    assert [(s["codec_tag_string"], s["tags"]["handler_name"]) for s in data] == [("gpmd", "GoPro MET")], data
    assert data_packets(out) == sent
    assert_reads_cleanly(out)


@pytest.mark.parametrize("suffix", [".mkv", pytest.param(".avi", marks=pytest.mark.slow),
                                    pytest.param(".webm", marks=pytest.mark.slow)])  # (the default run: one)
@pytest.mark.slow_cases('.mkv')  # (default run's time: the other containers stay)
def test_gopro_telemetry_is_named_where_the_container_cannot_hold_it(run_cli, weights_env, style, tmp_path, gopro,
                                                                     suffix):
    """FFmpeg's Matroska muxer refuses data tracks and its AVI muxer writes one of no kind: the
    telemetry is left out of those, with a note that says where it is kept."""
    out = tmp_path / f"out{suffix}"
    err = stylize(run_cli, gopro[0], style, out)
    assert f"note: {gopro[0].name}: dropping data stream #2 (GoPro MET): {suffix} cannot hold it (use .mp4 or .mov to keep it)" in err
    assert [s["codec_type"] for s in streams(out)] == ["video", "audio"]
    assert_reads_cleanly(out)


@pytest.mark.parametrize("extra, expected", [
    # 1.5 s to 2.5 s: the packet of 1 s to 2 s from zero for what is left of it, the next cut at the end
    (("--start", "1.5", "--duration", "1"), [(0, Fraction(1, 2), 1), (Fraction(1, 2), Fraction(1, 2), 2)]),
    # the first 40 frames (1.333 s): the second packet cut at the last picture's end
    (("--frames", "40"), [(0, 1, 0), (1, Fraction(1, 3), 1)]),
])
@pytest.mark.slow_cases('extra1-expected1')  # (default run's time: 2 s)
def test_telemetry_is_shifted_and_cut_with_the_pictures(run_cli, weights_env, style, tmp_path, gopro, extra,
                                                        expected):
    """A segment or a preview keeps the telemetry of its pictures, moved as they are moved, as
    subtitles are: no packet runs past the last picture (the MP4 would last longer)."""
    source, sent = gopro
    out = tmp_path / "out.mp4"
    stylize(run_cli, source, style, out, *extra)
    assert data_packets(out) == [(start, length, sent[n][2]) for start, length, n in expected]
    assert_reads_cleanly(out)


@pytest.mark.slow  # (default run's time: 2 s)
def test_a_start_past_the_telemetrys_end_is_a_note(run_cli, weights_env, style, tmp_path):
    """Telemetry that stops before the segment starts leaves nothing to carry: one note, no empty
    track, no traceback."""
    source = tmp_path / "GX010002.MP4"
    telemetry_clip(source, data_seconds=1)
    out = tmp_path / "out.mp4"
    err = stylize(run_cli, source, style, out, "--start", "2")
    assert f"note: {source.name}: data stream #2: none of its packets fall within the output; .mp4 gets no track for it" in err, err
    assert [s["codec_type"] for s in streams(out)] == ["video", "audio"]
    assert_reads_cleanly(out)


@pytest.fixture(scope="module")
def klv(tmp_path_factory) -> tuple[Path, list]:
    """A drone's or broadcast's KLV metadata beside the pictures in MPEG-TS."""
    path = tmp_path_factory.mktemp("klv") / "uav.ts"
    return path, telemetry_clip(path, fmt="mpegts", codec="klv", tag=None)


@pytest.mark.slow  # (6-13 s; other data tracks are kept by default (test_video_devices14))
def test_klv_in_mpeg_ts_is_kept_in_ts(run_cli, weights_env, style, tmp_path, klv):
    """KLV is kept in a .ts as KLV (a stream type of its own), byte for byte."""
    source, sent = klv
    out = tmp_path / "out.ts"
    err = stylize(run_cli, source, style, out)
    assert "dropping" not in err and "leaving out" not in err, err
    assert [s["codec_name"] for s in streams(out) if s["codec_type"] == "data"] == ["klv"]
    assert [payload for _, _, payload in data_packets(out)] == [payload for _, _, payload in sent]
    assert_reads_cleanly(out)


@pytest.mark.slow  # (the default run time: the GoPro case says the same in .mkv)
def test_klv_is_named_where_the_container_cannot_hold_it(run_cli, weights_env, style, tmp_path, klv):
    err = stylize(run_cli, klv[0], style, tmp_path / "out.mp4")
    assert f"note: {klv[0].name}: dropping data stream #2 (klv): .mp4 cannot hold it (use .ts to keep it)" in err, err


@pytest.mark.parametrize("kind, suffix", [("jpg", ".mp4"), ("png", ".mp4"), ("jpg", ".mkv"), ("png", ".mkv"),
                                          ("bmp", ".mkv"), ("mkv", ".mkv"), ("mkv", ".mp4"), ("mp3", ".mp4")])
@pytest.mark.slow_cases('mkv-.mp4', 'png-.mp4', 'mp3-.mp4', 'jpg-.mkv', 'mkv-.mkv', 'png-.mkv', 'bmp-.mkv')  # (default run's time: jpg and mkv into .mp4 stay)
def test_cover_art_is_kept_byte_for_byte(run_cli, weights_env, style, tmp_path, covers, kind, suffix):
    """Cover art beside the video (a music video's, a podcast's) was left out with a note: an MP4
    keeps it as its cover, a .mkv as an attached picture, the picture's bytes as they were (MP3
    sound in the MP4 is copied beside it)."""
    out = tmp_path / f"out{suffix}"
    err = stylize(run_cli, covers[kind], style, out)
    assert "leaving out" not in err and "dropping" not in err, err
    picture = covers["jpg bytes" if kind in ("mkv", "mp3") else f"{kind} bytes"]
    if kind == "bmp":  # (FFmpeg's Matroska demuxer reads a BMP attachment back as a file, not cover art)
        assert [(s["codec_type"], s["tags"]["mimetype"]) for s in streams(out)[2:]] == [("attachment", "image/bmp")]
    else:
        assert pictures(out) == [picture]
    if kind == "mp3":
        assert [s["codec_name"] for s in streams(out) if s["codec_type"] == "audio"] == ["mp3"]
    assert_reads_cleanly(out)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
@pytest.mark.slow_cases('.mkv')  # (default run's time: 2 s)
def test_several_cover_arts_are_all_kept(run_cli, weights_env, style, tmp_path, covers, suffix):
    out = tmp_path / f"out{suffix}"
    stylize(run_cli, covers["two"], style, out)
    assert pictures(out) == [covers["jpg bytes"], covers["png bytes"]]
    if suffix == ".mkv":  # each attachment a name of its own
        assert [s["tags"]["filename"] for s in streams(out)[2:]] == ["cover.jpg", "cover_3.png"]
    assert_reads_cleanly(out)


@pytest.mark.parametrize("kind, suffix, keep", [
    ("bmp", ".mp4", "(use .mkv to keep it)"),  # (FFmpeg's MP4 muxer lists BMP covers, then refuses them)
    ("jpg", ".mov", "(use .mp4 or .mkv to keep it)"),  # (its MOV muxer writes no cover)
    pytest.param("jpg", ".avi", "(use .mp4 or .mkv to keep it)", marks=pytest.mark.slow),  # (a one-frame video track)
    ("jpg", ".gif", "(use .mp4 or .mkv to keep it)"),
])
@pytest.mark.slow_cases('jpg-.gif-(use .mp4 or .mkv to keep it)', 'jpg-.mov-(use .mp4 or .mkv to keep it)')  # (default run's time: 2 s)
def test_cover_art_a_container_cannot_hold_is_named(run_cli, weights_env, style, tmp_path, covers, kind, suffix,
                                                    keep):
    out = tmp_path / f"out{suffix}"
    err = stylize(run_cli, covers[kind], style, out)
    codec = {"bmp": "bmp", "jpg": "mjpeg"}[kind]
    assert f"note: {covers[kind].name}: dropping cover art #2 ({codec}): {suffix} cannot hold it {keep}" in err, err
    assert [s["codec_type"] for s in streams(out)].count("video") == 1
    assert_reads_cleanly(out)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
@pytest.mark.slow_cases('.mkv')  # (default run's time: 2 s)
def test_a_damaged_cover_is_left_out_with_a_note(run_cli, weights_env, style, tmp_path, covers, suffix):
    """A cover whose picture does not decode (half its JPEG zeroed) is left out with a note: copied,
    `ffmpeg -i out -f null -` said "No JPEG data found in image" (it took the picture, larger than
    the video, for the stream to decode)."""
    out = tmp_path / f"out{suffix}"
    err = stylize(run_cli, covers["cut"], style, out)
    assert f"note: {covers['cut'].name}: cover art #2 (mjpeg): its picture does not decode (damaged); leaving it out" in err, err
    assert pictures(out) == []
    assert_reads_cleanly(out)


def test_numbered_pictures_name_the_telemetry_they_leave_out(run_cli, weights_env, style, tmp_path, gopro):
    out = tmp_path / "frames"
    err = stylize(run_cli, gopro[0], style, out / "f_%04d.png", "--frames", "3")
    assert "numbered pictures hold no data; leaving out stream #2" in err, err
    assert len(list(out.iterdir())) == 3
