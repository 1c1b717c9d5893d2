"""`realtime-adain bench TARGET`: performance measurements (medians, side-by-side ratios)."""

from __future__ import annotations

import argparse
import importlib

# Each name is a module in realtime_adain.benchmarks with a docstring, add_arguments() and run().
# In the order README.md lists them.
BENCHMARKS: tuple[str, ...] = ("model", "video", "live", "train", "temporal", "serve")


def add_parser(subparsers: argparse._SubParsersAction, with_targets: bool = True) -> None:
    """`with_targets`: register each benchmark's options (importing it loads torch); without,
    `bench` is only listed, for a command line that asks for another command."""
    parser = subparsers.add_parser("bench", help="benchmarks", description=(
        "Measure speed (and the stabiliser's steadiness); results print as a table, then as one JSON line "
        "(`--json PATH` also writes them to a file)."))
    targets = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    for name in BENCHMARKS if with_targets else ():
        module = importlib.import_module(f"realtime_adain.benchmarks.{name}")
        summary = (module.__doc__ or name).strip().splitlines()[0]
        target = targets.add_parser(name, help=summary, description=module.__doc__)
        module.add_arguments(target)
        target.set_defaults(func=module.run)
