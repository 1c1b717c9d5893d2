"""`live --virtual-cam`: the stylized feed as a system webcam (pyvirtualcam)."""

from __future__ import annotations

import importlib

import numpy as np

from realtime_adain.errors import UserError
from realtime_adain.live.outputs import output_rate
from realtime_adain.picture_sizes import resize


class VirtualCamera:
    """The stylized feed as a system webcam via pyvirtualcam (v4l2loopback, OBS's virtual camera).

    No encoder and no thread: `send` copies one raw frame into the device's buffer.
    """

    key = "target"
    label = outcome = "virtual-camera"
    dropped = 0
    error: str | None = None  # a send that fails raises: there is no thread to fail quietly

    @staticmethod
    def check_available() -> None:
        """Fail before any work when the optional package is missing, or there but broken (then
        why: "pip install" was no help to one whose native part failed to load)."""
        try:
            importlib.import_module("pyvirtualcam")
        except Exception as exc:  # (also an ImportError of its native part, an OSError, ...)
            if isinstance(exc, ModuleNotFoundError) and exc.name == "pyvirtualcam":
                raise UserError("--virtual-cam needs pyvirtualcam: pip install 'realtime-adain[virtualcam]'") from None
            raise UserError(f"--virtual-cam: pyvirtualcam is installed but does not import "
                            f"({type(exc).__name__}: {exc})") from None

    def __init__(self, size: tuple[int, int], fps: float) -> None:
        self.check_available()
        import pyvirtualcam

        try:
            self._camera = pyvirtualcam.Camera(width=size[0], height=size[1], fps=float(output_rate(fps)))
        except RuntimeError as exc:
            raise UserError(f"no virtual camera device available ({exc}); on Linux load v4l2loopback, "
                            "elsewhere install OBS's virtual camera") from None
        self.size = size
        self.written = 0

    def submit(self, image: np.ndarray, captured: float) -> None:
        if (image.shape[1], image.shape[0]) != self.size:
            image = resize(image, self.size)
        self._camera.send(image)
        self.written += 1

    def close(self) -> None:
        self._camera.close()
