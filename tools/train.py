#!/usr/bin/env python3
"""Train an AdaIN decoder as the paper does (see docs/training.md).

    python3 tools/train.py --content coco/ --style wikiart/ --vgg vgg_normalised.pth --out runs/plain
    python3 tools/train.py --resume runs/plain                          # continue exactly
    torchrun --nproc_per_node 4 tools/train.py ... --batch-size 8      # data-parallel, the same result up to float rounding

Speed: `realtime-adain bench train` (iterations/s at batch 8, 256 x 256, with and without AMP).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from realtime_adain.__main__ import stops_while_importing  # noqa: E402  (a few ms: no torch)

# Run as a script, a signal while the modules below import (half a second, more on a loaded machine)
# ends it with its one line and status, as `realtime-adain`'s does (__main__.py): a Ctrl-C there was
# a KeyboardInterrupt traceback. They are held from the end of the imports until `main`'s handlers are in.
with stops_while_importing() if __name__ == "__main__" else contextlib.nullcontext():
    from realtime_adain import interrupts, library_signals, standard_streams
    from realtime_adain.commands import argtypes
    from realtime_adain.cli import (ArgumentParser, check_library_settings, one_line, quiet_library_warnings,
                                    run_reporting_errors)
    from realtime_adain.errors import UserError, shell_quoted

def build_parser() -> argparse.ArgumentParser:
    """The options; their choices and defaults import torch (see `main`)."""
    from realtime_adain.encoders import ENCODER_KINDS
    from realtime_adain.training.config import AMP_MODES, DEFAULT_WORKERS, TrainConfig
    from realtime_adain.weights import DECODER_BUILDERS

    DEFAULTS = TrainConfig()
    parser = ArgumentParser(
        prog="tools/train.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    data = parser.add_argument_group("data")
    data.add_argument("--content", dest="content_dir", metavar="DIR", help="content images (MS-COCO for real runs), searched recursively")
    data.add_argument("--style", dest="style_dir", metavar="DIR", help="style images (WikiArt for real runs), searched recursively")
    data.add_argument("--load-size", type=argtypes.whole_number, metavar="PX", help=f"images are resized to PX x PX first (default {DEFAULTS.load_size})")
    data.add_argument("--crop-size", type=argtypes.whole_number, metavar="PX", help=f"random crop trained on, a multiple of 8 (default {DEFAULTS.crop_size})")
    data.add_argument("--workers", type=argtypes.whole_number, metavar="N", help=f"image-loading processes per training process (default {DEFAULT_WORKERS}, or one per CPU "
                      f"where fewer are available: {DEFAULTS.workers} here)")

    model = parser.add_argument_group("model")
    model.add_argument("--vgg", metavar="PATH", help="encoder weights: vgg_normalised.pth (default: $REALTIME_ADAIN_VGG or the "
                       "downloaded file), or torchvision's vgg19-dcbb9e9d.pth with --encoder torchvision-vgg19")
    model.add_argument("--encoder", choices=ENCODER_KINDS, help=f"frozen encoder (default {DEFAULTS.encoder})")
    model.add_argument("--decoder", choices=list(DECODER_BUILDERS), help="decoder architecture (default plain, the paper's)")

    objective = parser.add_argument_group("objective and schedule")
    objective.add_argument("--iterations", type=argtypes.whole_number, metavar="N", help=f"train up to iteration N (default {DEFAULTS.iterations})")
    objective.add_argument("--batch-size", type=argtypes.whole_number, metavar="N", help=f"global batch, split across processes (default {DEFAULTS.batch_size})")
    objective.add_argument("--lr", type=argtypes.real_number, metavar="LR", help=f"Adam learning rate (default {DEFAULTS.lr:g})")
    objective.add_argument("--lr-decay", type=argtypes.real_number, metavar="D", help=f"lr / (1 + decay * iteration) (default {DEFAULTS.lr_decay:g})")
    objective.add_argument("--style-weight", type=argtypes.loss_weight, metavar="W", help=f"lambda in content + lambda * style (default {DEFAULTS.style_weight:g})")
    objective.add_argument("--content-weight", type=argtypes.loss_weight, metavar="W", help=f"weight of the content loss (default {DEFAULTS.content_weight:g})")
    objective.add_argument("--temporal-weight", type=argtypes.loss_weight, metavar="W",
                           help=f"weight of the temporal consistency term, warped input -> warped output (default {DEFAULTS.temporal_weight:g}: off)")
    objective.add_argument("--seed", type=argtypes.whole_number, metavar="N", help=f"decoder init and data order (default {DEFAULTS.seed})")

    run = parser.add_argument_group("run")
    run.add_argument("--out", metavar="DIR", help="run directory: checkpoints/, samples/, log.csv, tensorboard/")
    run.add_argument("--resume", metavar="CKPT", help="continue from a run directory or a decoder_iter_N.safetensors")
    run.add_argument("--save-every", type=argtypes.whole_number, metavar="N", help=f"checkpoint every N iterations (default {DEFAULTS.save_every})")
    run.add_argument("--sample-every", type=argtypes.whole_number, metavar="N", help=f"sample grid every N iterations (default {DEFAULTS.sample_every})")
    run.add_argument("--log-every", type=argtypes.whole_number, metavar="N", help=f"log mean losses every N iterations (default {DEFAULTS.log_every})")
    run.add_argument("--device", help="auto (default: CUDA if present, else an Apple GPU, else the CPU), cpu, cuda, cuda:N or mps")
    run.add_argument("--amp", choices=AMP_MODES, help=f"mixed precision on CUDA: auto (bf16 where supported), off, bf16, fp16 (default {DEFAULTS.amp})")
    run.add_argument("--compile", action="store_true", default=None, help="torch.compile the training step")
    return parser


def main(argv: list[str] | None = None) -> int:
    """SIGINT and SIGTERM end the command as in `realtime-adain` (interrupts.py), from the first
    moment: torch is imported in here, and a run keeps its last checkpoint for --resume. The
    standard streams are made safe first, as the CLI's are (`>&-`, `2>/dev/full`)."""
    standard_streams.safe_standard_streams()
    quiet_library_warnings()  # (forked loader processes inherit it)
    with interrupts.sigterm_raises():
        return run_reporting_errors(lambda: parse_and_train(argv))


def resume_hint(run: str | None) -> str:
    """What an interrupted run can be continued from: its last checkpoint, or none saved yet
    (the hint named --resume before the first checkpoint, which then failed)."""
    return resume_command(run) or "no checkpoint was saved yet"


def resume_command(run: str | None) -> str | None:
    """How to continue `run` from its last checkpoint; None where it has none."""
    from realtime_adain.training.checkpoint_files import find_checkpoint

    try:
        decoder, _ = find_checkpoint(run) if run else (None, None)
    except UserError:
        decoder = None
    if decoder is None:
        return None
    return f"resume from the last checkpoint with --resume {shell_quoted(str(Path(run)))}"


def speaks_for_the_run() -> bool:
    """Whether this process reports the run's end: under torchrun every process is stopped, and
    each printed the same `interrupted (...)` line; rank 0 alone does now."""
    return os.environ.get("RANK") in (None, "", "0") or os.environ.get("WORLD_SIZE") in (None, "", "1")


def parse_and_train(argv: list[str] | None) -> int:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, interrupts.SIGNALS)  # (held since the imports: raised here, said as any)
    check_library_settings()  # junk the libraries would abort on ($PYTORCH_CUDA_ALLOC_CONF): one line, as in the CLI
    library_signals.load_torch()
    args = build_parser().parse_args(argv)
    from realtime_adain.training.resolve import resolve_run
    from realtime_adain.training.trainer import RunWriteFailed, train

    given = {k: v for k, v in vars(args).items() if k != "resume"}
    run = args.out or args.resume  # (stopped while the checkpoint loads: what was given continues)
    try:
        config, loaded = resolve_run(given, args.resume)
        run = config.out  # the run's folder: a checkpoint file resumed from is refused once the run saved past it
        last = train(config, loaded)
    except KeyboardInterrupt as exc:
        if speaks_for_the_run():  # (one line: a newline in --out must not make two)
            print(one_line(f"{interrupts.message(exc)} ({resume_hint(run)})"), file=sys.stderr)
        return interrupts.exit_code(exc)
    except RunWriteFailed as exc:  # (a full disk) the checkpoints before it are intact
        if (hint := resume_command(run)) is None:  # (none yet: nothing to resume from)
            raise
        raise UserError(f"{exc}; {hint}") from None
    if last is not None:
        print(one_line(f"decoder: {last}"))  # a newline in --out must not make two lines of one
    return 0


if __name__ == "__main__":
    code = main()
    for signum in interrupts.SIGNALS:  # the run is over and reported: a late signal changes nothing
        signal.signal(signum, signal.SIG_IGN)
    library_signals.forget_caught_ctrl_c()  # (as `realtime-adain`'s: else a Ctrl-C caught in an import exits by SIGINT)
    sys.exit(code)
