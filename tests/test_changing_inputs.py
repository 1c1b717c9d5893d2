"""Files that change while a run reads or writes them, signals the tests elsewhere do not send, and
a command whose standard streams are closed.

A recording still being written is read up to where it ends (as `ffmpeg -i` reads it) and the run
says so; a file cut short under a run is not blamed as truncated from the start; SIGQUIT (Ctrl-\\)
keeps a playable partial file as SIGTERM does; `>&- 2>&-` neither crashes a command nor sends its
errors to stdout.
"""

from __future__ import annotations

import fcntl
import os
import pty
import shutil
import signal
import stat
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from live_support import cli_env
from realtime_adain import atomic
from realtime_adain.atomic import PendingOutput
from realtime_adain.errors import UserError
from realtime_adain.output_paths import partial_path
from realtime_adain.settings import VideoSettings
from realtime_adain.video import job
from realtime_adain.video.encoder_settings import EncodeSettings
from test_signals import decoded_frames, spawn, wait_for_frames_in_file
from video_samples import gradient_frames, write_video

FAST = VideoSettings(size=32, stabilize="off")


@pytest.fixture
def style(stylizer, data_dir):
    from realtime_adain.imageio import read_image

    return stylizer.style_stats(read_image(data_dir / "style" / "trial.jpg"), 32)


def recording(path: Path, frames: int = 48) -> bytes:
    """A whole MPEG-TS clip's bytes (the format a recorder streams to disk), written at `path`."""
    return write_video(path, gradient_frames(frames, 64, 48)).read_bytes()


@pytest.mark.slow  # (default run's time: 2 s)
def test_a_recording_still_being_written_is_said(stylizer, style, tmp_path, capsys, one_thread):
    """The recorder appends while the run reads (here: once the first frame is read, through the
    `style_of` call, a real write to the file): the output is published with the frames read, and
    a note says the file grew, instead of a silent short result."""
    whole = recording(tmp_path / "whole.ts")
    source = tmp_path / "rec.ts"
    source.write_bytes(whole[: len(whole) // 3 // 188 * 188])

    def style_of(_first):
        with open(source, "ab") as out:  # the recording goes on
            out.write(whole[source.stat().st_size:])
        return style

    frames, _ = job.stylize_file(source, tmp_path / "out.mp4", stylizer, style_of, FAST, EncodeSettings())
    err = capsys.readouterr().err
    assert f"note: rec.ts: the file grew while it was read ({len(whole) // 3 // 188 * 188} to {len(whole)} bytes" in err
    assert f"the output holds the {frames} frames" in err
    assert 0 < frames == decoded_frames(tmp_path / "out.mp4")


def test_a_finished_file_read_again_says_nothing(stylizer, style, tmp_path, capsys, one_thread):
    source = tmp_path / "done.ts"
    recording(source, 12)
    frames, _ = job.stylize_file(source, tmp_path / "out.mp4", stylizer, lambda _: style, FAST, EncodeSettings())
    assert frames == 12 and "note:" not in capsys.readouterr().err


@pytest.mark.slow  # (default run's time: 2 s)
def test_a_file_replaced_or_removed_during_the_run_is_read_whole(stylizer, style, tmp_path, capsys, one_thread):
    """The file opened stays readable (Linux): renaming another over it, or deleting it, changes
    nothing, and nothing is said."""
    for change in ("replace", "remove"):
        source = tmp_path / f"{change}.ts"
        recording(source, 24)

        def style_of(_first, source=source, change=change):
            if change == "replace":
                other = tmp_path / "other.ts"
                recording(other, 6)
                os.replace(other, source)
            else:
                source.unlink()
            return style

        frames, _ = job.stylize_file(source, tmp_path / f"{change}.mp4", stylizer, style_of, FAST, EncodeSettings())
        assert frames == 24 == decoded_frames(tmp_path / f"{change}.mp4")
    assert "note:" not in capsys.readouterr().err


@pytest.mark.slow  # (5 s)
def test_a_file_cut_short_during_the_run_keeps_what_was_read_and_says_so(stylizer, style, data_dir, tmp_path,
                                                                           capsys, one_thread):
    """Truncated while read: the frames read are the output (as a file cut short before the run
    is read, as FFmpeg plays it), and notes say it looks cut short and that it shrank under the
    run. (A file larger than FFmpeg's read buffer, which holds a small one whole from the start.)"""
    source = tmp_path / "clip.mp4"
    shutil.copy(data_dir / "videos" / "cutBunny.mp4", source)
    size = source.stat().st_size

    def style_of(_first):
        os.truncate(source, size // 2)
        return style

    frames, _ = job.stylize_file(source, tmp_path / "out" / "o.mp4", stylizer, style_of, FAST, EncodeSettings())
    err = capsys.readouterr().err
    assert "of the 240 frames its index states decode: the file looks cut short or damaged" in err
    assert f"note: clip.mp4: the file shrank while it was read ({size} to {size // 2} bytes); the output holds the {frames} frames read" in err
    assert 0 < frames < 240 and frames == decoded_frames(tmp_path / "out" / "o.mp4")


# The command with SIGQUIT at its default: a runner started in the background (`cmd &` in a script)
# passes it on ignored, and the command rightly keeps an ignored signal ignored.
QUIT_AT_DEFAULT = ("import os, signal, sys; signal.signal(signal.SIGQUIT, signal.SIG_DFL); "
                   "os.execv(sys.executable, [sys.executable, '-m', 'realtime_adain', *sys.argv[1:]])")


@pytest.mark.slow  # (4-8 s; SIGINT and SIGTERM partials run by default in test_signals)
def test_sigquit_while_encoding_keeps_a_playable_partial(published_weights, data_dir, tmp_path):
    """Ctrl-\\ (SIGQUIT) killed the process with a core dump, leaving its hidden temporary file
    (no moov: unplayable); `ffmpeg` finishes its file on SIGQUIT, and so does a run now."""
    out = tmp_path / "out"
    out.mkdir()
    args = ["video", data_dir / "videos" / "cutBunny.mp4", "-s", data_dir / "style" / "trial.jpg",
            "--size", "32", "--style-size", "64", "--threads", "1", "-o", out / "bunny.mp4"]
    process = subprocess.Popen([sys.executable, "-c", QUIT_AT_DEFAULT, *map(str, args)], cwd=tmp_path, text=True,
                               env=cli_env(published_weights, tmp_path / "home"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    wait_for_frames_in_file(process, out, "bunny")
    process.send_signal(signal.SIGQUIT)
    _, err = process.communicate(timeout=60)
    last = err.strip().splitlines()[-1]  # (one line: the signal's word and what was kept)
    assert process.returncode == 131 and last.startswith("terminated: ") and last.endswith("bunny.partial.mp4"), err
    assert sorted(p.name for p in out.iterdir()) == ["bunny.partial.mp4"], err
    assert 0 < decoded_frames(out / "bunny.partial.mp4") < 240


def closed_streams_run(args: list, env: dict[str, str], cwd: Path, close: str) -> subprocess.CompletedProcess:
    """`realtime-adain ARGS` started with the streams in `close` (shell redirections such as
    '>&- 2>&-') closed, by the real interpreter (a pyenv shim would leave its script on fd 2)."""
    command = " ".join(f"'{a}'" for a in [sys.executable, "-m", "realtime_adain", *map(str, args)])
    return subprocess.run(["sh", "-c", f"exec {command} {close}"], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.slow
def test_closed_stdout_and_stderr_still_write_the_result(published_weights, data_dir, tmp_path):
    """`image ... >&- 2>&-`: reading the style crashed (sys.stderr None has no flush), exit 1 and no
    result; the run now finishes."""
    out = tmp_path / "out.png"
    done = closed_streams_run(["image", data_dir / "content" / "cornell.jpg", "-s", data_dir / "style" / "trial.jpg",
                               "--size", "32", "--style-size", "32", "-o", out],
                              cli_env(published_weights, tmp_path / "home"), tmp_path, ">&- 2>&-")
    assert done.returncode == 0 and out.is_file()


@pytest.mark.slow
def test_an_error_with_stderr_closed_goes_nowhere(published_weights, data_dir, tmp_path):
    """With stderr closed, `print(..., file=sys.stderr)` printed the error on stdout (where a script
    reads the results' names); it is dropped now, and the status still says it."""
    done = closed_streams_run(["video", tmp_path / "missing.mp4", "-s", data_dir / "style" / "trial.jpg",
                               "-o", tmp_path / "out.mp4"], cli_env(published_weights, tmp_path / "home"), tmp_path,
                              "2>&-")
    assert (done.returncode, done.stdout) == (2, "")


def test_safe_standard_streams_gives_closed_ones_dev_null():
    """The numbers 0-2 are taken again (a file opened next would have taken them), a read-only
    stderr is replaced, and sys.stdout/sys.stderr are usable."""
    probe = ("import os, sys\n"
             "from realtime_adain import standard_streams\n"
             "standard_streams.safe_standard_streams()\n"
             "assert all(os.path.realpath(f'/proc/self/fd/{fd}') == os.devnull for fd in (0, 1, 2))\n"
             "sys.stderr.write('x'); sys.stderr.flush(); print('y', flush=True)\n"
             "with open(os.devnull) as spare: assert spare.fileno() > 2\n")
    for close in ("<&- >&- 2>&-", f"2<{os.devnull} >&-"):
        done = subprocess.run(["sh", "-c", f"exec '{sys.executable}' -c \"$0\" {close}", probe],
                              cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (close, done.stderr)


def video_process(args: list, env: dict[str, str], cwd: Path, stderr) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "realtime_adain", *map(str, args)], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=stderr, text=True)


def finish(process: subprocess.Popen) -> str:
    """Its stdout once it ends; killed if it hangs (as one did, its threads never stopped)."""
    try:
        return process.communicate(timeout=60)[0]
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.parametrize("signals, code", [
    # the later ones while finishing (slow: SIGTERM below takes the same path in the default run)
    pytest.param((signal.SIGINT, signal.SIGINT, signal.SIGINT), 130, marks=pytest.mark.slow),
    ((signal.SIGTERM, signal.SIGTERM), 143),
])
@pytest.mark.slow_cases('signals1-143')
def test_signals_with_stderr_full_keep_the_partial(published_weights, video_args_to, tmp_path, signals, code):
    """`2>/dev/full`: "finishing NAME, please wait", printed by the signal handler, raised ENOSPC
    inside the finishing (the partial file was lost, exit 1), or inside the pipeline's wind-down
    (the exit hung on threads never stopped); "interrupted: N frames kept" failed the run too."""
    out = tmp_path / "out"
    with open("/dev/full", "w") as full:
        process = video_process(video_args_to(out / "bunny.mp4"), cli_env(published_weights, tmp_path / "home"),
                                tmp_path, full)
    wait_for_frames_in_file(process, out, "bunny")
    for sig in signals:
        process.send_signal(sig)
        time.sleep(0.02)  # (as in test_signals: one signal at a time, not merged into one)
    finish(process)
    assert process.returncode == code
    assert sorted(p.name for p in out.iterdir()) == ["bunny.partial.mp4"]
    assert 0 < decoded_frames(out / "bunny.partial.mp4") < 240


@pytest.mark.slow  # (4-6 s; a full stderr with signals runs by default)
def test_a_note_with_stderr_full_keeps_the_output(published_weights, data_dir, tmp_path):
    """A GIF notes that it drops the sound: with stderr on /dev/full that note failed the run
    (exit 1, nothing written)."""
    out = tmp_path / "bunny.gif"
    with open("/dev/full", "w") as full:
        process = video_process(["video", data_dir / "videos" / "cutBunny.mp4", "-s", data_dir / "style" / "trial.jpg",
                                 "--size", "32", "--style-size", "32", "--frames", "6", "-o", out],
                                cli_env(published_weights, tmp_path / "home"), tmp_path, full)
    stdout = finish(process)
    assert (process.returncode, stdout) == (0, f"{out}\n") and decoded_frames(out) == 6


@pytest.mark.slow  # (4-7 s)
def test_the_terminal_closed_then_sighup_keeps_the_partial(published_weights, video_args_to, tmp_path):
    """A terminal window closed: writes to it fail (EIO) from then on, and SIGHUP follows. The
    progress bar copes (tqdm disables itself), but the lines said while stopping raised: exit 1
    instead of 129 (and a note then would have lost the file)."""
    out = tmp_path / "out"
    terminal, stderr = pty.openpty()
    fcntl.ioctl(stderr, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # (a terminal of no size has no bar)
    process = video_process(video_args_to(out / "bunny.mp4"), cli_env(published_weights, tmp_path / "home"),
                            tmp_path, stderr)
    os.close(stderr)
    try:
        reader = threading.Thread(target=drain, args=(terminal,), daemon=True)
        reader.start()
        wait_for_frames_in_file(process, out, "bunny")
    finally:
        os.close(terminal)  # the window closes
    process.send_signal(signal.SIGHUP)
    finish(process)
    assert process.returncode == 129
    assert sorted(p.name for p in out.iterdir()) == ["bunny.partial.mp4"]


def drain(fd: int) -> None:
    """Read a terminal's output until it closes (a full pty would block the writer)."""
    try:
        while os.read(fd, 1 << 16):
            pass
    except OSError:
        pass


@pytest.fixture
def video_args_to(data_dir):
    def args(out: Path) -> list:
        out.parent.mkdir(exist_ok=True)
        return ["video", data_dir / "videos" / "cutBunny.mp4", "-s", data_dir / "style" / "trial.jpg",
                "--size", "32", "--style-size", "64", "--threads", "1", "-o", out]

    return args


def test_a_long_legal_output_name_is_written(run_cli, weights_env, data_dir, tmp_path):
    """A 249-byte name (ffmpeg writes it) was refused "File name too long": the hidden temporary
    name beside it, `.NAME.realtime-adain-PID-SPACE-XXXXXXXX.part.png`, is 45 bytes longer."""
    out = tmp_path / ("y" * 245 + ".png")
    code, _, err = run_cli("image", data_dir / "content" / "cornell.jpg", "-s", data_dir / "style" / "trial.jpg",
                           "--size", "32", "--style-size", "32", "-o", out)
    assert code == 0 and out.is_file(), err
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_a_long_legal_video_output_name_is_written(run_cli, weights_env, data_dir, tmp_path):
    """A 250-byte `-o` was refused "...partial.mp4: File name too long": the name an interrupted
    run would keep (NAME.partial.EXT) was checked against the inputs and is 8 bytes longer. It is
    now cut to fit, keeping the name's end (a picture pattern's number)."""
    source = write_video(tmp_path / "clip.mp4", gradient_frames(2, 32, 32))
    out = tmp_path / ("v" * 246 + ".mp4")
    code, _, err = run_cli("video", source, "-s", data_dir / "style" / "trial.jpg", "--size", "32",
                           "--style-size", "32", "-o", out)
    assert code == 0 and out.is_file(), err
    assert len(os.fsencode(partial_path(out).name)) == 255 and partial_path(out).name.endswith("v.partial.mp4")
    assert partial_path(tmp_path / ("é" * 120 + "_%04d.png"), 3).name.endswith("é_%04d.partial-3.png")


def test_an_output_written_again_keeps_its_permissions(run_cli, weights_env, data_dir, tmp_path):
    """The new file is renamed over the old: a private 0600 output became 0644, readable by all."""
    out = tmp_path / "private.png"
    out.write_bytes(b"an earlier result")
    out.chmod(0o600)
    code, _, err = run_cli("image", data_dir / "content" / "cornell.jpg", "-s", data_dir / "style" / "trial.jpg",
                           "--size", "32", "--style-size", "32", "-o", out)
    assert code == 0 and out.read_bytes() != b"an earlier result", err
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_a_write_protected_output_is_refused(tmp_path):
    """A rename replaces a read-only file as readily as any other (the folder's permission is what
    counts): a 0444 output was replaced without a word, where `cp` and `ffmpeg -y` refuse. (As root,
    which may write anything, the check runs with that capability dropped, as an ordinary user.)"""
    out = tmp_path / "kept.png"
    out.write_bytes(b"protected")
    out.chmod(0o444)
    code = ("import sys\nfrom realtime_adain.atomic import PendingOutput\nfrom realtime_adain.errors import UserError\n"
            "from realtime_adain.writable_folders import check_output_file\n"  # (the benchmarks' --json, before their work)
            "for check in (PendingOutput, check_output_file):\n"
            "    try:\n        check(sys.argv[1])\n    except UserError as exc:\n        print(exc)\n")
    as_user = (["setpriv", "--inh-caps=-dac_override,-dac_read_search",
                "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else [])
    if as_user and not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv (util-linux) to drop the override")
    done = subprocess.run([*as_user, sys.executable, "-c", code, str(out)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], timeout=60)
    assert done.stdout == f"{out}: is write-protected; make it writable (chmod u+w) or give another name\n" * 2, done.stderr
    assert out.read_bytes() == b"protected" and sorted(p.name for p in tmp_path.iterdir()) == ["kept.png"]


def test_a_partial_result_never_replaces_a_file(tmp_path):
    """What an interrupted run keeps goes to NAME.partial.EXT, a name the user never gave: a Ctrl-C
    replaced an unrelated file of that name. A taken name (a file, a dangling link) is passed over."""
    (tmp_path / "out.partial.mp4").write_bytes(b"my notes")
    (tmp_path / "out.partial-1.mp4").symlink_to(tmp_path / "nowhere")
    kept = []
    for _ in range(2):
        pending = PendingOutput(tmp_path / "out.mp4")
        pending.path.write_bytes(b"frames")
        kept.append(pending.publish_partial())
    assert [path.name for path in kept] == ["out.partial-2.mp4", "out.partial-3.mp4"]
    assert all(path.read_bytes() == b"frames" for path in kept)
    assert (tmp_path / "out.partial.mp4").read_bytes() == b"my notes"
    assert (tmp_path / "out.partial-1.mp4").is_symlink() and not (tmp_path / "nowhere").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"out.partial{n}.mp4" for n in ("-1", "-2", "-3", "")]


def test_a_partial_result_where_hard_links_fail_or_names_run_out(tmp_path, monkeypatch):
    """A file system without hard links (FAT: EPERM) gets the free name by rename; with every
    numbered name taken, one line and no hidden file left."""
    def no_links(*_args):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    (tmp_path / "out.partial.mp4").write_bytes(b"my notes")
    pending = PendingOutput(tmp_path / "out.mp4")
    pending.path.write_bytes(b"frames")
    assert pending.publish_partial() == tmp_path / "out.partial-1.mp4"
    assert (tmp_path / "out.partial-1.mp4").read_bytes() == b"frames"
    monkeypatch.setattr(atomic, "MOST_PARTIAL_NUMBERS", 2)
    pending = PendingOutput(tmp_path / "out.mp4")
    with pytest.raises(UserError, match=r"out.partial.mp4: cannot keep the partial result \(it and 1 numbered"):
        pending.publish_partial()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.partial-1.mp4", "out.partial.mp4"]


def test_a_partial_result_whose_folder_was_renamed_is_said(tmp_path):
    """Ctrl-C after the output's folder was renamed: a FileNotFoundError naming the hidden file."""
    pending = PendingOutput(tmp_path / "out" / "clip.mp4")
    pending.path.write_bytes(b"frames")
    (tmp_path / "out").rename(tmp_path / "moved")
    with pytest.raises(UserError, match=r"clip.partial.mp4: cannot write \(its folder .*out was removed or renamed"):
        pending.publish_partial()
    assert list((tmp_path / "moved").iterdir()) == []


@pytest.mark.slow  # (about 10 s alone)
def test_the_output_folder_renamed_during_a_run_is_said(published_weights, data_dir, tmp_path):
    """The output's folder renamed mid-run: the error said "No such file or directory" as if the
    input were missing, and the hidden temporary file stayed in the renamed folder."""
    out = tmp_path / "out"
    out.mkdir()
    process = spawn(["video", data_dir / "videos" / "cutBunny.mp4", "-s", data_dir / "style" / "trial.jpg",
                     "--size", "32", "--style-size", "64", "--threads", "1", "--stabilize", "off",
                     "--frames", "120", "-o", out / "bunny.mp4"],  # renamed after ~35: half the clip is enough
                    cli_env(published_weights, tmp_path / "home"), tmp_path)
    wait_for_frames_in_file(process, out, "bunny")
    out.rename(tmp_path / "moved")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2 and err.strip().splitlines()[-1] == (
        f"error: {out / 'bunny.mp4'}: cannot write (its folder {out} was removed or renamed during the run)"), err
    # the hidden temporary file is not left in the renamed folder (it stayed until a later run there)
    assert sorted(p.name for p in (tmp_path / "moved").iterdir()) == []


def test_a_pipe_as_input_is_refused_with_the_reason(run_cli, weights_env, data_dir, tmp_path):
    """`cat clip.mp4 | realtime-adain video /dev/stdin`: "a device, fifo or socket, not a input
    file or directory" (sic) said neither that a pipe cannot work nor what to do."""
    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)
    code, _, err = run_cli("video", fifo, "-s", data_dir / "style" / "trial.jpg", "-o", tmp_path / "out.mp4")
    assert (code, err) == (2, f"error: {fifo}: a device, fifo or socket, not an input file or directory "
                              "(a pipe is read more than once: save it to a file first)\n")


@pytest.mark.slow
def test_a_full_stdout_is_named_not_blamed_on_the_output(published_weights, data_dir, tmp_path):
    """`image ... >/dev/full`: the result was written, then "error: No space left on device" read as
    the result's own failure."""
    out = tmp_path / "out.png"
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "realtime_adain", "image",
                               str(data_dir / "content" / "cornell.jpg"), "-s", str(data_dir / "style" / "trial.jpg"),
                               "--size", "32", "--style-size", "32", "-o", str(out)],
                              env=cli_env(published_weights, tmp_path / "home"), cwd=tmp_path,
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 2 and out.is_file()
    assert done.stderr == f"error: standard output: cannot write (No space left on device); {out} was written\n"


def test_an_mp4_recording_that_was_not_finished_is_named(run_cli, weights_env, data_dir, tmp_path):
    """An MP4 whose recorder was stopped before writing its index (moov box, written last) said
    "not a readable video (Invalid data found when processing input)", FFmpeg's "moov atom not
    found" lost; a finished one, or any other file, is not taken for one."""
    from realtime_adain.video.probing import mp4_without_index

    full = tmp_path / "full.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=24:duration=4",
                    "-c:v", "libx264", str(full)], check=True)
    cut = tmp_path / "recording.mp4"
    cut.write_bytes(full.read_bytes()[:full.stat().st_size // 2])
    style = data_dir / "style" / "trial.jpg"
    code, _, err = run_cli("video", cut, "-s", style, "--size", "32", "-o", tmp_path / "o.mp4")
    assert code == 2 and err.startswith(f"error: {cut}: an MP4/MOV without its index (no moov box): a recording that "
                                        "was not finished"), err
    assert not mp4_without_index(full) and not mp4_without_index(style)
