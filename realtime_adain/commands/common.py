"""Options and helpers shared by the commands that stylize (image, video, live)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Callable, Mapping, Sequence

from tqdm import tqdm

from realtime_adain.commands import argtypes
from realtime_adain.errors import UserError, escaped_name
from realtime_adain.input_paths import expand_inputs
from realtime_adain.standard_streams import closed_at_start
from realtime_adain.settings import (DEFAULT_MAX_PIXELS, DTYPE_NAMES, ENGINE_CHOICES, STABILIZE_MODES, STABILIZE_STRENGTH,
                                     ModelSettings, StyleSettings)
from realtime_adain.userdirs import expand_home
from realtime_adain.utf8_names import name_text
from realtime_adain.writable_folders import ensure_writable_dir


VGG_HELP = "encoder weights (default: $REALTIME_ADAIN_VGG or the downloaded file)"
DECODER_HELP = "decoder weights: decoder.pth or a trainer checkpoint (default: $REALTIME_ADAIN_DECODER or the downloaded file)"


def add_model_options(parser: argparse.ArgumentParser, default_size: int | None, size_default_text: str | None = None) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--vgg", metavar="PATH", help=VGG_HELP)
    group.add_argument("--decoder", metavar="PATH", help=DECODER_HELP)
    group.add_argument("--device", default="auto",
                       help="auto (CUDA if present, else an Apple GPU, else the CPU), cpu, cuda, cuda:N or mps "
                            "(Apple GPUs: supported in code, untested on real hardware)")
    group.add_argument("--dtype", default="auto", choices=["auto", *DTYPE_NAMES],
                       help="compute precision: auto (fp16 on a GPU, fp32 on the CPU), fp32, fp16, bf16 "
                            "(fp16 needs a GPU, bf16 CUDA)")
    group.add_argument("--engine", default="auto", choices=list(ENGINE_CHOICES),
                       help="model engine: auto (on a GPU tensorrt > compile > eager, but eager for image and "
                            "serve, whose frame sizes vary: the others build per size; on the CPU onnx once "
                            "`realtime-adain export --format onnx` made it, else eager), eager, compile, tensorrt, onnx")
    group.add_argument(
        "--size", type=argtypes.side_length, default=default_size, metavar="PX",
        help=f"processing size: shorter side in pixels up to {argtypes.MAX_SIDE}, 0 = native "
             f"(default: {size_default_text or default_size or 'native'})",
    )


def add_style_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("style")
    group.add_argument("--style", "-s", action="append", required=True, metavar="PATH",
                       help="style image or directory of them; repeat for several styles")
    group.add_argument("--alpha", type=argtypes.unit_interval, default=1.0, help="content/style trade-off in [0, 1] (default 1)")
    group.add_argument("--mix", type=argtypes.mix_weights, metavar="W1,W2,...",
                       help="blend all styles into one with these weights (one per style)")
    group.add_argument("--preserve-color", action="store_true", help="keep the content's colours")
    group.add_argument("--style-size", type=argtypes.style_side, default=512, metavar="PX",
                       help=f"shorter side the style is encoded at, up to {argtypes.MAX_STYLE_SIZE}, 0 = native (default 512)")


# --style-cache's default, as live, serve and image --sheet all say it (`live.style_cache.run_cache_dir`)
STYLE_CACHE_DEFAULT = "default: $REALTIME_ADAIN_HOME/cache/styles or the per-user cache directory"


def add_library_options(parser: argparse.ArgumentParser, styles_help: str) -> None:
    """The style library of the interactive commands (live, serve): styles switched while running."""
    styles = parser.add_argument_group("styles")
    styles.add_argument("--styles", "--style", "-s", nargs="+", action="extend", required=True, metavar="PATH",
                        help=styles_help)
    styles.add_argument("--alpha", type=argtypes.unit_interval, default=1.0, help="initial content/style trade-off in [0, 1] (default 1)")
    styles.add_argument("--preserve-color", action="store_true", help="start with colour preservation on")
    styles.add_argument("--style-size", type=argtypes.style_side, default=512, metavar="PX",
                        help=f"shorter side styles are encoded at, up to {argtypes.MAX_STYLE_SIZE}, 0 = native "
                             "(default 512)")
    styles.add_argument("--style-cache", metavar="DIR", help=f"where style statistics are cached ({STYLE_CACHE_DEFAULT})")


def style_cache_dir(value: str | None) -> Path | None:
    """--style-cache as a folder that can hold cache files (created if missing), else one error
    line at once: the user named it, so a file or a read-only folder there is a mistake. (The
    default cache, when unwritable, only costs speed on the next start.) `--style-cache ''` (an
    unset variable) is refused: it used the default cache without a word."""
    if value is None:
        return None
    if not value.strip():
        raise UserError("--style-cache '': an empty path (an unset variable?); give a folder, or leave --style-cache out")
    directory = expand_home(value, " (from --style-cache)")  # (as --vgg: `--style-cache=~/c` made a folder named ~)
    try:
        ensure_writable_dir(directory)
    except UserError as exc:
        raise UserError(f"--style-cache {str(exc).replace('output directory', 'folder')}") from None
    return directory


def add_stabilize_options(group: argparse._ArgumentGroup, mode_help: str) -> None:
    """--stabilize and --stabilize-strength of the interactive commands, refused as `video` refuses them."""
    group.add_argument("--stabilize", default="flow", choices=STABILIZE_MODES, metavar="{%s}" % ",".join(STABILIZE_MODES),
                       help=mode_help)
    group.add_argument("--stabilize-strength", type=argtypes.unit_interval, default=STABILIZE_STRENGTH[1], metavar="S",
                       help="how much of the previous output is kept where the flow is trusted, in [0, 1] "
                            f"(default {STABILIZE_STRENGTH[1]})")


def add_max_pixels_option(parser: argparse.ArgumentParser, what: str) -> None:
    """--max-pixels: the processing budget that `what` (e.g. "an image") must fit."""
    parser.add_argument("--max-pixels", type=argtypes.max_pixels, default=DEFAULT_MAX_PIXELS, metavar="N",
                        help=f"refuse {what} larger than N pixels (default {DEFAULT_MAX_PIXELS}, 4096x4096)")


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action=JsonOnStdout,
                        help="print one JSON object per output on stdout (progress and notes stay on stderr)")


class JsonOnStdout(argparse.Action):
    """--json, refused as it is read where stdout was closed at start (`>&-`): the records went to
    the /dev/null `standard_streams.safe_standard_streams` put there, and the run exited 0 with them all
    lost. Before any work, not at the first record (after the first result was made). `one_object`:
    the command prints one JSON object (doctor, engines list), named so, and the file to send it to."""

    def __init__(self, option_strings: Sequence[str], dest: str, one_object: str | None = None, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=False, **kwargs)
        self.one_object = one_object

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if closed_at_start(1):
            lost = (f"the JSON object would be lost; send it to a file ({option_string} > {self.one_object})"
                    if self.one_object else
                    f"the JSON records would be lost; send them to a file ({option_string} > results.jsonl)")
            raise UserError(f"{option_string}: standard output is closed, so {lost} or leave {option_string} out")
        setattr(namespace, self.dest, True)


def report_output(args: argparse.Namespace, stylizer, source: Path, styles: Sequence[Path], output: Path,
                  size: tuple[int, int], seconds: float, frames: int | None = None, extra: dict | None = None) -> None:
    """A finished output: its path on stdout, or with --json one object describing it (plus `extra`).
    Stdout that cannot be written (`>/dev/full`) is named: "error: No space left on device" read
    as the output's failure, where the output was written. Flushed at once: to a file or pipe
    stdout is buffered, so a reader of --json got nothing until the last output, and a full disk
    was found only at exit, naming no output."""
    line = shown_path(output)
    if args.json:
        line = json.dumps({"input": name_text(source), "styles": [name_text(s) for s in styles], "output": name_text(output),
                           "width": size[0], "height": size[1], "frames": frames, "seconds": round(seconds, 3),
                           "device": str(stylizer.device), "engine": stylizer.engine_name, **(extra or {})})
    say(line, after=f"; {output} was written", write=tqdm.write)


def shown_path(path: Path) -> str:
    """`path` as printed for a script to read, alone on its line: escaped (`escaped_name`: two
    outputs named `a<newline>b.jpg` and `a\\nb.jpg` were printed alike), and one that would start
    with '-' keeps a './' (Path drops it: `-o ./-y.png` printed -y.png, which `| xargs rm` took for
    options)."""
    text = str(path)
    return escaped_name(f".{os.sep}{text}" if text.startswith("-") else text)


def say(text: str, after: str = "", write: Callable[[str], object] = print) -> None:
    """`text` on stdout, flushed, where a failure is said as stdout's: a report printed to
    `>/dev/full` ended "error: No space left on device", naming nothing (`after`: what was done
    all the same). A reader gone (`| head`) stops the command quietly (cli.run_reporting_errors)."""
    try:
        write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise UserError(f"standard output: cannot write ({exc.strerror or exc}){after}") from None


def model_settings(args: argparse.Namespace) -> ModelSettings:
    """The model options as typed settings, checked."""
    settings = ModelSettings(args.vgg, args.decoder, args.device, args.dtype, args.engine)
    settings.check_for_command()
    from realtime_adain.devices import pick_device  # torch: only once the command runs

    pick_device(settings.device)  # a bad --device is refused before any work
    return settings


def style_settings(args: argparse.Namespace, style_count: int | None = None) -> StyleSettings:
    """The style options as typed settings, checked (`style_count`: the styles --mix must match)."""
    mix = tuple(args.mix) if args.mix is not None else None
    settings = StyleSettings(args.alpha, mix, args.preserve_color, args.style_size)
    settings.check_for_command(style_count)
    return settings


def expand_each(paths: Sequence[str], what: str, accept: Callable[[Path], bool], noun: str = "images",
                sequences: bool = False, roles: Mapping[Path, str] | None = None) -> tuple[list[Path], list[str]]:
    """`input_paths.expand_inputs` path by path: the files found, and a line for each path that gives
    none (missing, an empty folder). Raised at the first, a missing file hid every other bad input
    from the one line that names them all. `roles`: paths given in more than one role, with the
    word for them all ("content or style"): such a path's line is then the same in each role,
    and named once."""
    found, problems = [], []
    for path in paths:
        try:
            found += expand_inputs([path], (roles or {}).get(Path(path), what), accept, noun, sequences)
        except UserError as exc:
            problems.append(str(exc))
    return found, problems


def check_mix(args: argparse.Namespace, styles: Sequence[Path]) -> None:
    """--mix against the styles found, in the settings' words ("2 weights for 1 style", not "1 styles")."""
    style_settings(args, len(styles))
