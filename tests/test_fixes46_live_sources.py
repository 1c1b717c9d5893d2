"""Session 46: live sources. A --no-loop recording URL whose server is gone is given up as docs/live.md
says (it was an AttributeError); an .sdp file named like a URL (`cam:1.sdp`) is a file; the log's
copy of stderr is made under a low `ulimit -n` too (without one, a decode catching stderr froze the keys)."""
from __future__ import annotations

import resource
import subprocess
import sys
import time

import pytest

from live_support import REPO
from realtime_adain.live.source_opening import open_source
from realtime_adain.live.sources import SourceError
from test_fixes45_live_network import captured_until_ended, cut_server, faststart_clip
from test_live_streams15 import H264, free_udp_port, sending, take


def test_a_recording_whose_server_is_gone_is_given_up_as_at_its_end(tmp_path):
    """Each reconnection failed to open (connection refused), a SourceError, which has no `reason`:
    the session ended with "capture failed: AttributeError"."""
    with cut_server(faststart_clip(tmp_path, 0.8), "cut") as url:
        source = open_source(url, loop=False)  # (its first 60 % are on their way; then the server goes)
    capture, lines, frames = captured_until_ended(source)
    assert capture.ended and capture.error is None, lines
    assert [event for event, _ in lines] == ["source-lost"] * 3 + ["source-ended"], lines
    assert lines[-1][1] == {"source": url, "frames": frames,
                            "reason": "3 reconnections brought no new frame (cannot open (Connection refused))"}


def test_an_sdp_file_named_like_a_url_is_no_protocol(tmp_path, monkeypatch):
    """`cam:1.sdp` was "this FFmpeg (PyAV's) has no CAM:1.SDP support": FFmpeg took `cam` for a protocol."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cam:1.sdp").write_text("")
    with pytest.raises(SourceError) as raised:
        open_source("cam:1.sdp")
    assert str(raised.value) == "cam:1.sdp: cannot open (Invalid data found when processing input)"


@pytest.mark.slow  # (a real-time sender; the name is checked without one above)
def test_an_sdp_file_named_like_a_url_plays_its_rtp_stream(tmp_path, monkeypatch):
    """Opened as `file:cam:1.sdp`, with RTP still allowed (SDP_PROTOCOLS)."""
    monkeypatch.chdir(tmp_path)
    port = free_udp_port()
    with sending(f"ffmpeg -v error -nostdin -re -f lavfi -i testsrc2=size=96x64:rate=25 -t 8 {' '.join(H264)} "
                 f"-f rtp -sdp_file ./cam:1.sdp rtp://127.0.0.1:{port}"):
        while not (tmp_path / "cam:1.sdp").exists():
            time.sleep(0.05)
        time.sleep(0.1)
        source = open_source("cam:1.sdp")
        try:
            got, _ = take(source, 5)
        finally:
            source.close()
    assert got == 5 and source.description == "cam:1.sdp"


LOGS_WHILE_STDERR_IS_CAUGHT = """
import os, threading
from realtime_adain.live.events import EventLog
from realtime_adain.notes import STDERR_LOCK
log = EventLog()
with STDERR_LOCK:  # (as a rescan's decode holds it while it catches fd 2)
    writer = threading.Thread(target=log, args=("quit",))
    writer.start()
    writer.join(5)
    print("waited" if writer.is_alive() else "written", os.path.exists("/dev/fd/3"), flush=True)
"""


def test_the_log_copy_of_stderr_is_made_under_a_low_open_files_limit():
    """Under `ulimit -n 100` or less the copy from descriptor 100 failed and lines went through
    sys.stderr, waiting for a decode catching it (the keys froze); the low numbers stay free."""
    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

    done = subprocess.run([sys.executable, "-c", LOGS_WHILE_STDERR_IS_CAUGHT], capture_output=True, text=True,
                          cwd=REPO, preexec_fn=low_limit, timeout=60)
    assert (done.stdout, done.stderr) == ("written False\n", "live: quit\n")
