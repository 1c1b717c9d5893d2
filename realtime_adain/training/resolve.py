"""A run resolved before it starts: its settings (with its checkpoint's, when resuming), the
checkpoint it resumes from, and the device settings it keeps from there."""

from __future__ import annotations

import os
from typing import Any

from realtime_adain.errors import UserError
from realtime_adain.training import checkpoint
from realtime_adain.training.config import TrainConfig
from realtime_adain.training.process import Distributed, pick_amp, pick_training_device
from realtime_adain.userdirs import expand_home


PATH_SETTINGS = ("content_dir", "style_dir", "vgg", "out")


def resolve_run(given: dict[str, Any], resume: str | None = None) -> tuple[TrainConfig, checkpoint.Checkpoint | None]:
    """The run's settings (with a checkpoint's, when resuming) and the checkpoint it resumes from."""
    from realtime_adain.training.config import resolve_config

    # Paths as absolute ones: a resumed run read a relative --content, --style or --vgg from the
    # folder it was resumed in, and trained on other data without a word.
    given = {name: (str(expand_home(value).absolute()) if name in PATH_SETTINGS and value else value)
             for name, value in given.items()}
    loaded = checkpoint.load_checkpoint(resume) if resume is not None else None
    if loaded is not None and not given.get("out"):
        folder = loaded.decoder_path.parent
        if folder.name != "checkpoints":  # not in a run directory: its parent is no run to write into
            raise UserError(f"{loaded.decoder_path}: not in a run's checkpoints/ folder; give --out DIR for the "
                            "resumed run")
        given = {**given, "out": str(folder.parent.absolute())}
    config = resolve_config(given, loaded.trainer.config if loaded else None)
    if loaded is not None:
        check_kept_device(config, given, loaded)
    for name, flag in zip(PATH_SETTINGS, ("--content", "--style", "--vgg")):
        if (value := getattr(config, name)) and not os.path.isabs(value):  # (a checkpoint of an earlier version)
            raise UserError(f"{loaded.decoder_path if loaded else flag}: the run's {flag} {value!r} is relative, and "
                            f"which folder it was relative to is not known; give {flag} again")
    if loaded is not None and loaded.trainer.iteration >= config.iterations:
        raise UserError(
            f"{loaded.decoder_path}: already at iteration {loaded.trainer.iteration}; "
            f"pass --iterations above it to train further"
        )
    return config, loaded


def check_kept_device(config: TrainConfig, given: dict[str, Any], loaded: checkpoint.Checkpoint) -> None:
    """The --device and --amp a resumed run keeps from its checkpoint, where it is known that they
    were not given again: a run started on a GPU and resumed on the CPU was told "--amp bf16 needs
    a CUDA device", an option not typed, and not where it came from."""
    kept = f"the run's own setting, kept in its checkpoint {loaded.decoder_path.name}"
    try:
        device = pick_training_device(config.device, Distributed.from_env())
    except UserError as exc:
        if given.get("device") is not None:
            raise
        raise UserError(f"{exc} (--device {config.device} is {kept}; give --device cpu, or another, to resume "
                        "it here)") from None
    try:
        pick_amp(config.amp, device)
    except UserError as exc:
        if given.get("amp") is not None:
            raise
        raise UserError(f"{exc} (--amp {config.amp} is {kept})") from None
