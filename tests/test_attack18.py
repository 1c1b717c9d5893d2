"""Hostile files and inputs against the stills, notes and stream reports of 2 December.

Found: an OpenEXR header of thousands of attributes made FFmpeg's decoder quadratic (40 000, a
2.4 MB file, took 8 s; the header check walked only the first 1 MiB); a .jp2 whose metadata box
held a codestream read as a black picture (FFmpeg's j2k_pipe parser split the file there, so the
codestream decoded was not the one whose size was checked); a float picture's conversion made a
copy of the picture at each step (a 38 KB EXR stating a 8000x8000 display window took 5.5 GiB
and 25 s); an EXR's +inf highlight read black; a PAM (P7) read with red and blue swapped and not
scaled by its maxval; a PPM whose comments pushed its maxval past the first 1024 bytes was not
scaled; counting repeated notes was quadratic in the pictures (10 000: 3.2 s); an attachment's
codec was reported as its file name; an EXR cut short read with black rows, without a word.
"""

from __future__ import annotations

import struct
import subprocess
import time
import tracemalloc
from pathlib import Path

import av
import numpy as np
import pytest

from realtime_adain.errors import UserError
from realtime_adain.imageio import is_image_path, read_image
from realtime_adain import notes
from realtime_adain.rgb8 import to_rgb8
from realtime_adain.video.stream_reports import codec_name
from video_corpus import FFMPEG


def ffmpeg(*args: str | Path, data: bytes | None = None) -> None:
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", *map(str, args)], input=data, check=True,
                   capture_output=True)


# --- OpenEXR -----------------------------------------------------------------------------------


def exr_attribute(name: bytes, kind: bytes, value: bytes) -> bytes:
    return name + b"\0" + kind + b"\0" + struct.pack("<i", len(value)) + value


def exr_file(tmp_path: Path, linear: np.ndarray, extra: list[bytes] = (), display: tuple[int, int] | None = None,
             name: str = "x.exr") -> Path:
    """An uncompressed float EXR written by FFmpeg (one scan line a chunk), with `extra` attributes
    added at the end of its header and its display window set to `display` (width, height); the
    chunk offsets moved by what was added."""
    height, width = linear.shape[:2]
    planes = np.stack([linear[..., 1], linear[..., 2], linear[..., 0]]).astype("<f4")
    source = tmp_path / "source.exr"
    ffmpeg("-f", "rawvideo", "-pix_fmt", "gbrpf32le", "-s", f"{width}x{height}", "-i", "-", "-c:v", "exr",
           "-format", "float", "-compression", "none", source, data=planes.tobytes())
    data = source.read_bytes()
    at, attributes = 8, []
    while data[at]:
        name_end = data.index(b"\0", at)
        kind_end = data.index(b"\0", name_end + 1)
        size = struct.unpack_from("<i", data, kind_end + 1)[0]
        value = data[kind_end + 5:kind_end + 5 + size]
        if data[at:name_end] == b"displayWindow" and display:
            value = struct.pack("<4i", 0, 0, display[0] - 1, display[1] - 1)
        attributes.append(exr_attribute(data[at:name_end], data[name_end + 1:kind_end], value))
        at = kind_end + 5 + size
    header = data[:8] + b"".join(attributes + list(extra)) + b"\0"
    offsets = struct.unpack_from(f"<{height}Q", data, at + 1)
    moved = len(header) - (at + 1)
    body = struct.pack(f"<{height}Q", *(offset + moved for offset in offsets)) + data[at + 1 + 8 * height:]
    (tmp_path / name).write_bytes(header + body)
    return tmp_path / name


def test_an_exr_header_of_thousands_of_attributes_is_refused_before_ffmpeg_reads_it(tmp_path):
    """FFmpeg's EXR decoder is quadratic in a header's attributes (5 000: 0.25 s, 40 000: 8 s);
    such a header was read (the check stopped looking after 4 096 of them, or 1 MiB)."""
    many = [exr_attribute(b"note%05d" % number, b"string", b"x" * 8) for number in range(5000)]
    path = exr_file(tmp_path, np.full((4, 4, 3), 0.5, np.float32), many)
    started = time.process_time()  # (CPU time, not a loaded machine's wait for a core)
    with pytest.raises(UserError, match=r"x.exr: an OpenEXR header of more than 4096 attributes"):
        read_image(path)
    assert time.process_time() - started < 1.0
    fewer = exr_file(tmp_path, np.full((4, 4, 3), 0.5, np.float32), many[:100], name="y.exr")
    assert read_image(fewer).shape == (4, 4, 3)


def test_an_exr_window_attribute_past_the_end_or_of_negative_size_is_one_line(tmp_path):
    path = exr_file(tmp_path, np.full((4, 4, 3), 0.5, np.float32))
    data = path.read_bytes()
    at = data.index(b"dataWindow\0box2i\0") + len(b"dataWindow\0box2i\0")
    for size in (-16, 1 << 30):
        (tmp_path / "bad.exr").write_bytes(data[:at] + struct.pack("<i", size) + data[at + 4:])
        with pytest.raises(UserError, match=r"bad.exr: a damaged OpenEXR image \(its header states no size\)$"):
            read_image(tmp_path / "bad.exr")


def test_an_exr_cut_short_says_which_rows_read_black(tmp_path, capsys):
    """FFmpeg leaves the rows of chunks outside the file black without a word (as do offsets
    that point nowhere)."""
    data = exr_file(tmp_path, np.full((8, 4, 3), 1.0, np.float32)).read_bytes()
    assert read_image(tmp_path / "x.exr").min() == 255 and capsys.readouterr().err == ""
    (tmp_path / "cut.exr").write_bytes(data[:-70])  # (a chunk is 8 + 48 bytes)
    read = read_image(tmp_path / "cut.exr")
    assert read[:6].min() == 255 and read[6:].max() == 0
    assert capsys.readouterr().err == (f"note: {tmp_path / 'cut.exr'}: 2 of its 8 blocks of pixels are not in the "
                                       f"file (cut short?); their rows read black\n")


def test_an_infinite_exr_highlight_reads_white_and_nan_black(tmp_path):
    """A half float's overflow is +inf (a highlight past 65504): it read black, where FFmpeg and
    ImageMagick show white."""
    linear = np.full((4, 6, 3), 0.25, np.float32)
    linear[1, 1], linear[2, 2], linear[3, 3] = np.inf, np.nan, -np.inf
    read = read_image(exr_file(tmp_path, linear))
    assert read[1, 1].tolist() == [255, 255, 255] and read[2, 2].tolist() == [0, 0, 0]
    assert read[3, 3].tolist() == [0, 0, 0] and read[0, 0].tolist() == [137, 137, 137]


@pytest.mark.slow  # (default run's time: a large float picture)
def test_a_float_picture_converts_in_strips():
    """Each step of the conversion copied the whole picture: a 64 MP EXR took 5.5 GiB."""
    picture = np.random.default_rng(1).random((1000, 2000, 3), dtype=np.float32) * 1.2
    expected = np.clip(picture, 0, 1)
    expected = np.where(expected <= 0.0031308, 12.92 * expected, 1.055 * expected ** (1 / 2.4) - 0.055)
    tracemalloc.start()
    try:
        read = to_rgb8(picture, linear=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < picture.nbytes * 3 / 4, peak  # (the output is a quarter of it; before: 5.2 times it)
    np.testing.assert_allclose(read, (expected * 255 + 0.5).astype(np.uint8)[..., ::-1], atol=1)


def test_a_tiny_exr_stating_a_large_display_window_reads_without_copying_its_frame(tmp_path):
    """FFmpeg allocates the display window (black around the data window): its frame was copied
    twice more as floats before the conversion."""
    path = exr_file(tmp_path, np.full((2, 2, 3), 1.0, np.float32), display=(3000, 2000))
    tracemalloc.start()
    try:
        read = read_image(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert read.shape == (2000, 3000, 3) and read[:2, :2].min() == 255 and read[2:].max() == 0
    assert peak < 3000 * 2000 * 3 * 2, peak  # (FFmpeg's float frame alone: 72 MB)


# --- JPEG 2000 ---------------------------------------------------------------------------------


def test_a_jp2_whose_metadata_holds_a_codestream_reads_its_own_picture(tmp_path):
    """FFmpeg's j2k_pipe parser cut the file at a codestream inside an `xml ` box: the picture
    read black, and a codestream other than the one whose size was checked was decoded."""
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[..., 0] = 200
    ffmpeg("-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "64x48", "-i", "-", "-c:v", "libopenjpeg",
           tmp_path / "x.jp2", data=rgb.tobytes())
    data = (tmp_path / "x.jp2").read_bytes()
    box = data.index(b"jp2c") - 4
    codestream = data[box + 8:]
    xml = struct.pack(">I", 8 + len(codestream)) + b"xml " + codestream
    (tmp_path / "decoy.jp2").write_bytes(data[:box] + xml + data[box:])
    read = read_image(tmp_path / "decoy.jp2")
    assert np.abs(read.astype(int) - rgb).max() <= 2


# --- PNM ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth, tuple_type, maxval, sample, expected", [
    (3, b"RGB", 255, [255, 0, 0], [255, 0, 0]),
    (3, b"RGB", 100, [100, 50, 0], [255, 128, 0]),
    (4, b"RGB_ALPHA", 255, [255, 0, 0, 0], [255, 255, 255]),
    (4, b"RGB_ALPHA", 255, [0, 0, 255, 255], [0, 0, 255]),
    (1, b"GRAYSCALE", 1023, [1023], [255, 255, 255]),
])
def test_a_pam_reads_as_netpbm_defines_it(depth, tuple_type, maxval, sample, expected, tmp_path):
    """OpenCV read a P7 (PAM) picture's red as blue, its alpha as colour and did not scale it by
    its maxval (1023: nearly black)."""
    header = (b"P7\nWIDTH 2\nHEIGHT 2\nDEPTH %d\nMAXVAL %d\nTUPLTYPE %s\nENDHDR\n" % (depth, maxval, tuple_type))
    body = np.array(sample * 4, ">u2" if maxval > 255 else "u1").tobytes()
    (tmp_path / "x.pam").write_bytes(header + body)
    assert is_image_path(tmp_path / "x.pam")
    assert np.abs(read_image(tmp_path / "x.pam")[1, 1].astype(int) - expected).max() <= 1  # (FFmpeg: 50 of 100 is 127)


def test_a_pam_claiming_too_many_pixels_is_refused_from_its_header(tmp_path):
    (tmp_path / "bomb.pam").write_bytes(b"P7\nWIDTH 100000\nHEIGHT 100000\nDEPTH 3\nMAXVAL 255\nENDHDR\n\0\0\0")
    with pytest.raises(UserError, match="bomb.pam: 100000x100000 is larger than the 268435456 pixels"):
        read_image(tmp_path / "bomb.pam")


def test_a_ppm_whose_comments_push_its_maxval_past_1_kib_is_still_scaled(tmp_path):
    (tmp_path / "x.ppm").write_bytes(b"P6\n#" + b"c" * 2000 + b"\n2 2\n100\n" + bytes([100, 50, 0]) * 4)
    assert read_image(tmp_path / "x.ppm")[0, 0].tolist() == [255, 128, 0]


# --- notes -------------------------------------------------------------------------------------


def test_counting_repeated_notes_takes_time_in_proportion_to_the_pictures(capsys):
    """Each note was matched against every subject in turn: 10 000 pictures took 3.2 s."""
    paths = [f"/photos/holiday/picture {number:05d}.png" for number in range(20000)]
    started = time.process_time()  # (CPU time: a loaded machine's wait for a core took 1.5-4 s of wall time)
    with notes.repeats_counted([*paths, "/photos/holiday/picture 00001.png.png"]):
        for path in paths:
            notes.note(f"{path}: a wide-gamut picture (SDR over Display P3): converted", once=True)
        notes.note("/photos/holiday/picture 00001.png.png: a wide-gamut picture (SDR over Display P3): converted")
    assert time.process_time() - started < 1.5
    err = capsys.readouterr().err.splitlines()
    assert err == ["note: /photos/holiday/picture 00000.png: a wide-gamut picture (SDR over Display P3): converted",
                   "note: likewise 20000 more pictures (20001 in all): a wide-gamut picture (SDR over Display P3): "
                   "converted"]


def test_a_note_is_grouped_by_the_longest_subject_it_names(capsys):
    with notes.repeats_counted(["a.png", "a.png: b.png", "c.png"]):
        notes.note("a.png: b.png: cut short")
        notes.note("c.png: cut short")
        notes.note("a.png has 3 frames; only the first is used")
    assert capsys.readouterr().err.splitlines() == [
        "note: a.png: b.png: cut short", "note: a.png has 3 frames; only the first is used",
        "note: likewise 1 more picture (2 in all): cut short"]


def test_a_note_naming_a_file_with_a_newline_is_one_line(capsys):
    """An attachment named "evil\\nerror: fake.ttf" dropped from an .mp4: the note printed a
    second line that read as an error of ours (as errors do, the newline is shown escaped)."""
    notes.note("x.mkv: dropping attachment stream #3 (evil\nerror: fake.ttf): .mp4 cannot hold it")
    with notes.repeats_counted(["a\nb.png", "c.png"]):
        notes.note("a\nb.png: cut short")
        notes.note("c.png: cut short\r")
        notes.note("c.png: cut short")
    assert capsys.readouterr().err.splitlines() == [
        "note: x.mkv: dropping attachment stream #3 (evil\\nerror: fake.ttf): .mp4 cannot hold it",
        "note: a\\nb.png: cut short", "note: c.png: cut short\\r",
        "note: likewise 1 more picture (2 in all): cut short"]


# --- video --json streams ----------------------------------------------------------------------


@pytest.mark.parametrize("mimetype, expected", [("font/ttf", None), ("application/x-truetype-font", "ttf")])
def test_an_attachments_codec_is_ffmpegs_name_not_its_file_name(mimetype, expected, tmp_path):
    """PyAV names an attachment stream by its file name: `video --json` said `"codec":
    "Font.ttf"`; ffprobe says `unknown` for font/ttf and `ttf` for application/x-truetype-font."""
    (tmp_path / "Font.ttf").write_bytes(b"\0\1\0\0" + bytes(60))
    ffmpeg("-f", "lavfi", "-i", "color=size=32x32:rate=5:duration=0.4", "-attach", tmp_path / "Font.ttf",
           "-metadata:s:t", f"mimetype={mimetype}", "-c:v", "mpeg4", tmp_path / "x.mkv")
    with av.open(str(tmp_path / "x.mkv")) as container:
        attachment = next(stream for stream in container.streams if stream.type == "attachment")
        assert codec_name(attachment) == expected


def test_an_error_naming_a_file_with_an_escape_sequence_shows_it_escaped(run_cli, tmp_path):
    """A name with ESC [31m (legal on Linux) turned the terminal red through the error line, and
    U+2028 or a C1 NEL split it in some terminals: only CR and LF were escaped."""
    name = tmp_path / "no\x1b[31mfile\u2028\x85.jpg"
    code, _, err = run_cli("image", name, "-s", name, "-o", tmp_path / "out.jpg")
    assert code != 0 and err.count("\n") == 1, err
    assert "\x1b" not in err and "\u2028" not in err and "\x85" not in err
    assert "no\\x1b[31mfile\\u2028\\u0085.jpg" in err
