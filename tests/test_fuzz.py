"""Property-based fuzzing (hypothesis) of what a hostile user controls: image bytes and option values.

The image reader gives an (H, W, 3) uint8 array or a UserError, nothing else; the argument
parsers give a value or argparse's one-line usage error (SystemExit 2), never another exception.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from realtime_adain.cli import build_parser
from realtime_adain.commands import argtypes
from realtime_adain.errors import UserError
from realtime_adain.imageio import read_image

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def small_encoded(data_dir: Path) -> dict[str, bytes]:
    picture = cv2.resize(cv2.imread(str(data_dir / "content" / "lenna.jpg")), (24, 16))
    return {ext: cv2.imencode(ext, picture)[1].tobytes() for ext in (".png", ".jpg")}


@pytest.fixture(scope="module")
def seeds(data_dir) -> dict[str, bytes]:
    return small_encoded(data_dir)


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def check_reader(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        image = read_image(path)
    except UserError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(image, np.ndarray) and image.dtype == np.uint8
    assert image.ndim == 3 and image.shape[2] == 3 and image.shape[0] > 0 and image.shape[1] > 0


@st.composite
def mutations(draw, seeds: dict[str, bytes]) -> tuple[str, bytes]:
    """A real PNG or JPEG with bytes overwritten, removed or inserted, or cut short."""
    ext = draw(st.sampled_from(sorted(seeds)))
    data = bytearray(seeds[ext])
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["set", "delete", "insert", "truncate"]))
        if kind == "set":
            data[at] = draw(st.integers(0, 255))
        elif kind == "delete" and len(data) > 1:
            del data[at]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "truncate":
            data = data[: max(1, at)]
    return ext, bytes(data)


def test_reader_on_mutated_files(seeds, scratch):
    @FUZZ
    @given(mutations(seeds))
    def check(case):
        ext, data = case
        check_reader(scratch / f"fuzz{ext}", data)

    check()


@FUZZ
@given(data=st.binary(max_size=256), ext=st.sampled_from([".png", ".jpg", ".tiff", ".webp", ".bmp", ".ppm"]))
def test_reader_on_random_bytes(data, ext, scratch):
    check_reader(scratch / f"random{ext}", data or b"\0")


ARG_TYPES = [argtypes.unit_interval, argtypes.positive_int, argtypes.positive_float,
             argtypes.non_negative_int, argtypes.side_length, argtypes.max_pixels, argtypes.mix_weights, argtypes.resolution]

# Text a user might type for a number: digits, signs, exponents, separators, words, odd characters.
NUMBERISH = st.one_of(
    st.text(alphabet="0123456789-+.eExX,_ naifINF\n\t", max_size=30),
    st.text(max_size=20),
    st.from_regex(r"-?[0-9]{1,40}(\.[0-9]{0,5})?(e[+-]?[0-9]{1,4})?", fullmatch=True),
    st.from_regex(r"[0-9]{300,400}[kM]?", fullmatch=True),
)


@FUZZ
@given(parse=st.sampled_from(ARG_TYPES), text=NUMBERISH)
@example(parse=argtypes.side_length, text="9" * 5000)
@example(parse=argtypes.mix_weights, text="1e308,1e308")
def test_argtypes_parse_or_refuse(parse, text):
    try:
        parse(text)
    except argparse.ArgumentTypeError as exc:
        assert "\n" not in str(exc)


IMAGE_ARGV = ["image", "c.jpg", "-s", "s.jpg", "-o", "out/"]
VIDEO_ARGV = ["video", "c.mp4", "-s", "s.jpg", "-o", "out/"]
OPTIONS = {
    "image": ["--size", "--style-size", "--alpha", "--mix", "--max-pixels", "--device", "--dtype", "--engine", "--ext", "--mask"],
    "video": ["--size", "--style-size", "--alpha", "--mix", "--batch", "--frames", "--threads", "--bitrate", "--crf",
              "--codec", "--pix-fmt", "--ext", "--device", "--dtype", "--engine"],
}


PAIRS = [(command, option) for command, options in OPTIONS.items() for option in options]


@pytest.mark.slow  # (default run's time: 3 s)
@FUZZ
@given(pair=st.sampled_from(PAIRS), value=NUMBERISH, joined=st.booleans())
@example(pair=("video", "--bitrate"), value="9" * 400, joined=False)
@example(pair=("image", "--size"), value="99999999999999999999", joined=True)
@example(pair=("video", "--frames"), value="9" * 400, joined=False)
def test_parse_args_parses_or_refuses_in_one_line(pair, value, joined):
    command, option = pair
    argv = (IMAGE_ARGV if command == "image" else VIDEO_ARGV) + ([f"{option}={value}"] if joined else [option, value])
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            build_parser(argv).parse_args(argv)
    except SystemExit as exc:
        assert exc.code == 2
        lines = err.getvalue().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), err.getvalue()
    else:
        assert err.getvalue() == ""
