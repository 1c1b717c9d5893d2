"""Temporal stability for stylized video: flow-guided blending and smoothed content statistics.

Per-frame AdaIN flickers: small changes of the content move every output pixel a little
(texture "boils") and shift relu4_1's global mean/std (brightness and colour "pump").
Two remedies, usable on their own or together (`MODES`):

- `Stabilizer` (modes flow, both): the previous stabilized output is warped to the current frame
  along DIS optical flow of the *content* frames and blended in where the flow is trustworthy
  (forward-backward consistency and motion boundaries as in Lai et al., ECCV 2018). It needs only
  the content and stylized frames, so it works after any stylizer.
- `ContentStatsSmoother` (modes stats, both): an exponential moving average of the content's
  relu4_1 mean/std, which `StyleTransferNet.forward(..., content_stats=smoother)` normalises by.

Both take frames in display order and are reset at scene cuts.
"""

from realtime_adain.temporal.checks import MODES
from realtime_adain.temporal.motion_ahead import MotionAhead
from realtime_adain.temporal.stabilizer import Stabilizer
from realtime_adain.temporal.stats_smoother import ContentStatsSmoother

__all__ = ["MODES", "ContentStatsSmoother", "MotionAhead", "Stabilizer"]
