"""Signals that arrive while a library has control: inside a callback Python runs for it (a weakref
callback, a `__del__`), inside a library's own long work that takes a KeyboardInterrupt its own way
(the ONNX exporter, a TensorRT build), or inside torch's import, whose C++ initialisers abort the
process on one. Each still ends the command as `realtime_adain.interrupts` says (its one line and
exit status), at the first point where it can be raised.
"""

from __future__ import annotations

import copy
import os
import signal
import sys
from contextlib import contextmanager
from typing import Iterator

from realtime_adain.errors import UserError
from realtime_adain.interrupts import SIGNALS, SignalGuard, in_main_thread


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
    watched = {sig: handler for sig in SIGNALS if callable(handler := signal.getsignal(sig))} if in_main_thread() else {}

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
        try:  # (a copy: the library's error, `contextlib`'s argument in the traceback, holds the original)
            raise copy.copy(interrupt) from None
        finally:  # (held here, in a local or `raised`, with its traceback this frame: a cycle kept the
            del interrupt  # library's frames, an exported model's, until a cyclic GC, as d5c8294's)
            raised.clear()
    finally:
        for sig, handler in watched.items():
            signal.signal(sig, handler)
    if raised:
        try:
            raise raised[0]
        finally:
            raised.clear()


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
