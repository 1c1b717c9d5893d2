"""What every benchmark needs around its timing: weights to run, a name for the machine, and its
results file checked before and written after."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, TypeVar

import torch

from realtime_adain import weight_paths
from realtime_adain.atomic import atomic_write_bytes
from realtime_adain.errors import UserError, refuse_inputs
from realtime_adain.output_checks import refuse_overwriting_inputs
from realtime_adain.synthetic import write_published_weights
from realtime_adain.utf8_names import names_as_utf8

T = TypeVar("T")

GENERATED = "generated stand-ins (synthetic.py)"
TEST_DATA_VARIABLE = "REALTIME_ADAIN_TEST_DATA"


def test_material() -> Path:
    """The test material the clip benchmarks default to, found as the tests find it:
    $REALTIME_ADAIN_TEST_DATA, else ../shared/data beside the checkout."""
    return Path(os.environ.get(TEST_DATA_VARIABLE) or Path(__file__).resolve().parents[2].parent / "shared" / "data")


def run_tool(measure: Callable[[], None]) -> int:
    """A benchmark script's exit status: one `error:` line for a Ctrl-C (130), a SIGTERM (143) or
    a UserError, an FFmpeg failure or a file refused (1), not a traceback (a SIGTERM killed the
    segment tool without removing the file FFmpeg was making)."""
    from realtime_adain import interrupts
    from realtime_adain.errors import one_line

    try:
        with interrupts.sigterm_raises():
            measure()
    except KeyboardInterrupt as exc:
        print(f"error: {interrupts.message(exc)}", file=sys.stderr)
        return interrupts.exit_code(exc)
    except UserError as exc:
        print(one_line(f"error: {exc}"), file=sys.stderr)
        return 1
    return 0


# The test material's files the benchmarks read unless told otherwise (--video, --photo, --style).
MATERIAL_FILES = {"video": "videos/cutBunny.mp4", "photo": "content/golden_gate.jpg", "style": "style/brushstrokes.jpg"}


def material_file(kind: str) -> Path:
    """The test material's file a benchmark's input of `kind` (a key of MATERIAL_FILES) defaults to."""
    return test_material() / MATERIAL_FILES[kind]


def check_input_files(*inputs: tuple[Path, str]) -> None:
    """Each (path, flag) a regular file, before any work, every one that is not named in one line
    (the first alone was said: a run without the test material named its photo, then its video).
    A default that cannot be used names its flag, and where the test material is looked for when
    missing; a path the user gave is only said missing (`--video nosuch.mp4` said "pass --video")."""
    problems, defaults = [], {material_file(kind) for kind in MATERIAL_FILES}
    for path, flag in inputs:
        if not path.is_file():
            problem = f"{path}: {'not a regular file' if path.exists() else 'no such file'}"
            if path in defaults:
                hint = f"pass {flag}" + ("" if path.exists() else f", or point ${TEST_DATA_VARIABLE} at the test material")
                problem += f" ({hint})"
            problems.append(problem)
    refuse_inputs(problems, [str(path) for path, _ in inputs])


def engine_list(choices: tuple[str, ...]):
    """argparse type for --engine: comma-separated engines, with action="extend" repeatable too, so
    `bench model` and `bench video` take `--engine eager,onnx` and `--engine eager --engine onnx` alike."""
    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",")]
        for name in names:
            if name not in choices:
                raise argparse.ArgumentTypeError(f"'{name}' is not one of {', '.join(choices)}")
        return names

    parse.__name__ = "engine_list"
    return parse


def benchmark_weights(args: argparse.Namespace, workdir: Path) -> tuple[Path, Path, str]:
    """The installed weights when they resolve, else stand-ins in the published formats (speed
    does not depend on the values); weights asked for by flag or by $REALTIME_ADAIN_VGG /
    _DECODER must exist, as every other command has them (`--vgg ''` too: an unset variable, not
    a wish for stand-ins; a variable naming a missing file timed stand-ins without a word). Also
    says which."""
    try:
        return weight_paths.resolve("vgg", args.vgg), weight_paths.resolve("decoder", args.decoder), "installed"
    except UserError:
        if args.vgg is not None or args.decoder is not None or any(map(os.environ.get, weight_paths.ENV_VAR.values())):
            raise
        vgg, decoder = write_published_weights(workdir)
        return vgg, decoder, GENERATED


def installed_weights() -> list[Path]:
    """The weights files the other commands would read (as `benchmark_weights` resolves them without
    flags), those found: a benchmark on stand-ins only (`train`) must not replace them either."""
    found = []
    for kind in ("vgg", "decoder"):
        try:
            found.append(weight_paths.resolve(kind))
        except UserError:
            pass  # (none to replace)
    return found


def timed_once(asked: Iterable[str], resolve: Callable[[str], T], what: Callable[[T], str], option: str) -> dict[str, T]:
    """Each setup asked for (`--amp auto,off`, `--engine auto,onnx`) -> what it resolves to, where
    one that runs as an earlier one (`what` of both alike: `auto` is `off` on a CPU) is left out,
    said on stderr: the same setup timed twice printed a speed-up of noise."""
    from realtime_adain.notes import note

    kept: dict[str, T] = {}
    for name in dict.fromkeys(asked):
        value = resolve(name)
        same = next((earlier for earlier, theirs in kept.items() if what(theirs) == what(value)), None)
        if same is not None:
            note(f"{option} {name} runs as {option} {same} here ({what(value)}); timed once")
        else:
            kept[name] = value
    return kept


def machine(device: torch.device) -> str:
    """The GPU's name, or the CPU model and the threads torch uses."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")
    model_lines = [line for line in cpuinfo.read_text().splitlines() if line.startswith("model name")] if cpuinfo.exists() else []
    cpu = model_lines[0].split(":", 1)[1].strip() if model_lines else platform.processor()
    return f"{cpu}, {torch.get_num_threads()} threads"


def stamp(benchmark: str, device: torch.device) -> dict:
    """The keys every benchmark's JSON starts with, so results from any of them read alike
    (`device` too: each bench added its own, and `bench temporal` none)."""
    return {"benchmark": benchmark, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine(device), "torch": torch.__version__, "device": str(device)}


def check_results_file(json_path: Path | None, inputs: list[Path]) -> None:
    """Before the timing: `--json` must not replace an input the benchmark reads (a weights file,
    the clip); folders, devices and unwritable places are refused by `check_output_file`."""
    if json_path is not None:
        refuse_overwriting_inputs([Path(json_path)], inputs)
        from realtime_adain.engines.cache import engines_dir, inside_engine_cache

        # (its sidecars are inputs too: a results file replaced one, and the engine was built again)
        if inside_engine_cache(json_path):
            raise UserError(f"{json_path}: inside the engine cache {engines_dir()}, which `realtime-adain engines` "
                            "manages; write the results elsewhere")


def json_safe(value: object) -> object:
    """`value` with NaN and infinities as None: json.dumps writes them as NaN and Infinity, which
    JSON readers refuse (a benchmark that means one says so itself: `bench temporal`'s PSNR "inf")."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def report_json(result: dict, json_path: Path | None, files: Iterable[tuple[Path, bytes]] = ()) -> None:
    """The results as one line on stdout, then each output asked for (the results file, then
    `files`, such as a figure) written atomically, all at the end of the run: a stdout that fails
    (full, closed) must not lose the files, nor one file that cannot be written (a full disk) the
    line or the other files; the failures are raised after, as one error. Names (a clip's, a
    style's) in UTF-8 whatever the locale, as `image --json` writes them."""
    safe = names_as_utf8(json_safe(result))
    outputs = [(json_path, json.dumps(safe, indent=2, allow_nan=False).encode())] if json_path is not None else []
    try:
        print(json.dumps(safe, allow_nan=False), flush=True)
    finally:
        write_outputs(outputs + list(files))


def write_outputs(outputs: list[tuple[Path, bytes]]) -> None:
    """Write each (path, data), each whatever became of the others; then one error for those that failed."""
    failures = []
    for path, data in outputs:
        try:
            atomic_write_bytes(path, data)
        except (UserError, OSError) as exc:
            failures.append(str(exc) if isinstance(exc, UserError)
                            else f"{path}: cannot write ({exc.strerror or exc})")
    if failures:
        raise UserError("; ".join(failures))
