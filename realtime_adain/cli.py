"""The `realtime-adain` console command: one subcommand per module in `realtime_adain.commands`.

Each command module has `add_parser(subparsers)`, which registers its arguments and sets
`func` (and `prints_result` where what it prints is what it exists for: with stdout closed
that is an error, `standard_streams.ClosedStdout`). Any `UserError` (or OS error) becomes one
`error: ...` line and exit status 2; Ctrl-C and SIGTERM, as soon as Python has started the
command (`__main__`; importing torch takes seconds), one `interrupted`/`terminated` line and exit
status 130/143 (see `realtime_adain.interrupts`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import select
import signal
import sys
import warnings
from typing import Callable, NoReturn, Sequence

from realtime_adain import __version__, interrupts, library_signals, limits, made_folders, standard_streams
from realtime_adain.errors import (CURRENT_FOLDER_DELETED, QUOTE_LIMIT, OutputClosed, UserError, as_given, current_folder_deleted,
                                   environment_failure, imported_library, one_line, quoted, said_already)
from realtime_adain.writable_folders import NO_TEMPORARY_FOLDER, no_temporary_folder

COMMAND_MODULES = ("image", "weights", "video", "live", "serve", "bench", "export", "engines", "doctor")
EPILOG = """first steps:
  realtime-adain weights download        # the published weights (about 94 MB)
  realtime-adain image photo.jpg -s starry.jpg -o out.jpg
  realtime-adain video clip.mp4 -s starry.jpg -o clip_starry.mp4
  realtime-adain live --styles styles/    # webcam 0 in a window (h: the keys)
  realtime-adain doctor                   # what runs here and what is missing

`realtime-adain COMMAND --help` gives each command's options and examples.
"""


def long_values_cut(message: str, given: Sequence[str]) -> str:
    """`message` with each long word of the command line in it, or long value attached to an
    option (`given_values`), quoted short (`errors.quoted`): argparse echoes an invalid choice or
    an unknown option whole (a 5,000-character line). Longest first: a word holds its value."""
    values = {value for word in given for value in given_values(word) if len(value) > QUOTE_LIMIT}
    for value in sorted(values, key=len, reverse=True):
        message = message.replace(repr(value), quoted(one_line(value))).replace(value, quoted(one_line(value)))
    return message


def given_values(word: str) -> list[str]:
    """What of a command-line word argparse may quote: the word, and for an option the value it
    carries, which argparse quotes alone (`--engine=VALUE`, `-rVALUE`, `-r=VALUE`: 'VALUE')."""
    if not word.startswith("-"):
        return [word]
    values = [word, word.split("=", 1)[1]] if "=" in word else [word]
    return values if word.startswith("--") else [*values, word[2:]]


# A negative number as an option's value: argparse takes `-1` and `-0.5` for values but anything else
# starting with a dash for an option (`--lr -inf`, `--alpha -1e5`, `--stabilize-strength -nan` were
# "expected one argument", not the value's own error).
NEGATIVE_NUMBER = re.compile(r"-(?:(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?|inf(?:inity)?|nan)", re.IGNORECASE)


# argparse's words for a required argument or group not given.
REQUIRED_MISSING = r"the following arguments are required|one of the arguments .* is required"


class ArgumentParser(argparse.ArgumentParser):
    """argparse with our error style: one `error:` line naming the command, exit status 2.

    Subcommand parsers inherit the class, so every command's bad option reads the same way.
    """

    given: list[str] = []  # the command line being parsed (set by `build_parser`), for `dash_file_hint`
    unloadable: str | None = None  # why this command cannot run here (`add_unloadable_command`)
    words: list[str] = []  # the words this parser parses now (the command's, after its name)
    checking = False  # parsing again in `unknown_options`

    def error(self, message: str) -> NoReturn:
        if self.checking:  # (`unknown_options`' own parse: nothing said)
            raise _NotParsed()
        if re.match(REQUIRED_MISSING, message) and (unknown := self.unknown_options()):
            message = f"unrecognized arguments: {' '.join(unknown)}"  # (`-V` said "required: COMMAND")
        hint = dash_value_hint(message, self.given) or option_after_dashes_hint(message, self.given) or dash_file_hint(
            self.given)
        self.exit(2, f"error: {self.prog}: {long_values_cut(message, self.given)}{hint} (see `{self.prog} --help`)\n")

    def parse_known_args(self, args=None, namespace=None):
        """Refuse an option this parser does not know itself: argparse hands a subcommand's unknown
        options up to the top parser, whose error pointed to `realtime-adain --help` (`image
        --bogus`), not to the command's own help. A command that cannot load says why instead.
        A closing `--` with nothing after it is taken."""
        if self.unloadable:
            raise UserError(self.unloadable)
        self.words = list(sys.argv[1:] if args is None else args)
        namespace, extras = super().parse_known_args(args, namespace)
        if extras[-1:] == ["--"] and self.words[-1:] == ["--"]:  # (a `--` with nothing after it, as getopt takes:
            extras.pop()  # argparse keeps one no positional took, `doctor --` was "unrecognized arguments: --")
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras

    def unknown_options(self) -> list[str]:
        """The options among this parser's words that it does not know, but for names of files
        (`dash_file_hint` says how to give those): argparse says a missing argument before them,
        and `realtime-adain -V` was "the following arguments are required: COMMAND", `image
        --version` "... CONTENT, --style/-s". Found by parsing the words again, nothing required."""
        required = [each for each in (*self._actions, *self._mutually_exclusive_groups) if each.required]
        self.checking = True
        try:
            for each in required:
                each.required = False
            _, extras = super().parse_known_args(self.words, argparse.Namespace())
        except (_NotParsed, SystemExit, UserError):  # (what the first parse said first, as it does)
            return []
        finally:
            for each in required:
                each.required = True
            self.checking = False
        options = extras[:extras.index("--")] if "--" in extras else extras  # (after `--`, names)
        return [word for word in options if word.startswith("-") and not os.path.isfile(word)]

    def _parse_optional(self, arg_string):
        """A negative number (`NEGATIVE_NUMBER`) is a value, as argparse takes `-1` where no option
        looks like one (none of ours does)."""
        if NEGATIVE_NUMBER.fullmatch(arg_string) and not self._has_negative_number_optionals:
            return None
        return super()._parse_optional(arg_string)

    def _print_message(self, message: str, file=None) -> None:
        """argparse's, without its `except OSError: pass`: `--help >/dev/full` lost the text and
        exited 0; the failure now reaches `flush_standard_output`, one `error:` line."""
        if not message:
            return
        file = file or sys.stderr
        try:
            file.write(message)
        except OSError as exc:
            if file is not sys.stdout or isinstance(exc, BrokenPipeError):  # (a reader gone: quiet, 141)
                raise
            silence_stdout()  # (the exit's own flush would fail again)
            raise UserError(f"standard output: cannot write ({exc.strerror or exc})") from None


class _NotParsed(Exception):
    """An error while `ArgumentParser.unknown_options` parses again (said by the first parse)."""


def dash_file_hint(args: Sequence[str]) -> str:
    """A file whose name starts with a dash reads as an option (argparse then says an INPUT is
    missing, or that `-x.mp4` is unrecognised): say how to name it."""
    options = args[:args.index("--")] if "--" in args else args  # (after --, a name is no option)
    name = next((arg for arg in options if arg.startswith("-") and os.path.isfile(arg)), None)
    return f"; {name} is a file: write ./{name}, or put -- before it" if name else ""


def option_after_dashes_hint(message: str, args: Sequence[str]) -> str:
    """A required option given after `--` is a file name there, and argparse says only that the
    option is missing (`image -- -a.png -s s.jpg`): say where it went."""
    if "--" not in args or not re.match(REQUIRED_MISSING, message):
        return ""
    missing = set(re.findall(r"(?<![\w-])-{1,2}\w[\w-]*", message))  # ("--style/-s", "-o/--output --sheet")
    after = args[args.index("--") + 1:]
    found = next((arg for arg in after if arg.split("=", 1)[0] in missing), None)
    return f"; {found} comes after --, which makes everything after it a file name: put options before --" if found else ""


def dash_value_hint(message: str, args: Sequence[str]) -> str:
    """A number list or a file name that starts with a dash (`--mix -1,2`, `-o -v.mp4`) reads as an
    option, and argparse says only that the option expected an argument: say how to give it."""
    found = re.fullmatch(r"argument (\S+): expected one argument", message)
    if not found:
        return ""
    options = set(found.group(1).split("/"))  # ("--style/-s")
    args = [arg for arg in args if arg != "--"]  # (`-o -- -x.jpg`: meant as -o's value; `--` abbreviates no option)
    for option, value in zip(args, args[1:]):
        # (not `-s -o`: a value forgotten; `-inf` and `-nan` are numbers too; `--alph` is argparse's
        # abbreviation of `--alpha`)
        named = option in options or option.startswith("--") and any(full.startswith(option) for full in options)
        if named and re.match(r"-[\d.]|-[^=]*[./]|-(?:inf|infinity|nan)\Z", value, re.IGNORECASE):
            return f"; a value starting with '-' is written {option}={value}"
    return ""


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line. Building it loads no torch: the commands import their heavy parts
    when they run, so a mistyped option is refused in well under a second. `bench` registers
    its targets (each benchmark module loads torch) only when `argv` asks for `bench`."""
    ArgumentParser.given = list(sys.argv[1:] if argv is None else argv)
    command = next((arg for arg in ArgumentParser.given if not arg.startswith("-")), None)
    parser = ArgumentParser(
        prog="realtime-adain",
        description="Real-time arbitrary style transfer (AdaIN) for images, videos and webcams.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"realtime_adain.commands.{name}")
        except ImportError as exc:
            add_unloadable_command(subparsers, name, exc)
            continue
        if name == "bench":
            module.add_parser(subparsers, with_targets=command == "bench")
        else:
            module.add_parser(subparsers)
    return parser


def add_unloadable_command(subparsers: argparse._SubParsersAction, name: str, exc: ImportError) -> None:
    """A command whose libraries cannot load (an OpenCV without libGL.so.1 on a headless server, a
    broken PyAV) is listed and, named (`--help` too), says why; the others, `doctor` first, still
    run: one broken library stopped every command. An ImportError that is no library's is raised."""
    reason = environment_failure(exc)
    if reason is None:
        raise exc
    parser = subparsers.add_parser(name, help=f"(cannot run here: cannot load {imported_library(exc)}; "
                                              "see `realtime-adain doctor`)")
    parser.unloadable = f"{name}: {reason}"


# OpenCV parses these when it first needs them and aborts the process on a value it cannot read
# ("terminate called after throwing an instance of 'std::invalid_argument'", or 'out_of_range' for
# 23 digits): sizes, with an optional KB or MB, a thread count (99999999999 threads: a flood of
# "Can't spawn new thread" lines, then bad_alloc), and booleans.
OPENCV_SIZE_SETTING = re.compile(r"OPENCV_(?:IO_MAX_IMAGE_(?:PIXELS|WIDTH|HEIGHT)|IMGCODECS_\w+_MAX_FILE_SIZE)")
OPENCV_SIZE_VALUE = re.compile(r"(\d{1,18})(?:[KM][Bb])?")  # up to 10^18 (x 2^20 for MB) fits OpenCV's 64 bits
OPENCV_THREADS_SETTING, MOST_OPENCV_THREADS = "OPENCV_FOR_THREADS_NUM", 1024
# torch parses its allocator settings while importing, even without a GPU, and aborts the process
# (an INTERNAL ASSERT, exit 134) on a list that is not `key:value,...` ("junk", "a:", ":").
TORCH_ALLOCATOR_SETTINGS = ("PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF", "PYTORCH_HIP_ALLOC_CONF")
_ALLOCATOR_PAIR = r"\s*(?:\w+\s*:\s*(?:\[[^\[\]]*\]|[^,:\[\s][^,:\[]*))?\s*"  # (empty between commas: skipped)
TORCH_ALLOCATOR_VALUE = re.compile(rf"{_ALLOCATOR_PAIR}(?:,{_ALLOCATOR_PAIR})*")
OPENCV_BOOLEAN_SETTINGS = ("OPENCV_TRACE", "OPENCV_DUMP_ERRORS", "OPENCV_BUFFER_AREA_ALWAYS_SAFE",
                           "OPENCV_IO_ENABLE_OPENEXR", "OPENCV_IO_ENABLE_JASPER")
OPENCV_BOOLEAN_VALUES = ("1", "0", "true", "false", "True", "False", "TRUE", "FALSE")
# libgomp (torch's OpenMP) reads this as torch loads and runs on as if it were unset where it cannot
# (0, -1, abc, empty), after a blank line and "libgomp: Invalid value for environment variable ...":
# a whole number from 1, or a list of them for nested levels ("4,2"), spaces around each allowed;
# each at most 2^63 - 1, as it takes strtoul's number as a signed long (9223372036854775808 is
# "Invalid value" too, alone or in a list).
OMP_THREADS_SETTING = "OMP_NUM_THREADS"
OMP_THREAD_COUNT = re.compile(r"\s*\+?0*([1-9]\d{0,18})\s*", re.ASCII)
MOST_OMP_THREADS = 2**63 - 1


def check_library_settings() -> None:
    """Refuse, before any library reads them, environment settings that would kill the process
    (OpenCV's, torch's allocator's); progress-bar settings tqdm cannot read (`TQDM_MININTERVAL=fast` raised a ValueError
    while importing it) are ignored with a note: they change nothing but the bar's look; so is an
    $OMP_NUM_THREADS libgomp cannot read (it ignored it too, after two lines of its own)."""
    for name, value in os.environ.items():
        if OPENCV_SIZE_SETTING.fullmatch(name) and not OPENCV_SIZE_VALUE.fullmatch(value):
            raise UserError(f"${name}={value!r} is not a whole number up to 10^18 (OpenCV would abort on it); "
                            "set one or unset it")
        # (not checks.ascii_whole: that imports numpy, before its thread pools are fitted to the limits)
        if name == OPENCV_THREADS_SETTING and not (value.isascii() and value.isdigit() and len(value) < 10
                                                   and int(value) <= MOST_OPENCV_THREADS):
            raise UserError(f"${name}={one_line(repr(value[:80]))} is not a thread count from 0 to {MOST_OPENCV_THREADS} (OpenCV would "
                            "abort on it); set one or unset it")
        if name in TORCH_ALLOCATOR_SETTINGS and not TORCH_ALLOCATOR_VALUE.fullmatch(value):
            raise UserError(f"${name}={value!r} is not a list of key:value settings (torch would abort on it); "
                            "fix it or unset it")
        if name in OPENCV_BOOLEAN_SETTINGS and value not in OPENCV_BOOLEAN_VALUES:
            raise UserError(f"${name}={value!r} is not 1 or 0 (OpenCV would abort on it); set 1, 0 or unset it")
    if not readable_omp_threads(value := os.environ.get(OMP_THREADS_SETTING, "1")):
        del os.environ[OMP_THREADS_SETTING]  # (before torch loads: libgomp's own two lines are not said)
        print(one_line(f"note: ${OMP_THREADS_SETTING}={value[:80]!r} is not a thread count (a whole number from 1, "
                       "or a list of them: 4,2); it is ignored"), file=sys.stderr)
    try:
        import tqdm  # noqa: F401
    except (ValueError, TypeError) as exc:
        ignored = sorted(name for name in os.environ if name.startswith("TQDM_"))
        for name in ignored:
            del os.environ[name]
        for module in [m for m in sys.modules if m == "tqdm" or m.startswith("tqdm.")]:
            del sys.modules[module]
        print(one_line(f"note: progress bars ignore {', '.join('$' + n for n in ignored)} ({exc})"), file=sys.stderr)
        import tqdm  # noqa: F401, F811


def readable_omp_threads(value: str) -> bool:
    """Whether libgomp reads `value` as $OMP_NUM_THREADS: each count of the list from 1 to
    `MOST_OMP_THREADS` (its digits matched first: int() refuses 4300 of them)."""
    counts = [OMP_THREAD_COUNT.fullmatch(count) for count in value.split(",")]
    return all(count and int(count[1]) <= MOST_OMP_THREADS for count in counts)


def fit_thread_pools_to_limit() -> None:
    """Under a low `ulimit -u` the thread pools of OpenMP, OpenBLAS and OpenCV killed the run while
    loading (libgomp's "Thread creation failed", exit 1; OpenBLAS's SIGINT, "interrupted"): run
    them with one thread each, with a note, and without the progress bar's monitor thread (its
    warning where none can start was four lines). Before the parser: it loads numpy and OpenCV."""
    note = limits.fit_thread_pools()
    if note is None:
        return
    import tqdm

    tqdm.tqdm.monitor_interval = 0
    print(one_line(note), file=sys.stderr)


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
    signal one line (`interrupted` unless given) and 130 (SIGINT) or 143 (SIGTERM). A command
    that fails leaves none of the folders it made empty behind. Once a signal has stopped it,
    further ones are ignored while that is said and cleaned up after: raised there, a second one
    (Ctrl-C pressed twice) escaped as a traceback, exit status 1 instead of the first one's."""
    with contextlib.ExitStack() as ending:
        def ignore_signals() -> None:
            ending.enter_context(interrupts.signals_ignored())

        code = _reporting_errors(action, interrupted, ignore_signals)
        if code:
            ignore_signals()
            made_folders.remove_made_folders_left_empty()
    return code


def _reporting_errors(action: Callable[[], int | None], interrupted: str | None, stopping: Callable[[], None]) -> int:
    with library_signals.signals_in_callbacks_kept() as swallowed:
        code = _reporting_exceptions(action, interrupted, stopping)
    if swallowed and not code:  # (a signal while objects were freed: said and exited by, as any other)
        stopping()
        return say_stop(swallowed[0], interrupted)
    return code


def _reporting_exceptions(action: Callable[[], int | None], interrupted: str | None,
                          stopping: Callable[[], None]) -> int:
    """`action`'s status, or the one its exception is reported with; `stopping()` as a signal is."""
    try:
        return int(action() or 0)
    except UserError as exc:
        print(one_line(f"error: {exc}"), file=sys.stderr)
        return 2
    except (MemoryError, ImportError, RuntimeError) as exc:
        if (interrupt := library_signals.interrupt_in_chain(exc)) is not None:
            # (a signal inside a class's creation, as a module loads: Python 3.11 wraps what
            # `__set_name__` raises in a RuntimeError, which was a traceback and exit status 1)
            stopping()
            return say_stop(interrupt, interrupted)
        if (reason := environment_failure(exc)) is None:
            raise
        print(one_line(f"error: {reason}"), file=sys.stderr)
        return 2
    except BrokenPipeError as exc:
        if not stdout_is_gone():  # a socket or another pipe: a real error
            print(one_line(f"error: {as_given(exc.filename) + ': ' if exc.filename else ''}{exc.strerror or exc}"), file=sys.stderr)
            return 2
        if isinstance(exc, OutputClosed):  # (the one line: how far the run got)
            print(one_line(f"stopped: standard output was closed; {exc.done}"), file=sys.stderr)
        silence_stdout()  # nothing more to say, even at exit
        return 128 + signal.SIGPIPE
    except OSError as exc:
        if exc.filename is None and isinstance(exc, FileNotFoundError) and current_folder_deleted():
            # (getcwd, for a relative path: "error: No such file or directory" named nothing)
            print(f"error: {CURRENT_FOLDER_DELETED}", file=sys.stderr)
            return 2
        if no_temporary_folder(exc):  # (tempfile's words listed folders the user never named)
            print(f"error: {NO_TEMPORARY_FOLDER}", file=sys.stderr)
            return 2
        where = f"{as_given(exc.filename)}: " if exc.filename else ""  # (a 3000-byte name quoted short)
        print(one_line(f"error: {where}{exc.strerror or exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        stopping()
        return say_stop(exc, interrupted)


def say_stop(interrupt: KeyboardInterrupt, interrupted: str | None) -> int:
    """A signal's one line (unless said where it stopped the work: `interrupted: 1 frame kept in
    ...`, see `errors.mark_said`) and its exit status."""
    if not said_already(interrupt):
        print(interrupted or interrupts.message(interrupt), file=sys.stderr)
    return interrupts.exit_code(interrupt)


def main(argv: list[str] | None = None) -> int:
    standard_streams.safe_standard_streams()  # before any file takes a closed stream's number
    standard_streams.results_on_stdout(True)  # (while parsing: --help and --version print their text and exit)
    # onnxruntime otherwise stores a device id under $XDG_DATA_HOME, and where it cannot (HOME
    # read-only, missing or a file) logs a coloured warning on every run (the user's setting wins).
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    quiet_library_warnings()
    with interrupts.sigterm_raises():
        parsed: list[argparse.Namespace] = []

        def parse() -> None:
            # (`__main__.entry` holds the signals from its start-up handlers until ours are in: one
            # that came meanwhile is raised here, where it is said as any other)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, interrupts.SIGNALS)
            check_library_settings()
            fit_thread_pools_to_limit()
            parsed.append(build_parser(argv).parse_args(argv))

        try:
            code = run_reporting_errors(parse)
        except SystemExit as exc:  # --help, --version, a usage error: what they wrote must reach stdout
            return flush_standard_output(exc.code if isinstance(exc.code, int) else int(exc.code is not None))
        if not parsed:
            return code
        standard_streams.results_on_stdout(getattr(parsed[0], "prints_result", False))
        return flush_standard_output(run_reporting_errors(lambda: run_command(parsed[0])))


def run_command(args: argparse.Namespace) -> int:
    """The parsed command, torch loaded first (`library_signals.load_torch`) unless the command
    loads it itself once the options it can check without it are checked (`loads_torch`: serve's)."""
    if not getattr(args, "loads_torch", False):
        library_signals.load_torch()
    return args.func(args)


def quiet_library_warnings() -> None:
    """Pillow warns of what it reads past (corrupt EXIF, truncated metadata) with its own source
    path and line: twice per picture, on stderr, in no words of ours. The picture is read anyway."""
    warnings.filterwarnings("ignore", module=r"PIL\.")


def silence_stdout() -> None:
    """Point stdout's descriptor at /dev/null, where what it still holds can be flushed at exit."""
    with contextlib.suppress(OSError, ValueError):  # (no descriptor: a test's captured stdout)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)


def flush_standard_output(code: int) -> int:
    """Write out what stdout holds before the exit status is known: to a file or pipe it is
    buffered, and `>/dev/full`, a full disk or a reader gone (`| head -0`) failed only while the
    interpreter exited ("Exception ignored ... OSError", exit status 120, after the outputs were
    written). Now one `error:` line (none after another error, none for a reader gone)."""
    try:
        sys.stdout.flush()
        return code
    except OSError as exc:
        silence_stdout()  # (the exit's own flush would fail again)
        if isinstance(exc, BrokenPipeError):
            return code or 128 + signal.SIGPIPE
        if not code:
            print(one_line(f"error: standard output: cannot write ({exc.strerror or exc})"), file=sys.stderr)
        return code or 2


def entry() -> NoReturn:
    """The console command: `main`, then exit with its status. Once `main` has returned, the work
    is done and reported, so a Ctrl-C or SIGTERM arriving while the interpreter shuts down (worker
    threads being joined) is ignored instead of killing the process by that signal."""
    code = main()
    for signum in interrupts.SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    library_signals.forget_caught_ctrl_c()  # (else a Ctrl-C caught while modules imported exits by SIGINT)
    sys.exit(code)
