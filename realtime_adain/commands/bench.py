"""`realtime-adain bench TARGET`: performance measurements (medians, side-by-side ratios)."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from pathlib import Path
from typing import Callable

from realtime_adain.errors import UserError
from realtime_adain.standard_streams import closed_at_start

# Each name is a module in realtime_adain.benchmarks with DESCRIPTION (its help), add_arguments() and run().
# In the order README.md lists them.
BENCHMARKS: tuple[str, ...] = ("model", "video", "live", "train", "temporal", "serve")
EPILOG = """examples:
  # feasible on a CPU:
  realtime-adain bench model -r 360p --engine eager --engine onnx
  realtime-adain bench video --frames 48   # pipeline vs the reference loop
  realtime-adain bench live --seconds 10   # sustained fps and latency, headless
  realtime-adain bench temporal --frames 32 --size 192 --json out.json

`realtime-adain bench TARGET --help` says what each measures.
Results: docs/BENCHMARKS.md.
"""


def add_parser(subparsers: argparse._SubParsersAction, with_targets: bool = True) -> None:
    """`with_targets`: register each benchmark's options (importing it loads torch); without,
    `bench` is only listed, for a command line that asks for another command."""
    parser = subparsers.add_parser("bench", help="benchmarks", description=(
        "Measure speed (and the stabiliser's steadiness); results print as a table,\n"
        "then as one JSON line (`--json PATH` also writes them to a file)."), epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    targets = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    for name in BENCHMARKS if with_targets else ():
        try:
            module = importlib.import_module(f"realtime_adain.benchmarks.{name}")
        except ImportError as exc:  # (OpenCV or PyAV that cannot load: `bench --help` and the others still run)
            from realtime_adain.cli import add_unloadable_command

            add_unloadable_command(targets, name, exc)
            continue
        summary = module.DESCRIPTION.strip().splitlines()[0]
        target = targets.add_parser(name, help=summary, description=module.DESCRIPTION)
        module.add_arguments(target)
        target.set_defaults(func=lambda args, run=module.run: run_guarding_stdout(run, args))


class GuardedStdout:
    """Standard output for a benchmark's lines, each written through at once, so a failure is seen
    when it happens. Without a results file, a failure ends the run: one `error: standard output:
    ...` line (`>/dev/full` said "No space left on device", naming nothing), or quietly for a reader
    gone (`| head -1`). With `--json FILE`, the lines after it are dropped and the run goes on to
    write FILE (`--json out.json | head -1` stopped at the second line and never wrote it)."""

    def __init__(self, stream, keep_going: bool) -> None:
        self.stream, self.keep_going = stream, keep_going
        self.failure: OSError | None = None

    def write(self, text: str) -> int:
        if self.failure is None:
            try:
                self.stream.write(text)
                self.stream.flush()
            except OSError as exc:
                self.failed(exc)
        return len(text)

    def flush(self) -> None:
        self.write("")

    def failed(self, exc: OSError) -> None:
        from realtime_adain.cli import silence_stdout

        if not self.keep_going and isinstance(exc, BrokenPipeError):
            raise exc  # (the command stops quietly: cli.run_reporting_errors)
        self.failure = exc
        silence_stdout()  # (what the stream still holds would fail again at exit)
        if not self.keep_going:
            raise cannot_write(exc) from None

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def cannot_write(exc: OSError, kept: Path | None = None) -> UserError:
    written = f"; the results were written to {kept}" if kept is not None else ""
    return UserError(f"standard output: cannot write ({exc.strerror or exc}){written}")


def run_guarding_stdout(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """A benchmark's `run` with its standard output guarded (`GuardedStdout`); once its results
    file is written, a stdout that failed is said (a reader gone: exit status 141, quietly)."""
    if args.json is None and closed_at_start(1):  # (measured for minutes, then printed into nothing: exit 0)
        raise UserError("standard output is closed, so the results would be lost; give --json FILE, or open it")
    guard = GuardedStdout(sys.stdout, keep_going=args.json is not None)
    sys.stdout = guard
    try:
        code = run(args)
    finally:
        sys.stdout = guard.stream
    if guard.failure is None:
        return code
    if isinstance(guard.failure, BrokenPipeError):
        return 128 + signal.SIGPIPE
    raise cannot_write(guard.failure, args.json)
