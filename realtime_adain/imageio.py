"""Reading any common image as 8-bit RGB and writing atomically: which names are images
(`is_image_path`, `output_suffix`), a file's bytes read safely (`read_image_bytes`: regular files
only, within MAX_FILE_BYTES), decoded (`decode_image`; the decoders are `still_decoders`'), masks
and style pictures (within `picture_sizes`' budgets, checked on the header first where it states a
size: `check_stated_budget`), and results encoded and written whole (`write_image`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np  # (OpenCV: imported where used, so a broken one stops only what needs it)

from realtime_adain.atomic import atomic_write_bytes
from realtime_adain.errors import UserError
from realtime_adain.hdr_stills import STRIP_SAMPLES
from realtime_adain.jpeg_headers import after_zero_padding
from realtime_adain.picture_sizes import check_pixel_budget, style_budget
from realtime_adain.regular_files import open_regular
from realtime_adain.rgb8 import OVER_WHITE_MEANS
from realtime_adain.still_decoders import decode_still
from realtime_adain.still_headers import stated_size
from realtime_adain.writable_folders import dead_link_is

# What OpenCV decodes (a folder of inputs takes these) and, of those, what it encodes from RGB:
# PGM/PBM hold grey only, GIF/HDR/PFM/JPEG 2000/AVIF writers are missing or lossy in odd ways.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".bmp", ".dib", ".tif", ".tiff", ".webp", ".ppm",
                    ".pgm", ".pbm", ".pnm", ".pfm", ".hdr", ".pic", ".sr", ".ras", ".gif", ".jp2", ".avif",
                    ".tga", ".ico", ".psd", ".pcx", ".qoi",  # the last ones Pillow decodes (`pillow_rgb`),
                    ".heic", ".heif", ".hif",  # these with pillow-heif, the `heif` extra
                    ".exr", ".j2k", ".j2c", ".jpc", ".jpf", ".pam", ".jls",  # FFmpeg decodes these (`ffmpeg_stills`)
                    ".dpx", ".sgi", ".xwd", ".phm", ".fits", ".fit", ".fts", ".pix")
WRITABLE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm")
# Extensions of formats refused here (`unreadable_stills.unsupported_format` tells them by their
# contents), and what to do instead: a folder's files of these names are left out with a note saying so.
REFUSED_EXTENSIONS = {".jxl": ("a JPEG XL image, which is not read here", "convert it to PNG or JPEG"),
                      ".svg": ("an SVG drawing, not a raster image", "export it to PNG"),
                      ".svgz": ("an SVG drawing, not a raster image", "export it to PNG"),
                      ".pdf": ("a PDF document, not an image", "export the page to PNG")}
# Other names of a format written here: a result named after such a source takes the usual one.
_WRITTEN_AS = {".jpe": ".jpg", ".jfif": ".jpg", ".dib": ".bmp"}


def is_image_path(path: Path) -> bool:
    """An input image's name (folders of inputs are expanded to these)."""
    return path.suffix.lower() in IMAGE_EXTENSIONS


def is_writable_image_path(path: Path) -> bool:
    """An output image's name: a format OpenCV writes in colour."""
    return path.suffix.lower() in WRITABLE_EXTENSIONS


def output_suffix(suffix: str) -> str:
    """The extension of a result named after a source with `suffix`: its own where it is written
    here, the usual one of its format's other names (.jfif and .jpe: .jpg, which were PNGs), else
    .png (a .pgm content gives a .png result, not a refused write at the end)."""
    if suffix.lower() in WRITABLE_EXTENSIONS:
        return suffix
    return _WRITTEN_AS.get(suffix.lower(), ".png")


# The largest image file read: an uncompressed float RGBA TIFF at the pixel limit is 4 GiB.
MAX_FILE_BYTES = 4 << 30
# The start of a file looked at before it is read whole: no decoder here reads a file that starts
# with this many zero bytes (Pillow's TGA, which has no signature, refuses an image type of 0; its
# PhotoCD looks at bytes 2048 to 2051; FFmpeg's image2 probe can find a JPEG after zeros, but it is
# not used to read files that OpenCV and Pillow refuse, apart from the formats it is named for).
_HEAD_BYTES = 1 << 16


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Any grayscale, RGB(A), 16-bit or CMYK image as (H, W, 3) uint8 RGB."""
    return decode_image(read_image_bytes(path), str(Path(path)))


def read_image_bytes(path: str | os.PathLike) -> np.ndarray:
    """An image file's bytes, as `read_image` decodes them: a caller that hashes them knows the
    picture it decoded is the file of that digest (not one written between a hash and a read).
    A JPEG after zero bytes is given from its start marker (`after_zero_padding`)."""
    path = Path(path)
    if not path.is_file():  # (a fifo is never opened: reading it would wait for a writer)
        kind = ("a folder" if path.is_dir() else "a device, fifo or socket") if path.exists() else None
        if kind is None and path.is_symlink():  # (not "no such file": the link is there)
            raise UserError(f"{path}: {dead_link_is(path)}")
        raise UserError(f"{path}: {kind + ', not an image file' if kind else 'no such file'}")
    # checked again on the open file: one swapped for a FIFO after the check would block for good
    with open_regular(path, "a device, fifo or socket, not an image file") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > MAX_FILE_BYTES:  # read whole before its format is known: a 50 GB file would exhaust memory
            raise UserError(f"{path}: {size / 2**30:.1f} GiB is larger than any image read here "
                            f"({MAX_FILE_BYTES >> 30} GiB at most)")
        head = handle.read(_HEAD_BYTES)
        if head and not head.strip(b"\0"):  # (a 3 GB hole was read whole, in 32 s, before it was refused)
            raise UserError(f"{path}: not a readable image (its first {len(head)} bytes are all zero)")
        data = np.empty(max(size, len(head)), np.uint8)  # (np.fromfile: 8 times as slow)
        data[:len(head)] = np.frombuffer(head, np.uint8)
        data = data[:len(head) + handle.readinto(memoryview(data)[len(head):])]  # (one cut meanwhile: what is there)
    if data.size == 0:
        raise UserError(f"{path}: the file is empty")
    return after_zero_padding(data)  # (a JPEG after zero bytes: from its start marker, which every check reads first)


def decode_image(data: np.ndarray | bytes, name: str) -> np.ndarray:
    """An encoded image's bytes (a file's, an upload's) as (H, W, 3) uint8 RGB; errors name `name`."""
    data = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray)) else data
    try:
        return decode_still(data, name)
    except MemoryError:  # a 16-bit or float picture near the pixel limit needs several GiB to convert
        raise UserError(f"{name}: not enough memory to decode this image") from None


def check_stated_budget(data: np.ndarray, path: Path, size: int | None, max_pixels: int, option: str,
                        budget_option: str | None = "--max-pixels") -> None:
    """Refuse, before `path`'s bytes are decoded, a picture whose header states a size over
    `max_pixels` at `size` (`check_pixel_budget`, which the caller applies to the decoded picture
    too): a 16384x16384 PNG at --size 0 was decoded whole, 46 s and 2.1 GB, to be refused."""
    stated = stated_size(data, str(path))
    if stated is not None:
        check_pixel_budget(path, stated[1], stated[0], size, max_pixels, option, budget_option)


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """A grayscale mask as (H, W) bool: True (white) selects the first style (the mean of its
    channels at least 128), worked out in strips of integer sums: the mean as one float64 array
    took 2 GiB and 13 s for a 16000x16000 mask (a 277 KB PNG). Its transparent areas are white,
    and a note says what they select."""
    said = OVER_WHITE_MEANS.set("so they select the first style: a mask is read by its grey, not its transparency")
    try:
        rgb = read_image(path)
    finally:
        OVER_WHITE_MEANS.reset(said)
    mask = np.empty(rgb.shape[:2], bool)
    rows = max(1, STRIP_SAMPLES // max(1, 3 * rgb.shape[1]))
    for top in range(0, rgb.shape[0], rows):
        strip = rgb[top:top + rows]
        total = strip[..., 0].astype(np.uint16)
        total += strip[..., 1]
        total += strip[..., 2]
        np.greater_equal(total, 3 * 128, out=mask[top:top + rows])
    return mask


def mask_labels(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Per-pixel style indices at `shape` (h, w): 0 where the mask is white, 1 where black."""
    import cv2

    resized = cv2.resize(mask.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return np.where(resized > 0, 0, 1).astype(np.int64)


def read_style(path: Path, style_size: int | None, option: str = "--style-size") -> np.ndarray:
    """A style image as it is stored, refused where it is too large at `style_size` (`check_style`),
    from its header first where that states its size."""
    data = read_image_bytes(path)
    check_stated_budget(data, path, style_size, style_budget(), option, None)
    image = decode_image(data, str(Path(path)))
    check_style(path, image, style_size, option=option)
    return image


def check_style(path: Path, image: np.ndarray, style_size: int | None, max_pixels: int | None = None,
                option: str = "--style-size", budget_option: str | None = None) -> None:
    """Refuse (one line naming it) a style image that encoded at `style_size` would be over
    `style_budget` or MAX_SIDE a side: a strip 1 pixel high at 512 is 512x102400, tens of GB of
    features (`live` was OOM-killed, `bench video` ran 9 minutes to the OOM killer)."""
    check_pixel_budget(path, *image.shape[:2], style_size, style_budget(max_pixels), option, budget_option)


# The most pixels a side these formats hold (WebP's 14-bit sizes; libjpeg's limit): OpenCV's encoders
# refuse more with native error lines on stderr and a failure that gives no reason.
ENCODE_MAX_SIDE = {".webp": 16383, ".jpg": 65500, ".jpeg": 65500}


def check_encodable(path: Path, width: int, height: int) -> None:
    """Refuse a picture of width x height that `path`'s format cannot hold (ENCODE_MAX_SIDE):
    commands call it with a result's size before any work, so a batch is not stopped halfway."""
    limit = ENCODE_MAX_SIDE.get(path.suffix.lower())
    if limit and max(width, height) > limit:
        raise UserError(f"{path}: a {path.suffix.lstrip('.').upper()} image holds at most {limit} pixels a side, "
                        f"this one is {width}x{height} (write .png or .tif)")


def write_image(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Encode by the extension and write via a temporary file, so no half-written image remains."""
    import cv2

    path = Path(path)
    check_encodable(path, rgb.shape[1], rgb.shape[0])
    ok, encoded = cv2.imencode(path.suffix or ".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise UserError(f"{path}: cannot encode an image with extension '{path.suffix}'")
    atomic_write_bytes(path, encoded.tobytes())
