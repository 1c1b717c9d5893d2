"""Stylized frames written as numbered pictures: `video clip.mp4 -o 'out/frame_%04d.png'`.

Compositing and editing tools take frames as lossless numbered pictures. The frames are encoded
into a hidden folder beside where they go and given their names only when the run finishes (as
NAME.partial pictures when it is interrupted), so a failed run leaves nothing and replaces no
picture of an earlier run. Numbering starts at an image-sequence input's first number (a render
from frame 1001 stays 1001), else at 1, as FFmpeg numbers. Pictures hold no timing and no sound:
a note gives the rate to play them at.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from realtime_adain.atomic import FILE_MODE, FOLDER_MODE, make_folders, naming, sweep_once, temporary_prefix
from realtime_adain.errors import UserError
from realtime_adain.imageio import is_writable_image_path
from realtime_adain.video.notes import note
from realtime_adain.video.sequence import numbered, pattern_directive


def is_picture_pattern(path: Path) -> bool:
    """Whether output `path` names numbered pictures (`frame_%04d.png`: one printf number, an
    image extension OpenCV writes), not a video file."""
    return pattern_directive(path.name) is not None and is_writable_image_path(path) and not path.exists()


class PictureOutput:
    """Both ends of a numbered-picture output, as `atomic.PendingOutput` and `VideoWriter` are to a
    video file: `write_frame`/`write_packet`/`close` as the writer, `publish`/`discard`/`failed` as
    the pending output (the job uses one object for both)."""

    def __init__(self, final: Path, start: int, rate: Fraction | None) -> None:
        self.final, self.start, self.rate = Path(final), start, rate
        self.frames_written = 0
        folder = self.final.parent
        plain = self.final.with_name(numbered(self.final.name, start))  # a real name, for the prefix
        try:
            make_folders(folder)
            sweep_once(folder)
            self.path = Path(tempfile.mkdtemp(prefix=temporary_prefix(plain), suffix=".part", dir=folder))
        except FileExistsError:
            raise UserError(f"{self.final}: cannot write here ({folder} is a file, not a folder)") from None
        except OSError as exc:
            raise UserError(f"{self.final}: cannot write here ({exc.strerror or exc})") from None
        os.chmod(self.path, FOLDER_MODE)
        self._left_out: set[str] = set()

    def write_frame(self, image: np.ndarray, pts: int | None, duration: int) -> None:
        """The next picture, (H, W, 3) uint8 RGB, encoded by the pattern's extension."""
        if not self.frames_written:
            at = f" the video ran at {float(self.rate):.6g} fps" if self.rate else " play them at the input's rate"
            note(f"{self.final}: numbered pictures keep no timing:{at}", once=True)
        name = numbered(self.final.name, self.start + self.frames_written)
        ok, encoded = cv2.imencode(self.final.suffix, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if not ok:
            raise UserError(f"{self.final}: cannot encode a picture as '{self.final.suffix}'")
        (self.path / name).write_bytes(encoded.tobytes())
        self.frames_written += 1

    def write_packet(self, packet: av.Packet) -> None:
        """Sound and subtitles: pictures hold none (said once a kind)."""
        kind = packet.stream.type
        if kind not in self._left_out:
            self._left_out.add(kind)
            note(f"{self.final}: numbered pictures hold no {kind}; leaving out stream #{packet.stream.index}")

    def close(self, whole: bool = True) -> None:
        """Nothing is held back: each picture is whole once written."""

    def publish(self, destination: str | os.PathLike | None = None) -> Path:
        """Give the pictures their names (`destination`'s pattern, e.g. a partial one) and remove the
        hidden folder; returns the pattern."""
        pattern = Path(destination) if destination is not None else self.final
        try:
            for number in range(self.start, self.start + self.frames_written):
                made = self.path / numbered(self.final.name, number)
                os.chmod(made, FILE_MODE)
                os.replace(made, pattern.with_name(numbered(pattern.name, number)))
            os.rmdir(self.path)
        except OSError as exc:
            self.discard()
            raise naming(pattern, exc) from None
        return pattern

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def failed(self, exc: BaseException) -> BaseException:
        """`exc` as said about the pictures, not the hidden folder (a full disk names no file)."""
        if isinstance(exc, UserError) and str(self.path) in str(exc):
            return UserError(str(exc).replace(str(self.path), str(self.final)))
        if isinstance(exc, OSError):
            return naming(self.final, exc)
        return exc
