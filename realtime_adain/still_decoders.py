"""An encoded still picture's bytes decoded as (H, W, 3) uint8 RGB (`decode_still`, behind
`imageio.decode_image`): which decoder reads which file (OpenCV at the file's own depth,
`opencv_stills`; FFmpeg for JPEG 2000, OpenEXR, PAM, lossless and 12-bit JPEG, JPEG-LS, DPX, SGI,
XWD and PHM, `ffmpeg_stills`; Pillow, `pillow_stills`, where OpenCV has no decoder or misreads; HDR
and wide-gamut stills at full depth, `hdr_still_decoding`), each size checked from its header
first, orientation (`still_orientation`) and alpha applied, and what to say of a file none reads
(`unreadable_stills`: cut short, a video, an SVG, JPEG XL). Apart from `imageio`, the file side:
names, bytes read safely, masks, styles and writing."""

from __future__ import annotations

import re

import numpy as np  # (OpenCV: imported where used, so a broken one stops only what needs it)

from realtime_adain.errors import UserError
from realtime_adain.ffmpeg_stills import ffmpeg_bmp, ffmpeg_still, ffmpeg_webp
from realtime_adain.hdr_still_decoding import hdr_still
from realtime_adain.hdr_stills import coded_depth, colour_tags, full_scale
from realtime_adain.icc import transform_to_srgb, in_srgb
from realtime_adain.jpeg_headers import check_jpeg, jpeg_start, jpeg_without_end
from realtime_adain.native_stderr import native_stderr_captured, readable_line
from realtime_adain.notes import note
from realtime_adain.opencv_headers import (RADIANCE_SIGNATURES, check_bmp, gif_sample_bytes, looks_cut_short,
                                           png_data_short, png_sample_bytes, radiance_format, radiance_sample_bytes,
                                           tiff_sample_bytes, webp_sample_bytes)
from realtime_adain.opencv_stills import (alpha_levels, bmp_16_bit, decode_flags, misread_at_depth, opencv_alpha,
                                          opencv_decode)
from realtime_adain.picture_sizes import MAX_DECODE_BYTES, MAX_DECODE_PIXELS, over_decode_bytes, too_many_pixels
from realtime_adain.pillow_stills import (RGB_MODES, PillowHeader, alpha_unused, hidden_default_image, integer_levels, pillow_header,
                                          pillow_rgb)
from realtime_adain.rgb8 import over_white, to_rgb8
from realtime_adain.still_orientation import oriented, orientation_applied_here
from realtime_adain.tiff_layouts import tiff_layout
from realtime_adain.unreadable_stills import CUT_SHORT, JPEG_CUT_SHORT, unsupported_format

# PFM's signatures (colour, grey), each followed by whitespace.
_PFM_SIGNATURES = (b"PF", b"Pf")

# A grey or colour PNM's header (P2, P3, P5, P6): its last number is its maxval, the sample that is white.
_PNM_MAGICS = (b"P2", b"P3", b"P5", b"P6")
_PNM_HEADER = re.compile(rb"P[2356](?:(?:\s|#[^\r\n]*[\r\n])+(\d+)){3}\s")


def decode_still(data: np.ndarray, name: str) -> np.ndarray:
    import cv2

    check_jpeg(data, name, MAX_DECODE_PIXELS)  # (before any decoder: OpenCV, Pillow and FFmpeg each read every scan)
    check_bmp(data, name, MAX_DECODE_PIXELS)
    tags = colour_tags(data, name)
    if tags is not None:
        hdr = hdr_still(data, name, tags)
        if hdr is not None:
            return hdr
    decoded = ffmpeg_still(data, name)
    if decoded is not None:
        return decoded
    maxval = _PNM_HEADER.match(bytes(data[:1024]))  # (a header longer than that, of comments: Pillow reads it)
    if bytes(data[:2]) in _PNM_MAGICS and not (maxval and int(maxval[1]) in (255, 65535)):
        decoded = pillow_rgb(data, name)  # OpenCV scales only an ASCII 8-bit one by its maxval: a 10-bit
        if decoded is not None:  # PPM read nearly black, a binary one of maxval 100 dark
            return decoded
    # (OpenCV decodes at the file's own depth)
    stated = (tiff_sample_bytes(data) or png_sample_bytes(data) or radiance_sample_bytes(data) or gif_sample_bytes(data)
              or webp_sample_bytes(data))
    if not stated and bytes(data[:10]).startswith(RADIANCE_SIGNATURES):  # (its size unknown: not decoded)
        form = radiance_format(data)  # (none: RGBE, as Radiance's readers take it)
        if form not in (None, "32-bit_rle_rgbe"):
            kind = (f"a Radiance picture of XYZE colour (FORMAT={form})" if form == "32-bit_rle_xyze" else
                    f"a Radiance picture of FORMAT={form[:40]}" if form else "a Radiance header whose FORMAT= is empty")
            raise UserError(f"{name}: {kind} cannot be read here; save it as RGBE (FORMAT=32-bit_rle_rgbe)")
        raise UserError(f"{name}: not a readable image (a Radiance header without the size line OpenCV reads)")
    if stated and stated[0] * stated[1] > MAX_DECODE_PIXELS:
        raise UserError(f"{name}: {stated[0]}x{stated[1]} is {too_many_pixels()}")
    if stated and stated[0] * stated[1] * stated[2] > MAX_DECODE_BYTES:
        raise UserError(f"{name}: {over_decode_bytes(f'{stated[0]}x{stated[1]} at {stated[2]} bytes a pixel')}")
    if hidden_default_image(data):  # (an APNG's fallback picture, which OpenCV decodes: its first frame instead)
        decoded = pillow_rgb(data, name)
        if decoded is not None:
            return decoded
    # ANYDEPTH|ANYCOLOR keeps 16-bit and float samples and, unlike IMREAD_UNCHANGED, applies the
    # EXIF orientation (JPEG, TIFF, PNG, WebP), as the video reader applies rotation. An AVIF's
    # orientation is its irot/imir boxes' instead (MIAF: EXIF's is ignored), and an animation's
    # EXIF is not applied by OpenCV: both applied below (`orientation_applied_here`).
    own_orientation = orientation_applied_here(data)
    if bmp_16_bit(data):  # OpenCV widens its 5-bit channels by shifting (white read 248); Pillow replicates bits
        decoded = pillow_rgb(data, name)
        if decoded is not None:
            return decoded
    flags = cv2.IMREAD_COLOR if misread_at_depth(data, name) else decode_flags(own_orientation)
    layout = tiff_layout(data)
    if layout and layout.float_alpha:  # (OpenCV refused it at its own depth and colour: "ncn == img.channels()";
        flags = cv2.IMREAD_UNCHANGED  # its TIFF decoder applies the orientation then too: not turned again here)
    header = pillow_header(data) if layout else None  # (a TIFF's: its size was checked above)
    if header and _pillow_decodes(header):  # Pillow's picture is the one kept: OpenCV's, decoded first and held
        managed = pillow_rgb(data, name)  # meanwhile, took 3 B a pixel more (an RGBA TIFF 6 times its samples)
        if managed is not None:
            return managed
    header = header or (pillow_header(data) if stated and bytes(data[:4]) == b"\x89PNG" else None)
    alpha_kept = (flags != cv2.IMREAD_COLOR and not own_orientation and header is not None and header.has_alpha
                  and header.format == "PNG" and header.orientation == 1 and b"eXIf" not in bytes(data))
    # (an eXIf chunk after the pixels: OpenCV turns the colour by it, Pillow's header does not see it)
    if alpha_kept:  # decoded once with its alpha: a second decode for it took an RGBA PNG to 2.6 times its samples
        flags = cv2.IMREAD_UNCHANGED
    without_end = jpeg_without_end(data, name)  # (bytes to decode, and whether more may be missing)
    with native_stderr_captured() as native:
        image, failure = opencv_decode(data, flags)
        if image is None and failure == "not a readable image" and without_end:
            image, failure = opencv_decode(without_end[0], flags)  # (OpenCV refuses one: browsers show it)
    if image is None and failure == "not a readable image":
        if png_data_short(data):  # (Pillow reads one, its missing rows black)
            raise UserError(f"{name}: {failure} ({CUT_SHORT[looks_cut_short(data) or 'PNG data']})")
        image = pillow_rgb(data, name)  # TGA, ICO, PSD, 16-bit BMP, 16-bit CMYK TIFF: OpenCV has no decoder
        if image is None:
            image = ffmpeg_webp(data, name)
        if image is None:  # (a 16-bit BMP of 4-bit channels: the others refuse it)
            image = ffmpeg_bmp(data, name)
        if image is not None:
            return image
        unsupported = unsupported_format(data)
        if unsupported:
            raise UserError(f"{name}: {unsupported}")
    if image is None:
        cut = looks_cut_short(data) if failure == "not a readable image" else None
        detail = (CUT_SHORT[cut] if cut else
                  next((readable_line(line) for line in native if readable_line(line)), ""))
        if not detail and (webp := webp_sample_bytes(data)):  # (a 44-byte one stating 16000x16000 said no more)
            detail = f"a {webp[0]}x{webp[1]} WebP whose {data.size} bytes do not decode to it"
        if not detail and (start := jpeg_start(data)) > 0:  # (after zero bytes alone it is read: `after_zero_padding`)
            detail = f"{start} bytes come before its JPEG's start marker"
        shown = f" ({detail[:120]})" if detail and failure == "not a readable image" else ""
        raise UserError(f"{name}: {failure}{shown}")
    if (without_end and without_end[1]) or any("premature end" in line.lower() for line in native):  # (libjpeg's)
        note(f"{name}: {JPEG_CUT_SHORT}", once=True)
    image = oriented(image, own_orientation)
    if image.shape[0] * image.shape[1] > MAX_DECODE_PIXELS:  # when OpenCV was loaded before us
        raise UserError(f"{name}: {image.shape[1]}x{image.shape[0]} is {too_many_pixels()}")
    decoded = pillow_rgb(data, name) if image.dtype == np.int32 else None  # a 32-bit integer TIFF: as
    if decoded is not None:  # its PIL image reads (`integer_levels`); it was refused
        return decoded
    if image.dtype == np.uint32:  # (refused; Pillow's mode "I" is signed: from 2**31 up it read them negative)
        image = integer_levels(image, name)
    if image.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise UserError(f"{name}: unsupported sample type {image.dtype} (8- or 16-bit unsigned, or float, are read)")
    depth = (coded_depth(data) or 10) if image.dtype == np.uint16 and bytes(data[4:8]) == b"ftyp" else 16
    full_scale(image, depth)  # (a 10- or 12-bit AVIF: its samples were read as 16-bit ones, nearly black)
    if layout and layout.inverted_grey and image.dtype == np.uint16:  # (OpenCV read 16-bit white-is-zero as stored)
        np.subtract(np.uint16(65535), image, out=image)
    tried = header is not None and _pillow_decodes(header)  # (Pillow refused it above)
    header = header or pillow_header(data)  # (after OpenCV's size check: Pillow may read more than the header)
    if alpha_kept:  # (its own alpha, or none where OpenCV dropped it: grey tRNS, read by Pillow below)
        alpha = alpha_levels(image[..., 3], depth) if image.ndim == 3 and image.shape[2] == 4 else None
    else:
        alpha = opencv_alpha(data, header, image.shape[:2], depth) if header.has_alpha and header.format != "TIFF" else None
    if alpha is not None and alpha_unused(header.format, alpha):  # (a BMP's all-zero alpha: opaque)
        alpha, header = None, header._replace(has_alpha=False)
    if flags == cv2.IMREAD_UNCHANGED and not alpha_kept:  # a float RGBA TIFF (Pillow opens none): its alpha, its fourth channel
        alpha = np.clip(np.nan_to_num(image[..., 3], nan=0.0), 0.0, 1.0)
    if not tried and (_pillow_decodes(header) or (header.has_alpha and alpha is None)):
        # (OpenCV drops the alpha of 1-bit/grey PNG transparency)
        managed = pillow_rgb(data, name)
        if managed is not None:
            return managed
    linear = _linear_light(bytes(data[:10]))
    # (a CMYK one's profile is applied above, by Pillow; a grey one's is not applied, though Chromium applies it)
    profile = header.profile if header.mode in RGB_MODES else None
    premultiplied = bool(layout and layout.premultiplied)  # (a TIFF's colour stored as OpenCV read it)
    if alpha is None and header.has_alpha and header.format == "TIFF":  # one Pillow cannot decode (WebP-compressed:
        alpha = opencv_alpha(data, header, image.shape[:2], depth)  # its alpha was dropped): OpenCV's alpha, its
        premultiplied = premultiplied or image.dtype == np.uint8  # 8-bit colour premultiplied by libtiff's reading
    return over_white(in_srgb(to_rgb8(image, linear=linear, name=name), profile), alpha, name, premultiplied)


def _pillow_decodes(header: PillowHeader) -> bool:
    """Whether a picture of `header` is Pillow's to decode, where OpenCV reads it wrongly: it
    converts CMYK naively and Lab wrongly (LittleCMS does both), premultiplies a TIFF's colours by
    its alpha and drops the alpha of grey TIFFs."""
    return (header.mode == "LAB" or (header.mode == "CMYK" and bool(transform_to_srgb(header.profile, "CMYK")))
            or (header.has_alpha and header.format == "TIFF"))


def _linear_light(head: bytes) -> bool:
    """Whether a file starting with `head` holds linear light: Radiance (its specification) and PFM
    (HDRShop's HDR format; GIMP loads it as linear floats), as OpenEXR (`ffmpeg_still`) and as
    `video` reads all three (`video.float_pictures.linear_light`); others are display-referred. A PFM was
    read without the sRGB curve, darker than the same file in `video`."""
    return head.startswith(RADIANCE_SIGNATURES) or (head[:2] in _PFM_SIGNATURES and head[2:3].isspace())

