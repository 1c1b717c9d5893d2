"""The checks of an opened input before any work: its first frame within the pixel budget, its
output a size and rate that can be encoded (`check_opened`, each file as it is stylized), and
every input of a run checked so before the model loads (`check_inputs`)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from realtime_adain.errors import UserError, refuse_inputs
from realtime_adain.picture_sizes import MAX_SIDE, check_pixel_budget, fit_short_side
from realtime_adain.settings import VideoSettings
from realtime_adain.video.encoder_check import check_encoder
from realtime_adain.video.encoder_settings import EncodeSettings, framed_picture
from realtime_adain.video.picture_output import is_picture_pattern
from realtime_adain.video.reader import VideoReader

# The largest picture any level of H.264, HEVC or AV1 defines (level 6.x: 139264 macroblocks of
# 16x16, 8192x4352; 8K UHD and DCI 8K fit): the most --keep-size scales frames up to, or --max-pixels
# where higher. Each side under MAX_SIDE was not enough: a 600-byte GIF whose screen said 16000x16000
# was stylized at --size 64 and encoded at 16000x16000 (9.6 GB, minutes), playable nowhere.
KEEP_SIZE_MAX_PIXELS = 139264 * 16 * 16


def check_opened(source: Path, reader: VideoReader, settings: VideoSettings,
                 encode: EncodeSettings | None = None, outputs: Sequence[Path] = (),
                 tried: set[tuple] | None = None) -> None:
    """Refuse an opened input whose first frame is over the pixel budget at the processing size,
    or whose output (at the display size, with --keep-size) is too long a side or too large to
    encode (`KEEP_SIZE_MAX_PIXELS`), or is a size the chosen encoder crashes on
    (`check_picture_size`), or a rate it holds none of (DV). With its `outputs`, the encoder of
    each is opened at that size and rate (`check_encoder`: a size it opens for none of, a
    --pix-fmt that cannot hold it), once for each such output `tried` holds none of yet."""
    check_pixel_budget(source, *reader.first_frame.image.shape[:2], settings.size, settings.max_pixels, "--size")
    if settings.keep_size and max(reader.width, reader.height) > MAX_SIDE:  # encoders stop there
        raise UserError(f"{source}: shown at {reader.width}x{reader.height}, longer than {MAX_SIDE} "
                        "pixels on a side to encode (use --no-keep-size)")
    most = max(KEEP_SIZE_MAX_PIXELS, settings.max_pixels)
    if settings.keep_size and reader.width * reader.height > most:
        raise UserError(f"{source}: shown at {reader.width}x{reader.height}, over {most} pixels to encode "
                        "(use --no-keep-size, or raise --max-pixels)")
    videos = {out.suffix.lower(): out for out in outputs if not is_picture_pattern(out)}  # (one per container)
    if encode is None or not (encode.codec or videos):
        return
    height, width = ((reader.height, reader.width) if settings.keep_size
                     else fit_short_side(reader.first_frame.image, settings.size).shape[:2])
    timing = (reader.frame_rate, reader.time_base, reader.stream.base_rate)
    tried = set() if tried is None else tried
    try:
        if not videos:  # (DV: a rate it holds, a --pix-fmt it takes)
            framed_picture(encode, width, height, reader.frame_rate)
        for suffix, output in videos.items():
            if (suffix, width, height, *timing) not in tried:
                check_encoder(encode, output, width, height, *timing)
                tried.add((suffix, width, height, *timing))
    except UserError as exc:
        raise UserError(f"{source}: {exc}") from None


def check_inputs(sources: Sequence[Path], settings: VideoSettings, encode: EncodeSettings | None = None,
                 problems: list[str] | None = None, outputs: Mapping[Path, Sequence[Path]] | None = None) -> None:
    """`check_opened` for every input before any work (the model loads), so a folder run is not
    refused halfway by a file that could be told apart at once; raises one `UserError` naming
    each bad file (with `problems`, adds them there instead: a run refused already names them
    all). `outputs`: each input's, whose encoder is opened at its size, once per size and rate.
    (Damage further into a file shows only when it is read.)"""
    found = []
    tried: set[tuple] = set()
    for source in dict.fromkeys(sources):
        try:
            with VideoReader(source, 1, settings.deinterlace, settings.framerate, settings.start,
                             settings.duration) as reader:
                check_opened(source, reader, settings, encode, (outputs or {}).get(source, ()), tried)
        except UserError as exc:
            found.append(str(exc))
    if problems is None:
        refuse_inputs(found)
    else:
        problems += found
