"""Real-time arbitrary style transfer with AdaIN (Huang & Belongie, ICCV 2017).

    import realtime_adain as ra
    st = ra.Stylizer.load()
    out = st.stylize_image("photo.jpg", st.style("starry.jpg"), alpha=0.8)

Importing the package loads no model, opens no window and touches no GPU: the names below are
imported on first use (docs/api.md).
"""

__version__ = "0.1.0"

import importlib as _importlib
import os as _os

# OpenCV reads its decode limit once, when loaded, so it is set before anything imports cv2
# (picture_sizes.MAX_DECODE_PIXELS, 16384 x 16384); a user's own setting wins.
_os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(1 << 28))

_EXPORTS = {
    "Stylizer": "realtime_adain.stylizer",
    "StyleStats": "realtime_adain.adain",
    "stylize_video": "realtime_adain.api",
    "ModelSettings": "realtime_adain.settings",
    "StyleSettings": "realtime_adain.settings",
    "VideoSettings": "realtime_adain.settings",
    "Stabilizer": "realtime_adain.temporal",
    "UserError": "realtime_adain.errors",
    "read_image": "realtime_adain.api_images",  # imageio's, with the API's argument checks (no torch)
    "write_image": "realtime_adain.api_images",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(_importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'realtime_adain' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
