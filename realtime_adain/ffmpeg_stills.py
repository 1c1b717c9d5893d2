"""The stills FFmpeg decodes here (PyAV, loaded for these only): JPEG 2000, OpenEXR, PAM, lossless
and 12-bit JPEG, JPEG-LS, DPX, SGI, XWD, PHM, 16-bit PSD, FITS, Alias PIX and the TIFFs others
misread (`tiff_layouts`: 16-bit grey and alpha, CMYK and alpha, planar 16-bit RGBA) (`ffmpeg_still`), and
a still WebP that libwebp refuses but FFmpeg plays (`ffmpeg_webp`) and a BMP of 4-bit channels
(`ffmpeg_bmp`), each size checked from its
header first (`still_headers`; an SGI's RLE rows, `sgi_runs`; a PSD's and an Alias PIX's data), as
uint8 RGB turned by its EXIF orientation; an EXR's or PHM's float frame as 8-bit RGB (`exr_rgb`,
shared with the video reader). Apart from `still_decoders`, which picks the decoder for each file."""

from __future__ import annotations

import struct

import numpy as np

from realtime_adain.errors import UserError
from realtime_adain.icc import in_srgb
from realtime_adain.jpeg_headers import codes_32768, jpeg_without_end, lossless_frame, rgb_coded
from realtime_adain.notes import note
from realtime_adain.opencv_headers import bmp_size
from realtime_adain.picture_sizes import MAX_DECODE_BYTES, MAX_DECODE_PIXELS, over_decode_bytes, too_many_pixels
from realtime_adain.pillow_stills import pillow_header
from realtime_adain.rgb8 import floats_to_8bit, over_white, to_rgb8
from realtime_adain.sgi_runs import sgi_rows_cut_short
from realtime_adain.still_headers import (alias_pix_data_short, exif_orientation, exr_chunks_missing, ffmpeg_still_size,
                                          psd_samples, sgi_data_short)
from realtime_adain.still_orientation import oriented
from realtime_adain.tiff_layouts import CMYK_ALPHA, GREY_ALPHA_16, PLANAR_RGBA_16, TIFF_KINDS, tiff_layout
from realtime_adain.unreadable_stills import JPEG_CUT_SHORT, is_animated_webp

_FFMPEG_DECODERS = {"JPEG 2000": "jpeg2000", "OpenEXR": "exr", "PAM": "pam", "lossless JPEG": "mjpeg",
                    "12-bit JPEG": "mjpeg", "JPEG-LS": "jpegls", "WebP": "webp", "DPX": "dpx", "SGI": "sgi",
                    "XWD": "xwd", "PHM": "phm", "16-bit PSD": "psd", "FITS": "fits", "Alias PIX": "alias_pix",
                    "BMP": "bmp", **{kind: "tiff" for kind in TIFF_KINDS}}  # (`ffmpeg_still`, `ffmpeg_webp`)
# Those FFmpeg decodes to float samples, 12 bytes a pixel (4 grey): linear light (PHM, as a PFM:
# `still_decoders._linear_light`).
_FLOAT_KINDS = ("OpenEXR", "PHM")
# The bytes a pixel of those decoded to more than a few (the TIFFs': the peak measured while FFmpeg
# decodes and converts them, 16-bit grey and alpha 26, CMYK and alpha 19; planar 16-bit RGBA 35, the file
# itself left out), each refused before decoding where a picture would be over MAX_DECODE_BYTES.
# (peak resident bytes a pixel over the file's own, 1500^2 against 3000^2 pictures, 2026-12-07: grey and
# alpha 16-bit 30, CMYK and alpha 25; rounded up)
_DECODED_BYTES = {**{kind: 12 for kind in _FLOAT_KINDS}, GREY_ALPHA_16: 31, CMYK_ALPHA: 27, PLANAR_RGBA_16: 35}
EXR_FORMATS = ("gbrpf32le", "gbrapf32le", "grayf32le")  # what FFmpeg's EXR decoder gives


def ffmpeg_still(data: np.ndarray, name: str) -> np.ndarray | None:
    """A JPEG 2000, OpenEXR, PAM, lossless or 12-bit JPEG, JPEG-LS, DPX, SGI, XWD, PHM, 16-bit PSD,
    FITS or Alias PIX picture decoded by FFmpeg (PyAV, loaded for these only) as uint8 RGB, its size
    checked from its header first (an SGI's data too, each RLE row's runs within the file; a one-row
    SGI read as the dimension-2 one it is laid out as; a JPEG without its end marker with a note:
    FFmpeg says nothing of one cut short; a 32-bit PSD refused: FFmpeg has no decoder for it
    either); None for other formats (Pillow read neither a 16-bit PSD nor an Alias PIX, and a colour
    FITS as its red plane, grey; OpenCV's libjpeg read neither JPEG-LS, FFmpeg's lossless JPEGs nor
    12-bit ones; Pillow read one's narrow YCbCr as full range, 62 levels off). OpenCV took a JPEG
    2000's YCbCr components (FFmpeg's libopenjpeg writes them) as RGB and its 10- or 12-bit
    samples as 16-bit ones, and refused subsampled ones; it has no OpenEXR decoder here; it read a
    PAM's red as blue, its alpha as colour, unscaled by its maxval. An EXR's linear light is
    encoded with the sRGB curve, clipped above 1 (as ImageMagick shows it, and Radiance pictures
    here), its premultiplied colour over white, and so is a PHM's (FFmpeg's half-float PFM, its rows
    in FFmpeg's order, top first, as FFmpeg writes them). The whole file is one packet to the decoder (no
    demuxer's parser, which cut a .jp2 at a codestream inside a metadata box: the codestream
    decoded was not the one whose size was checked)."""
    stated = ffmpeg_still_size(data, name)
    if stated is None:
        return None
    kind, size = stated
    if size is None:
        raise UserError(f"{name}: a damaged {kind} image (its header states no size)")
    if size[0] * size[1] > MAX_DECODE_PIXELS:
        raise UserError(f"{name}: {size[0]}x{size[1]} is {too_many_pixels()}")
    # FFmpeg decodes an EXR to float planes, 12 bytes a pixel or more: a 441-byte one took 4.4 GB
    if kind in _DECODED_BYTES and size[0] * size[1] * _DECODED_BYTES[kind] > MAX_DECODE_BYTES:
        raise UserError(f"{name}: {over_decode_bytes(f'{size[0]}x{size[1]} at {_DECODED_BYTES[kind]} bytes a pixel')}")
    # (FFmpeg allocates the picture before it finds the data missing, and reads bytes past the end as zeros)
    if kind == "SGI" and (sgi_data_short(data) or sgi_rows_cut_short(data)):
        raise UserError(f"{name}: not a readable image (a {size[0]}x{size[1]} SGI picture whose file is shorter "
                        f"than its header says its data is: cut short?)")
    if kind == "32-bit PSD":
        raise UserError(f"{name}: a 32-bit PSD cannot be read; save it at 8 or 16 bits")
    if kind == "16-bit PSD":
        _check_psd(data, name, size)
    if kind == "lossless JPEG":
        _check_lossless(data, name)
    if kind in TIFF_KINDS and tiff_layout(data).data_short(data.size):
        raise UserError(f"{name}: not a readable image (an uncompressed {size[0]}x{size[1]} {kind} whose file is "
                        f"shorter than its samples need: cut short?)")
    if kind == "Alias PIX" and alias_pix_data_short(data):
        raise UserError(f"{name}: not a readable image (a {size[0]}x{size[1]} Alias PIX picture whose file is "
                        f"shorter than its rows need: cut short?)")
    if kind == "SGI" and bytes(data[4:6]) == b"\0\1":  # one row (dimension 1), which FFmpeg refuses: its
        data = np.concatenate([data[:4], np.frombuffer(b"\0\2", np.uint8), data[6:]])  # layout is dimension 2's
    decoded = _ffmpeg_decoded(data, name, kind)
    if decoded is not None and jpeg_without_end(data, name):  # (FFmpeg says nothing of one cut short)
        note(f"{name}: {JPEG_CUT_SHORT}", once=True)
    return decoded


def _check_psd(data: np.ndarray, name: str, size: tuple[int, int]) -> None:
    """Refuse a 16-bit PSD whose channels would decode to more than MAX_DECODE_BYTES, or whose file
    is shorter than its picture needs (`still_headers.psd_samples`: FFmpeg allocates first)."""
    samples, short = psd_samples(data)
    if samples > MAX_DECODE_BYTES:
        raise UserError(f"{name}: {over_decode_bytes(f'{size[0]}x{size[1]} at 16 bits a channel')}")
    if short:
        raise UserError(f"{name}: not a readable image (a {size[0]}x{size[1]} PSD whose file is shorter than its "
                        f"picture needs: cut short?)")


def _check_lossless(data: np.ndarray, name: str) -> None:
    """Refuse a lossless JPEG FFmpeg's decoder misreads (`jpeg_headers.codes_32768`: a 16-bit one
    whose tables code a difference of 32768, read as garbage from there on; a 9-bit one coded as
    RGB, `jpeg_headers.rgb_coded`, which it takes for its own encoder's reversible colour transform).
    The table is checked, not the scan (which would need its Huffman codes decoded): one that lists
    category 16 but never uses it is refused too, in words that say so."""
    bits, components = lossless_frame(data, name) or (8, 1)
    if bits == 16 and codes_32768(data, name):
        raise UserError(f"{name}: a 16-bit lossless JPEG whose Huffman table allows a difference of 32768 cannot be "
                        f"read here (FFmpeg's decoder misreads one where it occurs); save it as a 16-bit PNG or TIFF")
    if bits == 9 and components == 3 and rgb_coded(data, name):
        raise UserError(f"{name}: a 9-bit lossless RGB JPEG cannot be read here (FFmpeg's decoder misreads it); "
                        f"save it as a 16-bit PNG or TIFF")


def ffmpeg_webp(data: np.ndarray, name: str) -> np.ndarray | None:
    """A still WebP that libwebp (OpenCV's and Pillow's) refuses but FFmpeg plays, decoded by
    FFmpeg; None where it is not one or FFmpeg refuses it too. Such files: a RIFF size field
    smaller than the file, a VP8X canvas smaller than its frame, an ICCP or other chunk before the
    frame without a VP8X header. A VP8 or VP8L frame is at most 16383 pixels a side, within the
    pixel limit, so no size is checked before decoding (the frame's own is checked after)."""
    head = bytes(data[:16])
    if head[:4] != b"RIFF" or head[8:12] != b"WEBP" or is_animated_webp(bytes(data[:30])):
        return None
    return _ffmpeg_decoded(data, name, "WebP")


def ffmpeg_bmp(data: np.ndarray, name: str) -> np.ndarray | None:
    """A 16-bit BMP of 4-bit channels (X4R4G4B4: GIMP writes it, and FFmpeg's rgb444le), which
    Pillow ("Unsupported BMP bitfields layout") and OpenCV refuse, decoded by FFmpeg; one of other
    16-bit bitfields, or with an alpha mask (FFmpeg drops the alpha), refused naming them, as is one of
    alpha bitfields (compression 6: OpenCV refused it in its own words, FFmpeg and Pillow refuse it);
    None for other files (checked from its header: call it once the others refused it)."""
    head = bytes(data[:70])
    header, bits, compression = (struct.unpack("<I10xHI", head[14:34]) if len(head) >= 66 and head[:2] == b"BM"
                                 else (0, 0, 0))
    if header >= 40 and compression == 6:
        raise UserError(f"{name}: a {bits}-bit BMP of compression 6 (alpha bitfields) cannot be read here; "
                        f"save it as a 24- or 32-bit BMP, or as a PNG")
    if header < 40 or bits != 16 or compression != 3:  # (3: bitfields, its masks after a 40-byte header)
        return None
    red, green, blue = struct.unpack("<3I", head[54:66])
    alpha = struct.unpack("<I", head[66:70])[0] if header >= 56 and len(head) == 70 else 0
    if (red, green, blue) != (0xF00, 0xF0, 0xF) or alpha:
        masks = f"R {red:#x}, G {green:#x}, B {blue:#x}" + (f", A {alpha:#x}" if alpha else "")
        raise UserError(f"{name}: a 16-bit BMP of bitfields {masks} cannot be read here; "
                        f"save it as a 24- or 32-bit BMP, or as a PNG")
    width, height = bmp_size(data) or (0, 0)
    if width * height > MAX_DECODE_PIXELS:
        raise UserError(f"{name}: {width}x{height} is {too_many_pixels()}")
    return _ffmpeg_decoded(data, name, "BMP")


def _ffmpeg_decoded(data: np.ndarray, name: str, kind: str) -> np.ndarray | None:
    """`data`, a still of `kind` (a key of `_FFMPEG_DECODERS`) whose size was checked, decoded by
    FFmpeg as uint8 RGB, turned as its EXIF orientation says (`still_headers.exif_orientation`:
    FFmpeg leaves that to its caller; OpenCV's decode applies it); None where FFmpeg refuses a kind
    another decoder may read."""
    rgb = _ffmpeg_rgb(data, name, kind)
    return None if rgb is None else oriented(rgb, exif_orientation(data, name))


def _ffmpeg_rgb(data: np.ndarray, name: str, kind: str) -> np.ndarray | None:
    """`_ffmpeg_decoded`'s picture as FFmpeg decodes it, its stored pixels unturned."""
    import av

    try:
        decoder = av.CodecContext.create(_FFMPEG_DECODERS[kind], "r")
        packet = data[80:] if kind == "FITS" else data  # (FFmpeg's FITS demuxer leaves out its first card)
        frame = next(iter([*decoder.decode(av.Packet(bytes(packet))), *decoder.decode(None)]))
        if frame.width * frame.height > MAX_DECODE_PIXELS:  # (an EXR's display window: checked too)
            raise UserError(f"{name}: {frame.width}x{frame.height} is {too_many_pixels()}")
        alpha = any(component.is_alpha for component in frame.format.components)
        if kind in _FLOAT_KINDS:
            missing, count = exr_chunks_missing(data, name) if kind == "OpenEXR" else (0, 0)
            if missing:
                note(f"{name}: {missing} of its {count} blocks of pixels are not in the file (cut short?); "
                     f"their rows read black", once=True)
            return exr_rgb(frame.reformat(format="gbrapf32le" if alpha else "gbrpf32le")
                            if frame.format.name not in EXR_FORMATS else frame)
        # (any depth, grey, YCbCr or palette, to 8 or 16 bits by FFmpeg)
        wide = any(component.bits > 8 for component in frame.format.components)
        if frame.format.name.endswith("be") and not wide:  # packed 15- or 16-bit big-endian RGB (an XWD's):
            frame = frame.reformat(format="gbrp")  # FFmpeg 8's swscale swapped its bytes going to 8-bit RGB
        if frame.format.name == "rgb444le":  # (a BMP's: FFmpeg's conversion shifted its 4 bits, white read 240)
            words = np.frombuffer(frame.planes[0], np.uint16).reshape(frame.height, -1)[:, :frame.width]
            samples = np.dstack([(words >> shift & 15).astype(np.uint8) * np.uint8(17) for shift in (0, 4, 8)])
        else:
            samples = frame.to_ndarray(format=("bgra64le" if alpha else "bgr48le") if wide else
                                       "bgra" if alpha else "bgr24")
        # FFmpeg leaves a lossless JPEG's colour at its bits (12-bit red read 16 of 255; 9-bit colour is its
        # own encoder's colour transform, decoded to 8 bits), its grey shifted up to 8 or 16 (2-bit white read 192)
        bits = (lossless_frame(data, name) or (8,))[0] if kind == "lossless JPEG" else 8
        if bits not in (8, 16) and not (bits == 9 and frame.format.is_rgb):
            import cv2

            shift = 0 if frame.format.is_rgb else (8 if bits < 8 else 16) - bits
            samples = cv2.convertScaleAbs(samples, alpha=255.0 / (((1 << bits) - 1) << shift))
    except UserError:
        raise
    except (av.FFmpegError, StopIteration, ValueError) as exc:
        if kind in ("JPEG 2000", "lossless JPEG", "WebP"):  # (OpenCV's OpenJPEG or libjpeg, then Pillow,
            return None  # may read it; a WebP, read by them before, is then said to be unreadable)
        reason = (getattr(exc, "strerror", None) or str(exc)).strip() or "no picture in it"
        raise UserError(f"{name}: a damaged or unsupported {kind} image ({reason[:200]})") from None
    opacity = samples[..., 3].astype(np.float32) / np.iinfo(samples.dtype).max if alpha else None
    profile = pillow_header(data).profile if kind == "JPEG 2000" else None
    premultiplied = kind in TIFF_KINDS and tiff_layout(data).premultiplied  # (FFmpeg keeps a TIFF's colour as stored)
    return over_white(in_srgb(to_rgb8(samples), profile), opacity, name, premultiplied)



def exr_rgb(frame) -> np.ndarray:
    """An EXR's or PHM's float frame (planes G, B, R, A, or Y) as uint8 RGB, read from FFmpeg's
    planes in place (`floats_to_8bit`): copied whole, a 38 KB EXR stating a 8000x8000 display
    window took 5.5 GiB."""
    planes = [np.frombuffer(plane, np.float32, count=frame.height * (plane.line_size // 4))
              .reshape(frame.height, plane.line_size // 4)[:, :frame.width] for plane in frame.planes]
    colour = [planes[2], planes[0], planes[1]] if len(planes) >= 3 else planes[:1] * 3
    return floats_to_8bit(colour, linear=True, alpha=planes[3] if len(planes) == 4 else None)
