"""What a decoded picture carries beside its colour: alpha (its own: `has_alpha`, `see_through`;
WebM's beside the picture: `alpha_decoder`) and closed captions (`has_captions`).

Apart from the reader (reader.py) because `video` and `live` decode and convert their frames
alike, and none of this demuxes a file or keeps time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import av
from av.sidedata.sidedata import Type as SideDataType
import numpy as np

from realtime_adain.video.hdr import side_data
from realtime_adain.video.streams import has_decoder

if TYPE_CHECKING:
    from realtime_adain.video.pictures import PictureConverter

# WebM's VP8/VP9 alpha travels beside the picture (a BlockAdditional; the stream's alpha_mode tag
# says so), which FFmpeg's own vp8/vp9 decoders ignore: libvpx's decoders read it (yuva420p).
ALPHA_DECODERS = {"vp8": "libvpx", "vp9": "libvpx-vp9"}


def has_alpha(frame: av.VideoFrame) -> bool:
    """Whether `frame`'s pixel format has an alpha channel (GIF, APNG, PNG/ProRes 4444/QuickTime
    Animation in MOV: their transparent pixels store any colour, FFmpeg's GIF decoder black), or
    its palette does (a PNG's tRNS: its hidden colours were shown)."""
    if frame.format.name == "pal8" and len(frame.planes) > 1:
        return bool((np.frombuffer(frame.planes[1], np.uint32) >> 24).min() < 255)  # (AARRGGBB words)
    return any(part.is_alpha for part in frame.format.components)


def alpha_decoder(stream: av.video.stream.VideoStream) -> av.codec.context.CodecContext | None:
    """A decoder that reads the alpha `stream` carries beside its pictures (`ALPHA_DECODERS`), so
    `pictures.frame_to_rgb` shows transparent areas over white (FFmpeg's vp8/vp9 gave the colour stored
    under them); None: the stream's own decoder is used (no such alpha, or no libvpx here). It
    starts with the stream's colour tags, as FFmpeg's own decoder does: the bitstream states no
    primaries or transfer, the container does (created bare, every Chromium canvas recording's
    output was tagged unknown, and an HDR one was not tone-mapped)."""
    if stream.metadata.get("alpha_mode") != "1" or not has_decoder(stream):
        return None
    name = ALPHA_DECODERS.get(stream.codec_context.name)
    if name is None or name not in av.codecs_available:
        return None
    try:
        decoder = av.CodecContext.create(name, "r")
    except (ValueError, av.error.FFmpegError):  # (UnknownCodecError is a ValueError)
        return None
    for tag in ("colorspace", "color_range", "color_primaries", "color_trc"):
        setattr(decoder, tag, getattr(stream.codec_context, tag))
    return decoder


# Closed captions (EIA-608/CEA-708) carried in the pictures (H.264/HEVC/MPEG-2 user data), as decoded.
CAPTIONS = SideDataType.A53_CC


def has_captions(frame: av.VideoFrame, codec: str | None = None) -> bool:
    """Whether a decoded picture carries closed captions; a frame whose side data cannot be read
    (`hdr.side_data`) is taken as carrying none."""
    return CAPTIONS in side_data(frame, codec)


def see_through(frame: av.VideoFrame, converter: PictureConverter) -> bool:
    """Whether a picture has pixels that are not opaque. Only the first picture is looked at: a
    pixel format with alpha does not mean transparency (FFmpeg's GIF decoder gives every GIF as
    bgra; screen recorders write opaque PNG and ProRes 4444)."""
    if not converter.has_alpha(frame):
        return False
    return bool(frame.reformat(format="rgba").to_ndarray()[..., 3].min() < 255)
