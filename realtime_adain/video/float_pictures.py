"""Pictures of float samples (OpenEXR, Radiance, PFM, a float TIFF) as `image` reads them: which
are linear light (`linear_light`), a float plane read in place (`float_plane`), and
display-referred ones to uint8 RGB (`display_floats`); `pictures.PictureConverter` converts them.

Apart from the reader (reader.py) because `video` and `live` convert their frames alike, and none
of this demuxes a file or keeps time.
"""

from __future__ import annotations

import re

import av
import numpy as np

from realtime_adain.rgb8 import over_white, to_rgb8

# Pixel formats of float samples (gbrpf32le, gbrapf16le, grayf32le...: OpenEXR, Radiance, PFM;
# rgbf32le, rgbaf32le: TIFF).
FLOAT_SAMPLES = re.compile(r"f(16|32)(le|be)$")
# Decoders whose float samples are linear light, as `image` reads their files (`still_decoders._linear_light`):
# OpenEXR and Radiance by their specifications, PFM (and its half-float PHM) in practice.
LINEAR_DECODERS = frozenset({"exr", "hdr", "pfm", "phm"})
# Float pixel formats of one plane of interleaved samples, read in place (`float_plane`).
PACKED_FLOATS = frozenset({"rgbf32le", "rgbaf32le", "grayf32le"})


def float_samples(frame: av.VideoFrame) -> bool:
    """Whether `frame` holds float samples (`FLOAT_SAMPLES`)."""
    return bool(FLOAT_SAMPLES.search(frame.format.name))


def linear_light(frame: av.VideoFrame, codec: str | None = None) -> bool:
    """Whether `frame`, decoded by `codec`, holds linear light: float samples of `LINEAR_DECODERS`
    (any decoder's, where it is not known), which `image` encodes with the sRGB curve
    (`ffmpeg_stills.exr_rgb`). Fed raw, the network saw a dark, contrasty picture. Other float pictures
    (a float TIFF) are display-referred, as `image` reads them (`display_floats`): taken as
    linear, one of 0.5 read 188, not 128, and one stored 0..255 read white. Integer pictures
    tagged linear keep their values: the DPX decoder reports the file's transfer code, and
    FFmpeg's DPX encoder (as many writers) writes "linear" over display-referred values, which
    read right as they are (`hdr.sdr_colour` tags such output BT.709)."""
    return float_samples(frame) and (codec is None or codec in LINEAR_DECODERS)


def float_plane(frame: av.VideoFrame, index: int = 0) -> np.ndarray:
    """(H, W, samples a pixel) float32 view of plane `index` of `frame` (32-bit floats), its row
    padding left out: no copy of the 12 bytes a pixel or more."""
    plane = frame.planes[index]
    per_pixel = len(frame.format.components) if len(frame.planes) == 1 else 1
    rows = np.frombuffer(plane, np.float32, count=frame.height * (plane.line_size // 4)).reshape(frame.height, -1)
    return rows[:, :frame.width * per_pixel].reshape(frame.height, frame.width, per_pixel)


def display_floats(samples: np.ndarray, name: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB of display-referred float RGB(A) or grey `samples` (H, W, C), as `image`
    reads a float TIFF (`rgb8.to_rgb8`: 0..1, or 0..255 where its values say so, with a note
    naming `name`), its alpha over white."""
    colour = to_rgb8(samples[..., 2::-1] if samples.shape[2] >= 3 else samples[..., 0], name=name)  # (BGR, as OpenCV's)
    return over_white(colour, np.clip(samples[..., 3], 0, 1) if samples.shape[2] == 4 else None, name)
