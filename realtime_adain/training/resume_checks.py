"""Whether a loaded trainer state fits the run resuming it: its settings' types, its loss window, and
the optimizer and scheduler states against a fresh run's."""

from __future__ import annotations

import math
from typing import Any

import torch


# How far a window's total may be from the sum of its terms: float32 sums over a long window round
# apart by far less (the tester's edited [1e6, 1e6, 0, 1] is far outside it).
LOSS_SUM_TOLERANCE = 1e-2


def loss_window(window: dict[str, Any], iteration: int) -> tuple[list[float], int]:
    """The (content, style, temporal, total) sums of a saved loss window, and their iteration count:
    numbers from 0 to float32's largest (the trainer sums in float32), none over no iterations,
    and the total the sum of the terms. A NaN, 1e308 or a false total trained on and then blamed
    the learning rate, or logged a row no run had."""
    sums, count = window["sums"], window["iterations"]
    if (not isinstance(sums, list) or len(sums) not in (3, 4) or not all(_kind(v) == "number" for v in sums)
            or type(count) is not int or not 0 <= count <= iteration):
        raise ValueError(f"loss window {window!r}")
    sums = [float(v) for v in sums]
    if len(sums) == 3:  # (a state before the temporal term had its own sum: the rest of the total)
        content, style, total = sums
        sums = [content, style, max(0.0, total - content - style), total]
    largest = float(torch.finfo(torch.float32).max)
    if not all(0 <= value <= largest for value in sums):  # (NaN fails both)
        raise ValueError(f"loss window sums {sums}: not finite, below 0 or past float32's range")
    if count == 0 and any(sums):
        raise ValueError(f"loss window sums {sums} over 0 iterations")
    if not math.isclose(sums[3], sum(sums[:3]), rel_tol=LOSS_SUM_TOLERANCE):
        raise ValueError(f"loss window total {sums[3]:g} is not the sum of its terms {sums[:3]}")
    return sums, count


def _kind(value: Any) -> str:
    """A JSON value's kind, where ints and floats are both numbers (1e-4 may be saved as 0.0001 or 1)."""
    if isinstance(value, bool) or value is None:
        return type(value).__name__
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, (list, tuple)):
        return "sequence"
    return type(value).__name__


def check_config_types(config: dict[str, Any]) -> None:
    """The saved settings have the types of TrainConfig's (a wrong one would fail deep in the run)."""
    from realtime_adain.training.config import TrainConfig

    if not isinstance(config, dict):
        raise TypeError("its config is not a mapping")
    defaults = TrainConfig()
    for name, value in config.items():
        if not hasattr(defaults, name) or value is None:
            continue  # settings of another version are ignored; a missing path is asked for
        default = getattr(defaults, name)
        expected = "str" if default is None else _kind(default)
        if _kind(value) != expected or (isinstance(default, int) and not isinstance(default, bool)
                                        and isinstance(value, float)):
            raise TypeError(f"setting {name} is {value!r}")


def check_like(fresh: Any, loaded: Any, what: str) -> None:
    """`loaded` (a state dict from a file) has the structure and value kinds of `fresh` (the state
    dict of a new optimizer or scheduler): same lengths, numbers where numbers are. Keys only one
    of them has are let be: another PyTorch version adds or drops a few."""
    if isinstance(fresh, dict):
        if not isinstance(loaded, dict):
            raise ValueError(f"the {what} state does not match ({loaded!r})")
        for key in set(fresh) & set(loaded):
            check_like(fresh[key], loaded[key], what)
    elif isinstance(fresh, (list, tuple)):
        if not isinstance(loaded, (list, tuple)) or len(loaded) != len(fresh):
            raise ValueError(f"the {what} state does not match ({loaded!r})")
        for a, b in zip(fresh, loaded):
            check_like(a, b, what)
    elif fresh is not None and _kind(fresh) != _kind(loaded):
        raise ValueError(f"the {what} state does not match ({loaded!r} for a {_kind(fresh)})")
    elif isinstance(loaded, float) and not math.isfinite(loaded):
        raise ValueError(f"the {what} state holds {loaded}")


def check_schedule(scheduler: dict[str, Any], groups: list[dict[str, Any]], iteration: int, lr: float,
                   factor: float) -> None:
    """The learning-rate schedule is where the run is: at `iteration`, from the run's `lr`, now
    `lr * factor`. An edited position trained on at 2e-12 without a word, and an edited rate of
    1e300 overflowed inside Adam (a traceback)."""
    if scheduler.get("last_epoch") != iteration:
        raise ValueError(f"the scheduler is at iteration {scheduler.get('last_epoch')!r}, the run at {iteration}")
    for group in groups:
        rates = (scheduler.get("base_lrs"), group.get("initial_lr"), group.get("lr"))
        if rates[0] != [lr] or rates[1] != lr or not math.isclose(rates[2], lr * factor, rel_tol=1e-6):
            raise ValueError(f"learning rates {rates} do not follow the run's --lr {lr:g} at iteration {iteration}")


def check_adam_settings(fresh: list[dict[str, Any]], loaded: list[dict[str, Any]]) -> None:
    """Adam's settings in the saved parameter groups are those the trainer makes (`fresh`: a new
    optimizer's groups), the learning rate aside (the schedule moves it: `check_schedule`). An
    edited amsgrad was a KeyError at the first iteration; maximize climbed the loss, and betas,
    eps or weight decay changed the training, without a word. A setting only one of them has is
    let be: another PyTorch version adds or drops a few (as in `check_like`)."""
    for new, old in zip(fresh, loaded):
        for key in sorted(set(new) & set(old) - {"lr"}):
            if old[key] != new[key]:
                raise ValueError(f"Adam's {key} = {old[key]!r}, where the trainer sets {new[key]!r}")


def check_optimizer_state(parameters: list[torch.Tensor], state: dict[int, dict[str, torch.Tensor]],
                          iteration: int, unnamed: list[str]) -> None:
    """Adam's moments exist for every parameter (after the first iteration) with its shape and dtype, hold
    finite numbers (the second moment none below 0), and its step count is a whole number up to the
    run's iteration (one a step, fewer where fp16 skipped some), and the file holds no tensors
    besides (`unnamed`: those its JSON does not name). An edited value trained into NaN, whose advice
    (a lower --lr) a resumed run cannot follow, or was a traceback in Adam (a complex step)."""
    expected = set(range(len(parameters))) if iteration > 0 else set(state)
    if set(state) != expected or not set(state) <= set(range(len(parameters))):
        raise ValueError(f"Adam state for parameters {sorted(state)[:4]}..., the decoder has {len(parameters)}")
    for index, moments in state.items():
        shape = tuple(parameters[index].shape)
        for name in ("exp_avg", "exp_avg_sq"):
            if name not in moments or tuple(moments[name].shape) != shape or not moments[name].is_floating_point():
                raise ValueError(f"Adam's {name} of parameter {index} does not fit its shape {shape}")
            values = moments[name]
            if values.dtype != parameters[index].dtype:  # (bfloat16 ones resumed inexactly without a word)
                raise ValueError(f"Adam's {name} of parameter {index} is {str(values.dtype).removeprefix('torch.')}, "
                                 f"the run saves {str(parameters[index].dtype).removeprefix('torch.')}")
            if not bool(torch.isfinite(values).all()) or (name == "exp_avg_sq" and bool((values < 0).any())):
                raise ValueError(f"Adam's {name} of parameter {index} holds numbers that are not finite"
                                 + (" or below 0" if name == "exp_avg_sq" else ""))
        step = moments.get("step")
        if step is None or step.numel() != 1:
            raise ValueError(f"Adam's step of parameter {index} is missing")
        real = not step.is_complex() and step.dtype != torch.bool
        if not (real and 0 <= step.item() <= iteration and step.item() == int(step.item())):  # (NaN fails `<=`)
            raise ValueError(f"Adam's step of parameter {index} is {step.item()!r}, not a whole number from 0 to the "
                             f"run's iteration {iteration}")
    if unnamed:  # (they were ignored without a word)
        raise ValueError(f"tensors it does not name: {first_of(unnamed)}")


def first_of(names: list[str]) -> str:
    """Names in a message: the first, and how many more ("'junk.weight' and 2 more")."""
    return f"'{names[0]}'" + (f" and {len(names) - 1} more" if len(names) > 1 else "")
