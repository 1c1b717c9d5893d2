"""Round 54: stills FFmpeg reads that were refused or misread. A 16-bit PSD (RGB, grey, CMYK) was
"not a readable image" (Pillow reads 8-bit ones only; a folder stopped at it), a 32-bit one too,
without the reason; a colour FITS was read as its red plane, grey, exit 0; an Alias PIX was "not a
readable image"."""

from __future__ import annotations

import struct

import av
import numpy as np
import pytest

from realtime_adain.errors import UserError
from realtime_adain.imageio import decode_image


def picture(height: int = 24, width: int = 40) -> np.ndarray:
    """Colour ramps, a different one in each channel (a plane read as another shows)."""
    rows, columns = np.mgrid[0:height, 0:width]
    rgb = np.stack([columns * 255 // (width - 1), rows * 255 // (height - 1), (rows + columns) * 4 % 256], -1)
    return rgb.astype(np.uint8)


def psd(planes: np.ndarray, mode: int, depth: int = 16, compression: int = 0, layers: bytes = b"") -> bytes:
    """A Photoshop file (version 1, no colour map or resources) of `planes` (channels, height,
    width) at `depth` bits in colour `mode` (1 grey, 3 RGB, 4 CMYK), its layer section `layers`,
    stored uncompressed or RLE (`compression` 1: PackBits, each row literal runs of up to 128
    bytes, as Photoshop's merged picture is stored)."""
    channels, height, width = planes.shape
    header = (b"8BPS" + struct.pack(">H6xHIIHH", 1, channels, height, width, depth, mode) + bytes(8)
              + struct.pack(">I", len(layers)) + layers)
    samples = planes.astype(f">u{depth // 8}")
    if compression == 1:
        rows = [b"".join(bytes([len(run) - 1]) + run for run in (row[at:at + 128] for at in range(0, len(row), 128)))
                for row in (row.tobytes() for plane in samples for row in plane)]
        return (header + struct.pack(">H", 1) + struct.pack(f">{len(rows)}H", *map(len, rows))
                + b"".join(rows))
    return header + struct.pack(">H", compression) + samples.tobytes()


def wide(samples: np.ndarray) -> np.ndarray:
    """8-bit samples at 16 bits (each byte repeated: the same level)."""
    return samples.astype(np.uint16) * 257


@pytest.mark.parametrize("compression", [0, 1])
@pytest.mark.parametrize("mode", ["RGB", "grey", "CMYK"])
def test_a_16_bit_psd_is_read_at_its_levels(mode, compression):
    """It was "not a readable image" (Pillow reads 8-bit PSDs only)."""
    rgb = picture()
    planes = {"RGB": rgb.transpose(2, 0, 1), "grey": rgb[None, ..., 1],
              # (Photoshop stores CMYK inverted: 65535 is no ink; no black ink here)
              "CMYK": np.concatenate([rgb.transpose(2, 0, 1), np.full((1, *rgb.shape[:2]), 255)])}[mode]
    decoded = decode_image(psd(wide(planes), {"RGB": 3, "grey": 1, "CMYK": 4}[mode], compression=compression),
                           "deep.psd")
    expected = np.repeat(rgb[..., 1:2], 3, -1) if mode == "grey" else rgb
    assert np.abs(decoded.astype(int) - expected).max() <= 1


def test_a_16_bit_psd_keeps_levels_between_8_bit_ones():
    """Read at full depth, rounded: its high bytes alone would read both 100."""
    planes = np.array([[[100 * 257 + 64, 100 * 257 + 150]]] * 3, np.uint16)
    assert decode_image(psd(planes, 3), "fine.psd")[0, :, 0].tolist() == [100, 101]


@pytest.mark.parametrize("flagged", [True, False])
def test_a_16_bit_psd_alpha_is_over_white_where_its_layers_say_it_is_one(flagged):
    """Its fourth channel is the picture's transparency where its layer count is negative
    (Photoshop's flag, as FFmpeg reads it): transparent reads white; else a saved selection, unused."""
    planes = np.zeros((4, 2, 2), np.uint16)
    planes[3, 0] = 65535
    layers = struct.pack(">Ih", 2, -1) if flagged else b""
    bottom = 255 if flagged else 0
    assert decode_image(psd(planes, 3, layers=layers), "alpha.psd").tolist() == [[[0] * 3] * 2, [[bottom] * 3] * 2]


def test_a_32_bit_psd_is_refused_saying_why():
    """It was "not a readable image" (neither Pillow nor FFmpeg reads one)."""
    data = psd(np.ones((3, 4, 4), np.uint32), 3, depth=32)
    with pytest.raises(UserError, match=r"^float\.psd: a 32-bit PSD cannot be read; save it at 8 or 16 bits$"):
        decode_image(data, "float.psd")


@pytest.mark.parametrize("compression", [0, 1])
def test_a_16_bit_psd_stating_more_than_it_holds_is_refused_before_decoding(compression):
    """FFmpeg allocates the picture (and an RLE one's samples) before it finds the data missing."""
    data = psd(np.zeros((3, 8, 8)), 3, compression=compression)[:40]  # (its header whole, no samples)
    data = data[:14] + struct.pack(">II", 12000, 12000) + data[22:]
    with pytest.raises(UserError, match=r"^big\.psd: not a readable image \(a 12000x12000 PSD whose file is "
                                        r"shorter than its picture needs: cut short\?\)$"):
        decode_image(data, "big.psd")
    data = data[:14] + struct.pack(">II", 16000, 16000) + data[22:]  # (1.4 GiB of samples)
    with pytest.raises(UserError, match=r"^big\.psd: 16000x16000 at 16 bits a channel is more than the 1 GiB "):
        decode_image(data, "big.psd")


def fits(planes: np.ndarray, bitpix: int, cards: tuple[str, ...] = ()) -> bytes:
    """A FITS file of `planes` (planes, height, width; rows top first, stored bottom first) at
    `bitpix` (8, 16 or -32: float), RGB where there are 3 planes."""
    count, height, width = planes.shape
    axes = [f"NAXIS1  = {width:20d}", f"NAXIS2  = {height:20d}"]
    axes += [f"NAXIS3  = {count:20d}", "CTYPE3  = 'RGB     '"] if count > 1 else []
    header = ["SIMPLE  = " + "T".rjust(20), f"BITPIX  = {bitpix:20d}", f"NAXIS   = {2 + (count > 1):20d}",
              *axes, *cards, "END"]
    text = "".join(card.ljust(80) for card in header).encode()
    samples = planes[:, ::-1].astype({8: ">u1", 16: ">i2", -32: ">f4"}[bitpix]).tobytes()
    pad = lambda block: block + bytes(-len(block) % 2880)  # noqa: E731 - (blocks of 2880 bytes)
    return pad(text.replace(b"END" + b" " * 77, b"END".ljust(80))) + pad(samples)


def test_a_colour_fits_is_read_in_colour():
    """Pillow read its first plane, red, as grey (9.7 dB from FFmpeg's picture), exit 0."""
    rgb = picture()
    assert np.array_equal(decode_image(fits(rgb.transpose(2, 0, 1), 8), "colour.fits"), rgb)


@pytest.mark.parametrize("bitpix", [16, -32])
def test_a_grey_16_bit_or_float_fits_is_read_as_ffmpeg_reads_it(bitpix):
    """Its levels stretched from the lowest to the highest (FFmpeg's, as astronomers' viewers show
    one by default); a 16-bit one's signed samples offset by BZERO."""
    levels = picture()[..., 0].astype(np.float64)
    samples = levels * 100 - 20000 if bitpix == 16 else levels / 255 * 3 - 1
    cards = ("BZERO   = " + "32768".rjust(20),) if bitpix == 16 else ()
    decoded = decode_image(fits(samples[None], bitpix, cards), "grey.fits")
    assert np.abs(decoded.astype(int) - levels[..., None]).max() <= 1


def alias_pix(rgb: np.ndarray) -> bytes:
    """`rgb` as FFmpeg's Alias PIX encoder writes it (runs of a colour in each row)."""
    encoder = av.CodecContext.create("alias_pix", "w")
    encoder.width, encoder.height, encoder.pix_fmt = rgb.shape[1], rgb.shape[0], "bgr24"
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="bgr24")
    return b"".join(bytes(packet) for packet in [*encoder.encode(frame), *encoder.encode(None)])


def test_an_alias_pix_is_read():
    """It was "not a readable image" (FFmpeg reads one, by its .pix name: it has no signature)."""
    rgb = picture()
    assert np.array_equal(decode_image(alias_pix(rgb), "render.PIX"), rgb)


def test_an_alias_pix_header_is_not_taken_as_one_without_its_name():
    """Any 10 bytes may read as its header: another name is not read as one."""
    with pytest.raises(UserError, match=r"^render\.bin: not a readable image"):
        decode_image(alias_pix(picture()), "render.bin")


def test_an_alias_pix_stating_more_rows_than_it_holds_is_refused_before_decoding():
    """FFmpeg allocates the picture (0.8 GB for this 14-byte file) before it reads its runs."""
    data = struct.pack(">5H", 16384, 16384, 0, 0, 24) + bytes([1, 0, 0, 0])
    with pytest.raises(UserError, match=r"^big\.pix: not a readable image \(a 16384x16384 Alias PIX picture "
                                        r"whose file is shorter than its rows need: cut short\?\)$"):
        decode_image(data, "big.pix")
