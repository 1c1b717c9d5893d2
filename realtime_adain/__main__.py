"""`python -m realtime_adain`, and the `realtime-adain` console script (pyproject.toml names
`entry` here). A signal while the command's modules import (this package's, argparse: tens of
milliseconds on an idle machine, seconds on a loaded one) ends it with its one line and status, as
any later one does: `entry` sets the handlers before anything else imports. Python's own start,
before this runs, is beyond reach, and as long again: the interpreter and `site`'s imports (an
editable install's .pth file imports pathlib and more there); a signal then gets Python's default
(a Ctrl-C a KeyboardInterrupt traceback, SIGTERM or SIGHUP a silent end).
`cli.main` takes signals over from there, without a gap: they are held (blocked) from when these
handlers go until its own are in place (in that gap a Ctrl-C was a traceback, SIGTERM or SIGHUP
a silent end)."""

import contextlib
import os
import signal
import threading
from typing import Iterator

# interrupts.SIGNALS, which is not imported yet: its imports are part of what these handlers cover.
STARTING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGXCPU)
# What `interrupts.message` says after each (the others: "terminated").
STARTING_WORDS = {signal.SIGINT: b"interrupted", signal.SIGXCPU: b"CPU time limit reached"}


def stop_while_starting(signum: int, _frame: object) -> None:
    """Nothing is written yet: the one line and the exit status, at once (there a Ctrl-C printed a
    KeyboardInterrupt traceback, and SIGTERM ended the process without a word)."""
    try:
        os.write(2, STARTING_WORDS.get(signum, b"terminated") + b"\n")
    except OSError:  # (a closed or failing stderr: the status still says it)
        pass
    os._exit(128 + signum)


@contextlib.contextmanager
def stops_while_importing() -> Iterator[None]:
    """The block (imports) with a signal ending the process at once (`stop_while_starting`); after
    it the signals are held (blocked) and the handlers before put back, until the caller's own are
    in place and it unblocks them (`cli.main`; tools/train.py's `parse_and_train`). Signals are taken
    in the main thread only, as they arrive there; one ignored (`nohup`) or set outside Python stays."""
    before = ({sig: signal.getsignal(sig) for sig in STARTING_SIGNALS}
              if threading.current_thread() is threading.main_thread() else {})
    taken = [sig for sig, handler in before.items() if handler is not None and handler != signal.SIG_IGN]
    for sig in taken:
        signal.signal(sig, stop_while_starting)
    try:
        yield
    except BaseException:
        for sig in taken:
            signal.signal(sig, before[sig])
        raise
    signal.pthread_sigmask(signal.SIG_BLOCK, taken)
    for sig in taken:
        signal.signal(sig, before[sig])


def entry():
    """The console command (it exits)."""
    with stops_while_importing():
        from realtime_adain import cli
    cli.entry()


if __name__ == "__main__":
    entry()
