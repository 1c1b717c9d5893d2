"""Fixes of hostile round 30 (video): a chained Ogg, a pause longer than an AVI can fill, the video
track's default flag in Matroska, closed captions, B-frames over a first picture after zero, a turn
that is not a quarter turn.

Each input is made with the FFmpeg CLI in tmp_path and each result checked with ffprobe or PyAV.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from test_video_leftovers import ffmpeg
from test_video_more_containers import frame_count
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)
from video_corpus import FFPROBE


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_a_chained_ogg_keeps_its_first_part(run_cli, weights_env, style, tmp_path):
    """Two Ogg files one after the other (a chained Ogg: an internet radio's recording): FFmpeg's
    demuxer does not implement the second part's new headers (PatchWelcomeError), and the file was
    refused as "corrupt video data after 6 frames" (8 decode); `ffmpeg` keeps the first part's pictures."""
    parts = [tmp_path / "part1.ogv", tmp_path / "part2.ogv"]
    for serial, part in enumerate(parts):  # (each part's streams have serial numbers of their own)
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=48x32:rate=12:duration=1", "-f", "lavfi", "-i",
               "sine=duration=1", "-c:v", "libtheora", "-c:a", "libvorbis", "-serial_offset", str(serial * 100), part)
    source = tmp_path / "chained.ogv"
    source.write_bytes(parts[0].read_bytes() + parts[1].read_bytes())
    out = tmp_path / "out.mkv"
    err = stylize(run_cli, source, style, out)
    assert "data it cannot read ends the file" in err
    assert frame_count(out) == frame_count(parts[0]) > 0


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_a_pause_longer_than_avi_fills_says_why(run_cli, weights_env, style, tmp_path):
    """An hour's pause between two pictures (a time-lapse, a paused recording) into .avi: the AVI
    muxer fills a pause with empty frames, at most 60000 (2500 s at 24 fps), and refused the
    packet after it as "Invalid argument" alone. The line says why and what keeps it."""
    source = tmp_path / "pause.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=48x32:rate=24:duration=0.5", "-vf",
           "setpts='if(gte(N,6),PTS+3600/TB,PTS)'", "-fps_mode", "passthrough", "-c:v", "libx264", "-bf", "0",
           "-video_track_timescale", "1000", source)
    out = tmp_path / "out.avi"
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "--threads", "1",
                           "--stabilize", "off", "-o", out)
    assert code == 2 and "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: ") and "at most 60000" in line and "needs 86400" in line and ".mkv" in line


def dispositions(path: Path) -> list[tuple[str, int]]:
    """(codec, default flag) of each stream of `path`, as ffprobe reads them."""
    out = subprocess.run([FFPROBE, "-v", "error", "-show_entries", "stream=codec_name:stream_disposition=default",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True).stdout
    return [(s["codec_name"], s["disposition"]["default"]) for s in json.loads(out)["streams"]]


@pytest.mark.parametrize("out_name", ["out.mkv", "out.webm"])
@pytest.mark.slow_cases("out.webm")  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_the_video_track_keeps_its_default_flag_in_matroska(out_name, run_cli, weights_env, style, tmp_path):
    """An MP4's video and sound are both marked default: into .mkv or .webm the sound kept its
    flag and the video track was written as not to be played by default, where `ffmpeg` keeps both."""
    source = tmp_path / "in.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=48x32:rate=12:duration=0.5", "-f", "lavfi", "-i",
           "sine=duration=0.5", "-c:v", "libx264", "-c:a", "aac", source)
    assert [flag for _, flag in dispositions(source)] == [1, 1]
    out = tmp_path / out_name
    stylize(run_cli, source, style, out)
    assert [flag for _, flag in dispositions(out)] == [1, 1]


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_the_video_track_takes_only_the_default_flag(run_cli, weights_env, style, tmp_path):
    """The input video's other flags describe its picture, not the stylized one: a layered MV-HEVC
    track's `multilayer`, copied, made the MP4 muxer write a layer box for libx265's one layer
    (a file FFmpeg 8 cannot open). Here a `comment` flag: not carried; the default one is."""
    import av

    source = tmp_path / "in.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=48x32:rate=12:duration=0.5", "-c:v", "libx264",
           "-disposition:v:0", "default+comment", source)
    with av.open(str(source)) as container:
        assert container.streams.video[0].disposition & av.stream.Disposition.comment
    out = tmp_path / "out.mp4"
    stylize(run_cli, source, style, out)
    with av.open(str(out)) as container:
        assert container.streams.video[0].disposition == av.stream.Disposition.default
        assert len(list(container.decode(video=0))) == 6


def with_captions(stream: bytes) -> bytes:
    """An Annex-B H.264 `stream` with EIA-608 captions ("HI") in an ATSC A/53 SEI before each
    picture, as a broadcast carries them."""
    starts = [m.start() for m in re.finditer(b"\x00\x00\x01", stream)]
    units = [stream[at + 3:(starts[k + 1] if k + 1 < len(starts) else len(stream))].rstrip(b"\x00")
             for k, at in enumerate(starts)]
    pairs = [(0x94, 0x20), (0x94, 0x20), (0xC8, 0x49), (0x94, 0x2F), (0x94, 0x2F)]  # (odd parity)
    out, picture = bytearray(), 0
    for unit in units:
        if unit[0] & 0x1F in (1, 5):
            first, second = pairs[picture % len(pairs)]
            payload = b"\xb5\x00\x31GA94\x03\x42\xff\xfc" + bytes([first, second]) + b"\xfa\x80\x80\xff"
            out += b"\x00\x00\x00\x01" + bytes([6, 4, len(payload)]) + payload + b"\x80"
            picture += 1
        out += b"\x00\x00\x00\x01" + unit
    return bytes(out)


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_closed_captions_in_the_pictures_are_said_left_out(run_cli, weights_env, style, tmp_path):
    """EIA-608 captions in an H.264 stream's SEI (a broadcast recording; ffprobe: "Closed
    Captions") were dropped without a word: PyAV cannot hand them to the encoder with the
    stylized picture. A note says so, and `--json` lists them as left out."""
    plain = tmp_path / "plain.h264"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=48x32:rate=12:duration=0.5", "-c:v", "libx264", "-bf", "0",
           plain)
    source = tmp_path / "captions.h264"
    source.write_bytes(with_captions(plain.read_bytes()))
    probe = subprocess.run([FFPROBE, "-hide_banner", str(source)], capture_output=True, text=True).stderr
    assert "Closed Captions" in probe
    code, out, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "--threads", "1",
                             "--stabilize", "off", "--json", "-o", tmp_path / "out.mp4")
    assert code == 0, err
    assert err.count("closed captions in the video are not kept") == 1
    record = json.loads(out.strip().splitlines()[-1])
    assert {"index": 0, "kind": "closed captions", "codec": "eia_608", "action": "left out", "output_codec": None,
            "reason": "closed captions in the video are not kept"} in record["streams"]


def video_packet_pts(path: Path) -> list[int]:
    out = subprocess.run([FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts", "-of",
                          "json", str(path)], capture_output=True, text=True, check=True).stdout
    return sorted(int(p["pts"]) for p in json.loads(out)["packets"])


@pytest.mark.parametrize("out_name", ["out.mp4", "out.mov"])
@pytest.mark.slow_cases('out.mov', 'out.mp4')  # (default run's time: 2 s)
def test_a_first_picture_after_zero_keeps_its_time_with_b_frames(out_name, run_cli, weights_env, style, tmp_path):
    """An MP4 whose pictures start 1/12 s in, stored without an edit list: the output's B-frames
    delay decoding, and the MP4 muxer wrote the pictures' delay as an empty edit in milliseconds
    (83.33 ms as 83): every picture came back 4 ticks of 1/12288 s early."""
    video, sound, source = tmp_path / "video.mp4", tmp_path / "sound.m4a", tmp_path / "late.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=48x32:rate=24:duration=0.5", "-vf", "setpts=PTS+2", "-fps_mode",
           "passthrough", "-c:v", "libx264", "-bf", "3", video)
    ffmpeg("-f", "lavfi", "-i", "sine=duration=0.5", "-c:a", "aac", sound)
    ffmpeg("-i", video, "-i", sound, "-map", "0", "-map", "1", "-c", "copy", "-use_editlist", "0", source)
    assert video_packet_pts(source)[:2] == [1024, 1536]
    out = tmp_path / out_name
    stylize(run_cli, source, style, out, "--codec", "libx264")
    assert video_packet_pts(out) == video_packet_pts(source)


@pytest.mark.parametrize("angle, said", [(45, "left unturned"), (135, "turned 180 degrees counter-clockwise")])
@pytest.mark.slow_cases('135-turned 180 degrees counter-clockwise')  # (default run's time, 2026-12-07: rarer variants of the cases that stay)
def test_a_turn_that_is_not_a_quarter_turn_is_said(angle, said, run_cli, weights_env, style, tmp_path):
    """A display rotation of 45 degrees was applied as the nearest quarter turn (none) without a
    word: a note gives the angle and what was done."""
    plain, source = tmp_path / "plain.mp4", tmp_path / "turned.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=48x32:rate=12:duration=0.25", "-c:v", "libx264", plain)
    ffmpeg("-i", plain, "-c", "copy", "-metadata:s:v:0", f"rotate={angle}", source)
    err = stylize(run_cli, source, style, tmp_path / "out.mp4")
    assert f"the display rotation is {angle} degrees counter-clockwise, not a quarter turn; the pictures are {said}" in err
