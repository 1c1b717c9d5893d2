"""Session 45: a live source named by its descriptor (pipe:N, /dev/fd/N, /proc/self/fd/N).

`pipe:3 3< clip.mp4` let -o replace the clip and --log append into it (`/dev/fd/3` was refused);
a descriptor name with nothing open there read the session's own copy of stderr, and standard
output or error as the source waited 5 s for a video that never came."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cli_support import one_error_line
from live_support import FAST, cli_env, live_command, write_video
from realtime_adain.live.events import EventLog
from realtime_adain.live.source_opening import open_source


@pytest.fixture
def live(run_cli, published_weights, data_dir, tmp_path, monkeypatch):
    """`realtime-adain live --source SOURCE ARGS...` in-process, headless; returns (code, stderr)."""
    monkeypatch.setenv("REALTIME_ADAIN_VGG", str(published_weights[0]))
    monkeypatch.setenv("REALTIME_ADAIN_DECODER", str(published_weights[1]))
    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(tmp_path / "home"))

    def run(source: str, *args) -> tuple[int, str]:
        code, _, err = run_cli("live", "--source", source, "--styles", data_dir / "style" / "mondrian.jpg",
                               "--no-window", "--no-loop", "--max-frames", "1", *FAST, *args)
        return code, err

    return run


@pytest.fixture
def clip_on_a_descriptor(tmp_path):
    """(clip, N): a tiny clip open read-only at descriptor N, as `N< clip.mp4` gives it."""
    clip = write_video(tmp_path / "clip.mp4", frames=2)
    descriptor = os.open(clip, os.O_RDONLY)
    yield clip, descriptor
    os.close(descriptor)


def test_recording_over_the_file_a_pipe_n_source_reads_is_refused(live, clip_on_a_descriptor):
    """It recorded the session over the clip, exit 0."""
    clip, descriptor = clip_on_a_descriptor
    before = clip.read_bytes()
    code, err = live(f"pipe:{descriptor}", "-o", clip)
    assert (code, one_error_line(err)) == (2, f"error: {clip}: output would overwrite the input")
    assert clip.read_bytes() == before


def test_logging_into_the_file_a_pipe_n_source_reads_is_refused(live, clip_on_a_descriptor, tmp_path):
    """It appended the session's event lines to the clip."""
    clip, descriptor = clip_on_a_descriptor
    before = clip.read_bytes()
    code, err = live(f"pipe:{descriptor}", "-o", tmp_path / "out.mp4", "--log", clip)
    assert (code, one_error_line(err)) == (2, f"error: {clip}: --log would write into {clip}, an input; give another file")
    assert clip.read_bytes() == before


def test_a_pipe_n_source_is_labelled_by_that_name(clip_on_a_descriptor):
    """The start line said `source=3`, the clip's descriptor path's last part."""
    _, descriptor = clip_on_a_descriptor
    source = open_source(f"pipe:{descriptor}", loop=False)
    try:
        assert source.label == f"pipe:{descriptor}"
    finally:
        source.close()


def a_closed_descriptor() -> int:
    """The lowest descriptor number free: the next one opened takes it."""
    free = os.dup(0)
    os.close(free)
    return free


@pytest.mark.parametrize("directory", ["/dev/fd", "/proc/self/fd"])
def test_a_descriptor_path_not_open_is_refused(live, tmp_path, directory):
    """pipe:N was refused so; /dev/fd/N read what the session opened there next (its stderr copy)."""
    number = a_closed_descriptor()
    code, err = live(f"{directory}/{number}", "-o", tmp_path / "out.mp4")
    assert (code, one_error_line(err)) == (
        2, f"error: {directory}/{number}: descriptor {number} is not open (give it a pipe: {number}< clip.ts, or a program's)")


@pytest.mark.parametrize("name, stream", [("pipe:1", "output"), ("pipe:2", "error"), ("/dev/fd/1", "output"),
                                          ("/proc/self/fd/2", "error"), ("/dev/stdout", "output"),
                                          ("/dev/stderr", "error")])
def test_standard_output_and_error_are_refused_as_the_source(live, tmp_path, name, stream):
    """They were read as a video, "nothing received for 5 s" after the model loaded."""
    code, err = live(name, "-o", tmp_path / "out.mp4")
    assert (code, one_error_line(err)) == (
        2, f"error: {name}: the session's standard {stream}, which it writes, not a source; give the video on "
           "standard input (--source -) or another descriptor (pipe:3 with 3< clip.ts)")
    assert not (tmp_path / "out.mp4").exists()


def test_the_log_copy_of_stderr_leaves_the_low_numbers_free(tmp_path, monkeypatch):
    """The copy took the lowest free number (3), which `--source /dev/fd/3` without `3<` then read."""
    with open(tmp_path / "err.txt", "w") as err:
        monkeypatch.setattr(sys, "stderr", err)  # (a file, as a terminal is: pytest's capture has no descriptor)
        lowest = a_closed_descriptor()
        log = EventLog()
        try:
            assert not os.path.exists(f"/dev/fd/{lowest}")
        finally:
            log.close()


@pytest.mark.slow  # (a CLI start, ~5 s; the refusal and the log's copy are checked in-process above)
def test_dev_fd_3_without_3_redirected_is_refused_by_the_command(published_weights, data_dir, tmp_path):
    """As typed: `--source /dev/fd/3` with stderr to a file read that file as the video."""
    with open(tmp_path / "err.txt", "wb") as err:
        done = subprocess.run(live_command("--source", "/dev/fd/3", "--styles", data_dir / "style" / "mondrian.jpg",
                                           "--no-window", "-o", tmp_path / "out.mp4", *FAST),
                              stderr=err, env=cli_env(published_weights, tmp_path / "home"), cwd=tmp_path,
                              timeout=120)  # (close_fds: only 0, 1 and 2 are open in it)
    assert done.returncode == 2
    assert (tmp_path / "err.txt").read_text() == (
        "error: /dev/fd/3: descriptor 3 is not open (give it a pipe: 3< clip.ts, or a program's)\n")
