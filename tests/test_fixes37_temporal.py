"""Session 37's fix in the content-statistics smoother."""

from __future__ import annotations

import torch

from realtime_adain.temporal import ContentStatsSmoother


def test_a_cut_is_found_beside_a_constant_channel_of_std_zero():
    """A channel whose std a caller gave as 0 and whose mean stays put is 0/0: its nan made the
    mean jump nan, and no cut was found however far the other channels moved."""
    smoother = ContentStatsSmoother()
    std = torch.tensor([0.0, 1.0, 1.0, 1.0]).view(1, 4, 1, 1)
    before = torch.zeros(1, 4, 1, 1)
    after = before.clone()
    after[0, 1:] = 5.0
    smoother(before, std)
    mean, _ = smoother(after, std)
    assert smoother.cuts == 1 and torch.equal(mean, after)
    smoother(after, std)  # no change: no cut
    assert smoother.cuts == 1
