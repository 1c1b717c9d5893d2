"""Output encoders that take only some picture sizes, rates or bitrates (DV, CineForm, DNxHD), and
`%` in the folder of an image-sequence input or output. Each output is played through with
`ffmpeg -v error -i OUT -f null -`, as a player would read it."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from cli_support import one_error_line
from realtime_adain.errors import UserError
from realtime_adain.video.encoder_check import check_encoder
from realtime_adain.video.encoder_settings import EncodeSettings
from realtime_adain.video.framing import check_picture_size, encoder_framing
from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from realtime_adain.video.sequence import find_sequence
from realtime_adain.video.writer import VideoFormatOut, VideoWriter
from test_video_more_containers import ffmpeg, style  # noqa: F401 (a fixture)
from video_corpus import FFMPEG


def made(tmp_path: Path, size: str, rate: str, name: str = "in.mp4", frames: int = 3) -> Path:
    source = tmp_path / name
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}", "-frames:v", str(frames), "-c:v", "libx264",
           source, needs=("libx264",))
    return source


def stylize(run_cli, source: Path, style: Path, out: Path, *options: str) -> tuple[int, str]:
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "--threads", "1",
                           "--stabilize", "off", *options, "-o", out)
    return code, err


def plays(path: Path) -> None:
    """`ffmpeg -v error -i PATH -f null -` says nothing and succeeds."""
    done = subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-i", str(path), "-f", "null", "-"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def first_frame(path: Path) -> tuple[av.VideoFrame, Fraction, str, int]:
    """(first picture, its pixel aspect as the decoder reads it from the stream, pixel format, frame count)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        aspect = Fraction(stream.codec_context.sample_aspect_ratio or 1)  # (the decoder's: DV's header)
        return frames[0], aspect, frames[0].format.name, len(frames)


@pytest.mark.parametrize("size, rate, ext, frame, pix_fmt, sar", [
    ("64x48", "25", ".mov", (720, 576), "yuv420p", Fraction(16, 15)),              # PAL DV, 4:3
    ("64x36", "30000/1001", ".avi", (720, 480), "yuv411p", Fraction(32, 27)),     # NTSC DV, 16:9
    ("64x36", "50", ".mov", (960, 720), "yuv422p", Fraction(4, 3)),               # DVCPRO HD 720p50
])
def test_dv_output_is_scaled_into_the_dv_format_of_its_rate(size, rate, ext, frame, pix_fmt, sar, run_cli,
                                                            weights_env, style, tmp_path):
    """`--codec dvvideo` was "cannot open encoder dvvideo: Invalid argument" for every size but
    DV's own: the pictures are scaled into the DV format of their rate, as `ffmpeg -target pal-dv`,
    the stream saying 4:3 or 16:9, and the file plays."""
    out = tmp_path / f"out{ext}"
    code, err = stylize(run_cli, made(tmp_path, size, rate), style, out, "--codec", "dvvideo")
    assert code == 0, err
    assert "note: in.mp4: dvvideo: DV holds only its broadcast sizes" in err
    plays(out)
    picture, aspect, decoded, count = first_frame(out)
    assert ((picture.width, picture.height), decoded, aspect, count) == (frame, pix_fmt, sar, 3)


def test_dv_letterboxes_a_picture_wider_than_16_9(run_cli, weights_env, style, tmp_path):
    """A 2:1 picture in 16:9 PAL DV: all of it, black above and below, nothing cut."""
    out = tmp_path / "out.mov"
    code, err = stylize(run_cli, made(tmp_path, "64x32", "25"), style, out, "--codec", "dvvideo")
    assert code == 0, err
    luma = first_frame(out)[0].to_ndarray(format="gray").astype(int)
    bar = (576 - 512) // 2  # 720 x 576 shown 16:9 is 1024 x 576: a 2:1 picture is 512 rows of it
    assert luma[:bar - 2].max() <= 20 and luma[-bar + 2:].max() <= 20
    assert luma[bar + 2:-bar - 2].min() > 60  # the picture (the test weights paint it light), not black


def test_dv_refuses_a_rate_it_does_not_hold(run_cli, weights_env, style, tmp_path):
    out = tmp_path / "out.mov"
    code, err = stylize(run_cli, made(tmp_path, "64x48", "24"), style, out, "--codec", "dvvideo")
    line = one_error_line(err, code)
    assert "DV holds 25 fps" in line and "this video is 24 fps" in line and "--codec" in line
    assert not out.exists()


def test_dv_rate_is_refused_before_the_model_loads(run_cli, weights_env, style, tmp_path):
    """Said of the input, with the other checks made of every input before any work (job.py's
    `check_opened`), not once its encoder opens."""
    source = made(tmp_path, "64x48", "24")
    code, err = stylize(run_cli, source, style, tmp_path / "out.avi", "--codec", "dvvideo")
    assert one_error_line(err, code).startswith(f"error: {source}: dvvideo: DV holds 25 fps")


def test_dv_checks_open_before_any_work():
    """The check made before the model loads (64x64 at 25 fps) failed: "cannot open encoder
    dvvideo: Invalid argument"."""
    check_encoder(EncodeSettings("dvvideo"), Path("o.mov"))
    check_encoder(EncodeSettings("dvvideo", pix_fmt="yuv422p"), Path("o.avi"), 1920, 1080, Fraction(30000, 1001))


def test_dv_names_the_pixel_formats_its_format_takes():
    with pytest.raises(UserError, match=r"^--pix-fmt yuv420p: DV at 720x480 takes yuv411p, yuv422p"):
        encoder_framing(EncodeSettings("dvvideo", pix_fmt="yuv420p"), 64, 48, Fraction(30000, 1001))


def test_cineform_pads_a_width_not_in_16s(run_cli, weights_env, style, tmp_path):
    """CineForm encodes widths in multiples of 16: a 100-pixel-wide clip was "encoder cfhd does
    not open for 100x48 pictures (Invalid argument)". It is stored 112 wide, black at the sides."""
    out = tmp_path / "out.mov"
    code, err = stylize(run_cli, made(tmp_path, "100x48", "25"), style, out, "--codec", "cfhd", "--keep-size")
    assert code == 0, err
    assert "stored 112x48" in err
    plays(out)
    picture, _, _, count = first_frame(out)
    assert (picture.width, picture.height, count) == (112, 48, 3)
    luma = picture.to_ndarray(format="gray").astype(int)
    assert luma[:, :5].max() <= 20 and luma[:, -5:].max() <= 20 and luma[:, 8:-8].min() > 60


@pytest.mark.parametrize("width, height", [(100, 20), (32, 32)])
def test_cineform_refuses_a_picture_it_cannot_hold_in_one_line(width, height):
    """Under 32 lines the encoder does not open; at 32 columns it does, and FFmpeg's decoder
    refused every frame ("Invalid lowpass width")."""
    with pytest.raises(UserError, match=f"^cfhd cannot encode {width}x{height} pictures \\(it takes pictures of 48x32 "
                                        "and larger"):
        check_picture_size("cfhd", width, height)


@pytest.mark.parametrize("codec", ["dnxhd", "dvvideo"])
def test_bitrate_is_refused_where_the_profile_sets_it(codec):
    """`--codec dnxhd --bitrate 36M` was "cannot open encoder dnxhd: Invalid argument" (classic
    DNxHD opens only at its table's sizes and rates); DV's bitrate is its format's."""
    with pytest.raises(UserError, match=f"^--bitrate: {codec} has no bitrate setting .*; leave --bitrate out$"):
        check_encoder(EncodeSettings(codec, bitrate=36_000_000), Path("o.mov"))
    with pytest.raises(UserError, match=f"^encoder {codec} has no constant-quality .*; leave --crf out"):
        EncodeSettings(codec, crf=10).codec_options()


def numbered_pictures(folder: Path, count: int = 3) -> None:
    folder.mkdir()
    for number in range(1, count + 1):
        av.VideoFrame.from_ndarray(np.full((24, 32, 3), 40 * number, np.uint8), format="rgb24").to_image().save(
            folder / f"{number:04d}.png")


@pytest.mark.parametrize("folder", ["shots%", "take%04d", "my 100% take"])
def test_a_percent_sign_in_an_input_sequence_folder_is_that_character(folder, tmp_path):
    """`shots%/%04d.png` was "no such input file or directory": FFmpeg's image2 formats the whole
    path, so the folder's `%` is doubled for it (`%%`)."""
    numbered_pictures(tmp_path / folder)
    sequence = find_sequence(tmp_path / folder / "%04d.png")
    assert sequence is not None and sequence.numbers == (1, 2, 3)
    assert sequence.ffmpeg_pattern == str(tmp_path / folder.replace("%", "%%") / "%04d.png")


@pytest.mark.parametrize("folder", ["shots%", "take%04d"])
def test_a_percent_sign_in_an_input_sequence_folder_reads_every_picture(folder, tmp_path):
    numbered_pictures(tmp_path / folder)
    with VideoReader(tmp_path / folder / "%04d.png") as reader:
        assert len([item for item in reader.items() if isinstance(item, Frame)]) == 3


def test_a_percent_sign_in_a_picture_output_folder_is_that_character(run_cli, weights_env, style, tmp_path):
    """`-o 'my 100% take/%04d.png'`: the pictures land in that folder, numbered from 1."""
    out = tmp_path / "my 100% take" / "%04d.png"
    code, err = stylize(run_cli, made(tmp_path, "32x24", "25"), style, out)
    assert code == 0, err
    assert sorted(p.name for p in out.parent.iterdir()) == ["0001.png", "0002.png", "0003.png"]


def written(path: Path, codec: str, width: int, height: int, frames: int = 3) -> None:
    """`frames` pictures of `width`x`height` at 25 fps through the writer, as a run writes them."""
    check_encoder(EncodeSettings(codec), path)
    check_picture_size(codec, width, height)
    writer = VideoWriter(path, EncodeSettings(codec), VideoFormatOut(width, height, Fraction(1, 25), Fraction(25)), [])
    for pts in range(frames):
        writer.write_frame(np.full((height, width, 3), 60 + 60 * pts, np.uint8), pts, 1)
    writer.close()


@pytest.mark.parametrize("codec, ext", [("libvpx-vp9", ".mov"), ("libvpx", ".mov"), ("libsvtav1", ".mov")])
def test_a_container_whose_muxer_lists_the_codec_but_refuses_it_is_named_at_once(codec, ext):
    """MOV's muxer lists VP8, VP9 and AV1, then refuses to write its header with them: the run
    failed once the model had loaded ("cannot start encoding (Invalid argument)")."""
    with pytest.raises(UserError, match=f"^\\{ext} files cannot hold {codec} video \\(try \\.mkv\\)$"):
        check_encoder(EncodeSettings(codec), Path(f"o{ext}"))


@pytest.mark.parametrize("codec, size, stored", [("amv", (17, 9), (17, 16)), ("cljr", (17, 9), (20, 9)),
                                                 ("zlib", (17, 9), (20, 9))])
def test_encoders_of_fixed_size_steps_get_padded_pictures(codec, size, stored, tmp_path):
    """AMV takes heights in 16s, AccuPak widths in 4s: any other size failed on the first frame
    with a traceback ("Experimental feature"). LCL zlib rows of other widths did not play in
    Debian 12's FFmpeg ("Decoded size differs")."""
    out = tmp_path / "out.avi"
    written(out, codec, *size)
    plays(out)
    picture, _, _, count = first_frame(out)
    assert ((picture.width, picture.height), count) == (stored, 3)


@pytest.mark.parametrize("codec, ext", [("smc", ".mov"), ("msrle", ".avi")])
def test_an_encoder_that_refuses_a_picture_says_so_in_one_line(codec, ext, tmp_path):
    """Palette-only encoders (QuickTime Graphics, Microsoft RLE): swscale makes no palette from
    RGB, and the run ended in a traceback ("OSError: Operation not supported")."""
    with pytest.raises(UserError, match=f"encoder {codec} refused a 16x16 pal8 picture .*: use another --codec"):
        written(tmp_path / f"out{ext}", codec, 16, 16)


def test_snow_refuses_pictures_under_4x4_in_one_line():
    """Snow opened for 2x2 and failed on the first frame ("Invalid argument": a traceback)."""
    with pytest.raises(UserError, match=r"^snow cannot encode 2x2 pictures \(it takes pictures of 4x4 and larger"):
        check_picture_size("snow", 2, 2)


def test_h263_pictures_are_scaled_into_its_sizes_with_cif_pixels(tmp_path):
    """H.263 encodes five sizes only: every other was "cannot open encoder h263: Invalid argument"
    (64x64, the check before any work, too). A 64x48 picture goes into sub-QCIF, 12:11 pixels."""
    check_encoder(EncodeSettings("h263"), Path("o.mov"))
    out = tmp_path / "out.mov"
    written(out, "h263", 64, 48)
    plays(out)
    picture, aspect, _, count = first_frame(out)
    assert ((picture.width, picture.height), aspect, count) == ((128, 96), Fraction(12, 11), 3)


def rated(path: Path, codec: str, rate: Fraction, ticks: list[int], time_base: Fraction) -> None:
    writer = VideoWriter(path, EncodeSettings(codec), VideoFormatOut(32, 32, time_base, rate), [])
    for pts in ticks:
        writer.write_frame(np.full((32, 32, 3), 90, np.uint8), pts, ticks[1] - ticks[0])
    writer.close()


@pytest.mark.parametrize("codec, rate, ticks", [
    ("mpeg1video", Fraction(1, 2), [0, 2000, 4000]),  # was "encoder mpeg1video does not open" (Xing's 5 fps)
    ("libsvtav1", Fraction(1000), [0, 1, 2]),         # was "encoder libsvtav1 does not open" (over 240 fps)
])
def test_encoders_open_at_rates_outside_their_own(codec, rate, ticks, tmp_path, monkeypatch):
    monkeypatch.setenv("SVT_LOG", "0")
    out = tmp_path / "out.mkv"
    rated(out, codec, rate, ticks, Fraction(1, 1000))
    plays(out)
    assert first_frame(out)[3] == 3
