"""Signals at the moments a user meets them, across `video`'s output kinds (task h21).

A sweep sent SIGINT, SIGTERM and a second SIGINT at moments from the interpreter's start to the
end of `video` runs into .mp4 .mov .mkv .webm .avi .ts .gif, numbered pictures, a clip without
sound and `--stabilize both`, and filled a small tmpfs at several points: all met the bar (one
line, 130/143, a playable NAME.partial.EXT with sound as long as its pictures, or nothing; one
`error:` line and nothing left on a full disk) except a signal while the command's own modules
import, and a caught Ctrl-C that `python -m` still ended by SIGINT, kept here (each held open by a
sitecustomize that slows one import down). The sweep itself is the slow test at the end.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from live_support import cli_env

# A sitecustomize that holds the import of realtime_adain.cli for a few seconds (announced on
# stdout): the moment a Ctrl-C meets while the command's modules import, widened so that a test
# can hit it.
SLOW_CLI_IMPORT = """
import importlib.abc, os, sys, time

class SlowCli(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "realtime_adain.cli":
            os.write(1, b"importing cli\\n")
            time.sleep(4)
        return None

sys.meta_path.insert(0, SlowCli())
"""


@pytest.fixture
def env(published_weights, tmp_path):
    return cli_env(published_weights, tmp_path / "home")


def start_held(env: dict[str, str], folder: Path, sitecustomize: str) -> subprocess.Popen:
    """`python -m realtime_adain image ...` with `sitecustomize` loaded first, and a Ctrl-C as
    from a terminal (not ignored, as it is for a background job)."""
    hook = folder / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(sitecustomize)
    env = {**env, "PYTHONPATH": os.pathsep.join((str(hook), env["PYTHONPATH"]))}
    return subprocess.Popen([sys.executable, "-m", "realtime_adain", "image", "x.jpg", "-s", "y.jpg", "-o",
                             folder / "out.png"], env=env, cwd=folder, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.mark.parametrize("sig, code, said", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_a_signal_while_the_command_modules_import_is_one_line(env, tmp_path, sig, code, said):
    """Before `cli.main` took signals over, a Ctrl-C while `realtime_adain.cli` (argparse and the
    rest) was importing printed a KeyboardInterrupt traceback, and SIGTERM ended the process
    without a word (status -15): some 10-40 ms at every start, where `test_signals.py`'s start-up
    cases, sent once torch loads, come later. Now `interrupts.stop_while_starting` holds that
    import in __main__.py (the console script's entry too): one line, 130 or 143."""
    process = start_held(env, tmp_path, SLOW_CLI_IMPORT)
    assert process.stdout.readline() == "importing cli\n"
    process.send_signal(sig)
    _, err = process.communicate(timeout=30)
    assert (process.returncode, err) == (code, f"{said}\n")
    assert not (tmp_path / "out.png").exists()


# A sitecustomize that holds the import of the command's settings module for a few seconds
# (announced on stdout) inside an `exec` of a string, where Python's dataclasses and namedtuple
# define their methods, as that module's import does: after `cli.main` took signals over.
SLOW_SETTINGS_IMPORT = """
import importlib.abc, sys

class SlowSettings(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "realtime_adain.settings":
            exec("import os, time; os.write(1, b'importing settings\\\\n'); time.sleep(4)")
        return None

sys.meta_path.insert(0, SlowSettings())
"""


def test_a_ctrl_c_caught_in_a_string_run_exits_130(env, tmp_path):
    """A Ctrl-C raised inside an `exec` of a string (a dataclass being defined while the command's
    modules import) was caught and said `interrupted`, but CPython noted it as unhandled and
    `python -m realtime_adain` ended by SIGINT as it exited: status -2 to a parent, not 130 (a
    shell shows 130 either way; `test_signals.py`'s start-up cases, run with -m, could flake). 5 of
    80 Ctrl-Cs in the first 0.3 s did so. Now `cli.entry` clears that note
    (`library_signals.forget_caught_ctrl_c`) before it exits with 130."""
    process = start_held(env, tmp_path, SLOW_SETTINGS_IMPORT)
    assert process.stdout.readline() == "importing settings\n"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert (process.returncode, err) == (130, "interrupted\n")


KINDS = {  # output name, input, extra options
    "mp4": ("out.mp4", "sound", ()), "mov": ("out.mov", "sound", ()), "mkv": ("out.mkv", "sound", ()),
    "webm": ("out.webm", "sound", ()), "avi": ("out.avi", "sound", ()), "ts": ("out.ts", "sound", ()),
    "gif": ("out.gif", "sound", ()), "pictures": ("out_%04d.png", "sound", ()),
    "silent": ("out.mp4", "silent", ()), "stabilized": ("out.mp4", "sound", ("--stabilize", "both")),
}


def make_clips(folder: Path) -> dict[str, Path]:
    """A 2.5 s 64x48 clip with a sine tone, and the same without sound."""
    sound, silent = folder / "clip.mp4", folder / "silent.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=24:duration=2.5",
                    "-f", "lavfi", "-i", "sine=frequency=440:duration=2.5", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-shortest", sound], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", sound, "-an", "-c", "copy", silent], check=True)
    return {"sound": sound, "silent": silent}


def stream_end(path: Path, kind: str) -> float | None:
    """Where the first `kind` (v, a) stream's last packet ends, in seconds (by its decode time where
    it has no presentation time: AVI); None without one."""
    lines = subprocess.run(["ffprobe", "-v", "error", "-select_streams", f"{kind}:0", "-show_entries",
                            "packet=pts_time,dts_time,duration_time", "-of", "csv=p=0", path],
                           capture_output=True, text=True).stdout.split()
    ends = []
    for line in lines:
        pts, dts, duration = (line.split(",") + ["", "", ""])[:3]
        start = pts if pts not in ("", "N/A") else dts
        if start not in ("", "N/A"):
            ends.append(float(start) + (float(duration) if duration not in ("", "N/A") else 0))
    return max(ends) if ends else None


def assert_plays(path: Path, has_sound: bool) -> None:
    probe = subprocess.run(["ffprobe", "-v", "error", path], capture_output=True, text=True)
    decode = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "null", "-"], capture_output=True, text=True)
    assert (probe.returncode, probe.stderr, decode.returncode, decode.stderr) == (0, "", 0, ""), path
    if has_sound:
        video, sound = stream_end(path, "v"), stream_end(path, "a")
        assert video is not None and sound is not None and abs(video - sound) < 0.15, (path, video, sound)


@pytest.mark.slow
@pytest.mark.timeout(900)  # (20 runs)
def test_signals_at_random_moments_into_every_output_kind(env, data_dir, tmp_path):
    """The sweep of task h21 (seeded): each output kind gets SIGINT, SIGTERM or two SIGINTs at a
    random moment after its hidden output appeared. Each run: 130/143 with one last line (or 0 once
    finished), no traceback, no hidden temporary left, and what is kept plays to its end with its
    sound as long as its pictures. Passed on every kind when written."""
    clips, rng, kept = make_clips(tmp_path), random.Random(21), 0
    style = data_dir / "style" / "trial.jpg"
    for kind, (name, clip, extra) in KINDS.items():
        for sigs, code, said in rng.sample([((signal.SIGINT,), 130, "interrupted"),
                                            ((signal.SIGTERM,), 143, "terminated"),
                                            ((signal.SIGINT, signal.SIGINT), 130, "interrupted")], 2):
            folder = tmp_path / f"{kind}-{len(sigs)}-{sigs[0].name}"
            folder.mkdir()
            process = subprocess.Popen(
                [sys.executable, "-m", "realtime_adain", "video", clips[clip], "-s", style, "--size", "32",
                 "--style-size", "64", "--device", "cpu", "--threads", "1", *extra, "-o", folder / name],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
            deadline = time.monotonic() + 120
            while process.poll() is None and not any(folder.iterdir()) and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 1.5))
            for sig in sigs:
                if process.poll() is None:
                    process.send_signal(sig)
                    time.sleep(0.15)
            out, err = process.communicate(timeout=120)
            record = json.dumps({"kind": kind, "signals": [s.name for s in sigs], "code": process.returncode,
                                 "err": err[-300:]})
            assert process.returncode in (code, 0) and "Traceback" not in err and "Exception ignored" not in err, record
            left = sorted(p.name for p in folder.iterdir())
            assert not [n for n in left if n.startswith(".")], record
            if process.returncode:
                last = err.strip().splitlines()[-1]
                assert last == said or last.startswith(f"{said}: "), record  # (what was kept, in the same line)
                # A signal after the output was finished and said (its line on stdout), as the command
                # returns: the output stands whole under its own name (seen once, pictures, SIGINT).
                finished = str(folder / name) in out.splitlines()
                assert finished or all(".partial" in n for n in left), record
                kept += bool(left) and not finished
            if kind == "pictures":
                continue
            for each in left:
                assert_plays(folder / each, has_sound=clip == "sound" and kind != "gif")
    print(f"{kept} of {2 * len(KINDS)} runs kept a partial output")
    assert kept >= 5, f"only {kept} runs were stopped while encoding: too few to test anything"
