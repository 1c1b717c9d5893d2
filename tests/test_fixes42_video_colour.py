"""How `video` reads deeper and wider colour (session 42): HDR and wide-gamut pictures of odd
width in 4:2:0 or 4:2:2 came out with smeared, wrong colours (swscale's YUV to rgb48 at odd
widths; up to 255 levels), and 10-bit SDR video ~2 levels dark, its white at 253. Both are now
within about a level of the exact conversion."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader

BT709, BT2020, BT2020_NCL, PQ = 1, 9, 9, 16


def written(path: Path, planes: list[np.ndarray], pix_fmt: str, matrix: int, primaries: int, transfer: int) -> Path:
    """Two pictures of these Y, U, V `planes` (code values, made here: swscale's own RGB to YUV
    at odd widths is not to be trusted either) as lossless FFV1 in `pix_fmt`, limited range, tagged
    with `matrix`, `primaries` and `transfer`."""
    width, height = planes[0].shape[1], planes[0].shape[0]
    frame = av.VideoFrame(width, height, pix_fmt)
    dtype = np.uint16 if frame.format.components[0].bits > 8 else np.uint8
    for plane, values in zip(frame.planes, planes):
        rows = np.zeros((plane.height, plane.line_size // np.dtype(dtype).itemsize), dtype)
        rows[:values.shape[0], :values.shape[1]] = values
        plane.update(rows.tobytes())
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=5)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.codec_context.colorspace, stream.codec_context.color_range = matrix, 1
        stream.codec_context.color_primaries, stream.codec_context.color_trc = primaries, transfer
        for index in range(2):
            frame.pts = index
            frame.colorspace, frame.color_range = matrix, 1
            frame.color_primaries, frame.color_trc = primaries, transfer
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def yuv_ramps(width: int, height: int, pix_fmt: str) -> list[np.ndarray]:
    """Limited-range Y, U, V planes of smooth ramps (chroma interpolation differs by little, a
    garbled column by much), at the chroma size `pix_fmt` subsamples to."""
    scale = 4 if "10" in pix_fmt else 1
    across = 1 if "444" in pix_fmt else 2
    down = 2 if "420" in pix_fmt else 1
    chroma_w, chroma_h = -(-width // across), -(-height // down)
    y = np.linspace(32, 220, width)[None, :].repeat(height, 0)
    u = np.linspace(60, 200, chroma_w)[None, :].repeat(chroma_h, 0)
    v = np.linspace(200, 60, chroma_h)[:, None].repeat(chroma_w, 1)
    return [np.rint(plane * scale).astype(np.uint16) for plane in (y, u, v)]


def read_first(path: Path) -> np.ndarray:
    with VideoReader(path) as reader:
        return next(item.image for item in reader.items() if isinstance(item, Frame)).astype(float)


@pytest.mark.parametrize("pix_fmt", ["yuv420p10le", "yuv422p10le", "yuv420p"])
@pytest.mark.parametrize("transfer", [PQ, BT709], ids=["pq", "sdr-bt2020"])
def test_wide_colour_of_odd_width_reads_as_the_same_picture_one_column_wider(tmp_path, pix_fmt, transfer):
    """A 95-wide clip reads as the 96-wide one of the same chroma (its last luma column repeated)
    does, column for column: it was up to 255 levels off, its bars shifted and its hues wrong."""
    y, u, v = yuv_ramps(95, 64, pix_fmt)
    odd = read_first(written(tmp_path / "odd.mkv", [y, u, v], pix_fmt, BT2020_NCL, BT2020, transfer))
    wider = np.concatenate([y, y[:, -1:]], axis=1)
    even = read_first(written(tmp_path / "even.mkv", [wider, u, v], pix_fmt, BT2020_NCL, BT2020, transfer))
    assert odd.shape == (64, 95, 3)
    apart = np.abs(odd[:, :93] - even[:, :93])  # (95 columns' chroma is scaled from 48 a little apart
    assert np.percentile(apart, 99) <= 8 and apart.max() < 64  # from 96's; PQ and clipping spread that)


def bt709_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The exact RGB (0..255, float) of 10-bit limited-range BT.709 planes, chroma repeated to
    full size."""
    def full(plane: np.ndarray) -> np.ndarray:
        plane = plane.repeat(y.shape[0] // plane.shape[0], 0).repeat(-(-y.shape[1] // plane.shape[1]), 1)
        return (plane[:, :y.shape[1]] / 4 - 128) / 224

    luma, blue, red = (y / 4 - 16) / 219, full(u), full(v)
    r, b = luma + 1.5748 * red, luma + 1.8556 * blue
    g = (luma - 0.2126 * r - 0.0722 * b) / 0.7152
    return np.clip(np.dstack([r, g, b]) * 255, 0, 255)


@pytest.mark.parametrize("pix_fmt", ["yuv420p10le", "yuv422p10le", "yuv444p10le"])
def test_ten_bit_sdr_reads_as_the_exact_conversion(tmp_path, pix_fmt):
    """10-bit BT.709 reads as the exact conversion, white (Y 940) as 255: it was 253, and the
    whole picture ~2 levels low."""
    y, u, v = yuv_ramps(96, 64, pix_fmt)
    y[:4] = 940  # white, where its chroma is neutral
    u[:u.shape[0] * 4 // 64], v[:v.shape[0] * 4 // 64] = 512, 512
    deep = read_first(written(tmp_path / "deep.mkv", [y, u, v], pix_fmt, BT709, BT709, BT709))
    assert deep[:2].min() == 255
    apart = deep - bt709_rgb(y, u, v)
    assert abs(apart.mean()) < 0.3 and np.percentile(np.abs(apart), 99) <= 12  # (chroma: repeated, not interpolated)
