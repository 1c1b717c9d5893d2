"""Pictures by their names and kinds: an XBM read with black and white swapped, a folder's `.apng`
files skipped, `.jfif`/`.jpe` JPEGs given `.png` results, and a contact-sheet caption of a CJK
name cut to '...g'."""

from __future__ import annotations

import av
import numpy as np

from realtime_adain import sheet
from realtime_adain.drawn_text import drawable
from realtime_adain.imageio import is_image_path, output_suffix, read_image
from realtime_adain.input_paths import expand_inputs

XBM = b"#define t_width 8\n#define t_height 2\nstatic char t_bits[] = {\n0xff, 0x00 };\n"


def ffmpeg_grey(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="gray")


def test_an_xbm_reads_its_set_bits_black_as_ffmpeg_does(tmp_path):
    """X11's bitmaps: a set bit is the foreground, black; Pillow's mode "1" made it white."""
    path = tmp_path / "t.xbm"
    path.write_bytes(XBM)
    rgb = read_image(path)
    assert rgb.shape == (2, 8, 3) and (rgb[0] == 0).all() and (rgb[1] == 255).all()
    np.testing.assert_array_equal(rgb[..., 0], ffmpeg_grey(path))
    assert (rgb == rgb[..., :1]).all()


def test_a_folder_takes_its_apng_files(tmp_path):
    """README lists APNG; named alone one was read, but a folder of them was "no images"."""
    path = tmp_path / "anim.apng"
    with av.open(str(path), "w", format="apng") as container:
        stream = container.add_stream("apng", rate=5)
        stream.width, stream.height, stream.pix_fmt = 16, 8, "rgb24"
        for level in (40, 200):
            frame = av.VideoFrame.from_ndarray(np.full((8, 16, 3), level, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    assert is_image_path(path) and is_image_path(path.with_suffix(".APNG"))
    assert expand_inputs([str(tmp_path)], "content", is_image_path) == [path]
    assert abs(int(read_image(path).mean()) - 40) <= 1  # its first frame


def test_jpeg_variants_give_jpg_results():
    """A .jfif or .jpe source is a JPEG: its result was a .png, as a grey-only format's is."""
    assert output_suffix(".jfif") == output_suffix(".JFIF") == output_suffix(".jpe") == ".jpg"
    assert output_suffix(".dib") == ".bmp"
    assert output_suffix(".JPG") == ".JPG" and output_suffix(".jpeg") == ".jpeg"
    assert output_suffix(".pgm") == output_suffix(".apng") == output_suffix(".heic") == ".png"


def test_a_cjk_name_keeps_its_extension_and_what_fits_of_its_start():
    """Each CJK character is a 6-character escape: the middle cut kept one unit, '...g'."""
    name = drawable("日本語の名前.jpg", unicode=False)
    assert sheet.fit_label(name, 58) == "....jpg"  # (the tester's tile: 96 pixels, a thumbnail beside)
    assert sheet.fit_label(name, 100) == "\\u65e5....jpg"
    one, two = (sheet.fit_label(drawable(f"日本語の長い名前_{n}.png", unicode=False), 200) for n in "一二")
    assert one.startswith("\\u65e5") and one.endswith("\\u4e00.png") and two.endswith("\\u4e8c.png")
    assert sheet.fit_label("a_very_long_style_name.jpg", 58) == "a_...e.jpg"
    assert sheet.fit_label("no extension at all here", 58) == "no e...ere"  # (no extension: start and end)


def test_the_sheet_draws_that_caption(tmp_path):
    tile, thumbnail = np.zeros((20, 96, 3), np.uint8), np.full((8, 8, 3), 128, np.uint8)
    drawn, expected = (sheet.compose_sheet([tile], [caption], [thumbnail], columns=1)
                       for caption in ("日本語の名前.jpg", "....jpg"))
    np.testing.assert_array_equal(drawn, expected)
