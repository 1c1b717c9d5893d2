"""A camera as a live source: by index or video4linux device path, through OpenCV."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from realtime_adain.live.sources import SourceError, SourceLost
from realtime_adain.opencv_names import opencv_name


class CameraSource:
    """A camera by index or device path through OpenCV, asking for a resolution and frame rate."""

    def __init__(
        self,
        device: int | str,
        resolution: tuple[int, int] | None = None,
        fps: float | None = None,
        opener: Callable[..., cv2.VideoCapture] = cv2.VideoCapture,
    ) -> None:
        self.device = device
        self.resolution = resolution
        self.fps = fps
        self.opener = opener  # tests swap in a fake camera: there is no camera hardware in CI
        self.description = f"camera {device}"
        self._cap: cv2.VideoCapture | None = None

    @property
    def label(self) -> str:
        return self.description

    def open(self) -> None:
        """The camera opened, OpenCV's own lines about it silenced (our one line says it) and its
        log level then put back: left silent for the process, a picture read later lost the
        library's reason from its error ("not a readable image (OpenJPEG2000: ...)")."""
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        try:
            self._open()
        finally:
            cv2.utils.logging.setLogLevel(level)

    def _open(self) -> None:
        backend = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        if isinstance(self.device, str) and not Path(self.device).exists():
            raise SourceError(f"{self.device}: no such camera device")
        if isinstance(self.device, str) and sys.platform.startswith("linux") and not _is_video4linux(self.device):
            raise SourceError(f"{self.device}: not a camera (cameras are video4linux devices, /dev/video*)")
        with opencv_name(self.device) as device:  # (a link named in bytes that are not UTF-8: OpenCV crashed)
            cap = self.opener(device, backend)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.description}: cannot open it (no such camera, or in use by another program)")
        if self.resolution:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.resolution[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.resolution[1])
        if self.fps:
            cap.set(cv2.CAP_PROP_FPS, self.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # where the driver allows it: no stale frames queued
        self._cap = cap

    def frames(self) -> Iterator[np.ndarray]:
        while True:
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                raise SourceLost(f"{self.description} stopped delivering frames")
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def _is_video4linux(path: str) -> bool:
    """Whether `path` (links followed) is a video4linux character device (major number 81):
    /dev/null, /dev/zero or a tty was "no such camera, or in use by another program"."""
    try:
        info = os.stat(path)
    except OSError:
        return False
    return stat.S_ISCHR(info.st_mode) and os.major(info.st_rdev) == 81
