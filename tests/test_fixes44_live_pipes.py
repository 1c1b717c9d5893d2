"""Session 44: standard input that sends nothing, or is a device, is said so in one line.

An empty pipe (`true | realtime-adain live --source -`) and `< /dev/null` were "standard input:
cannot open (Invalid data found when processing input)": FFmpeg's words for a stream it probed."""
import pytest
import subprocess

from live_support import FAST, cli_env, live_command


def _live_on_standard_input(published_weights, data_dir, tmp_path, **stdin):
    return subprocess.run(live_command("--source", "-", "--styles", data_dir / "style" / "mondrian.jpg",
                                       "--no-window", "-o", tmp_path / "out.mp4", *FAST),
                          capture_output=True, env=cli_env(published_weights, tmp_path / "home"),
                          cwd=tmp_path, timeout=120, **stdin)


@pytest.mark.slow  # (default run's time: 3 s)
def test_a_pipe_closed_without_sending_anything_is_said_so(published_weights, data_dir, tmp_path):
    done = _live_on_standard_input(published_weights, data_dir, tmp_path, input=b"")
    assert (done.returncode, done.stderr.decode()) == (2, "error: standard input: ended without sending anything\n")
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.slow  # (default run's time: 3 s)
def test_standard_input_from_a_device_is_refused_as_not_a_pipe(published_weights, data_dir, tmp_path):
    with open("/dev/null", "rb") as null:
        done = _live_on_standard_input(published_weights, data_dir, tmp_path, stdin=null)
    assert done.returncode == 2
    assert done.stderr.decode().startswith("error: --source -: standard input is a device, not a pipe; pipe a video")


@pytest.mark.slow  # (default run's time: a model load)
def test_pipe_n_of_a_descriptor_not_open_is_refused_before_the_session_takes_that_number(published_weights, data_dir,
                                                                                         tmp_path):
    """Without `3<`, `--source pipe:3` read the program's own copy of stderr (its log took descriptor 3)."""
    with open(tmp_path / "err.txt", "wb") as err:
        done = subprocess.run(live_command("--source", "pipe:3", "--styles", data_dir / "style" / "mondrian.jpg",
                                           "--no-window", "-o", tmp_path / "out.mp4", *FAST),
                              stderr=err, env=cli_env(published_weights, tmp_path / "home"), cwd=tmp_path,
                              timeout=120)  # (close_fds: only 0, 1 and 2 are open in it)
    assert done.returncode == 2
    assert (tmp_path / "err.txt").read_text() == (
        "error: pipe:3: descriptor 3 is not open (give it a pipe: 3< clip.ts, or a program's)\n")
