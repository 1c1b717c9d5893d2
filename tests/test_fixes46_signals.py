"""Session 46: a signal while the command line's modules load (inside a class being made) is said
as any other signal, not as a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

# SIGTERM exactly while dataclasses' Field.__set_name__ runs for a class of realtime_adain/doctor/report.py,
# which `build_parser` loads (a real `kill` landed there at ~1 s on a loaded machine: h13).
SCRIPT = """
import os, signal, sys
sent = []
def tracer(frame, event, arg):
    if (event == 'call' and not sent and frame.f_code.co_name == '__set_name__'
            and frame.f_back is not None and frame.f_back.f_code.co_filename.endswith('realtime_adain/doctor/report.py')):
        sent.append(1)
        os.kill(os.getpid(), signal.SIGTERM)
    return None
sys.settrace(tracer)
sys.argv = ['realtime-adain', 'engines', 'list']
from realtime_adain.__main__ import entry
entry()
"""


def test_a_signal_while_a_class_is_made_at_start_up_is_one_line(tmp_path):
    """Python 3.11 wraps what `__set_name__` raises in a RuntimeError: the signal's exception was a
    40-line traceback and exit status 1."""
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "REALTIME_ADAIN_HOME": str(tmp_path / "home")})
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 143 and result.stderr.strip().splitlines()[-1] == "terminated", result.stderr
