from __future__ import annotations

# This module's docstring and `export --help`'s text: a constant, which `python -OO` keeps.
DESCRIPTION = """Build TensorRT engines or an ONNX graph ahead of time (`realtime-adain export`).

Both formats take the style statistics and alpha as inputs, so one build serves
every style. ONNX is one file for every frame size (checked against onnxruntime
before it is kept); TensorRT engines are one per resolution and batch, stored in
the engine cache the tensorrt engine reads.
"""
__doc__ = DESCRIPTION

import argparse
import os
from pathlib import Path

from tqdm import tqdm

from realtime_adain.progress_bars import bar_off
from realtime_adain.commands.argtypes import (MAX_FRAME_BATCH, MAX_FRAME_SIDE, MIN_RESOLUTION_SIDE, RESOLUTION_PRESETS,
                                              frame_batch, frame_resolution)
from realtime_adain.atomic import PendingOutput
from realtime_adain.commands import common
from realtime_adain.errors import UserError, one_line
from realtime_adain.output_checks import folder_ending, refuse_overwriting_inputs
from realtime_adain.writable_folders import check_writable_dir, ensure_writable_dir

# The ONNX graph must reproduce PyTorch within this PSNR (uint8 output space) to be kept.

EPILOG = """examples:
  realtime-adain export --format onnx -o adain.onnx   # one graph, every size
  realtime-adain export --format onnx   # into the engine cache (--engine onnx)
  realtime-adain export --format tensorrt -r 720p -r 1080p --batch 1 --batch 4
  realtime-adain export --format tensorrt -r 720p --decoder run/dec.safetensors
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="build TensorRT engines or an ONNX graph ahead of time",
        description=DESCRIPTION,
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--format", required=True, choices=("tensorrt", "onnx"), help="what to build")
    parser.add_argument("--vgg", metavar="PATH", help=common.VGG_HELP)
    parser.add_argument("--decoder", metavar="PATH", help=common.DECODER_HELP)
    parser.add_argument("-r", "--resolution", type=frame_resolution, action="append", metavar="WxH",
                        help=f"tensorrt: frame size to build for, WIDTHxHEIGHT of {MIN_RESOLUTION_SIDE} to "
                             f"{MAX_FRAME_SIDE} pixels a side, or 360p/720p/1080p; repeatable (default: 360p, 720p and 1080p)")
    parser.add_argument("--batch", type=frame_batch, action="append", metavar="N",
                        help=f"tensorrt: frames per call to build for, up to {MAX_FRAME_BATCH}; repeatable (default: 1)")
    parser.add_argument("--precision", choices=("fp16", "fp32"), default=None,
                        help="engine precision (default: fp16 for tensorrt; onnx is fp32)")
    parser.add_argument("--device", help="tensorrt: the CUDA GPU to build on, cuda or cuda:N (default: cuda)")
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="onnx: the .onnx file to write; tensorrt: the engine directory "
                             "(default: the engine cache `engines list` names; where it is: `engines --help`)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild even when a valid cached build exists")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.output is not None and not args.output.strip():  # '' is not "the default": an unset variable
        raise UserError("-o '': an empty path (an unset variable?); give a file (onnx) or a folder (tensorrt), "
                        "or leave -o out for the engine cache")
    if args.device is not None:
        from realtime_adain.devices import refuse_empty_device  # (torch: both formats load it anyway)

        refuse_empty_device(args.device)  # before either format's own word on the device (it said "--device :")
    if args.format == "onnx":
        return export_onnx_command(args)
    return export_tensorrt_command(args)


def export_onnx_command(args: argparse.Namespace) -> int:
    from realtime_adain.engines.onnx import cached_onnx, export_checked, require_onnx
    from realtime_adain.settings import ModelSettings
    from realtime_adain.stylizer import Stylizer
    from realtime_adain.weight_paths import files_used

    require_onnx()
    if args.precision not in (None, "fp32"):
        raise UserError("onnx export is fp32 (TensorRT builds its own fp16 engine: --format tensorrt)")
    if args.resolution or args.batch:
        raise UserError("--resolution and --batch are for tensorrt; the onnx graph takes any size and batch")
    if args.device not in (None, "cpu"):  # `--device cuda:7` was ignored without a word
        raise UserError(f"--device {args.device}: the onnx export is made and checked on the CPU (--device is for tensorrt)")
    if args.output is not None:  # before the weights load
        check_output(Path(args.output), files_used(args.vgg, args.decoder), args.output)
    # eager: 'auto' would weigh the cached export this command makes, with a note on a damaged one
    # before the export's own word on it
    stylizer = Stylizer.for_command(ModelSettings(args.vgg, args.decoder, "cpu", "fp32", "eager"))  # (the CLI's words)
    if args.output is None:
        reports: list[str] = []
        path, built = cached_onnx(stylizer.net, stylizer.weights_id, rebuild=args.rebuild, report=reports.append)
        said = one_line(f"exported: {path}" if built else f"already cached (checked when exported): {path}")
        common.say("\n".join([said, *reports]), after=f"; {path} was exported" if built else "")
        return 0
    path = Path(args.output)
    with PendingOutput(path) as pending:  # kept only once it matches PyTorch
        report = export_checked(stylizer.net, pending.path)
    # (a full stdout said "error: No space left on device" after the export was written)
    common.say(f"{one_line(f'exported: {path}')}\n{report}", after=f"; {path} was exported")
    return 0


def check_output(path: Path, inputs: list[Path], text: str) -> None:
    """`text`: -o as typed (Path drops a trailing slash, which says a folder was meant); `inputs`:
    the weights files read."""
    if folder_ending(text):
        raise UserError(f"{text}: names a folder; the output of --format onnx is a file, e.g. "
                        f"{os.path.join(_folder_as_typed(text), 'adain.onnx')}")
    if path.name.lower() == ".onnx":  # (a dot file to Path: no suffix, so it "did not end in .onnx")
        raise UserError(f"{path}: no name before .onnx; give one such as adain.onnx")
    if path.suffix.lower() != ".onnx":  # (A.ONNX as image outputs take .JPG)
        raise UserError(f"{path}: the output of --format onnx must end in .onnx (a file name such as adain.onnx)")
    refuse_overwriting_inputs([path], inputs)
    from realtime_adain.engines.cache import engines_dir, inside_engine_cache

    if inside_engine_cache(path):  # (onto the cached export's name it replaced a sound export with one no run loads)
        raise UserError(f"{path}: -o is inside the engine cache {engines_dir()}; run export without -o to fill it")
    check_writable_dir(path.parent)  # (not made yet: weights that fail to load leave no empty folder)


def _folder_as_typed(text: str) -> str:
    """The folder -o names, as typed less its trailing separators and '.' names, however many
    ('a.onnx//' and 'dir//.' were suggested a.onnx//adain.onnx and dir//adain.onnx); a '..' stays
    (`out/..` was suggested out/adain.onnx, another folder)."""
    folder = text
    while len(folder) > 1 and folder.endswith(("/", os.sep, "/.", os.sep + ".")):
        folder = folder[:-1]
    return folder


def export_tensorrt_command(args: argparse.Namespace) -> int:
    import torch

    from realtime_adain import engines
    from realtime_adain.engines.cache import EngineCache
    from realtime_adain.engines.tensorrt import cached_engine
    from realtime_adain.model import padded_size
    from realtime_adain.settings import ModelSettings
    from realtime_adain.stylizer import Stylizer
    from realtime_adain.devices import pick_device

    if args.output and Path(args.output).exists() and not Path(args.output).is_dir():
        raise UserError(f"{args.output}: the output of --format tensorrt is a folder (the engine directory), not a file")
    if args.device is not None and pick_device(args.device).type != "cuda":  # (it said: pip install torch-tensorrt)
        raise UserError(f"--device {args.device}: tensorrt builds on a CUDA GPU (--device cuda or cuda:N)")
    engines.require("tensorrt", "cuda", torch.float16)  # what is missing for it, before any device choice
    if args.output:
        ensure_writable_dir(Path(args.output))  # before minutes of building, not after
    precision = args.precision or "fp16"
    stylizer = Stylizer.for_command(ModelSettings(args.vgg, args.decoder, args.device or "cuda", precision, "tensorrt"))
    cache = EngineCache(args.output) if args.output else EngineCache()
    sizes = args.resolution or list(RESOLUTION_PRESETS.values())
    shapes = list(dict.fromkeys((n, 3, *padded_size(h, w)) for n in (args.batch or [1]) for w, h in sizes))  # each built once
    unsaid: list[UserError] = []  # stdout that failed (`>/dev/full`): said once every engine is built
    for shape in tqdm(shapes, desc="building engines", unit="engine", disable=bar_off()):
        _, built = cached_engine(stylizer.net, stylizer.weights_id, shape, stylizer.dtype, stylizer.device,
                                 cache, rebuild=args.rebuild)
        try:
            common.say(f"{'built' if built else 'already cached'}: {'x'.join(map(str, shape))} {precision}", write=tqdm.write)
        except UserError as exc:
            unsaid.append(exc)
    if unsaid:
        raise UserError(f"{unsaid[0]}; the engines are in {cache.directory}")
    common.say(one_line(f"engines in {cache.directory}"), after=f"; the engines are in {cache.directory}")
    return 0
