"""The `realtime-adain` console command: one subcommand per module in `realtime_adain.commands`.

Each command module has `add_parser(subparsers)`, which registers its arguments and sets
`func`. Any `UserError` (or OS error) becomes one `error: ...` line and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Callable, NoReturn

from realtime_adain import __version__
from realtime_adain.errors import UserError

COMMAND_MODULES = ("image", "weights", "video", "live", "bench", "export", "engines", "doctor")


class ArgumentParser(argparse.ArgumentParser):
    """argparse with our error style: one `error:` line naming the command, exit status 2.

    Subcommand parsers inherit the class, so every command's bad option reads the same way.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="realtime-adain",
        description="Real-time arbitrary style transfer (AdaIN) for images, videos and webcams.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"realtime_adain.commands.{name}").add_parser(subparsers)
    return parser


def run_reporting_errors(action: Callable[[], int | None], interrupted: str = "interrupted") -> int:
    """Run a command's body: a UserError or OSError is one `error:` line and exit status 2."""
    try:
        return int(action() or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_reporting_errors(lambda: args.func(args))
