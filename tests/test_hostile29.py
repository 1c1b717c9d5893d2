"""Session 29's hostile-use findings, each a test."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap


def test_a_signal_while_a_silent_url_opens_acts_at_once():
    """`live --source udp://...` with nothing sent: Ctrl-C/SIGTERM waited out the open inside
    FFmpeg (5 s), or was lost altogether; now the open runs on a thread and the signal is taken
    at once, the open then finishing (and closing) on its own."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script = textwrap.dedent(f"""
        import os, signal, threading, time
        from realtime_adain.live import sources
        closed = threading.Event()
        close = sources.PyAVSource.close
        sources.PyAVSource.close = lambda self: (close(self), closed.set())
        threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        start = time.monotonic()
        try:
            sources.open_source("udp://127.0.0.1:{port}")
        except KeyboardInterrupt:
            print("interrupted after", round(time.monotonic() - start, 2))
        print("closed", closed.wait(10))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("interrupted after ") and float(lines[0].split()[-1]) < 2.5, done.stdout
    assert lines[1] == "closed True"
