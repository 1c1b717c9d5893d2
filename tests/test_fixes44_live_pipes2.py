"""Session 44: piped live sources (standard input, pipe:N, a fifo) end where they end, are read from
the moment they open, are never written into, and their timestamps may jump as `video` allows."""
import os
import subprocess
import threading
import time

import pytest

from live_support import FAST, cli_env, live_command, read_video, write_video
from realtime_adain.live.capture import Capture
from realtime_adain.live.source_opening import open_source
from realtime_adain.live.sources import SourceError

Y4M_HEADER = b"YUV4MPEG2 W160 H90 F25:1 Ip A1:1 C420jpeg\n"


def y4m_frame(i: int) -> bytes:
    return b"FRAME\n" + bytes([(i * 7) % 256]) * (160 * 90) + b"\x80" * (160 * 90 // 2)


def _live(published_weights, data_dir, tmp_path, *args, **run):
    return subprocess.run(live_command("--styles", data_dir / "style" / "mondrian.jpg", "--no-window", *FAST, *args),
                          capture_output=True, env=cli_env(published_weights, tmp_path / "home"), cwd=tmp_path,
                          timeout=120, **run)


@pytest.mark.parametrize("name", ["/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"])
@pytest.mark.slow_cases('/proc/self/fd/0', '/dev/fd/0', '/dev/stdin')  # (default run's time: 4 s)
def test_log_into_the_piped_standard_input_is_refused(published_weights, data_dir, tmp_path, name):
    """The log lines went into the source pipe, which then never ended: a hang SIGTERM did not end."""
    done = _live(published_weights, data_dir, tmp_path, "--source", "-", "-o", tmp_path / "o.mp4", "--log", name,
                 input=b"\x47" * 188)
    assert (done.returncode, done.stderr.decode()) == (
        2, f"error: {name}: --log would write into standard input, the source; give another file\n")


@pytest.mark.slow  # (default run's time: 5 s)
def test_log_into_the_source_fifo_is_refused_as_the_source(published_weights, data_dir, tmp_path):
    """It was "a FIFO that nothing reads; start its reader first"."""
    fifo = tmp_path / "feed"
    os.mkfifo(fifo)
    done = _live(published_weights, data_dir, tmp_path, "--source", fifo, "-o", tmp_path / "o.mp4", "--log", fifo)
    assert (done.returncode, done.stderr.decode()) == (
        2, f"error: {fifo}: --log would write into {fifo}, the source; give another file\n")


def _fifo_fed(path, data: bytes) -> threading.Thread:
    os.mkfifo(path)

    def write() -> None:
        with open(path, "wb") as fifo:
            fifo.write(data)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    return writer


def test_a_pipe_lost_mid_stream_ends_the_source(tmp_path):
    """Valid frames, then garbage: the pipe was "reopened" every 8 s for ever ("ended without sending anything")."""
    _fifo_fed(tmp_path / "feed", Y4M_HEADER + b"".join(y4m_frame(i) for i in range(5)) + b"garbage, no FRAME header\n")
    said = []
    capture = Capture(open_source(str(tmp_path / "feed")), log=lambda event, **fields: said.append(event),
                      backoff=(0.1, 0.1))
    capture.start()
    capture.join(20)
    assert not capture.is_alive() and capture.ended
    assert said == ["source-lost", "source-ended"]


@pytest.mark.slow  # (default run's time: a real-time writer for 10 s)
def test_a_pipe_is_drained_while_the_model_loads(published_weights, data_dir, tmp_path):
    """A camera-like writer (25 fps, catching up after a stall) was blocked while the model and styles
    loaded, and the session then ran that far behind it throughout. Only its first stall may be
    long (the program starting, before the pipe opens)."""
    # (a large style at its own size: seconds of loading the pipe must not wait through, whatever the CPU)
    live = subprocess.Popen(live_command("--source", "-", "--styles", data_dir / "style" / "flower_of_life.jpg",
                                         "--no-window", "-o", tmp_path / "o.mp4", *FAST, "--style-size", "0"),
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "err", "wb"),
                            env=cli_env(published_weights, tmp_path / "home"), cwd=tmp_path)
    stalls, began = [], time.monotonic()
    try:
        live.stdin.write(Y4M_HEADER)
        for i in range(100):
            time.sleep(max(0.0, began + i / 25 - time.monotonic()))
            wrote = time.monotonic()
            live.stdin.write(y4m_frame(i))
            live.stdin.flush()
            stalls.append(time.monotonic() - wrote)
        live.stdin.close()
        live.wait(120)
    finally:
        live.kill()
        live.wait()
    assert live.returncode == 0, (tmp_path / "err").read_text()
    assert sorted(stalls)[-2] < 1.0, [round(s, 2) for s in stalls]  # (before: 3.3 s, the style's loading)


def test_a_forward_timestamp_jump_does_not_freeze_the_file(tmp_path, capsys):
    """A TS joined to one 60 s later froze one frame for the whole gap; `video` continues across it."""
    parts = []
    for name, offset in (("a.ts", "0"), ("j.ts", "60")):
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=96x64:rate=25:d=0.4",
                        "-output_ts_offset", offset, "-f", "mpegts", tmp_path / name], check=True)
        parts.append((tmp_path / name).read_bytes())
    (tmp_path / "aj.ts").write_bytes(b"".join(parts))
    source = open_source(str(tmp_path / "aj.ts"), loop=False)
    began = time.monotonic()
    shown = sum(1 for _ in source.frames())
    source.close()
    assert shown == 20 and time.monotonic() - began < 5
    assert "aj.ts: the timestamps jump (segments joined together)" in capsys.readouterr().err


@pytest.mark.slow  # (12 s: the still's time)
def test_a_long_still_in_an_mp4_is_shown_for_its_time(tmp_path):
    """No jump in a format whose timestamps do not splice: one picture held 12 s (a screen recording)."""
    clip = write_video(tmp_path / "clip.mp4", frames=2, fps=1)
    held = tmp_path / "held.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", clip, "-vf", "setpts='if(eq(N,1),12/TB,PTS)'", "-fps_mode",
                    "passthrough", held], check=True)
    source = open_source(str(held), loop=False)
    began = time.monotonic()
    assert sum(1 for _ in source.frames()) == 2
    source.close()
    assert time.monotonic() - began > 11


@pytest.mark.slow  # (default run's time: a whole piped session)
def test_pipe_n_reads_that_descriptor(published_weights, data_dir, tmp_path):
    """It was "pipe:3: no such file (and not a camera index, device or URL)", though /dev/fd/3 was read."""
    clip = write_video(tmp_path / "clip.mp4", frames=12)
    mpegts = subprocess.run(["ffmpeg", "-v", "error", "-i", clip, "-c", "copy", "-f", "mpegts", "-"],
                            capture_output=True, check=True).stdout
    read, write = os.pipe()
    writer = threading.Thread(target=lambda: (os.write(write, mpegts), os.close(write)), daemon=True)
    writer.start()
    try:
        done = _live(published_weights, data_dir, tmp_path, "--source", f"pipe:{read}", "-o", tmp_path / "o.mp4",
                     pass_fds=(read,))
    finally:
        os.close(read)
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert f"source=pipe:{read}" in err and read_video(tmp_path / "o.mp4")[0] >= 1


def test_raw_video_on_a_pipe_says_a_pipe_needs_a_header(tmp_path):
    """FFmpeg's "Invalid data found when processing input" alone did not say what to do."""
    _fifo_fed(tmp_path / "feed", bytes(160 * 90 * 3 * 4))
    with pytest.raises(SourceError, match=r"cannot open \(Invalid data found when processing input\): a pipe needs "
                                          r"a format with a header \(-f mpegts, nut, yuv4mpegpipe or matroska\)"):
        open_source(str(tmp_path / "feed"))
