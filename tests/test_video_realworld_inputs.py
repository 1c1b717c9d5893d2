"""`realtime-adain video` on inputs as real users' files are, beyond tests/video_corpus.py: phone
recordings with a mirrored display matrix, folders of Blu-ray and camcorder files, and such. Each
is compared with what FFmpeg itself makes of the file."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from realtime_adain.video.probing import is_video_path
from realtime_adain.video.reader import VideoReader
from video_corpus import FFMPEG, FFPROBE, assert_kept, facts

W, H = 96, 64


def ffmpeg(*args: str | Path) -> None:
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", *map(str, args)], check=True, capture_output=True)


def set_display_matrix(path: Path, a: int, b: int, c: int, d: int) -> None:
    """Rewrite the video track's 'tkhd' matrix in place ([a b; c d], whole numbers): what a phone
    writes, which FFmpeg 5's CLI cannot write with a mirror."""
    data = bytearray(path.read_bytes())
    at = data.index(b"tkhd") + 4
    assert data[at] == 0  # version 0: 32-bit times
    matrix = at + 4 + 4 + 4 + 4 + 4 + 4 + 8 + 2 + 2 + 2 + 2
    for offset, value in zip((0, 4, 12, 16), (a, b, c, d)):
        data[matrix + offset:matrix + offset + 4] = struct.pack(">i", value << 16)
    path.write_bytes(data)


def ffmpeg_rgb(path: Path) -> np.ndarray:
    """The first frame as the FFmpeg CLI shows it (turned and flipped by its display matrix)."""
    info = subprocess.run([FFPROBE, "-v", "error", "-select_streams", "v:0",
                           "-show_entries", "stream_side_data=rotation", "-of", "csv=p=0", str(path)],
                          capture_output=True, text=True, check=True).stdout
    turned = info.strip() and abs(int(float(info.split(",")[0]))) % 180 == 90
    raw = subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(W if turned else H, -1, 3)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("matrix") / "clip.mp4"
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={W}x{H}:rate=12:duration=0.25", "-c:v", "libx264", "-pix_fmt",
           "yuv444p", "-qp", "0", path)
    return path


# The matrices ([a b; c d]) phones and editors write: a front camera's mirror, alone or turned.
# FFmpeg's CLI (fftools/ffmpeg_filter.c) flips for them; read as a rotation alone, a mirror came
# out upside down (an hflip reads as 180 degrees) and a vflip not flipped at all.
MATRICES = {
    "mirror": (-1, 0, 0, 1),
    "upside-down-mirror": (1, 0, 0, -1),
    "portrait-front-camera": (0, 1, 1, 0),
    "portrait-front-camera-other-way": (0, -1, -1, 0),
    "rotated-90": (0, 1, -1, 0),
    "rotated-270": (0, -1, 1, 0),
    "rotated-180": (-1, 0, 0, -1),
}


@pytest.mark.parametrize("name", MATRICES)
def test_a_mirrored_display_matrix_is_shown_as_ffmpeg_shows_it(name, clip, tmp_path):
    path = tmp_path / f"{name}.mp4"
    path.write_bytes(clip.read_bytes())
    set_display_matrix(path, *MATRICES[name])
    expected = ffmpeg_rgb(path).astype(int)
    with VideoReader(path) as reader:
        got = reader.first_frame.image.astype(int)
    assert got.shape == expected.shape
    assert np.abs(got - expected).mean() < 3, name  # (a wrong turn or flip differs by ~100)


@pytest.fixture
def style(data_dir):
    return data_dir / "style" / "brushstrokes.jpg"


def stylize(run_cli, source: Path, style: Path, out: Path, *extra: str) -> str:
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "--threads", "1",
                           "--stabilize", "off", *extra, "-o", out)
    assert code == 0 and "Traceback" not in err, err
    return err


@pytest.mark.slow  # (default run's time: 2 s)
def test_a_folder_of_blu_ray_and_dvd_files_is_found(run_cli, weights_env, style, tmp_path):
    """A Blu-ray's BDMV/STREAM folder holds .m2ts files (MPEG-TS with 192-byte packets), a DVD's
    VIDEO_TS .vob files: a folder of them was "no video files in this input directory"."""
    folder = tmp_path / "STREAM"
    folder.mkdir()
    source = ("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=0.5", "-f", "lavfi", "-i",
              "sine=duration=0.5")
    ffmpeg(*source, "-c:v", "libx264", "-c:a", "ac3", "-f", "mpegts", "-mpegts_m2ts_mode", "1", folder / "00001.m2ts")
    ffmpeg(*source, "-c:v", "mpeg2video", "-c:a", "ac3", "-f", "vob", folder / "VTS_01_1.VOB")
    assert all(is_video_path(p) for p in folder.iterdir())
    out = tmp_path / "out"
    stylize(run_cli, folder, style, out)
    assert sorted(p.name for p in out.iterdir()) == ["00001_stylized_brushstrokes.mp4", "VTS_01_1_stylized_brushstrokes.mp4"]
    for result in out.iterdir():
        assert facts(result).frames == 6 and facts(result).audio_tracks == 1


def test_an_audio_file_with_only_cover_art_becomes_its_picture_for_the_whole_sound(run_cli, weights_env, style,
                                                                                   tmp_path):
    """A podcast or song with cover art (an attached picture, no video) was "no video stream";
    FFmpeg plays it, and converts it to one picture shown for the whole sound. So do we."""
    source = tmp_path / "episode.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=3", "-f", "lavfi", "-i", "color=red:size=64x48:duration=1",
           "-map", "0:a", "-map", "1:v", "-frames:v", "1", "-c:a", "aac", "-c:v", "mjpeg",
           "-disposition:v", "attached_pic", source)
    out = tmp_path / "episode.mp4"
    err = stylize(run_cli, source, style, out)
    assert "cover art" in err
    result = facts(out)
    assert result.frames == 1 and result.audio_tracks == 1
    assert abs(result.seconds - 3) < 0.1  # the picture shows as long as the sound plays


def test_a_sound_file_without_a_picture_is_still_refused(run_cli, weights_env, style, tmp_path):
    source = tmp_path / "song.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", source)
    code, _, err = run_cli("video", source, "-s", style, "-o", tmp_path / "out.mp4")
    assert code != 0 and "no video stream" in err and "Traceback" not in err


V = ("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=1", "-f", "lavfi", "-i", "sine=duration=1")
H264 = ("-c:v", "libx264", "-bf", "2", "-c:a", "aac")
# Containers and timelines as recorders, streamers and editors write them; each already came out
# right (frames, timing, sound) when this sweep was made, and is kept so it stays that way.
REAL_WORLD = {
    "blu-ray-m2ts": ("m2ts", (*H264, "-f", "mpegts", "-mpegts_m2ts_mode", "1")),
    "ts-33-bit-wrap-mid-file": ("ts", (*H264, "-output_ts_offset", "95441.8")),
    "fragmented-mp4": ("mp4", (*H264, "-movflags", "frag_keyframe+empty_moov")),
    "cmaf-mp4": ("mp4", (*H264, "-movflags", "cmaf+frag_keyframe+empty_moov+default_base_moof+separate_moof")),
    "live-mkv-no-cues": ("mkv", ("-c:v", "libx264", "-c:a", "libopus", "-live", "1")),
    "mp4-starting-at-ten-hours": ("mp4", (*H264, "-output_ts_offset", "36000")),
    "mkv-named-mp4": ("mp4", (*H264, "-f", "matroska")),
    "ntsc-mp4-ms-timescale": ("mp4", ("-r", "30000/1001", *H264, "-video_track_timescale", "1000")),
}


@pytest.mark.parametrize("name", REAL_WORLD)
@pytest.mark.slow_cases('ntsc-mp4-ms-timescale', 'mp4-starting-at-ten-hours', 'live-mkv-no-cues', 'blu-ray-m2ts')
def test_real_world_containers_keep_frames_timing_and_sound(name, run_cli, weights_env, style, tmp_path):
    ext, args = REAL_WORLD[name]
    source = tmp_path / f"{name}.{ext}"
    ffmpeg(*V, *args, source)
    expected = facts(source)
    out = tmp_path / "out.mp4"
    stylize(run_cli, source, style, out)
    assert_kept(facts(out), expected)


def test_an_hls_playlist_of_local_segments_is_one_video(run_cli, weights_env, style, tmp_path):
    playlist = tmp_path / "stream" / "index.m3u8"
    playlist.parent.mkdir()
    ffmpeg(*V, "-c:v", "libx264", "-g", "6", "-c:a", "aac", "-f", "hls", "-hls_time", "0.5", "-hls_list_size", "0",
           playlist)
    out = tmp_path / "out.mp4"
    stylize(run_cli, playlist, style, out)
    result = facts(out)
    assert result.frames == facts(playlist).frames == 12 and result.audio_tracks == 1
