"""Decoded samples as the (H, W, 3) uint8 RGB everything here works in: any depth, float samples
on either scale (0..1 or 0..255), linear light encoded with the sRGB curve (`to_rgb8`), and
transparent areas composited over white (`over_white`). Below both the still decoders
(`still_decoders` and those it calls, `pillow_stills`) and the video reader, which convert their pictures alike."""

from __future__ import annotations

import contextvars

import numpy as np  # (OpenCV: imported where used, so a broken one stops only what needs it)

from realtime_adain.errors import UserError
from realtime_adain.hdr_stills import STRIP_SAMPLES
from realtime_adain.notes import note

# What reading a picture's transparent areas over white means for it (`over_white`'s note): a
# mask's (`read_mask`) is what it selects, not its result's lack of transparency.
OVER_WHITE_MEANS = contextvars.ContextVar("over_white_means", default="results have no transparency")


def over_white(rgb: np.ndarray, alpha: np.ndarray | None, name: str | None = None,
               premultiplied: bool = False) -> np.ndarray:
    """(H, W, 3) uint8 composited over white by `alpha` (0..1 float, or uint8 0..255 as a video
    frame's): transparent areas read as viewers show them, not as whatever colour (often black)
    they store. With the picture's `name`, a note says so (results have no alpha). `premultiplied`:
    `rgb` is stored multiplied by `alpha` (a TIFF's associated alpha), so only white is added.
    Composited in place (each caller's `rgb` is its own fresh copy), `STRIP_SAMPLES` at a time: a
    second whole picture and 512-row float bands took 3 B a pixel and hundreds of MB more."""
    full = 255 if alpha is not None and alpha.dtype == np.uint8 else 1.0
    if alpha is None or alpha.min() >= full:
        return rgb
    if name is not None:
        note(f"{name}: its transparent areas are read as over white ({OVER_WHITE_MEANS.get()})", once=True)
    rgb = rgb if rgb.flags.writeable else rgb.copy()
    rows = max(1, STRIP_SAMPLES // max(1, 3 * rgb.shape[1]))
    for top in range(0, rgb.shape[0], rows):
        weight = alpha[top:top + rows, :, None] / np.float32(full)
        band = rgb[top:top + rows].astype(np.float32) * (1.0 if premultiplied else weight)
        band += 255.0 * (1.0 - weight) + 0.5
        np.minimum(band, 255.0, out=band)  # (premultiplied colour above its alpha: damaged, white at most)
        rgb[top:top + rows] = band.astype(np.uint8)
    return rgb


def to_rgb8(image: np.ndarray, linear: bool = False, name: str | None = None) -> np.ndarray:
    """Normalise an OpenCV-decoded array (BGR order, any depth or channel count) to uint8 RGB.

    Float samples are 0..1 (values above 1 are highlights, clipped), or 0..255 as some TIFF
    writers store them (`_floats_out_of_255`; with the picture's `name`, a note says that
    reading). `linear` (Radiance, PFM, OpenEXR): linear light, always 0..1-based, encoded with the
    sRGB curve.
    """
    import cv2

    if image.dtype == np.uint16:
        image = cv2.convertScaleAbs(image, alpha=255.0 / 65535.0)  # rounded, with no float copy (GiBs near the limit)
    elif image.dtype in (np.float32, np.float64):
        why = None if linear else _floats_out_of_255(image)
        scale = 1.0 if why is None else 1 / 255
        if why is not None and name is not None:
            note(f"{name}: its float samples are read as 0..255, not 0..1 ({why})", once=True)
        channels = [image] if image.ndim == 2 else [image[..., channel] for channel in range(min(3, image.shape[2]))]
        image = floats_to_8bit(channels, linear, scale=scale)
    elif image.dtype != np.uint8:
        raise UserError(f"unsupported image sample type {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 4:  # IMREAD_ANYCOLOR drops alpha; kept for callers decoding otherwise
        if image.dtype == np.uint8:  # (in one step: a 3-channel copy first was 3 B a pixel more)
            return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
        image = image[..., :3]
    if image.dtype != np.uint8:
        image = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _floats_out_of_255(image: np.ndarray) -> str | None:
    """Why float samples are taken as stored 0..255, not 0..1 (None: 0..1). Bright (the 99th
    percentile above 16) and either most of the lit samples above 1, or the brightest exactly 255
    (8-bit white, clipped). By the bright end alone, a 0..1 photo whose sky was stored at 20 (HDR
    highlights, 7 % of it) read 255 times too dark, nearly black; a 0..255 picture mostly black (a
    logo on black) is told by its lit samples, a dark one with a few white stars by its 255."""
    if not image.size:
        return None
    sample = image[::max(1, image.shape[0] // 256), ::max(1, image.shape[1] // 256)].astype(np.float32)
    sample = np.nan_to_num(sample, nan=0.0, posinf=0.0, neginf=0.0)
    if not np.percentile(sample, 99) > 16.0:
        return None
    lit = sample[sample > 0]
    if lit.size and np.median(lit) > 1.0:
        return "most of its lit samples are above 1"
    with np.errstate(invalid="ignore"):
        return "its brightest are 255, white in 8 bits" if np.nanmax(image) == 255.0 else None


def floats_to_8bit(channels: list[np.ndarray], linear: bool, scale: float = 1.0,
                    alpha: np.ndarray | None = None) -> np.ndarray:
    """(H, W) float channels -> (H, W, C) uint8, as `to_rgb8` says (times `scale`; premultiplied
    colour over white by `alpha`), `STRIP_SAMPLES` at a time: a copy of the whole picture at each
    step took 5.5 GiB for 64 MP. NaN is 0, +inf 1 (a half float's overflow: a highlight, white)."""
    height, width = channels[0].shape
    out = np.empty((height, width, len(channels)), np.uint8)
    rows = max(1, STRIP_SAMPLES // max(1, width * len(channels)))
    for top in range(0, height, rows):
        strip = np.stack([channel[top:top + rows] for channel in channels], axis=-1).astype(np.float32, copy=False)
        np.nan_to_num(strip, copy=False, nan=0.0)  # (infinities: the largest floats, clipped below)
        if scale != 1.0:
            strip *= np.float32(scale)
        if alpha is not None:
            strip += 1.0 - np.clip(np.nan_to_num(alpha[top:top + rows], nan=0.0), 0.0, 1.0)[..., None]
        np.clip(strip, 0.0, 1.0, out=strip)
        if linear:
            strip = np.where(strip <= 0.0031308, 12.92 * strip, 1.055 * np.power(strip, 1 / 2.4) - 0.055)
        out[top:top + rows] = strip * 255.0 + 0.5
    return out
