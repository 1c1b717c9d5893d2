"""An HDR or wide-gamut still (AVIF, HEIF, PNG: `hdr_stills` reads its tags) decoded at full depth
(`hdr_still`: OpenCV, pillow-heif for HEIF, Pillow for an APNG's first frame) and converted as such
video is, alpha over white. Apart from `still_decoders`, which picks the decoder for each file."""

from __future__ import annotations

import io

import numpy as np  # (OpenCV: imported where used, so a broken one stops only what needs it)

from realtime_adain.errors import UserError
from realtime_adain.hdr_stills import HLG, PQ, HdrTags, full_scale, narrow_to_full, tone_mapped
from realtime_adain.native_stderr import native_stderr_captured
from realtime_adain.notes import note
from realtime_adain.opencv_stills import decode_flags, opencv_alpha, opencv_decode
from realtime_adain.picture_sizes import MAX_DECODE_PIXELS, too_many_pixels
from realtime_adain.pillow_stills import heif_kind, hidden_default_image, pillow_header, pillow_samples
from realtime_adain.rgb8 import over_white, to_rgb8
from realtime_adain.still_orientation import oriented, orientation_applied_here


def hdr_still(data: np.ndarray, name: str, tags: HdrTags) -> np.ndarray | None:
    """An HDR or wide-gamut AVIF, HEIF or PNG picture (`hdr_stills`) decoded at full depth and
    converted as such video is (tone-mapped, moved to BT.709 primaries), grey or colour, alpha
    over white, with a note; a narrow-range PNG expanded; None where it does not decode so (the
    8-bit path then reads it, or says why it cannot)."""
    import cv2

    alpha = None
    if heif_kind(bytes(data[:16])):
        samples = _heif_samples(data, name)  # (its alpha, if any, is its last channel)
    elif hidden_default_image(data):  # (an APNG's fallback picture, which OpenCV decodes: Pillow reads the
        samples = pillow_samples(data, name)  # first frame shown instead, at 8 bits, its alpha the last channel)
    else:
        own_orientation = orientation_applied_here(data)  # (as in `decode_still`: an AVIF's irot/imir)
        with native_stderr_captured():  # (OpenCV's log of a damaged file: the 8-bit path says why)
            samples, _ = opencv_decode(data, decode_flags(own_orientation))
        if samples is None:  # (an AVIF OpenCV cannot read: its coded data before its `meta`, or no libavif)
            samples = pillow_samples(data, name)
        else:
            samples = oriented(samples, own_orientation)
            if samples.ndim == 3:
                samples = cv2.cvtColor(samples, cv2.COLOR_BGR2RGB)
            header = pillow_header(data)  # ANYCOLOR drops alpha: read as the 8-bit path reads it, oriented
            alpha = opencv_alpha(data, header, samples.shape[:2], tags.depth or 10) if header.has_alpha else None
        if samples is not None and samples.dtype == np.uint16:
            full_scale(samples, tags.depth or 10)
    if samples is None:
        return None
    if samples.shape[0] * samples.shape[1] > MAX_DECODE_PIXELS:
        raise UserError(f"{name}: {samples.shape[1]}x{samples.shape[0]} is {too_many_pixels()}")
    samples = samples if samples.ndim == 3 else samples[..., None]  # grey (a monochrome AVIF or HEIF, a grey PNG)
    if samples.shape[2] in (2, 4):
        alpha = samples[..., -1].astype(np.float32) / np.iinfo(samples.dtype).max
    colour = samples[..., :3] if samples.shape[2] >= 3 else np.repeat(samples[..., :1], 3, axis=2)
    if not tags.full_range:  # (a PNG's RGB: its alpha is full range)
        colour = narrow_to_full(np.ascontiguousarray(colour))
    if not tags.converted:  # (narrow-range BT.709 SDR)
        return over_white(to_rgb8(cv2.cvtColor(colour, cv2.COLOR_RGB2BGR)), alpha, name)
    if colour.dtype == np.uint8:  # (8-bit HDR or wide gamut: widened, each byte repeated)
        colour = colour.astype(np.uint16) * 257
    rgb, description = tone_mapped(colour, tags)
    if tags.transfer in (PQ, HLG):
        note(f"{name}: an HDR picture ({description}): tone-mapped to SDR BT.709 as read (the network and "
             f"the style are SDR)", once=True)
    else:
        note(f"{name}: a wide-gamut picture ({description}): converted to BT.709 primaries as read",
             once=True)
    return over_white(rgb, alpha, name)


def _heif_samples(data: np.ndarray, name: str) -> np.ndarray | None:
    """A HEIF picture's RGB(A) at its full depth (pillow-heif scales 10 and 12 bits to 16), its
    size checked before the pixels are decoded; None without pillow-heif."""
    try:
        from pillow_heif import open_heif
    except ImportError:
        return None
    try:
        heif = open_heif(io.BytesIO(bytes(data)), convert_hdr_to_8bit=False)
        width, height = heif.size
        if width * height > MAX_DECODE_PIXELS:
            raise UserError(f"{name}: {width}x{height} is {too_many_pixels()}")
        return np.asarray(heif)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - libheif's errors: a damaged or unsupported file
        reason = next(iter(str(exc).strip().splitlines()), "") or type(exc).__name__
        raise UserError(f"{name}: a damaged or unsupported {heif_kind(bytes(data[:16]))} image "
                        f"({reason[:200]})") from None
