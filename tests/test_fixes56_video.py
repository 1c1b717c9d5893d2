"""`realtime-adain video` on two findings of h7 (session 56): an MP4's track names (which FFmpeg 8
reads as the tag `name`) were lost without a note in .mp4, .mov and .avi outputs; and VP8
(`--codec libvpx`) refused `--crf`, which libvpx takes (constrained quality)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import json

import av
import numpy as np
import pytest

from realtime_adain.errors import UserError
from realtime_adain.video.encoder_check import check_encoder
from realtime_adain.video.encoder_settings import EncodeSettings
from realtime_adain.video.pictures import Colour
from realtime_adain.video.stream_copy import titled
from realtime_adain.video.writer import VideoFormatOut, VideoWriter
from test_fixes39_docs import help_of
from test_video_realworld_inputs import ffmpeg, style  # noqa: F401  (a fixture)



def vp8_frames(path: Path, settings: EncodeSettings, frames: int = 6) -> int:
    """Frames decoded back from `frames` noisy 96x64 pictures written by `settings` to `path`."""
    spec = VideoFormatOut(96, 64, Fraction(1, 24), Fraction(24), Colour(1, 1, 1, 1))
    writer = VideoWriter(path, settings, spec, passthrough=[])
    rng = np.random.default_rng(0)
    for pts in range(frames):
        writer.write_frame(rng.integers(0, 256, (64, 96, 3), np.uint8), pts, 1)
    writer.close()
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.mark.parametrize("crf, bitrate", [(10, 1_000_000), (10, None), (0, 1_000_000), (3, None), (63, None)])
def test_vp8_takes_crf_with_or_without_a_bitrate(crf, bitrate, tmp_path):
    """`--codec libvpx --crf 10 --bitrate 1M -o a.webm` was refused ("encoder libvpx has no
    constant-quality (CRF) mode; use --bitrate"), with or without --bitrate; libvpx takes crf 0
    to 63 (constrained quality; alone, at its default bitrate, as `ffmpeg` encodes it), 0 to 3 once
    its lowest quantizer (4 by default, which refused them) is lowered."""
    settings = EncodeSettings("libvpx", crf=crf, bitrate=bitrate)
    check_encoder(settings, tmp_path / "a.webm")
    options = settings.for_container("webm").codec_options()
    assert options["crf"] == str(crf)
    assert vp8_frames(tmp_path / "a.webm", settings.for_container("webm")) == 6


def test_vp8_crf_outside_its_range_is_refused_with_the_range():
    with pytest.raises(UserError, match="^--crf 64 is outside libvpx's range 0 \\(best\\) to 63$"):
        EncodeSettings("libvpx", crf=64).codec_options()


def test_vp8_lower_crf_gives_more_bytes(tmp_path):
    """The crf reaches the encoder: at a bitrate that caps neither, crf 0 writes more than 40."""
    sizes = []
    for crf in (0, 40):
        path = tmp_path / f"q{crf}.webm"
        vp8_frames(path, EncodeSettings("libvpx", crf=crf, bitrate=10_000_000, container="webm"))
        sizes.append(path.stat().st_size)
    assert sizes[0] > 1.5 * sizes[1], sizes


def test_help_names_vp8s_crf_range(capsys):
    assert "0 to 63 for VP8, VP9 and AV1" in help_of("video", capsys)


# The track names h7's MP4 holds (a title each, written by the FFmpeg CLI as the udta `name` box).
NAMES = {"video": "Picture", "audio": ["Main audio", "Commentary"], "subtitle": "English"}


@pytest.fixture
def named_tracks(tmp_path) -> Path:
    """H.264, AAC and AC-3 sound and mov_text subtitles, each track named: FFmpeg 8 reads the names
    as the tag `name`."""
    subtitles = tmp_path / "s.srt"
    subtitles.write_text("1\n00:00:00,000 --> 00:00:00,500\nHello\n")
    source = tmp_path / "named.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=s=96x64:r=12:d=0.5", "-f", "lavfi", "-i", "sine=r=48000:d=0.5", "-f", "lavfi",
           "-i", "sine=f=880:r=44100:d=0.5", "-i", subtitles, "-map", "0", "-map", "1", "-map", "2", "-map", "3",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a:0", "aac", "-c:a:1", "ac3", "-c:s", "mov_text",
           "-metadata:s:v:0", f"title={NAMES['video']}", "-metadata:s:a:0", f"title={NAMES['audio'][0]}",
           "-metadata:s:a:1", f"title={NAMES['audio'][1]}", "-metadata:s:s:0", f"title={NAMES['subtitle']}",
           "-t", "0.5", source)
    with av.open(str(source)) as container:
        assert [stream.metadata.get("name") for stream in container.streams] == [
            NAMES["video"], *NAMES["audio"], NAMES["subtitle"]]
    return source


def stylized(run_cli, source: Path, style: Path, out: Path) -> tuple[list[dict], str]:
    """(`--json`'s "streams", stderr) of stylizing `source` into `out`."""
    code, printed, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "--threads", "1",
                                 "--stabilize", "off", "--json", "-o", out)
    assert code == 0 and "Traceback" not in err, err
    return json.loads(printed)["streams"], err


def track_names(path: Path) -> dict[str, list[str | None]]:
    """Each kind's tracks' names as read back (MP4 and MOV: the tag `name`; others: `title`), and
    under "NAME" the Matroska NAME tags."""
    names: dict[str, list[str | None]] = {"NAME": []}
    with av.open(str(path)) as container:
        for stream in container.streams:
            names.setdefault(stream.type, []).append(stream.metadata.get("title") or stream.metadata.get("name"))
            names["NAME"].extend(value for key, value in stream.metadata.items() if key == "NAME")
    return names


@pytest.mark.parametrize("ext", ["mp4", "mov", "avi", "mkv"])
def test_an_mp4s_track_names_are_kept_as_titles(ext, named_tracks, run_cli, weights_env, style, tmp_path):
    """h7: the input's track names (read as `name`) were copied under that key, which no muxer but
    Matroska's writes: .mp4, .mov and .avi lost them without a note, .mkv wrote NAME tags. Now a
    name is the track's title: MP4 and MOV keep it as the name, AVI as strn, Matroska as the
    track's Name, once (the subtitles' too, where the container holds them)."""
    out = tmp_path / f"o.{ext}"
    streams, _ = stylized(run_cli, named_tracks, style, out)
    names = track_names(out)
    assert names["video"] == [NAMES["video"]]
    assert names["audio"] == NAMES["audio"]
    if ext != "avi":
        assert names["subtitle"] == [NAMES["subtitle"]]
    assert names["NAME"] == []
    assert [report["reason"] for report in streams if report["kind"] == "audio"] == [None, None]


def test_a_track_name_a_container_drops_is_said(named_tracks, run_cli, weights_env, style, tmp_path):
    """.ts holds no track title: a name dropped is said, as a title is (`dropped_tags`)."""
    streams, err = stylized(run_cli, named_tracks, style, tmp_path / "o.ts")
    said = ".ts holds no track title: audio stream #2 (ac3) is written without its title (use .mkv to keep it)"
    assert f"note: {named_tracks.name}: {said}" in err, err
    assert {report["index"]: report["reason"] for report in streams}[2] == said


@pytest.mark.parametrize("tags, expected", [
    ({"name": "Main audio", "language": "eng"}, {"title": "Main audio", "language": "eng"}),
    ({"NAME": "Commentary"}, {"title": "Commentary"}),
    ({"title": "Commentary", "NAME": "Commentary"}, {"title": "Commentary"}),
    ({"title": "Director", "name": "Other"}, {"title": "Director", "name": "Other"}),
    ({"language": "fra"}, {"language": "fra"}),
])
def test_a_tracks_name_is_its_title_once(tags, expected):
    assert titled(tags) == expected
