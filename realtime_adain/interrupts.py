"""Ctrl-C, SIGTERM, SIGHUP, SIGQUIT and SIGXCPU end a command the same way: as a KeyboardInterrupt
in the main thread.

So every cleanup path written for Ctrl-C (keep a partial video, remove temporary files) also
runs when a service manager, `timeout` or `kill` stops the command, its terminal closes (an
SSH connection drops: SIGHUP) or Ctrl-\\ quits it (SIGQUIT: `ffmpeg` finishes its file on it too;
by default the process died with a core dump, leaving its hidden temporary file) or a soft CPU
time limit is reached (SIGXCPU: `ulimit -S -t`, batch schedulers; it also dumped core, losing the
work). Exit status: 130 after SIGINT, 143 after SIGTERM, 129 after SIGHUP, 131 after SIGQUIT, 152
after SIGXCPU (128 + the signal's number, as shells report it). Finishing a file (`SignalGuard`)
holds further signals until it is done, so a second Ctrl-C cannot lose it. `safe_standard_streams`
covers the other ways a terminal goes: closed, or failing every write.
"""

from __future__ import annotations

import atexit
import codecs
import os
import signal
import sys
import threading
from contextlib import contextmanager, suppress
from typing import Callable, ContextManager, Iterator, NoReturn

from realtime_adain.errors import UserError, one_line

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGXCPU)
_STOPS = SIGNALS[1:]  # all but SIGINT: what `sigterm_raises` turns into `Terminated`


class Terminated(KeyboardInterrupt):
    """SIGTERM, SIGHUP, SIGQUIT or SIGXCPU, raised like Ctrl-C so that whatever handles one handles all."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__()
        self.signum = signum


def _raise(signum: int, _frame: object) -> NoReturn:
    raise KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """SIGTERM, SIGHUP, SIGQUIT and SIGXCPU raise `Terminated` inside the block (main thread only;
    an inherited SIG_IGN stays: `nohup` means the hangup is to be ignored)."""
    stops = [sig for sig in _STOPS if signal.getsignal(sig) == signal.SIG_DFL] if _in_main_thread() else []
    for sig in stops:
        signal.signal(sig, _raise)
    try:
        yield
    finally:
        for sig in stops:
            signal.signal(sig, signal.SIG_DFL)


@contextmanager
def loop_signals(loop, received: list[int], then: Callable[[], object]) -> Iterator[None]:
    """Inside the block SIGINT, SIGTERM, SIGHUP and SIGQUIT are taken by the event loop `loop`:
    each appended to `received`, then `then()` (stop the server, cancel the task), not raised
    inside the loop (`serve`'s and `bench serve`'s: raised there, it left tasks pending or hung the
    exit); `raise_received` raises the first once the loop is done. An ignored one stays ignored
    (`nohup`), and the handlers from before are back after (asyncio's removal leaves the defaults:
    a later SIGTERM killed without a word)."""
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    taken = [sig for sig, handler in previous.items() if handler != signal.SIG_IGN]
    for sig in taken:
        loop.add_signal_handler(sig, lambda s=sig: (received.append(s), then()))
    try:
        yield
    finally:
        for sig in taken:
            loop.remove_signal_handler(sig)
            if previous[sig] is not None:
                signal.signal(sig, previous[sig])


def signals_ignored() -> ContextManager[None]:
    """Inside the block every signal of SIGNALS is ignored (main thread only), the handlers
    before are back after: for saying that a signal stopped the command and cleaning up
    after it, where a second one raised escaped as a traceback (exit status 1, not the first's)."""
    return _signals_handled_by(signal.SIG_IGN)


@contextmanager
def _signals_handled_by(handler: Callable | int) -> Iterator[None]:
    """Inside the block SIGNALS go to `handler` (in the main thread; elsewhere nothing changes),
    except one ignored (`nohup`) or set outside Python; the handlers before are back after."""
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS} if _in_main_thread() else {}
    for sig, before in previous.items():
        if before is not None and before != signal.SIG_IGN:
            signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, before in previous.items():
            if before is not None:
                signal.signal(sig, before)


def raise_received(signum: int) -> NoReturn:
    """A signal an event loop took (`loop_signals`), raised as every command raises one."""
    _raise(signum, None)


@contextmanager
def signals_in_callbacks_kept() -> Iterator[list[KeyboardInterrupt]]:
    """Inside the block, a signal's KeyboardInterrupt raised while Python ran a weakref callback or
    a `__del__` (objects freed as a command ends) is kept in the list yielded, instead of printed as
    "Exception ignored in: <WeakSet...> Traceback ... KeyboardInterrupt" and lost (the command
    then exited 0, or with SIGTERM "Terminated:" and 0). Other unraisable errors go on as before."""
    global _kept
    kept: list[KeyboardInterrupt] = []
    previous, outer = sys.unraisablehook, _kept

    def hook(unraisable) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            kept.append(unraisable.exc_value)
        else:
            previous(unraisable)

    sys.unraisablehook, _kept = hook, kept
    try:
        yield kept
    finally:
        sys.unraisablehook, _kept = previous, outer


_kept: list[KeyboardInterrupt] = []  # where `signals_in_callbacks_kept` keeps them, for `raise_kept`


def raise_kept() -> None:
    """Raise the interrupt of a signal that a callback swallowed (`signals_in_callbacks_kept`), if
    any: called by long loops once a step (training iterations, video batches), so such a signal
    stops the run there, not once it is done (a SIGTERM inside a `__del__` went on training to the
    last iteration)."""
    if _kept:
        first = _kept[0]
        _kept.clear()  # (raised here: not said again once the command returns)
        raise first


@contextmanager
def signals_through_libraries() -> Iterator[None]:
    """Inside the block (a library's long work: the ONNX exporter, a TensorRT build) a signal stops
    the command however the library takes its KeyboardInterrupt: raised inside the exporter's C++
    callbacks it came back as a RuntimeError, wrapped in the exporter's own error (a traceback and
    exit 1 for a Ctrl-C), or was taken by its retry with another strategy. So an error raised in
    the block after a signal raised there, or holding the signal's KeyboardInterrupt in its chain,
    is that KeyboardInterrupt, and one the library swallowed is raised as the block ends. (The
    handlers in place are kept, only watched: main thread only, as signals are.)"""
    raised: list[KeyboardInterrupt] = []
    watched = {sig: handler for sig in SIGNALS if callable(handler := signal.getsignal(sig))} if _in_main_thread() else {}

    def watch(signum: int, frame: object) -> None:
        try:
            watched[signum](signum, frame)
        except KeyboardInterrupt as exc:
            raised.append(exc)
            raise

    for sig in watched:
        signal.signal(sig, watch)
    try:
        yield
    except Exception as exc:
        interrupt = interrupt_in_chain(exc) or (raised[0] if raised else None)
        if interrupt is None:
            raise
        raise interrupt from None
    finally:
        for sig, handler in watched.items():
            signal.signal(sig, handler)
    if raised:
        raise raised[0]


def interrupt_in_chain(exc: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt (a signal's) that `exc` was raised from or while handling, if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def forget_caught_ctrl_c() -> None:
    """Clear CPython's note of a Ctrl-C that escaped an `exec` of a string: dataclasses and
    namedtuple define their methods so while modules import. Though caught and answered with
    `interrupted` and status 130, the interpreter then ended the process by SIGINT as it exited (a
    parent saw -2, not 130). A string run that succeeds clears it (Python/pythonrun.c)."""
    exec("None")


def load_torch() -> None:
    """Import torch with SIGINT/SIGTERM held until the import is done, then acted on as usual.

    The import (seconds) runs C++ module initialisers (pybind11); an exception raised by a signal
    handler inside one of them aborts the whole process ("terminate called after throwing an
    instance of 'pybind11::error_already_set'") instead of reaching our one-line handling.
    A setting torch refuses while importing (`PYTORCH_JIT=yes please`: ValueError) is one line too."""
    if "torch" in sys.modules:
        return
    with SignalGuard(None, hold=True), _current_folder_that_exists():
        try:
            import torch  # noqa: F401
        except (ValueError, TypeError) as exc:
            raise UserError(f"cannot load torch ({exc}); check the PYTORCH_* and TORCH_* settings in the environment") from None


@contextmanager
def _current_folder_that_exists() -> Iterator[None]:
    """Inside the block the current folder is `/` when the real one was deleted (`cd dir; rm -rf
    dir`), and it is again the deleted one after: MKL, linked into torch, kills the process
    ("Intel oneMKL FATAL ERROR: Cannot load libtorch_cpu.so") when getcwd fails. Absolute paths
    then work; relative ones meet the deleted folder, as they would have, and say so."""
    try:
        os.getcwd()
        deleted = None
    except FileNotFoundError:
        deleted = os.open(".", os.O_RDONLY)
        os.chdir("/")
    try:
        yield
    finally:
        if deleted is not None:
            os.fchdir(deleted)
            os.close(deleted)


def exit_code(exc: KeyboardInterrupt) -> int:
    return 128 + (exc.signum if isinstance(exc, Terminated) else signal.SIGINT)


def message(exc: KeyboardInterrupt) -> str:
    if isinstance(exc, Terminated):
        return "CPU time limit reached" if exc.signum == signal.SIGXCPU else "terminated"
    return "interrupted"


def _ours(handler: object) -> bool:
    """Whether a signal's handler is Python's default or one of ours, which a guard may take over
    while it finishes a file. A handler the program installed stays (`ra.stylize_video` inside an
    application that reloads on SIGHUP, or stops its own way on SIGTERM); an ignored one too."""
    return (handler in (signal.SIG_DFL, signal.default_int_handler, _raise)
            or isinstance(getattr(handler, "__self__", None), SignalGuard)
            # asyncio.run's own Ctrl-C (it cancels the main task, which a call blocking the loop never
            # sees): taken over like Python's default, else the partial file was lost to the second one
            or getattr(getattr(handler, "func", None), "__qualname__", "") == "Runner._on_sigint")


@contextmanager
def finished_before_exit(what: str) -> Iterator[None]:
    """On a thread that outlives the main thread (not a daemon: the program chose not to wait for
    those), the interpreter's exit waits until the block has finished `what` (`atexit` runs before
    teardown). On Python < 3.13 a Ctrl-C in the main thread's `join()` of a thread marks that
    thread finished (CPython gh-90882): the exit no longer waited for `ra.stylize_video` running
    on it, and aborted inside torch (134) with the video lost. The wait is said, and a second
    Ctrl-C ends the process there (130, `what` unfinished); a forked child (which has no such
    thread) does not wait."""
    if _in_main_thread() or threading.current_thread().daemon:
        yield
        return
    done, process = threading.Event(), os.getpid()

    def wait() -> None:
        if done.is_set() or os.getpid() != process:
            return
        print(one_line(f"finishing {what} before exiting (Ctrl-C again to exit without it)"), file=sys.stderr,
              flush=True)
        try:
            done.wait()
        except KeyboardInterrupt as exc:
            print(one_line(f"exiting without finishing {what}"), file=sys.stderr, flush=True)
            # now, not through the interpreter's teardown, which aborted ("terminate called without
            # an active exception", 134) under the thread still inside torch
            with suppress(Exception):  # (None, or closed)
                sys.stdout.flush()
            os._exit(exit_code(exc))

    atexit.register(wait)
    try:
        yield
    finally:
        done.set()
        atexit.unregister(wait)


class SignalGuard:
    """While finishing `what`: the first SIGINT/SIGTERM interrupts (unless `hold`), later ones wait.

    Use as a context manager around work that ends by finishing a file: after the first signal
    (or once `hold()` is called) signals only say that the file is being finished, so a second
    Ctrl-C cannot cut the finishing short. A signal held while nothing was interrupted is raised
    when the block ends normally, after a line saying `what` was finished; an exception from the
    block wins. Ignored signals stay ignored, and a handler the program installed stays (`_ours`).
    Outside the main thread it does nothing (signals only reach the main thread). With `what`
    None nothing is printed (`load_torch`); else it is said escaped (`one_line`): a file name's
    escape sequences drove the terminal.
    """

    def __init__(self, what: str | None, hold: bool = False) -> None:
        self.what = what
        self.holding = hold
        self.raised = False
        self.held: list[int] = []
        self._previous: dict[int, object] = {}

    def hold(self) -> None:
        self.holding = True

    def _handle(self, signum: int, frame: object) -> None:
        if self.holding or self.raised:
            self.held.append(signum)
            if self.what is not None:
                print(one_line(f"finishing {self.what}, please wait"), file=sys.stderr, flush=True)
            return
        self.raised = True
        _raise(signum, frame)

    def __enter__(self) -> "SignalGuard":
        if _in_main_thread():
            handlers = {sig: signal.getsignal(sig) for sig in SIGNALS}
            self._previous = {sig: handler for sig, handler in handlers.items() if _ours(handler)}
            for sig in self._previous:
                signal.signal(sig, self._handle)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        for sig, handler in self._previous.items():
            if handler is not None:
                signal.signal(sig, handler)
        if exc_type is None and self.held and not self.raised:
            if self.what is not None:  # the file is whole: "terminated" alone read as if it were lost
                print(one_line(f"finished {self.what}; stopping there"), file=sys.stderr, flush=True)
            signum = self.held[0]
            enclosing = self._previous.get(signum)
            if isinstance(getattr(enclosing, "__self__", None), SignalGuard):
                # (the guard around this one takes it as its own: raised there, a later signal
                # waits for its file; raised past it, the next one cut that file's finishing short)
                enclosing(signum, None)
            else:
                _raise(signum, None)


class ForgivingStream:
    """stderr that drops what it cannot write instead of raising: a note, "finishing NAME", or
    the last "interrupted" line meeting a closed terminal (EIO: the window closed, before its
    SIGHUP arrives) or `2>/dev/full` became the run's error, raised in the decoder thread or in
    a signal handler: the file being finished was lost, or the exit hung on threads never
    stopped. (A message nobody can read is no reason to fail the work.)"""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except (OSError, ValueError):  # (ValueError: closed)
            return len(text)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def _file_name_errors(exc: UnicodeError) -> tuple[str | bytes, int]:
    """How the standard streams write what their encoding cannot: a file name's bytes that are
    not valid UTF-8 (held as surrogates, PEP 383) as those bytes, as `ls` does, and other text
    as \\x.. escapes. With PYTHONIOENCODING=ascii, or a real UTF-8 locale (strict errors), printing
    the name of an output just written raised UnicodeEncodeError: a traceback, exit status 1."""
    if isinstance(exc, UnicodeDecodeError):  # (a stream read back with these errors: pytest's capture)
        return codecs.backslashreplace_errors(exc)
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    char = exc.object[exc.start]
    if 0xDC80 <= ord(char) <= 0xDCFF:
        return bytes([ord(char) - 0xDC00]), exc.start + 1
    return codecs.backslashreplace_errors(UnicodeEncodeError(exc.encoding, exc.object, exc.start, exc.start + 1,
                                                             exc.reason))


FILE_NAME_ERRORS = "realtime_adain.file_names"
codecs.register_error(FILE_NAME_ERRORS, _file_name_errors)


_closed_at_start: set[int] = set()  # the standard descriptors `safe_standard_streams` found closed (or read-only)


def safe_standard_streams() -> None:
    """Make the standard streams safe for a command that writes files. A closed one
    (`realtime-adain ... >&- 2>&-`) gets /dev/null: left closed, its number went to the next file
    opened, and what writes there (a library's messages to fd 2) would land in that file; Python
    sets sys.stdout or sys.stderr to None, where reading an image failed with a traceback (no
    `flush` on None) that nobody saw, exit 1, and `print(..., file=sys.stderr)` wrote to stdout
    instead (`closed_at_start` tells a command that must print its result). stderr becomes a
    `ForgivingStream`."""
    try:
        import fcntl
    except ImportError:  # Windows: no descriptor flags to read
        fcntl = None
    for fd, mode in ((0, os.O_RDONLY), (1, os.O_WRONLY), (2, os.O_WRONLY)):
        if fcntl is None:
            break
        try:
            access = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
        except OSError:  # closed
            access = None
        # (read-only stdout or stderr: pyenv's shim script, which bash opened on the freed number)
        if access is None or (fd and access == os.O_RDONLY):
            _closed_at_start.add(fd)
            null = os.open(os.devnull, mode)  # (the lowest free number: `fd` itself, lower ones being open)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stdin is None:
        sys.stdin = open(0, closefd=False)
    if sys.stdout is None:
        sys.stdout = open(1, "w", closefd=False)
    if sys.stderr is None:
        sys.stderr = open(2, "w", buffering=1, errors="backslashreplace", closefd=False)
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):  # (not under pytest's capture, nor a ForgivingStream)
            stream.reconfigure(errors=FILE_NAME_ERRORS)
    if not isinstance(sys.stderr, ForgivingStream):
        sys.stderr = ForgivingStream(sys.stderr)


def closed_at_start(fd: int) -> bool:
    """Whether standard descriptor `fd` was closed when the command started (`>&-`; read-only
    where a shim script took its number), before `safe_standard_streams` gave it /dev/null: what
    is written there now is lost without an error."""
    return fd in _closed_at_start
