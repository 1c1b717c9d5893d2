"""What a run reports: `image` on a folder says each kind of note once with a count (not once per
picture), and `video --json` lists each input stream kept or left out ("streams")."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from realtime_adain.video import hdr
from test_images_hdr17 import png_with_cicp, pq_rgb16
from test_video_devices14 import ffmpeg
from test_video_realworld_inputs import style  # noqa: F401  (a fixture)
from test_video_tracks17 import telemetry_clip

TINY = ("--size", "16", "--style-size", "16", "--device", "cpu")


def animated_gif(path: Path, frames: int) -> Path:
    pictures = [Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)) for i in range(frames)]
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=100)
    return path


def test_a_folder_of_hdr_pictures_says_so_once_with_a_count(run_cli, weights_env, tmp_path, one_thread):
    """300 PQ PNGs printed 300 "tone-mapped" notes (each picture's own file name), burying anything
    else: now the first in full, and once done, one line counting them all. Animated pictures
    ("has 3 frames; only the first is used") likewise, each kind counted apart."""
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(18)
    for i in range(4):
        png_with_cicp(folder / f"hdr{i}.png", pq_rgb16(rng.integers(0, 256, (16, 16, 3), np.uint8)), hdr.PQ)
    for i in range(2):
        animated_gif(folder / f"moving{i}.gif", 3)
    style = tmp_path / "style.png"
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), np.uint8)).save(style)
    code, out, err = run_cli("image", folder, "-s", style, "-o", tmp_path / "out", *TINY)
    assert code == 0, err
    assert len(out.splitlines()) == 6
    notes = [line for line in err.splitlines() if line.startswith("note: ")]
    hdr_notes = [line for line in notes if "an HDR picture (PQ" in line]
    assert len(hdr_notes) == 2, err
    assert hdr_notes[0].startswith(f"note: {folder / 'hdr0.png'}: an HDR picture (PQ")
    assert hdr_notes[1].startswith("note: likewise 3 more pictures (4 in all): an HDR picture (PQ")
    assert hdr_notes[1].removeprefix("note: likewise 3 more pictures (4 in all)") == \
        hdr_notes[0].removeprefix(f"note: {folder / 'hdr0.png'}")
    frame_notes = [line for line in notes if "only the first is used" in line]
    assert frame_notes == [f"note: {folder / 'moving0.gif'} has 3 frames; only the first is used",
                           "note: likewise 1 more picture (2 in all): each has 3 frames; only the first is used"], err
    assert len(notes) == 4, err


def test_one_hdr_picture_is_one_note_without_a_count(run_cli, weights_env, tmp_path, one_thread):
    rng = np.random.default_rng(18)
    picture = png_with_cicp(tmp_path / "hdr.png", pq_rgb16(rng.integers(0, 256, (16, 16, 3), np.uint8)), hdr.PQ)
    code, _, err = run_cli("image", picture, "-s", picture, "-o", tmp_path / "out.png", *TINY)
    assert code == 0, err
    assert [line for line in err.splitlines() if line.startswith("note: ")] == \
        [line for line in err.splitlines() if line.startswith(f"note: {picture}: an HDR picture (PQ")]
    assert err.count("note: ") == 1, err


@pytest.fixture(scope="module")
def every_kind(tmp_path_factory) -> Path:
    """1 s of H.264 with AAC sound, mov_text subtitles, a PNG cover and GoPro telemetry (gpmd)."""
    folder = tmp_path_factory.mktemp("kinds")
    telemetry_clip(folder / "camera.mp4", seconds=1)
    (folder / "words.srt").write_text("1\n00:00:00,000 --> 00:00:00,900\nhello\n")
    Image.fromarray(np.full((40, 60, 3), 200, np.uint8)).save(folder / "cover.png")
    source = folder / "GX010001.MP4"
    ffmpeg("-i", folder / "camera.mp4", "-i", folder / "words.srt", "-i", folder / "cover.png", "-map", "0", "-map", "1",
           "-map", "2", "-c", "copy", "-c:s", "mov_text", "-disposition:v:1", "attached_pic", source)
    return source


def reported(run_cli, source: Path, style: Path, out: Path) -> tuple[list[dict], str]:
    """`video --json`'s "streams" for `source` into `out`, and stderr."""
    code, stdout, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "32", "--threads", "1",
                                "--stabilize", "off", "--frames", "2", "--json", "-o", out)
    assert code == 0 and "Traceback" not in err, err
    return json.loads(stdout)["streams"], err


def test_json_lists_each_stream_kept_in_an_mp4(run_cli, weights_env, style, every_kind, tmp_path, one_thread):
    """A script batching runs could not tell which streams an output kept: only notes said it, in
    words, merged. Into .mp4 all four are copied as they are."""
    streams, _ = reported(run_cli, every_kind, style, tmp_path / "out.mp4")
    assert streams == [
        {"index": 1, "kind": "audio", "codec": "aac", "action": "copied", "output_codec": "aac", "reason": None},
        {"index": 2, "kind": "data", "codec": "bin_data", "action": "copied", "output_codec": "bin_data", "reason": None},
        {"index": 3, "kind": "subtitle", "codec": "mov_text", "action": "copied", "output_codec": "mov_text",
         "reason": None},
        {"index": 4, "kind": "cover art", "codec": "png", "action": "copied", "output_codec": "png", "reason": None},
    ]


def test_json_says_what_was_converted_and_left_out_with_the_notes_reasons(run_cli, weights_env, style, every_kind,
                                                                          tmp_path, one_thread):
    """Into .webm: the sound re-encoded, the subtitles converted, cover art and telemetry left
    out, each with the reason its note gives."""
    streams, err = reported(run_cli, every_kind, style, tmp_path / "out.webm")
    by_index = {stream["index"]: stream for stream in streams}
    assert [(s["kind"], s["action"], s["output_codec"]) for s in streams] == [
        ("audio", "re-encoded", "opus"), ("data", "left out", None), ("subtitle", "converted", "webvtt"),
        ("cover art", "left out", None)]
    for stream in streams:
        assert stream["reason"] and stream["reason"] in err, (stream, err)
    assert by_index[1]["reason"] == ".webm cannot hold aac audio; re-encoding it to opus"
    assert by_index[2]["reason"].startswith("dropping data stream #2 (GoPro MET): .webm cannot hold it")


def test_numbered_pictures_report_every_other_stream_left_out(run_cli, weights_env, style, every_kind, tmp_path,
                                                              one_thread):
    streams, _ = reported(run_cli, every_kind, style, tmp_path / "frames" / "%04d.png")
    assert [(s["index"], s["action"]) for s in streams] == [(1, "left out"), (2, "left out"), (3, "left out"),
                                                           (4, "left out")]


def test_streams_the_reader_leaves_out_are_listed_with_why(run_cli, weights_env, style, tmp_path, one_thread):
    """Decided before the writer: a second picture (another video stream) and private data in
    MPEG-TS, which no output here holds."""
    source = tmp_path / "two.ts"
    telemetry_clip(tmp_path / "private.ts", seconds=1, fmt="mpegts", tag=None)
    ffmpeg("-i", tmp_path / "private.ts", "-f", "lavfi", "-i", "testsrc2=size=32x24:rate=30:duration=1", "-map", "0",
           "-map", "1:v", "-c", "copy", "-c:v:1", "mpeg2video", source)
    streams, err = reported(run_cli, source, style, tmp_path / "out.mkv")
    left = {s["kind"]: s["reason"] for s in streams if s["action"] == "left out"}
    assert left == {"data": "no output format here holds it",
                    "video": "another video stream (#0 is the one stylized)"}, streams
    assert [s["action"] for s in streams if s["kind"] == "audio"] == ["copied"]
