"""Session 39's follow-ups (h7's re-test): a body that ended properly short of the pinned size was
taken as a dropped connection (a mirror serving a shorter file "resumed" for ever), a signal
between `__main__` giving its start-up handlers back and `cli.main` setting its own was a
traceback or a silent end, and the start-up handler said "terminated" where later ones say "CPU
time limit reached". The real downloader against HTTP servers on 127.0.0.1, the real command."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from live_support import cli_env
from realtime_adain import download, interrupts
from realtime_adain.errors import UserError
from test_interrupts21 import SLOW_CLI_IMPORT, start_held
from test_fixes39_download import DECODER, server  # noqa: F401  (a fixture)
from weights_server import release_bytes, synthetic_release  # noqa: F401  (fixtures)



class _Chunked(BaseHTTPRequestHandler):
    """HTTP/1.1 with the body in chunks (no Content-Length), a Range answered with 206 or 416;
    an answer whose `cuts` entry is a number stops after that many bytes without the chunks' end
    (a dropped connection)."""

    protocol_version = "HTTP/1.1"
    body: bytes
    cuts: list[int | None]
    ranges: list[str | None]

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.ranges.append(self.headers.get("Range"))
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        start = int(match.group(1)) if match else 0
        self.close_connection = True
        if start >= len(self.body):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(self.body)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206 if match else 200)
        if match:
            self.send_header("Content-Range", f"bytes {start}-{len(self.body) - 1}/{len(self.body)}")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        cut = self.cuts.pop(0) if self.cuts else None
        rest = self.body[start:] if cut is None else self.body[start:start + cut]
        for at in range(0, len(rest), 4096):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(rest[at:at + 4096]), rest[at:at + 4096]))
        if cut is None:
            self.wfile.write(b"0\r\n\r\n")


@contextmanager
def chunked_mirror(body: bytes, cuts: list[int | None]) -> Iterator[tuple[str, list[str | None]]]:
    """A mirror serving `body` as decoder.pth in chunks; (its URL, the Range of each request)."""
    ranges: list[str | None] = []
    handler = type("Handler", (_Chunked,), {"body": body, "cuts": list(cuts), "ranges": ranges})
    mirror = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    mirror.daemon_threads = True
    serving = threading.Thread(target=mirror.serve_forever, args=(0.05,), daemon=True)
    serving.start()
    try:
        yield f"http://127.0.0.1:{mirror.server_address[1]}/{DECODER}", ranges
    finally:
        mirror.shutdown()
        mirror.server_close()
        serving.join(5)


def rejected_as_short(url: str, sent: int, pinned: int) -> str:
    return re.escape(f"{url}: rejected the download (deleted it): {sent} bytes, expected {pinned} "
                     f"({DECODER} of the release)")


def test_a_chunked_body_that_ends_short_of_the_pinned_size_is_rejected_at_once(synthetic_release, tmp_path):
    """Its chunks' end says the body is whole: a mirror serving a shorter file was asked for the
    rest 3 times, fetched whole again after each 416, and "download interrupted 4 times ... run
    again to resume" for ever. Now the size check says what is wrong, after one request."""
    pinned = len(synthetic_release[DECODER])
    with chunked_mirror(synthetic_release[DECODER][:1000], []) as (url, ranges):
        with pytest.raises(UserError, match=rejected_as_short(url, 1000, pinned)):
            download.download_file("decoder", url, tmp_path)
    assert ranges == [None] and list(tmp_path.iterdir()) == []


def test_a_chunked_body_cut_off_is_still_resumed(synthetic_release, tmp_path):
    body = synthetic_release[DECODER]
    with chunked_mirror(body, [5000]) as (url, ranges):
        path, outcome = download.download_file("decoder", url, tmp_path)
    assert outcome == "downloaded" and path.read_bytes() == body
    assert ranges == [None, "bytes=5000-"]


@pytest.mark.parametrize("ignore_range", [False, True])
def test_a_shorter_file_ended_by_the_close_is_rejected_after_one_ask_for_more(synthetic_release, server, tmp_path,
                                                                          ignore_range):
    """A body with no length ends where the connection closes, which a cut looks like too: the
    rest is asked for once, and the server's 416 (or the whole file again) says there is none."""
    pinned, short = len(synthetic_release[DECODER]), synthetic_release[DECODER][:1000]
    server.files[DECODER], server.lengths[DECODER], server.ignore_range = short, "", ignore_range
    with pytest.raises(UserError, match=rejected_as_short(f"{server.url}/{DECODER}", 1000, pinned)):
        download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path)
    assert server.requests == [(f"/{DECODER}", None), (f"/{DECODER}", "bytes=1000-")]
    assert list(tmp_path.iterdir()) == []


def test_a_body_ended_by_the_close_is_resumed_while_the_server_sends_the_rest(synthetic_release, server, tmp_path):
    """Each 206 from where the body stopped says it was cut: resumed as a dropped connection is
    (the attempts of one run), not only once."""
    body = synthetic_release[DECODER]
    server.lengths[DECODER], server.cuts[DECODER] = "", [1000, 2000]
    path, outcome = download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path)
    assert outcome == "downloaded" and path.read_bytes() == body
    assert server.requests == [(f"/{DECODER}", None), (f"/{DECODER}", "bytes=1000-"), (f"/{DECODER}", "bytes=3000-")]


def said_after(sig: int) -> tuple[int, str]:
    """The status and line `interrupts` gives a signal once `cli.main` has taken signals over."""
    raised = KeyboardInterrupt() if sig == signal.SIGINT else interrupts.Terminated(sig)
    return interrupts.exit_code(raised), interrupts.message(raised) + "\n"


# `python -m realtime_adain --version` that sends itself a signal from `safe_standard_streams`:
# after __main__ gave its start-up handlers back and before `cli.main` set its own.
SIGNAL_WHILE_HANDING_OVER = """
import os, runpy, sys
from realtime_adain import standard_streams

def signal_then_make_safe(make_safe=standard_streams.safe_standard_streams, sig=int(sys.argv[1])):
    os.kill(os.getpid(), sig)
    make_safe()

standard_streams.safe_standard_streams = signal_then_make_safe
sys.argv = ["realtime-adain", "--version"]
runpy.run_module("realtime_adain", run_name="__main__")
"""


@pytest.mark.parametrize("sig", interrupts.SIGNALS, ids=lambda sig: signal.Signals(sig).name)
@pytest.mark.slow_cases("SIGHUP", "SIGXCPU")  # (default run's time, 2026-12-08: a child process each, 2.5 s)
def test_a_signal_while_cli_takes_signals_over_is_one_line(sig):
    """There a Ctrl-C was a KeyboardInterrupt traceback, SIGTERM or SIGHUP a silent end: the
    signals are now held from `__main__` until `cli.main`'s handlers are in."""
    done = subprocess.run([sys.executable, "-c", SIGNAL_WHILE_HANDING_OVER, str(int(sig))], capture_output=True,
                          text=True, timeout=60, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert (done.returncode, done.stderr) == said_after(sig)
    assert not done.stdout


@pytest.mark.parametrize("sig", interrupts.SIGNALS, ids=lambda sig: signal.Signals(sig).name)
def test_a_signal_while_the_command_imports_says_what_later_ones_say(published_weights, tmp_path, sig):
    """The start-up handler said "terminated" for SIGXCPU, where every later moment says "CPU time
    limit reached"."""
    process = start_held(cli_env(published_weights, tmp_path / "home"), tmp_path, SLOW_CLI_IMPORT)
    assert process.stdout.readline() == "importing cli\n"
    process.send_signal(sig)
    _, err = process.communicate(timeout=30)
    assert (process.returncode, err) == said_after(sig)
