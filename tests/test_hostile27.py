"""Session 27's hostile user: option values that argparse reads as options, contact-sheet names
and options that meant nothing, and a Ctrl-C while a worker thread writes a video."""

from __future__ import annotations

import subprocess
import sys

import pytest
from live_support import cli_env, read_video, write_video


def test_a_number_list_starting_with_a_dash_is_told_how_to_be_written(run_cli, data_dir, tmp_path):
    """`--mix -1,2` reads as an option; argparse said only "expected one argument"."""
    code, _, err = run_cli("image", data_dir / "content" / "cornell.jpg", "-s", data_dir / "style" / "trial.jpg",
                           "-s", data_dir / "style" / "mondrian.jpg", "--mix", "-1,2", "-o", tmp_path / "x.png")
    assert code == 2 and "is written" in err and "--mix=-1,2" in err and len(err.strip().splitlines()) == 1


def test_a_forgotten_value_is_not_told_to_be_written_with_an_equals_sign(run_cli):
    code, _, err = run_cli("image", "x.jpg", "-s", "-o", "y.jpg")
    assert code == 2 and "expected one argument" in err and "=" not in err


@pytest.mark.parametrize("option", ["--no-keep-size", "--keep-size"])
def test_a_sheet_refuses_keep_size(run_cli, data_dir, tmp_path, option):
    """Tiles are always at --size: the option was accepted and ignored."""
    code, _, err = run_cli("image", data_dir / "content" / "cornell.jpg", "-s", data_dir / "style" / "trial.jpg",
                           "--sheet", tmp_path / "s.jpg", option)
    assert code != 0 and "cannot be combined with --sheet" in err and not (tmp_path / "s.jpg").exists()


def test_a_sheet_without_an_extension_is_told_to_add_one(run_cli, data_dir, tmp_path):
    """It said "unknown image format ''"."""
    code, _, err = run_cli("image", data_dir / "content" / "cornell.jpg", "-s", data_dir / "style" / "trial.jpg",
                           "--sheet", tmp_path / "sheet")
    assert code != 0 and "sheet.jpg" in err and "''" not in err


WORKER_SCRIPT = """
import glob, os, signal, sys, threading, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # (a background job's is ignored)
import realtime_adain as ra
clip, style, out, flag = sys.argv[1:5]
stylizer = ra.Stylizer.load()

def work():
    ra.stylize_video(clip, out, style=style, size=96, style_size=64, stylizer=stylizer, stabilize="off")
    open(flag, "w").close()

def ctrl_c_once_writing():  # to the main thread: a process's signal may go to any thread that takes it
    while not glob.glob(os.path.join(os.path.dirname(out), ".out*")):
        time.sleep(0.01)
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

worker = threading.Thread(target=work)
worker.start()
threading.Thread(target=ctrl_c_once_writing, daemon=True).start()
try:
    worker.join()
except KeyboardInterrupt:
    print("interrupted while working" if not os.path.exists(flag) else "interrupted after", flush=True)
"""


def test_a_video_on_a_worker_thread_is_finished_after_a_ctrl_c_in_the_main_threads_join(
        published_weights, data_dir, tmp_path):
    """The docs: a call may run on a thread that outlives the main thread. A Ctrl-C in the main
    thread's `join()` marks the thread finished on Python < 3.13 (CPython gh-90882), the exit no
    longer waited for it, and the interpreter aborted inside torch (134) with the video lost."""
    clip = write_video(tmp_path / "clip.mp4", frames=96, size=(128, 96))
    out, flag = tmp_path / "out.mp4", tmp_path / "done"
    env = cli_env(published_weights, tmp_path / "home")
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER_SCRIPT, clip, data_dir / "style" / "trial.jpg", out, flag],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = process.communicate(timeout=240)  # (its Ctrl-C comes from within)
    assert process.returncode == 0, stderr
    assert "interrupted while working" in stdout
    assert read_video(out)[0] == 96
