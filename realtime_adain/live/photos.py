"""A photo as a live source: told from a clip by its packets (`one_picture`), read as `image`
reads it where `image` reads its format (`read_as_image`), then shown on and on (`repeated`).
`PyAVSource` opens it and reads its picture."""

from __future__ import annotations

import time
from contextlib import suppress
from typing import Callable, Iterator

import av
import numpy as np

from realtime_adain.live.sources import SourceError
from realtime_adain.pillow_stills import needs_heif_extra
from realtime_adain.video.probing import IMAGE_FORMATS
from realtime_adain.video.streams import is_still_item

# FFmpeg's decoders of the picture formats `image` reads (imageio): a photo in one is read as
# `image` reads it; one in another is decoded by FFmpeg.
IMAGE_CODECS = ("bmp", "dds", "dpx", "exr", "hdr", "jpeg2000", "jpegls", "mjpeg", "pam", "pbm", "pcx", "pfm", "pgm",
                "phm", "png", "ppm", "psd", "qoi", "sgi", "sunrast", "targa", "tiff", "webp", "xbm", "xpm", "xwd")


def one_picture(container: av.container.InputContainer, stream: av.video.stream.VideoStream, target: str,
                reason: Callable[[Exception], str]) -> bool:
    """Whether a picture file (`target`) holds one picture (a photo), told by its packets, undecoded: an
    image2 file is one packet (which could not be read again); a `_pipe` format's parser cuts
    pictures one after another (a raw MJPEG stream, .mjpeg: played as a clip) into packets,
    read again from the start after this. (A photo is sought back for FFmpeg to decode one
    `image` does not read; a PNG cut short cannot be, but `image` reads that format.) `reason`:
    why FFmpeg failed, in the source's words."""
    if container.format.name in IMAGE_FORMATS:
        return True
    try:
        packets = (packet for packet in container.demux(stream) if packet.size)
        if next(packets, None) is None or next(packets, None) is None:
            with suppress(av.FFmpegError):
                container.seek(0)
            return True
        container.seek(0)
        return False
    except (av.FFmpegError, OSError) as exc:
        container.close()
        raise SourceError(f"{target}: cannot read ({reason(exc)})") from None


def read_as_image(stream: av.video.stream.VideoStream, target: str) -> bool:
    """Whether `image` reads the format of the photo `target`: `IMAGE_CODECS`, an AVIF, a HEIC with the
    `heif` extra (without it, FFmpeg decodes one)."""
    if not is_still_item(stream):
        return stream.codec_context.name in IMAGE_CODECS
    with open(target, "rb") as handle:
        return not needs_heif_extra(handle.read(16))


def repeated(image: np.ndarray, period: float, loop: bool) -> Iterator[np.ndarray]:
    """A photo as a camera that sees it: read once (a JPEG could not be sought back to
    its start, so the session ended after one frame; a 12 MP one cost a core to decode on and
    on), then the same picture every period, until stopped or, without looping, once."""
    due = time.monotonic()
    while True:
        yield image
        if not loop:
            return
        due = max(due + period, time.monotonic() - 1.0)
        time.sleep(max(0.0, due - time.monotonic()))
