"""Session 49: output names. A name ending in '/.' wrote the file before it (Path drops the '/.');
an existing device or descriptor without an extension was taken for a folder ("output directory
is not writable (it is a file, not a folder)" of /dev/stdout); a printed result that starts with
'-' lost its './' (`| xargs rm` read an option); `--json >&-` exited 0 with the records lost."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import realtime_adain as ra
from realtime_adain.commands.common import report_output
from realtime_adain.commands.jobs import output_paths, plan_jobs
from realtime_adain.errors import UserError
from realtime_adain.imageio import WRITABLE_EXTENSIONS

REPO = Path(__file__).resolve().parents[1]
PICTURE = np.zeros((4, 4, 3), np.uint8)


def image_outputs(output: str, styles: int = 1) -> list[Path]:
    """The outputs `realtime-adain image c.jpg -s s0.jpg ... -o OUTPUT` plans."""
    jobs = plan_jobs([Path("c.jpg")], [Path(f"s{n}.jpg") for n in range(styles)])
    return output_paths(output, jobs, WRITABLE_EXTENSIONS, "image", None)


@pytest.mark.parametrize("ending", [".", ".."])
def test_write_image_refuses_a_name_ending_in_a_dot_folder(tmp_path, ending):
    """`ra.write_image('t2.png/.', img)` wrote the file t2.png."""
    with pytest.raises(ValueError) as refused:
        ra.write_image(f"{tmp_path}/t2.png/{ending}", PICTURE)
    assert str(refused.value) == (f"path '{tmp_path}/t2.png/{ending}' ends in '{ending}', a folder: give the file's "
                                  "name, not a folder")
    assert list(tmp_path.iterdir()) == []


def test_stylize_video_refuses_an_output_ending_in_slash_dot(tmp_path, data_dir):
    with pytest.raises(ValueError, match=r"^output '.*t2\.mp4/\.' ends in '\.', a folder"):
        ra.stylize_video(data_dir / "videos" / "cutBunny.mp4", f"{tmp_path}/t2.mp4/.", data_dir / "style" / "trial.jpg",
                         size=32, style_size=32, frames=1)  # (small: before the fix it wrote t2.mp4)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("styles", [1, 2])
def test_an_output_ending_in_slash_dot_is_a_folder_as_with_a_slash(tmp_path, styles):
    """`-o o1.png/.` wrote the file o1.png; `-o o2.png/` makes a folder, and so does it now."""
    for given in ("o1.png/", "o1.png/."):
        assert image_outputs(f"{tmp_path}/{given}", styles) == [
            tmp_path / "o1.png" / f"c_stylized_s{n}.jpg" for n in range(styles)]


def test_an_output_ending_in_slash_dot_after_a_file_is_refused(tmp_path):
    (tmp_path / "taken.png").write_bytes(b"x")
    with pytest.raises(UserError, match=r"taken\.png/\.: ends with /\. \(a folder\), but .*taken\.png is a file$"):
        image_outputs(f"{tmp_path}/taken.png/.")
    with pytest.raises(UserError, match=r"/dev/null/: ends with / \(a folder\), but /dev/null is a device"):
        image_outputs("/dev/null/")


@pytest.mark.parametrize("styles", [1, 2])
def test_a_device_without_an_extension_is_said_as_a_device(styles):
    """`-o /dev/full` was "output directory is not writable (it is a device, fifo or socket, not a folder)"."""
    with pytest.raises(UserError) as refused:
        image_outputs("/dev/full", styles)
    assert str(refused.value) == "/dev/full: is a device, fifo or socket; give a regular file's name"


def test_a_descriptor_without_an_extension_is_said_as_a_descriptor(tmp_path):
    """`-o /dev/stdout` was "(it is a file, not a folder)": a link to an open descriptor."""
    with open(tmp_path / "log.txt", "a") as held:
        for name in ("/dev/stdout", f"/proc/self/fd/{held.fileno()}", f"/dev/fd/{held.fileno()}"):
            with pytest.raises(UserError, match="an open descriptor, not a file"):
                image_outputs(name)
    assert (tmp_path / "log.txt").read_text() == ""


def test_a_regular_file_without_an_extension_is_still_no_folder(tmp_path):
    """(What was right stays: the folder run finds the file in its way.)"""
    from realtime_adain.writable_folders import check_writable_dir

    (tmp_path / "plain").write_bytes(b"x")
    [planned] = image_outputs(str(tmp_path / "plain"))
    with pytest.raises(UserError, match=r"plain: output directory is not writable \(it is a file, not a folder\)"):
        check_writable_dir(planned.parent)


@pytest.mark.parametrize("given, printed", [("./-y.png", "./-y.png"), ("-x.png", "./-x.png"),
                                            ("out/-z.png", "out/-z.png"), ("/abs/-a.png", "/abs/-a.png")])
def test_a_printed_result_never_starts_with_a_dash(capsys, given, printed):
    """`-o ./-y.png` printed "-y.png", which `| xargs rm` took for options."""
    report_output(argparse.Namespace(json=False), None, Path("c.jpg"), [Path("s.jpg")], Path(given), (4, 4), 0.1)
    assert capsys.readouterr().out == f"{printed}\n"


def closed_stdout_run(*args: str) -> subprocess.CompletedProcess:
    """`realtime-adain ARGS >&-` by the real interpreter (a pyenv shim would put its script on fd 1)."""
    command = " ".join(f"'{a}'" for a in [sys.executable, "-m", "realtime_adain", *args])
    return subprocess.run(["sh", "-c", f"exec {command} >&-"], cwd=REPO, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("command", ["image", "video", "doctor", "engines list"])
def test_json_with_stdout_closed_is_refused_before_any_work(tmp_path, command):
    """`image a.jpg b.jpg -s S --json -o io/ >&-` exited 0 with the records lost (fd 1 reopened on
    /dev/null); refused as the options are read, before torch loads or a folder is made (doctor's
    and engines list's --json too: review h11)."""
    files = ("missing.jpg", "-s", "missing-style.jpg", "-o", f"{tmp_path}/io/") if command in ("image", "video") else ()
    done = closed_stdout_run(*command.split(), *files, "--json")
    lost = {"doctor": "the JSON object would be lost; send it to a file (--json > report.json)",
            "engines list": "the JSON object would be lost; send it to a file (--json > engines.json)"}.get(
        command, "the JSON records would be lost; send them to a file (--json > results.jsonl)")
    assert done.returncode == 2 and done.stderr == (
        f"error: --json: standard output is closed, so {lost} or leave --json out\n")
    assert list(tmp_path.iterdir()) == []


def test_stdout_closed_is_known_only_where_it_was(tmp_path):
    probe = ("from realtime_adain import standard_streams\n"
             "standard_streams.safe_standard_streams()\n"
             "import sys; sys.stderr.write(str([standard_streams.closed_at_start(fd) for fd in (0, 1, 2)]))\n")
    for close, expected in ((">&-", "[False, True, False]"), (f">{os.devnull}", "[False, False, False]")):
        done = subprocess.run(["sh", "-c", f"exec '{sys.executable}' -c \"$0\" {close}", probe], cwd=REPO,
                              capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stderr) == (0, expected), close


@pytest.mark.parametrize("argv, said", [
    (["bench", "model", "--json", "{tmp}/m1.json/."], "ends in '.', a folder: give the file's name"),
    (["export", "--format", "onnx", "-o", "{tmp}/x.onnx/."], "names a folder; the output of --format onnx is a file, e.g. {tmp}/x.onnx/adain.onnx"),
    (["image", "{content}", "-s", "{style}", "--sheet", "{tmp}/sheet.png/."], "give the sheet's file name"),
    (["live", "--source", "{content}", "--styles", "{style}", "--no-window", "-o", "{tmp}/o.mp4", "--log", "{tmp}/l.log/."],
     "a folder; give a file name"),
])
def test_other_file_options_ending_in_slash_dot_are_folders(tmp_path, capsys, data_dir, argv, said):
    """`--sheet x.png/.`, the benchmarks' `--json m1.json/.`, export's `-o x.onnx/.` and live's
    `--log l.log/.` wrote (or replaced) the file before the '/.', as '/' did before it was refused."""
    from realtime_adain.cli import main

    fill = {"tmp": str(tmp_path), "content": str(data_dir / "content" / "lenna.jpg"),
            "style": str(data_dir / "style" / "mondrian.jpg")}
    assert main([part.format(**fill) for part in argv]) == 2
    err = capsys.readouterr().err
    assert said.format(**fill) in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []

