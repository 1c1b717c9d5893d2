"""Ctrl-C, SIGTERM, SIGHUP, SIGQUIT and SIGXCPU end a command the same way: as a KeyboardInterrupt
in the main thread.

So every cleanup path written for Ctrl-C (keep a partial video, remove temporary files) also
runs when a service manager, `timeout` or `kill` stops the command, its terminal closes (an
SSH connection drops: SIGHUP) or Ctrl-\\ quits it (SIGQUIT: `ffmpeg` finishes its file on it too;
by default the process died with a core dump, leaving its hidden temporary file) or a soft CPU
time limit is reached (SIGXCPU: `ulimit -S -t`, batch schedulers; it also dumped core, losing the
work). Exit status: 130 after SIGINT, 143 after SIGTERM, 129 after SIGHUP, 131 after SIGQUIT, 152
after SIGXCPU (128 + the signal's number, as shells report it). Finishing a file (`SignalGuard`)
holds further signals until it is done, so a second Ctrl-C cannot lose it. Signals that arrive
while a library has control (its callbacks, its own long work, torch's import):
`realtime_adain.library_signals`. `realtime_adain.standard_streams` covers the other ways a
terminal goes: closed, or failing every write.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from contextlib import contextmanager, suppress
from typing import Callable, ContextManager, Iterator, NoReturn

from realtime_adain.errors import one_line

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGXCPU)
_STOPS = SIGNALS[1:]  # all but SIGINT: what `sigterm_raises` turns into `Terminated`


class Terminated(KeyboardInterrupt):
    """SIGTERM, SIGHUP, SIGQUIT or SIGXCPU, raised like Ctrl-C so that whatever handles one handles all."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__()
        self.signum = signum


def _raise(signum: int, _frame: object) -> NoReturn:
    raise KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """SIGTERM, SIGHUP, SIGQUIT and SIGXCPU raise `Terminated` inside the block (main thread only;
    an inherited SIG_IGN stays: `nohup` means the hangup is to be ignored)."""
    stops = [sig for sig in _STOPS if signal.getsignal(sig) == signal.SIG_DFL] if in_main_thread() else []
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
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS} if in_main_thread() else {}
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
    if in_main_thread() or threading.current_thread().daemon:
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
    None nothing is printed (`library_signals.load_torch`); else it is said escaped (`one_line`): a file name's
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
        if in_main_thread():
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
