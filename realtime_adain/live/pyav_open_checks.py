"""What a live PyAV source's opening refuses or reads first (`OpenChecks`, which `PyAVSource` is):
a picture file or stream stating more pixels than `video` decodes (bounded before FFmpeg decodes
one), a photo's one picture read as `image` reads it, and a file whose video decodes to no picture.
"""

from __future__ import annotations

from contextlib import closing
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from realtime_adain.errors import UserError
from realtime_adain.imageio import is_image_path, read_image, read_image_bytes
from realtime_adain.live.photos import read_as_image
from realtime_adain.live.sources import SourceError, SourceLost
from realtime_adain.notes import note
from realtime_adain.pillow_stills import first_frame_only_note
from realtime_adain.still_headers import stated_size
from realtime_adain.video.decoding import decoded_or_damage
from realtime_adain.video.picture_shape import (PICTURE_BYTES, bound_decoder, check_picture_size, over_decode_limit,
                                                pixel_aspect, stored_pixels_allowed)
from realtime_adain.video.probing import no_pictures


class OpenChecks:
    """`PyAVSource.open`'s bounds and first reads (the state is `PyAVSource`'s)."""

    def _bound_stated_picture(self) -> None:
        """Refuse a picture file (named as one: .png, .jpg, ...) whose header states more pixels
        than `_bound` lets a picture have, before FFmpeg opens it: its probing decodes the picture
        (a 2.6 MB PNG stating 16000x16000 took 23 s and 0.8 GB before `_bound` refused it, worded
        as a video's). The header is read as `image` reads it (`stated_size`), at the fewest bytes
        a pixel `_bound` counts: what passes here is still bounded there. One that cannot be read
        so is left to the opening to say."""
        if not is_image_path(Path(self.target)):
            return
        try:
            stated = stated_size(read_image_bytes(self.target), self.target)
        except UserError:
            return
        if stated is not None and stated[0] * stated[1] > stored_pixels_allowed(Fraction(1), PICTURE_BYTES):
            raise SourceError(f"{self.target}: a {stated[0]}x{stated[1]} picture (as its header states): "
                              f"{over_decode_limit(PICTURE_BYTES)}")

    def _bound(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> None:
        """Refuse a stream stating pictures over the size `video` decodes, before one is decoded,
        and have FFmpeg skip a later larger one (`check_picture_size`, `bound_decoder`): a 600-byte
        GIF stating a 16000x16000 screen played at 5.5 GB."""
        self._aspect = pixel_aspect(stream, self.description)
        try:
            check_picture_size(stream, self._aspect, self.named)
        except UserError as exc:
            container.close()
            raise SourceError(str(exc)) from None
        bound_decoder(stream.codec_context, self._aspect)

    def _photo_at_open(self) -> np.ndarray:
        """A photo's picture, read as it opens: as `image` reads it (`imageio.read_image`, its
        bounds and notes) where `image` reads its format (`IMAGE_CODECS`; decoded by FFmpeg, an
        Adobe RGB photo's profile was ignored, its red read 219, and a mirrored EXIF orientation,
        a palette's transparency and 4:2:0 edges came out otherwise), else by FFmpeg. One that
        cannot be read (a 20000x20000 PNG) was a source lost and opened again every half second
        until the first frame's 15 s ran out; now it is one line at the start."""
        try:
            if read_as_image(self._stream, self.target):
                if said := first_frame_only_note(Path(self.target)):  # (a multi-page TIFF: as `image` says it)
                    note(said, once=True)
                return self._at_resolution(read_image(self.target))
            with closing(self._decoded()) as pictures:
                first = next(pictures, None)
            if first is not None:
                return first[0]
            reason = "no picture in it"
        except UserError as exc:
            reason = str(exc).removeprefix(f"{Path(self.target)}: ")
        except SourceLost as exc:
            reason = exc.reason
        except OSError as exc:  # (gone since it was opened)
            reason = exc.strerror or str(exc)
        self.close()
        raise SourceError(f"{self.target}: cannot read ({reason})")

    def _refuse_pictureless(self) -> None:
        """Refuse a file whose video decodes to no picture at all, saying why (`no_pictures`):
        FFmpeg 8's ProRes RAW decoder takes every packet and gives nothing, and the session
        played the file to its end, then waited out the first frame's 15 s for "no frames
        arrived". Decodes up to the first picture, then goes back to the start (`_back_to_start`),
        as `video` decodes a file's first picture when it opens it."""
        packets = damaged = 0
        try:
            for packet in self._container.demux(self._stream):
                packets += 1 if packet.size else 0
                frames = decoded_or_damage(self._stream.codec_context.decode, packet)
                if isinstance(frames, av.FFmpegError):
                    damaged += 1
                elif frames:
                    break
            else:
                self.close()
                raise SourceError(f"{self.target}: the video has no frames: "
                                  f"{no_pictures(self._stream, packets, damaged)}")
        except (av.FFmpegError, OSError) as exc:
            self.close()
            raise SourceError(f"{self.target}: cannot read ({self._reason(exc)})") from None
        self._pictures_found = True
        self._back_to_start()
