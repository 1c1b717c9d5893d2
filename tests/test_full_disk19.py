"""Signals at the moments the earlier tests miss: a Ctrl-C just after an output's hidden
temporary file (or folder) was made, before the code that removes it on failure is in place.

Full disks (tmpfs filled before and mid-run, every `video` container and numbered pictures, a
folder of images or videos, `image --json` to /dev/full, an ONNX export or engine cache into a
full or read-only home, `weights download`, the trainer's checkpoints and samples, a `live`
recording) and signals mid-run were tried by hand for this file and are handled: see
tests/test_full_disk.py and tests/test_signals.py for those kept as tests.

Every case: a real SIGINT, delivered by a profile hook the moment a given function is entered;
afterwards no hidden temporary is left and nothing is under the final name.
"""

from __future__ import annotations

import gc
import signal
import sys
import threading

import numpy as np
import pytest

import realtime_adain as ra
from realtime_adain.atomic import PendingOutput
from realtime_adain.video import stream_reports
from test_full_disk import disk, fill  # noqa: F401  (disk: a fixture)


def entries(folder) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def ctrl_c_on_entering(function) -> None:
    """A real SIGINT to this process the moment `function` is called (a profile hook in this thread)."""
    code = function.__code__

    def hook(frame, event, _arg):
        if event == "call" and frame.f_code is code:
            sys.setprofile(None)
            signal.raise_signal(signal.SIGINT)

    sys.setprofile(hook)


@pytest.fixture
def default_ctrl_c():
    """SIGINT as Python's default (a KeyboardInterrupt), in the main thread where signals arrive."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    sys.setprofile(None)
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("name", ["out.mp4", "f_%03d.png"])
def test_a_ctrl_c_as_a_video_output_opens_leaves_no_temporary(stylizer, data_dir, tmp_path, name, one_thread,
                                                              default_ctrl_c):
    """SIGINT between the output's opening and the run's signal handling (a progress bar or a
    thread starting, the streams listed): the KeyboardInterrupt went past everything that removes
    the hidden `.out.PID-XXXXXXXX.part.mp4` (numbered pictures: the hidden `.part` folder), which
    stayed until a later run into that folder swept it. In 10 runs signalled as the temporary
    file appeared, 5 left it."""
    out = tmp_path / "out"
    ctrl_c_on_entering(stream_reports.stream_reports)  # called right after the output is opened
    with pytest.raises(KeyboardInterrupt):
        ra.stylize_video(data_dir / "videos" / "cutBunny.mp4", out / name, data_dir / "style" / "trial.jpg",
                         size=32, style_size=32, frames=2, stabilize="off", stylizer=stylizer)
    assert entries(out) == []


def test_a_ctrl_c_as_an_output_file_is_entered_leaves_no_temporary(tmp_path, default_ctrl_c):
    """`with PendingOutput(path)`: a signal at the start of `__enter__` (Python checks for one
    there) came before the `with` could remove the file: `image`'s outputs, `bench --json`, an
    ONNX export and the trainer's checkpoints all kept a hidden `.NAME.PID-XXXXXXXX.part.EXT`."""
    ctrl_c_on_entering(PendingOutput.__enter__)
    with pytest.raises(KeyboardInterrupt):
        ra.write_image(tmp_path / "out.png", np.zeros((8, 8, 3), np.uint8))
    gc.collect()  # (the traceback held the object; the CLI exits at this point)
    assert entries(tmp_path) == []


def test_a_run_that_fills_the_disk_leaves_no_folder_it_made(run_cli, weights_env, data_dir, disk):
    """`-o new/deeper/out.jpg` onto a full disk: one error line, and `new/` (made by the run,
    empty) was left behind."""
    (disk / "kept").mkdir()  # (there before the run: stays)
    fill(disk)
    code, _, err = run_cli("image", data_dir / "content" / "lenna.jpg", "-s", data_dir / "style" / "trial.jpg",
                           "--size", "64", "--style-size", "64", "-o", disk / "new" / "deeper" / "out.jpg")
    assert code == 2 and "No space left" in err, err
    assert sorted(p.name for p in disk.iterdir()) == ["filler", "kept"]
