"""`ContentStatsSmoother`: an exponential moving average of the content's relu4_1 mean/std."""

from __future__ import annotations

from typing import TYPE_CHECKING

from realtime_adain.checks import check_number, check_positive

if TYPE_CHECKING:  # (torch: imported when first used, so that the package loads without it)
    import torch


def check_stats(mean: torch.Tensor, std: torch.Tensor) -> None:
    """Refuse anything but a mean and std of one shape, each an (N, C, 1, 1) floating-point tensor
    of at least one frame: a numpy array failed as "no attribute 'clone'", frame counts that differ
    were cut silently, no frame failed inside torch.stack, and other shapes ((C,)) and integer
    tensors were taken."""
    import torch  # (here: the flow stabiliser works after any stylizer, without torch)

    for name, value in (("mean", mean), ("std", std)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name} must be an (N, C, 1, 1) torch.Tensor, got {type(value).__name__}")
        if not value.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {value.dtype}")
        if value.dim() != 4 or value.shape[0] == 0 or value.shape[2:] != (1, 1):
            raise ValueError(f"{name} must be (N, C, 1, 1) with at least one frame, got shape {tuple(value.shape)}")
    if mean.shape != std.shape:
        raise ValueError(f"mean {tuple(mean.shape)} and std {tuple(std.shape)} must be of one shape")


class ContentStatsSmoother:
    """EMA of the content's relu4_1 mean/std, per frame in display order: AdaIN then normalises
    every frame by slowly varying statistics, which removes global brightness/colour pumping.

    Call it with the (N, C, 1, 1) mean and std of N consecutive frames; it returns the statistics
    to normalise by. A frame whose statistics jump by more than `cut_distance` (mean absolute
    change relative to the smoothed std) starts afresh: a scene cut.
    """

    def __init__(self, momentum: float = 0.8, cut_distance: float = 0.3) -> None:
        self.momentum = check_number(momentum, "momentum")
        # (nan was taken, and then no cut was ever found; a str was a comparison's TypeError)
        self.cut_distance = check_positive(cut_distance, "cut_distance")
        self.cuts = 0
        self.reset()

    def reset(self) -> None:
        self._mean: torch.Tensor | None = None
        self._std: torch.Tensor | None = None

    def __call__(self, mean: torch.Tensor, std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The statistics to normalise N frames by, for their own (N, C, 1, 1) `mean` and `std`. A
        frame whose statistics are not finite keeps them and leaves the average as it was (it
        poisoned every later frame)."""
        import torch

        check_stats(mean, std)
        means, stds = [], []
        for m, s in zip(mean, std):
            if not bool(torch.isfinite(m).all() & torch.isfinite(s).all()):  # (one wait for the device, not two)
                means.append(m)
                stds.append(s)
                continue
            if self._mean is not None and self._mean.shape == m.shape:
                # (0/0, a channel constant with a caller's std of 0, is no change: its nan hid the others' jump)
                jump = float(((m - self._mean).abs() / self._std).nan_to_num(nan=0.0).mean())
                if jump > self.cut_distance:
                    self.cuts += 1
                    self.reset()
            if self._mean is None or self._mean.shape != m.shape:
                self._mean, self._std = m.clone(), s.clone()
            else:
                self._mean = self.momentum * self._mean + (1 - self.momentum) * m
                self._std = self.momentum * self._std + (1 - self.momentum) * s
            means.append(self._mean)
            stds.append(self._std)
        return torch.stack(means), torch.stack(stds)
