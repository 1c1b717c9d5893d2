"""Session 30's fixes, each found by a hostile try (one test per finding)."""

import pytest


@pytest.mark.parametrize("parse, text", [
    ("framerate", "\u0662\u0664"), ("resolution", "\u0661\u0662\u0668x\u0667\u0662"),
    ("start_time", "\u0661"), ("duration", "0:\u0661\u0660"), ("whole_number", "\u0661\u0668"),
    ("real_number", "\u0660.\u0665"), ("bitrate", "\u0664M"),
])
def test_every_number_option_takes_ascii_digits_only(parse, text):
    """Python's int, Fraction and `\\d` read other scripts' digits ("١" was 1); the shared number
    parser refused them, the options parsed outside it (--crf, --framerate, --start, --bitrate,
    --resolution, tools/train.py's numbers) did not."""
    import argparse

    from realtime_adain.commands import argtypes
    from realtime_adain.commands.video import bitrate

    parser = bitrate if parse == "bitrate" else getattr(argtypes, parse)
    with pytest.raises(argparse.ArgumentTypeError):
        parser(text)
    ascii_text = text.translate({0x0660 + d: str(d) for d in range(10)})
    assert parser(ascii_text)  # the same in ASCII digits is taken


def test_a_folder_of_inputs_takes_jpeg_ls_pictures(data_dir, tmp_path):
    """JPEG-LS (`.jls`) is read when named (through FFmpeg), but a folder of inputs skipped it."""
    import subprocess

    from realtime_adain.imageio import is_image_path, read_image
    from realtime_adain.paths import expand_inputs

    folder = tmp_path / "in"
    folder.mkdir()
    picture = folder / "scan.jls"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(data_dir / "content" / "sailboat.jpg"), "-vf",
                    "scale=64:-2", "-pix_fmt", "bgr24", "-c:v", "jpegls", "-f", "image2", str(picture)], check=True)
    assert read_image(picture).shape[1] == 64
    assert expand_inputs([str(folder)], "content", is_image_path) == [picture]
