#!/usr/bin/env python3
"""Compare decoders on the paper's content and style losses over a held-out content/style set.

    python3 tools/evaluate.py --content held_out/content --style held_out/style \\
        --decoder runs/plain/checkpoints/decoder_iter_0160000.safetensors \\
        --decoder runs/skip/checkpoints/decoder_iter_0160000.safetensors --json eval.json

Every content is paired with every style (centre crops, as in training). Lower is better for
both losses; the total uses the training objective's style weight.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from realtime_adain import interrupts  # noqa: E402
from realtime_adain.cli import ArgumentParser, run_reporting_errors  # noqa: E402
from realtime_adain.commands.argtypes import int_between, loss_weight, positive_int  # noqa: E402
from realtime_adain.errors import UserError  # noqa: E402
from realtime_adain.training.config import MAX_BATCH_SIZE  # noqa: E402
from realtime_adain.output_checks import refuse_overwriting_inputs  # noqa: E402
from realtime_adain.atomic import atomic_write_bytes  # noqa: E402
from realtime_adain.userdirs import expand_home  # noqa: E402
from realtime_adain.writable_folders import check_output_file  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="tools/evaluate.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--decoder", action="append", required=True, metavar="PATH",
                        help="decoder checkpoint or decoder.pth; repeat to compare several")
    parser.add_argument("--vgg", metavar="PATH",
                        help="weights of the encoder the decoders were trained against (default: $REALTIME_ADAIN_VGG or the downloaded file)")
    parser.add_argument("--content", required=True, metavar="DIR", help="held-out content images")
    parser.add_argument("--style", required=True, metavar="DIR", help="held-out style images")
    parser.add_argument("--load-size", type=positive_int, default=512, metavar="PX", help="resize to PX x PX first (default 512)")
    parser.add_argument("--crop-size", type=positive_int, default=256, metavar="PX", help="centre crop evaluated (default 256)")
    parser.add_argument("--style-weight", type=loss_weight, default=10.0, metavar="W", help="lambda of the total (default 10)")
    # (bounded as training's: each batch's crops and features are held at once, 100000 held them all)
    parser.add_argument("--batch-size", type=int_between(1, MAX_BATCH_SIZE, "batch_size"), default=8, metavar="N",
                        help=f"pairs per forward pass, 1..{MAX_BATCH_SIZE} (default 8)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present, else an Apple GPU, else the CPU), cpu, "
                                                         "cuda, cuda:N or mps (default auto)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return parser


def inputs_of(args: argparse.Namespace) -> list[Path]:
    """Every file the evaluation reads: --json must replace none of them (a decoder given twice
    by mistake, `--json decoder.pth`). One that is not found is left to the evaluation to report."""
    from realtime_adain import weight_paths
    from realtime_adain.training.image_listing import list_images

    paths = [expand_home(p) for p in args.decoder]
    with contextlib.suppress(UserError):
        paths.append(weight_paths.resolve("vgg", args.vgg))
    for folder, what in ((args.content, "content"), (args.style, "style")):
        with contextlib.suppress(UserError):
            paths += list_images(folder, what)
    return paths


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def evaluate_and_report() -> int:
        from realtime_adain.benchmarks.setup import json_safe
        from realtime_adain.training.evaluate import as_dicts, evaluate, format_table

        if args.json is not None:  # fail before the evaluation, not after it
            if not args.json.strip():
                raise UserError("--json '': an empty path (an unset variable?); give a file name, or leave --json out")
            args.json = str(expand_home(args.json))  # (`--json='~/x.json'` made a folder named ~)
            refuse_overwriting_inputs([Path(args.json)], inputs_of(args))
            check_output_file(args.json)
        results = evaluate(args.decoder, args.vgg, args.content, args.style, args.load_size, args.crop_size,
                           args.style_weight, args.device, args.batch_size)
        print(format_table(results))
        if args.json:
            # (a loss that overflowed is null: NaN and Infinity are no JSON, which readers refused)
            text = json.dumps(json_safe(as_dicts(results)), indent=2, allow_nan=False)
            atomic_write_bytes(Path(args.json), (text + "\n").encode())
        return 0

    with interrupts.sigterm_raises():  # SIGTERM ends it as Ctrl-C does (one line, 143), as in train.py: it died silently
        return run_reporting_errors(evaluate_and_report)


if __name__ == "__main__":
    sys.exit(main())
