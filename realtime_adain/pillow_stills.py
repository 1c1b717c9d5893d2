"""What Pillow reads of a still picture: the file opened without Pillow's own pixel limit
(`open_with_pillow`; pillow-heif registered for HEIC/HEIF), the facts of its header that OpenCV's
decode leaves out (ICC profile, alpha, EXIF orientation, mode: `pillow_header`), how many frames or
pages it holds (`frame_count`; `note_first_frame_only` says when only the first is used), and its
first picture as uint8 RGB with its colours managed (`pillow_rgb`, `pillow_image_rgb`) for the
formats OpenCV has no decoder for (TGA, ICO, PSD, HEIC...) or decodes wrongly. Apart from
`still_decoders`, which picks the decoder for each file."""

from __future__ import annotations

import functools
import io
import os
import struct
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

from realtime_adain.errors import UserError
from realtime_adain.hdr_stills import STRIP_SAMPLES
from realtime_adain.icc import lab_to_srgb, transform_to_srgb, in_srgb
from realtime_adain.native_stderr import native_stderr_captured
from realtime_adain.notes import note
from realtime_adain.opencv_headers import tiff_pages
from realtime_adain.picture_sizes import MAX_DECODE_PIXELS, too_many_pixels
from realtime_adain.rgb8 import over_white, to_rgb8

# Modes whose pixels an RGB colour profile describes (Pillow's names).
RGB_MODES = ("RGB", "RGBA", "RGBX", "RGBa", "P", "PA")
_PREMULTIPLIED = {"RGBa": "RGBA", "La": "LA"}  # Pillow's modes of premultiplied alpha, and their straight ones

# Pillow formats never decoded here: EPS runs Ghostscript on the file.
_PILLOW_REFUSED = ("EPS",)

# The major brands (in the MP4-style "ftyp" box) of HEIC/HEIF, iPhones' photo format: pillow-heif decodes them.
_HEIF_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"hevc": "HEIC", b"heim": "HEIC", b"heis": "HEIC",
                b"hevx": "HEIC", b"mif1": "HEIF", b"msf1": "HEIF"}

# Pillow formats whose mode "I" pictures hold 16-bit levels: a PNM of maxval over 255, which Pillow
# scales to 0..65535 (`integer_levels` would take a dark one as 8-bit).
_SIXTEEN_BIT_I = ("PPM",)

# Pillow formats of BMP pixels, whose all-zero alpha means opaque (`alpha_unused`): icons and cursors hold BMPs.
_BMP_ALPHA_FORMATS = ("BMP", "ICO", "CUR")


def pillow_samples(data: np.ndarray, name: str) -> np.ndarray | None:
    """Pillow's decode (8 bits: its AVIF plugin's) of the first frame shown (`first_animation_frame`)
    as RGB(A), oriented, its size checked first; None where Pillow cannot read the file."""
    from PIL import ImageOps

    try:
        with open_with_pillow(data) as image:
            if image.width * image.height > MAX_DECODE_PIXELS:
                raise UserError(f"{name}: {image.width}x{image.height} is {too_many_pixels()}")
            if first := first_animation_frame(image):
                image.seek(first)
            image.load()
            image = ImageOps.exif_transpose(image)
            return np.array(image.convert("RGBA" if "A" in image.mode or "transparency" in image.info else "RGB"))
    except UserError:
        raise
    except Exception:  # noqa: BLE001 - not a format Pillow reads, or damaged: the 8-bit path says why
        return None


def first_frame_only_note(path: Path) -> str | None:
    """What to say when an animated GIF/PNG/WebP or a multi-page TIFF gives only its first
    picture (the rest would be dropped silently); None for one picture."""
    frames = frame_count(path)
    if frames <= 1:
        return None
    unit = "pages" if path.suffix.lower() in (".tif", ".tiff") else "frames"
    return f"{path} has {frames} {unit}; only the first is used"


def note_first_frame_only(path: Path) -> None:
    """Say so when an animated GIF/PNG/WebP or a multi-page TIFF gives only its first picture
    (once: a command may also load it into a style library, which says the same)."""
    if text := first_frame_only_note(path):
        note(text, once=True)


def frame_count(path: str | os.PathLike) -> int:
    """How many frames (animated GIF, PNG, WebP, AVIF) or pages (TIFF) a file holds; only the first
    is read. 1 for other formats, and for a camera's multi-picture JPEG (its first is the photo)."""
    try:
        data = Path(path).read_bytes()
        pages = tiff_pages(np.frombuffer(data, np.uint8))  # (Pillow opens not every TIFF read here)
        if pages is not None:
            return max(pages, 1)
        with open_with_pillow(data) as image:
            if (image.format not in ("GIF", "PNG", "WEBP", "AVIF", "TIFF")
                    or image.width * image.height > MAX_DECODE_PIXELS):
                return 1  # (counting a GIF's frames allocates one: a bomb's is not counted)
            return image.n_frames - first_animation_frame(image)  # (Pillow counts a hidden default image)
    except Exception:  # noqa: BLE001 - a file Pillow cannot open or walk: read as one picture
        return 1


def first_animation_frame(image) -> int:
    """The index among an opened Pillow image's frames of the first one shown: 1 for an APNG whose
    default image (its IDAT, no fcTL before it) is not part of its animation, a fallback picture
    for viewers without APNG that browsers and FFmpeg do not show (Pillow counts it as frame 0,
    OpenCV decodes it); else 0."""
    return int(image.format == "PNG" and bool(image.info.get("default_image")))


def hidden_default_image(data: np.ndarray) -> bool:
    """Whether `data` is an APNG whose default image is not part of its animation
    (`first_animation_frame`): its first frame is read by Pillow, not OpenCV."""
    if bytes(data[:8]) != b"\x89PNG\r\n\x1a\n":
        return False
    try:
        with open_with_pillow(data) as image:
            return first_animation_frame(image) == 1
    except Exception:  # noqa: BLE001 - damaged: OpenCV's decode says why
        return False


def heif_kind(head: bytes) -> str | None:
    """"HEIC" or "HEIF" when the file starts as one (None otherwise)."""
    return _HEIF_BRANDS.get(head[8:12]) if head[4:8] == b"ftyp" else None


@functools.lru_cache(maxsize=1)
def _heif_registered() -> bool:
    """Register pillow-heif's opener with Pillow, once, when the first HEIC/HEIF file is met (so a
    run without one never imports it); False when it is not installed."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()  # 10-bit pictures then decode to 8-bit RGB (its default), orientation applied
    return True


def needs_heif_extra(head: bytes) -> bool:
    """Whether a file starting with `head` (16 bytes or more) is a HEIC/HEIF picture that only
    the `heif` extra reads, and it is not installed (`live` then plays it through FFmpeg)."""
    return heif_kind(head) is not None and not _heif_registered()


def pillow_rgb(data: np.ndarray, name: str) -> np.ndarray | None:
    """Pillow's decode of the first frame shown (`first_animation_frame`) as (H, W, 3) uint8 RGB,
    colours managed by LittleCMS, orientation applied, alpha over white, an X11 bitmap's (XBM) set
    bits black; None where Pillow cannot read the file. The size is checked from the header before
    any pixel is decoded (a bomb is refused, not decoded)."""
    from PIL import ImageOps

    try:
        with open_with_pillow(data) as image:
            if image.format in _PILLOW_REFUSED:
                return None
            if image.width * image.height > MAX_DECODE_PIXELS:
                raise UserError(f"{name}: {image.width}x{image.height} is {too_many_pixels()}")
            if first := first_animation_frame(image):
                image.seek(first)
            with native_stderr_captured():  # (libtiff's lines on a damaged TIFF: OpenCV's say why)
                image.load()
            file_format, negative = image.format, _stored_negative(image)  # (before the turn, which drops tags)
            ImageOps.exif_transpose(image, in_place=True)  # (its copy of an unturned picture was 4 B a pixel more)
            rgb = _pillow_to_rgb(image, name, file_format, negative)
            if image.format == "XBM":  # X11's bitmaps: a set bit is the foreground, black (as FFmpeg and X11
                np.subtract(255, rgb, out=rgb)  # draw it), which Pillow reads as white
            return rgb
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - not a format Pillow reads, or damaged: OpenCV's verdict stands
        kind = heif_kind(bytes(data[:16]))
        if kind and _heif_registered():  # only pillow-heif reads it: its reason, not "not a readable image"
            reason = next(iter(str(exc).strip().splitlines()), "") or type(exc).__name__
            raise UserError(f"{name}: a damaged or unsupported {kind} image ({reason[:200]})") from None
        return None


def pillow_image_rgb(image) -> np.ndarray:
    """A caller's Pillow image as uint8 RGB, its pixels as `read_image` reads a file of them: 16-bit
    and float grey scaled, alpha over white, an embedded profile applied. Pillow's `convert("RGB")`
    made 16-bit grey white (clipped), float grey black and transparent pixels their hidden colour.
    EXIF orientation stays the caller's (Pillow leaves it; `ImageOps.exif_transpose` applies it)."""
    return _pillow_to_rgb(image, negative=_stored_negative(image))


def _stored_negative(image) -> bool:
    """Whether an opened Pillow image is a TIFF's 16-bit white-is-zero grey, whose samples Pillow
    keeps as stored, a negative (an LZMA or Zstd one: OpenCV's libtiff lacks those; at 8 bits
    Pillow inverts them itself)."""
    return image.mode.startswith("I;16") and getattr(image, "tag_v2", {}).get(262) == 0


def _pillow_to_rgb(image, name: str | None = None, file_format: str | None = None,
                   negative: bool = False) -> np.ndarray:
    """A loaded Pillow image as uint8 RGB: CMYK and Lab through LittleCMS (the embedded CMYK
    profile, else the naive inversion browsers use), 16-bit grey scaled, 32-bit integer grey by its
    values (`integer_levels`), alpha over white (premultiplied alpha, `RGBa` and `La`, too: its
    colours were taken as they are, black where transparent, and `La` was refused). `file_format`:
    Pillow's name for the file it was read from, where `image` (a copy) no longer says; `negative`:
    16-bit grey stored white-is-zero (`_stored_negative`), inverted."""
    from PIL import ImageCms

    file_format = file_format or image.format
    if image.mode in _PREMULTIPLIED:
        image = image.convert(_PREMULTIPLIED[image.mode])
    profile = image.info.get("icc_profile")
    if image.mode in ("CMYK", "LAB"):
        transform = transform_to_srgb(bytes(profile), "CMYK") if image.mode == "CMYK" and profile else None
        transform = lab_to_srgb() if image.mode == "LAB" else transform
        rgb = ImageCms.applyTransform(image, transform) if transform else image.convert("RGB")
        return np.array(rgb)  # writable: torch warns about read-only arrays
    if image.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        samples = np.asarray(image)
        key = image.info.get("transparency")  # (a grey PNG's tRNS: the sample value that is transparent)
        # (uint8, 1 byte a pixel: a float32 alpha of a 2^28-pixel picture was 1 GiB more)
        alpha = (samples != key).view(np.uint8) * np.uint8(255) if isinstance(key, int) and image.mode != "F" else None
        if image.mode == "I" and file_format not in _SIXTEEN_BIT_I:
            samples = integer_levels(samples, name)
        elif image.mode != "F":
            samples = np.clip(samples, 0, 65535).astype(np.uint16)
        if negative:
            samples = np.uint16(65535) - samples
        return over_white(to_rgb8(samples, name=name), alpha, name)
    profile = bytes(profile) if profile and image.mode in RGB_MODES else None
    rgb, alpha = _rgb_and_alpha(image)
    alpha = None if alpha is None or alpha_unused(file_format, alpha) else alpha
    return over_white(in_srgb(rgb, profile), alpha, name)


def _rgb_and_alpha(image) -> tuple[np.ndarray, np.ndarray | None]:
    """A Pillow image's pixels as (H, W, 3) uint8 RGB and, where it has transparency, its (H, W)
    uint8 alpha, converted `STRIP_SAMPLES` at a time: whole-picture `convert` copies, `tobytes`
    and float alpha took 6 times an 8-bit PSD's samples (1.2 GB for 8000x8000)."""
    mode = "RGBA" if "A" in image.mode or "transparency" in image.info else "RGB"
    rgb = np.empty((image.height, image.width, 3), np.uint8)
    alpha = np.empty(rgb.shape[:2], np.uint8) if mode == "RGBA" else None
    rows = max(1, STRIP_SAMPLES // max(1, 4 * image.width))
    for top in range(0, image.height, rows):
        strip = np.asarray(image.crop((0, top, image.width, min(top + rows, image.height))).convert(mode))
        rgb[top:top + rows] = strip[..., :3]
        if alpha is not None:
            alpha[top:top + rows] = strip[..., 3]
    return rgb, alpha


def alpha_unused(file_format: str | None, alpha: np.ndarray) -> bool:
    """Whether a picture's alpha means nothing: a BMP's (or an icon's or cursor's, which hold BMPs)
    that is zero everywhere (many writers leave the fourth byte of 32-bit pixels 0; FFmpeg and
    browsers show such a BMP opaque), which was read as all transparent, a blank white picture.
    `file_format`: Pillow's name for the file's format."""
    return file_format in _BMP_ALPHA_FORMATS and not alpha.any()


def integer_levels(samples: np.ndarray, name: str | None) -> np.ndarray:
    """32-bit integer grey (Pillow's mode "I": `convert("I")` of an 8-bit picture, an int32 array,
    a 32-bit integer TIFF; OpenCV's decode of an unsigned one), whose scale no file states, told
    by its values as float samples' is (`_floats_out_of_255`): none outside 0..255, 8-bit levels
    (read as 16-bit, an ordinary picture came out nearly black); else 16-bit, those below 0 or
    above 65535 clipped (as float highlights are: there is no white to scale by), with the
    picture's `name` a note saying which."""
    low, high = (int(samples.min()), int(samples.max())) if samples.size else (0, 0)
    if low >= 0 and high <= 255:
        if name is not None:
            note(f"{name}: its 32-bit integer samples are read as 8-bit levels (none is above 255)", once=True)
        return samples.astype(np.uint8)
    if name is not None and (low < 0 or high > 65535):
        note(f"{name}: its 32-bit integer samples run from {low} to {high}: read as 16-bit levels, "
             f"those outside 0..65535 clipped", once=True)
    return np.clip(samples, 0, 65535).astype(np.uint16)


class PillowHeader(NamedTuple):
    """What OpenCV's decode leaves out, from the file's header (read by Pillow)."""

    profile: bytes | None = None  # an embedded ICC profile
    has_alpha: bool = False  # RGBA, grey+alpha, or a palette with a transparent entry
    orientation: int = 1  # EXIF orientation, which OpenCV applies to the colour
    mode: str = ""  # Pillow's name for the pixels' layout: "RGB", "CMYK", "LAB", "L", ...
    format: str = ""  # Pillow's name for the file format: "PNG", "TIFF", ...


class _BufferStream(io.RawIOBase):
    """A read-only file over a buffer's bytes, without the copy io.BytesIO makes: each Pillow
    open of a file (its header, then its pixels) took as much memory again as the file."""

    def __init__(self, data: np.ndarray | bytes):
        super().__init__()
        self._view = memoryview(np.ascontiguousarray(data) if isinstance(data, np.ndarray) else data).cast("B")
        self._at = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._at

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._at = max(0, offset + (0, self._at, len(self._view))[whence])
        return self._at

    def readinto(self, buffer) -> int:
        piece = self._view[self._at:self._at + len(buffer)]
        memoryview(buffer).cast("B")[:len(piece)] = piece
        self._at += len(piece)
        return len(piece)


def open_with_pillow(data: np.ndarray | bytes):
    """`PIL.Image.open` of the bytes without its pixel limit (179 MP, below MAX_DECODE_PIXELS: a
    large panorama lost its profile and alpha), which callers check before decoding. Raises as
    Image.open does (UnidentifiedImageError for an unknown format)."""
    from PIL import Image, UnidentifiedImageError

    Image.init()
    stream = io.BufferedReader(_BufferStream(data))
    prefix = stream.read(16)
    if heif_kind(prefix):
        _heif_registered()
    for kind in Image.ID:  # as Image.open tries each format, less its _decompression_bomb_check
        factory, accept = Image.OPEN[kind]
        try:
            accepted = accept is None or accept(prefix)
            if accepted and not isinstance(accepted, str):  # a string: a warning, not this format
                stream.seek(0)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return factory(stream, "")
        except (SyntaxError, IndexError, TypeError, struct.error):  # not this format
            continue
    raise UnidentifiedImageError("cannot identify image file")


def pillow_header(data: np.ndarray) -> PillowHeader:
    try:
        with native_stderr_captured(), open_with_pillow(data) as header:
            # (`La`, premultiplied grey: its alpha was dropped, OpenCV reading it as grey)
            has_alpha = "A" in header.mode or header.mode in _PREMULTIPLIED or "transparency" in header.info
            profile = header.info.get("icc_profile")
            return PillowHeader(bytes(profile) if profile else None, has_alpha,
                           pillow_orientation(header) if has_alpha else 1, header.mode, header.format or "")
    except Exception:  # noqa: BLE001 - a format or file Pillow cannot open: OpenCV's decode stands
        return PillowHeader()


def pillow_orientation(image) -> int:
    """The EXIF orientation of an opened Pillow image, read from its header: Pillow's PNG getexif()
    decodes the whole picture looking for an eXIf chunk after the pixels."""
    from PIL import Image

    if image.format != "PNG":
        return image.getexif().get(0x0112, 1)
    exif = Image.Exif()
    if image.info.get("exif"):
        exif.load(image.info["exif"])
    return exif.get(0x0112, 1)
