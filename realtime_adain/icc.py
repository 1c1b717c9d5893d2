"""Pictures' embedded ICC colour profiles (and CIE Lab) converted to sRGB by LittleCMS (Pillow's
ImageCms): colour management alone, apart from the decoders that find the profiles
(`still_decoders`, `ffmpeg_stills`, `pillow_stills`). Colour stated by code points instead (nclx, cICP) is
`hdr_stills`'."""

from __future__ import annotations

import functools
import io

import numpy as np


def in_srgb(rgb: np.ndarray, profile: bytes | None) -> np.ndarray:
    """`rgb` converted to sRGB from the file's embedded RGB colour `profile` (Adobe RGB, Display P3
    from phones, ProPhoto): OpenCV ignores profiles, so such pictures came out dull. LittleCMS
    (Pillow's ImageCms) does the conversion, perceptual intent."""
    transform = transform_to_srgb(profile) if profile else None
    if transform is None:
        return rgb
    from PIL import Image, ImageCms

    return np.array(ImageCms.applyTransform(Image.fromarray(rgb), transform))


@functools.lru_cache(maxsize=16)
def transform_to_srgb(profile: bytes | None, mode: str = "RGB"):
    """A cached LittleCMS transform from a `mode` ("RGB" or "CMYK") `profile` to sRGB (None: a
    profile of another colour space, an sRGB one, or unreadable: the pixels are used as they are)."""
    from PIL import ImageCms

    if not profile or not _whole(profile):
        return None
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        if source.profile.xcolor_space.strip() != mode:
            return None
        transform = ImageCms.buildTransform(source, ImageCms.createProfile("sRGB"), mode, "RGB")
        if mode == "RGB" and _changes_nothing(transform):
            return None  # sRGB already (most cameras' JPEGs): 0.25 s a 12 MP photo saved
        return transform
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


def _whole(profile: bytes) -> bool:
    """Whether a profile's header states its own length (bytes 0-3, big-endian), as libpng requires
    (serve keeps only such a profile in a PNG upload, `serve.uploads`): LittleCMS applied one stating more
    bytes than it has, which libpng and skcms (Chromium's) refuse; one stating fewer, which skcms
    reads cut to that size, is refused too, so that every reader here applies the same profiles."""
    return len(profile) >= 4 and int.from_bytes(profile[:4], "big") == len(profile)


def _changes_nothing(transform) -> bool:
    """Whether an RGB transform leaves every colour of a 17-level cube within two levels: by what
    it does, not by its profile's name ("GIMP built-in Linear sRGB" said sRGB and was not
    converted: its pictures came out far too dark)."""
    from PIL import Image, ImageCms

    levels = np.minimum(np.arange(17) * 16, 255).astype(np.uint8)
    cube = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(17, 289, 3)
    out = np.asarray(ImageCms.applyTransform(Image.fromarray(np.ascontiguousarray(cube)), transform))
    return int(np.abs(out.astype(np.int16) - cube).max()) <= 2


@functools.lru_cache(maxsize=1)
def lab_to_srgb():
    """CIE L*a*b* (D50, as ICC and Photoshop's Lab TIFFs define it) to sRGB."""
    from PIL import ImageCms

    return ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB")
