"""The `realtime-adain` console command: one subcommand per module in `realtime_adain.commands`.

Each command module has `add_parser(subparsers)`, which registers its arguments and sets
`func`. Any `UserError` (or OS error) becomes one `error: ...` line and exit status 2; Ctrl-C and
SIGTERM, from the first moment (importing torch takes seconds), one `interrupted`/`terminated`
line and exit status 130/143 (see `realtime_adain.interrupts`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import select
import signal
import sys
from typing import Callable, NoReturn, Sequence

from realtime_adain import __version__, interrupts
from realtime_adain.errors import UserError

COMMAND_MODULES = ("image", "weights", "video", "live", "serve", "bench", "export", "engines", "doctor")


class ArgumentParser(argparse.ArgumentParser):
    """argparse with our error style: one `error:` line naming the command, exit status 2.

    Subcommand parsers inherit the class, so every command's bad option reads the same way.
    """

    given: list[str] = []  # the command line being parsed (set by `build_parser`), for `dash_file_hint`

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message}{dash_file_hint(self.given)} (see `{self.prog} --help`)\n")


def dash_file_hint(args: Sequence[str]) -> str:
    """A file whose name starts with a dash reads as an option (argparse then says an INPUT is
    missing, or that `-x.mp4` is unrecognised): say how to name it."""
    name = next((arg for arg in args if arg.startswith("-") and arg != "--" and os.path.isfile(arg)), None)
    return f"; {name} is a file: write ./{name}, or put -- before it" if name else ""


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line. Building it loads no torch: the commands import their heavy parts
    when they run, so a mistyped option is refused in well under a second. `bench` registers
    its targets (each benchmark module loads torch) only when `argv` asks for `bench`."""
    ArgumentParser.given = list(sys.argv[1:] if argv is None else argv)
    command = next((arg for arg in ArgumentParser.given if not arg.startswith("-")), None)
    parser = ArgumentParser(
        prog="realtime-adain",
        description="Real-time arbitrary style transfer (AdaIN) for images, videos and webcams.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"realtime_adain.commands.{name}")
        if name == "bench":
            module.add_parser(subparsers, with_targets=command == "bench")
        else:
            module.add_parser(subparsers)
    return parser


def one_line(message: str) -> str:
    """A path or value holding a newline (a legal file name) must not split the error line."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


def stdout_is_gone() -> bool:
    """Whether stdout is a pipe whose reader has gone (`realtime-adain ... | head`): then the
    command stops quietly, as `git log | head` does, instead of saying "error: Broken pipe"."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), no real stdout
        return False


def run_reporting_errors(action: Callable[[], int | None], interrupted: str | None = None) -> int:
    """Run a command's body: a UserError or OSError is one `error:` line and exit status 2, a
    signal one line (`interrupted` unless given) and 130 (SIGINT) or 143 (SIGTERM)."""
    try:
        return int(action() or 0)
    except UserError as exc:
        print(one_line(f"error: {exc}"), file=sys.stderr)
        return 2
    except BrokenPipeError as exc:
        if not stdout_is_gone():  # a socket or another pipe: a real error
            print(one_line(f"error: {exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}"), file=sys.stderr)
            return 2
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to say, even at exit
        return 128 + signal.SIGPIPE
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(one_line(f"error: {where}{exc.strerror or exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(interrupted or interrupts.message(exc), file=sys.stderr)
        return interrupts.exit_code(exc)


def main(argv: list[str] | None = None) -> int:
    interrupts.safe_standard_streams()  # before any file takes a closed stream's number
    with interrupts.sigterm_raises():
        parsed: list[argparse.Namespace] = []
        code = run_reporting_errors(lambda: parsed.append(build_parser(argv).parse_args(argv)))
        if not parsed:
            return code
        return run_reporting_errors(lambda: (interrupts.load_torch(), parsed[0].func(parsed[0]))[1])


def entry() -> NoReturn:
    """The console command: `main`, then exit with its status. Once `main` has returned, the work
    is done and reported, so a Ctrl-C or SIGTERM arriving while the interpreter shuts down (worker
    threads being joined) is ignored instead of killing the process by that signal."""
    code = main()
    for signum in interrupts.SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    sys.exit(code)
