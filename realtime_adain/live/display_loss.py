"""The window's display going away mid-session (the X server died, an `ssh -X` connection dropped).

Qt, inside OpenCV, then calls `exit(1)` from the main thread, inside `cv2.waitKey`: no Python
code runs after it, so a recording under way was lost (its hidden temporary file left behind,
unplayable). `DisplayLossWatch` turns that exit into the session's normal ending.

While the window is open two C exit handlers are in place (registered once per process, no
Python in them, so they are harmless at a normal exit after the interpreter has finished): the
first to run posts the semaphore `exiting`, the second waits on `hold`. A watcher thread waits on
`exiting`; woken while the window is open, it runs the session's shutdown (the main thread stays
parked in the exit handler, holding no lock of ours: OpenCV releases the GIL around its calls),
says what happened and ends the process with the status the shutdown gives. With the window
closed, `hold` is open and a normal exit passes straight through.

Linux and other glibc/POSIX systems only; where the C library lacks what it needs, a no-op.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import sys
import threading
import time
from typing import Callable

from realtime_adain.clib import c_library

SEMAPHORE_BYTES = 64  # sizeof(sem_t) is 32 on 64-bit glibc; room to spare
REFRESH_S = 2.0  # a new pair of exit handlers this often while a window is open ...
MOST_PAIRS = 64  # ... up to this many in a process (each is a few bytes of the C library's list)


class _ExitHandlers:
    """The two semaphores, in memory that outlives the interpreter, and pairs of handlers on them.

    A pair is registered again now and then while a window is open (`refresh`): handlers run in
    the reverse order of registration, and a library's function-local statics first used after
    the window opened register destructors that would run before ours (torch's, mid-session: a
    crash in the threads still running); a later pair runs before them."""

    def __init__(self, libc: ctypes.CDLL) -> None:
        libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
        for name in ("sem_wait", "sem_post", "sem_trywait"):
            getattr(libc, name).argtypes = [ctypes.c_void_p]
        libc.sem_init.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint]
        self._at_exit = getattr(libc, "__cxa_atexit")  # (by getattr: in a class body the name would be mangled)
        self._at_exit.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        self.libc = libc
        self.hold, self.exiting = libc.malloc(SEMAPHORE_BYTES), libc.malloc(SEMAPHORE_BYTES)  # never freed
        if not (self.hold and self.exiting) or libc.sem_init(self.hold, 0, 0) or libc.sem_init(self.exiting, 0, 0):
            raise OSError("no memory for the exit semaphores")
        self.pairs = 0
        self.registered_at = 0.0

    def register(self) -> bool:
        """One more pair (at most MOST_PAIRS): on exit `exiting` is posted, then `hold` waited on."""
        if self.pairs >= MOST_PAIRS:
            return False
        if (self._at_exit(ctypes.cast(self.libc.sem_wait, ctypes.c_void_p), self.hold, None)
                or self._at_exit(ctypes.cast(self.libc.sem_post, ctypes.c_void_p), self.exiting, None)):
            raise OSError("the exit handlers could not be registered")
        self.pairs += 1
        self.registered_at = time.monotonic()
        return True

    def close_hold(self) -> None:
        while self.libc.sem_trywait(self.hold) == 0:  # down to 0: an exit now waits
            pass

    def open_hold(self) -> None:
        for _ in range(self.pairs):  # every pair's wait passes at a normal exit
            self.libc.sem_post(self.hold)

    def wait_for_exit(self) -> None:
        while self.libc.sem_wait(self.exiting) != 0:  # EINTR: a signal; wait on
            pass


_handlers: _ExitHandlers | None = None
_armed: DisplayLossWatch | None = None  # the watch of the window open now
_lock = threading.Lock()


def _exit_handlers() -> _ExitHandlers | None:
    """The process's handlers and their watcher thread, made on first use; None where the C
    library lacks what they need."""
    global _handlers
    if _handlers is None and sys.platform != "win32":
        libc = c_library()
        try:
            if libc is None:
                return None
            _handlers = _ExitHandlers(libc)
        except (OSError, AttributeError):  # no __cxa_atexit or POSIX semaphores here
            return None
        threading.Thread(target=_watch, args=(_handlers,), name="display-loss-watch", daemon=True).start()
        atexit.register(_disarm_any)  # a normal exit never waits, whatever path it took
        if hasattr(os, "register_at_fork"):  # a forked child has no watcher: its exit must not wait
            os.register_at_fork(after_in_child=_disarm_in_child)
    return _handlers


def _disarm_any() -> None:
    if _armed is not None:
        _armed.disarm()


def _disarm_in_child() -> None:
    global _armed, _lock
    _lock = threading.Lock()  # (held by another thread at the fork, it would never be released here)
    if _armed is not None:
        _armed = None
        _handlers.open_hold()


def _watch(handlers: _ExitHandlers) -> None:
    """Wait for the process's exit; if a window is open then, finish its session and end the process."""
    handlers.wait_for_exit()
    watch = _armed
    if watch is None:  # a normal exit
        return
    code = 1
    try:
        code = watch.on_lost()
    except BaseException as exc:  # noqa: BLE001 (the process ends here either way)
        print(f"error: while finishing after the display went away: {exc}", file=sys.stderr)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


class DisplayLossWatch:
    """While armed (its window open), an exit the display's loss forces runs `on_lost` first: the
    session's shutdown, which returns the process's exit status."""

    def __init__(self, on_lost: Callable[[], int]) -> None:
        self.on_lost = on_lost

    @property
    def armed(self) -> bool:
        return _armed is self

    def arm(self) -> None:
        global _armed
        with _lock:
            handlers = _exit_handlers()
            if handlers is None or _armed is not None:  # (one window at a time)
                return
            handlers.close_hold()
            handlers.register()
            _armed = self

    def refresh(self) -> None:
        """Called often while the window is open: every REFRESH_S, a new pair of handlers, so they
        run before destructors registered since (cheap otherwise: one clock reading)."""
        handlers = _handlers
        if _armed is self and time.monotonic() - handlers.registered_at >= REFRESH_S:
            with _lock:
                if _armed is self:
                    handlers.register()

    def disarm(self) -> None:
        global _armed
        with _lock:
            if _armed is self:
                _armed = None
                _handlers.open_hold()
