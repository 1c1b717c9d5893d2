"""`python -m realtime_adain`, and the `realtime-adain` console script (pyproject.toml names
`entry` here). A signal while the command's modules import (this package's, argparse: some 10-40
ms at every start) ends it with its one line and status, as any later one does: the handlers are
set here before anything else imports (Python's own start, before this runs, is beyond reach).
`cli.main` takes signals over from there."""

import os
import signal
import threading

# interrupts.SIGNALS, which is not imported yet: its imports are part of what these handlers cover.
STARTING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGXCPU)


def stop_while_starting(signum: int, _frame: object) -> None:
    """Nothing is written yet: the one line and the exit status, at once (there a Ctrl-C printed a
    KeyboardInterrupt traceback, and SIGTERM ended the process without a word)."""
    try:
        os.write(2, b"interrupted\n" if signum == signal.SIGINT else b"terminated\n")
    except OSError:  # (a closed or failing stderr: the status still says it)
        pass
    os._exit(128 + signum)


# (main thread only, as signals are; one ignored (`nohup`) or set outside Python stays)
_before = {sig: signal.getsignal(sig) for sig in STARTING_SIGNALS} if threading.current_thread() is threading.main_thread() else {}
_taken = [sig for sig, handler in _before.items() if handler is not None and handler != signal.SIG_IGN]
for _sig in _taken:
    signal.signal(_sig, stop_while_starting)
try:
    from realtime_adain.cli import entry
finally:
    for _sig in _taken:
        signal.signal(_sig, _before[_sig])

if __name__ == "__main__":
    entry()
