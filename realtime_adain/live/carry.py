"""Carrying the last stylized frame onto a newer camera frame along the optical flow.

When the stylizer is slower than the camera, the picture would freeze between stylized frames.
Instead each new camera frame gets the last stylized frame warped by DIS flow from the content
that was stylized to that camera frame (at a small working width: it runs at the camera's rate
on a CPU), so the picture follows motion at the camera's rate; the style's texture catches up
with the next stylized frame. `temporal/`'s flow and warp are reused as they are.
"""

from __future__ import annotations

import numpy as np

from realtime_adain.live.inference import Result, at_work_size
from realtime_adain.live.sources import Frame
from realtime_adain.temporal.flow import FlowEstimator
from realtime_adain.temporal.sampling import gray, source_map
from realtime_adain.temporal.warping import remap_rgb

CARRY_FLOW_WIDTH = 160  # flow at this width: a few ms per frame on one core


class MotionCarrier:
    """`carrier(result, frame)`: `result`'s stylized frame moved to where `frame` shows things."""

    def __init__(self, flow_width: int = CARRY_FLOW_WIDTH, preset: str = "ultrafast") -> None:
        self.flow = FlowEstimator(preset, flow_width)
        self._content_of: Result | None = None
        self._content_luma: np.ndarray | None = None

    def __call__(self, result: Result, frame: Frame) -> Result:
        if frame.index == result.frame.index:
            return result
        height, width = result.stylized.shape[:2]
        content = at_work_size(frame.image, (width, height))
        if self._content_of is not result:  # one luma per stylized frame, however many carries
            self._content_of, self._content_luma = result, gray(result.content, self.flow.width)
        flow = self.flow(gray(content, self.flow.width), self._content_luma)  # new grid -> stylized frame's
        carried = remap_rgb(result.stylized, source_map(flow, (height, width)))
        return Result(frame, content, carried)
