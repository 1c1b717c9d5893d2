"""Real-time arbitrary style transfer with AdaIN (Huang & Belongie, ICCV 2017)."""

__version__ = "0.1.0"

import os as _os

# OpenCV reads its decode limit once, when loaded, so it is set before anything imports cv2
# (imageio.MAX_DECODE_PIXELS, 16384 x 16384); a user's own setting wins.
_os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(1 << 28))
