"""Training settings, and how a resumed run reconciles them with its checkpoint.

A resumed run continues the run it was started as: every setting comes from the checkpoint
unless given again. Those that shape the result (seed, batch, learning rate, loss weights, crop
sizes, encoder, decoder) cannot change; paths and run-time settings (iterations, device,
logging, workers) may.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from realtime_adain.encoders import ENCODER_KINDS, NORMALISED_VGG, TORCHVISION_VGG19
from realtime_adain.errors import UserError, as_given
from realtime_adain.limits import usable_cpus

# What makes two runs the same run: fixed by the checkpoint when resuming.
RESULT_KEYS = (
    "seed", "batch_size", "lr", "lr_decay", "style_weight", "content_weight",
    "load_size", "crop_size", "encoder", "decoder", "temporal_weight",
)
AMP_MODES = ("auto", "off", "bf16", "fp16")
# Bounds far above any real run, so a mistyped number is one line, not a failed allocation (or a
# process per worker) once the run has started; the image sizes are bounded in `item_streams.check_sizes`.
MAX_BATCH_SIZE = 1024
MAX_WORKERS = 64
MAX_SEED = 2**32 - 1  # numpy's seeds
DEFAULT_LR = 1e-4  # the reference's Adam learning rate
MAX_LR = 1.0
MAX_LR_DECAY = 1.0  # lr / (1 + decay * i): the reference's 5e-5; 1e308 trained at a rate of 0 from iteration 1
MAX_ITERATIONS = 10_000_000  # 60 times the paper's 160k, and the 7 digits of the checkpoints' names
DEFAULT_WORKERS = 4


def default_workers() -> int:
    """DEFAULT_WORKERS loading processes, or one per CPU this process may use where that is fewer
    (PyTorch warned of more workers than CPUs, in four lines twice, on a 2-CPU machine by default)."""
    return min(DEFAULT_WORKERS, usable_cpus())


@dataclass
class TrainConfig:
    content_dir: str | None = None
    style_dir: str | None = None
    vgg: str | None = None
    # The encoder file's SHA-256, set as a run starts: a resumed run refuses another encoder (one
    # the environment named, or the same relative --vgg read from another folder, trained on).
    vgg_sha256: str | None = None
    out: str | None = None
    encoder: str = NORMALISED_VGG
    decoder: str = "plain"
    iterations: int = 160_000
    batch_size: int = 8  # global: split across data-parallel processes
    lr: float = DEFAULT_LR
    lr_decay: float = 5e-5
    style_weight: float = 10.0
    content_weight: float = 1.0
    temporal_weight: float = 0.0  # ReReVST-style consistency term (losses.temporal_loss); 0 = off
    load_size: int = 512
    crop_size: int = 256
    seed: int = 0
    save_every: int = 10_000
    log_every: int = 10
    sample_every: int = 1_000
    workers: int = field(default_factory=default_workers)
    device: str = "auto"
    amp: str = "auto"
    compile: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def check(self) -> None:
        from realtime_adain.training.item_streams import check_sizes
        from realtime_adain.weights import DECODER_BUILDERS

        if self.decoder not in DECODER_BUILDERS:
            raise UserError(f"unknown decoder '{self.decoder}' (use {', '.join(DECODER_BUILDERS)})")
        if self.encoder not in ENCODER_KINDS:
            raise UserError(f"unknown encoder '{self.encoder}' (use {', '.join(ENCODER_KINDS)})")
        if self.amp not in AMP_MODES:
            raise UserError(f"unknown --amp '{self.amp}' (use {', '.join(AMP_MODES)})")
        for name in ("iterations", "batch_size", "save_every", "log_every", "sample_every"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {as_given(getattr(self, name))}")
        if self.iterations > MAX_ITERATIONS:
            raise UserError(f"--iterations must be at most {MAX_ITERATIONS}, got {as_given(self.iterations)}")
        if self.batch_size > MAX_BATCH_SIZE:
            raise UserError(f"--batch-size must be at most {MAX_BATCH_SIZE}, got {as_given(self.batch_size)}")
        if not 0 <= self.workers <= MAX_WORKERS:
            raise UserError(f"--workers must be between 0 and {MAX_WORKERS}, got {as_given(self.workers)}")
        if not 0 <= self.seed <= MAX_SEED:
            raise UserError(f"--seed must be between 0 and {MAX_SEED}, got {as_given(self.seed)}")
        check_sizes(self.load_size, self.crop_size)
        if self.lr == 0:  # (no number echoed: 1e-400 reads as 0, and "--lr 0.0" was not what was typed)
            raise UserError("--lr must be positive (a number too small for a float, such as 1e-400, reads as 0)")
        weight_rule = "loss weights must not be negative (all finite)"
        rules = {"--lr": (self.lr, "must be positive (and finite)"),
                 "--lr-decay": (self.lr_decay, "must not be negative (and finite)"),
                 "--style-weight": (self.style_weight, weight_rule),
                 "--content-weight": (self.content_weight, weight_rule),
                 "--temporal-weight": (self.temporal_weight, weight_rule)}
        for flag, (value, rule) in rules.items():
            if not math.isfinite(value) or value < 0:  # nan passes `< 0`
                raise UserError(f"{flag} {value}: {rule}")
        if self.content_weight == self.style_weight == self.temporal_weight == 0:  # (an untrained decoder was saved)
            raise UserError("--content-weight, --style-weight and --temporal-weight are all 0: the decoder would "
                            "learn nothing; give one of them a positive weight")
        if self.lr > MAX_LR:  # (past ~3e37 Adam's step overflowed: a traceback, not the divergence line)
            raise UserError(f"--lr {self.lr:g}: at most {MAX_LR:g} (Adam moves each weight by about lr a step; "
                            f"the paper's is {DEFAULT_LR:g})")
        if self.lr_decay > MAX_LR_DECAY:
            raise UserError(f"--lr-decay {self.lr_decay:g}: at most {MAX_LR_DECAY:g} (the rate is lr / (1 + decay * "
                            "iteration); the paper's is 5e-05)")
        if not self.device.strip():
            raise UserError("--device '': an empty name (an unset variable?); give auto, cpu, cuda or cuda:N")
        for name, what in (("content_dir", "--content"), ("style_dir", "--style"), ("out", "--out")):
            if not getattr(self, name):
                raise UserError(f"{what} is required (unless --resume gives it)")
        if self.encoder == TORCHVISION_VGG19 and not self.vgg:
            raise UserError("--encoder torchvision-vgg19 needs --vgg PATH: torchvision's vgg19-dcbb9e9d.pth")


def resolve_config(given: dict[str, Any], saved: dict[str, Any] | None = None) -> TrainConfig:
    """Settings from `given` (None = not given), the checkpoint's `saved` ones, then defaults."""
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(given) - known
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}")
    values: dict[str, Any] = {}
    for name in known:
        value = given.get(name)
        if saved is not None and name in saved:
            if name in RESULT_KEYS and value is not None and value != saved[name]:
                flag = "--" + name.replace("_", "-")
                raise UserError(
                    f"{flag} {as_given(value)} differs from the checkpoint's {as_given(saved[name])}: a resumed run "
                    "keeps the settings it was started with"
                )
            if value is None:
                value = saved[name]
        if value is not None:
            values[name] = value
    config = TrainConfig(**values)
    config.check()
    return config
