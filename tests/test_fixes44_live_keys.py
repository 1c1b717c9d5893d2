"""Session 44's live-key fixes: a quit during a rescan of a large style, keys pressed while paused,
the style scans' notes in the --log file, and docs/live.md's words for what the log says."""

from __future__ import annotations

import os
import re
import threading
import time
from typing import Callable

import pytest
import cv2
import numpy as np
from PIL import Image

from live_support import REPO, copy_styles
from realtime_adain.live.controller import Controller
from realtime_adain.live.effects import KeyEffects
from realtime_adain.live.events import EventLog
from realtime_adain.live.inference import Inference
from realtime_adain.live.sources import Frame, Latest
from realtime_adain.live.active_style import ActiveStyle
from realtime_adain.live.styles import StyleLibrary
from realtime_adain.notes import STDERR_LOCK

SIZE = 64
DOCS = " ".join((REPO / "docs" / "live.md").read_text(encoding="utf-8").split())


def held_elsewhere(lock: threading.RLock) -> bool:
    """Whether another thread holds `lock` (a decode catching stderr holds STDERR_LOCK)."""
    if lock.acquire(blocking=False):
        lock.release()
        return False
    return True


def events_to(events: list) -> Callable[..., None]:
    return lambda event, **fields: events.append((event, fields))


@pytest.mark.slow  # (default run's time: a large style)
def test_a_quit_does_not_wait_for_a_rescan_encoding_a_large_style(stylizer, data_dir, tmp_path, one_thread):
    """`l`, then `q` while a 10000x10000 picture was being read: the window closed and the process
    lived 15 s more, the exit waiting for the rescan. Now it waits for writers only (`app.run`
    ends the process under a rescan still running); the rescan stops, said once."""
    folder = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    events: list = []
    library = StyleLibrary([folder], stylizer, SIZE, tmp_path / "cache").load()
    controller, stop = Controller(library.names), threading.Event()
    keys = KeyEffects(events_to(events), stop, controller, library, tmp_path, tmp_path, (32, 24), 24.0)
    big = np.zeros((8000, 8000, 3), np.uint8)
    big[:] = np.arange(8000, dtype=np.uint16).astype(np.uint8)[None, :, None]
    cv2.imwrite(str(folder / "zz-large.png"), big)
    del big
    keys.perform(controller.press(ord("l")), None)
    rescan, = keys.workers
    try:
        deadline = time.monotonic() + 60
        while not held_elsewhere(STDERR_LOCK):  # the large picture is being decoded
            assert rescan.is_alive() and time.monotonic() < deadline, events
            time.sleep(0.002)
        stop.set()  # (as `q` does)
        started = time.monotonic()
        keys.join(40)
        assert rescan.is_alive(), f"the exit waited {time.monotonic() - started:.1f} s for the rescan"
        assert events == [("rescan-stopped", {"reason": "the session is ending"})]
    finally:
        rescan.join(120)
    assert events == [("rescan-stopped", {"reason": "the session is ending"})]  # (not again by the rescan)


def test_a_log_line_does_not_wait_for_a_decode_catching_stderr(tmp_path, capfd):
    """A rescan's decode holds STDERR_LOCK while it catches the image libraries' lines, and each
    log line waited for it: `q` during a rescan of a large picture was said (and the window froze)
    only once the picture was read. Now the log writes to stderr as it was at the start."""
    log = EventLog(tmp_path / "live.log")
    release, holding = threading.Event(), threading.Event()

    def hold() -> None:
        with STDERR_LOCK:
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        holding.wait(10)
        writer = threading.Thread(target=log, args=("quit",))
        writer.start()
        writer.join(5)
        assert not writer.is_alive(), "the log line waited for the capture of stderr"
    finally:
        release.set()
        holder.join(10)
        log.close()
    assert capfd.readouterr().err == "live: quit\n"
    assert (tmp_path / "live.log").read_text() == "live: quit\n"


def test_keys_while_paused_stylize_the_held_frame_again(stylizer, data_dir, tmp_path, one_thread):
    """Paused, `3` and `-` changed the HUD and the log but not the picture, and `s` saved the old
    look. Now a change of the look stylizes the held frame again; the source does not advance,
    and a key that changes nothing of the look (the view) costs no frame."""
    library = StyleLibrary([copy_styles(data_dir, tmp_path / "styles")], stylizer, SIZE, tmp_path / "cache").load()
    frames: Latest[Frame] = Latest()
    controller = Controller(library.names)
    inference = Inference(frames, stylizer, controller, ActiveStyle(library), (32, 24))
    first = Frame(np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8), time.monotonic(), 1)
    frames.put(first)
    inference.start()
    try:
        seq, before = inference.results.newer(0, 60)
        controller.apply("pause")
        frames.put(Frame(np.full((24, 32, 3), 200, np.uint8), time.monotonic(), 2))
        controller.apply("select", 2)
        got = inference.results.newer(seq, 30)
        assert got is not None, "the held frame was not stylized in the new look"
        seq, after = got
        assert after.frame is first and not np.array_equal(after.stylized, before.stylized)
        controller.apply("view")
        assert inference.results.newer(seq, 0.5) is None
        controller.apply("pause")
        frames.put(Frame(np.full((24, 32, 3), 100, np.uint8), time.monotonic(), 3))
        seq, resumed = inference.results.newer(seq, 30)
        assert resumed.frame.index == 3
    finally:
        inference.stop()
        inference.join(10)


def test_styles_left_out_and_noted_reach_the_log_file(stylizer, data_dir, tmp_path, one_thread, capsys):
    """Every style left out at the start (empty, a fifo) and the notes on styles used (an animation's
    first frame only, transparency read over white) were `note:` lines only, never in --log; on a
    rescan, a fifo too. Now the file has each (stderr keeps its note, not a second line)."""
    folder = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    (folder / "empty.png").write_bytes(b"")
    os.mkfifo(folder / "fifo.png")
    frames = [Image.new("RGB", (32, 32), colour) for colour in ("red", "green", "blue")]
    frames[0].save(folder / "moving.gif", save_all=True, append_images=frames[1:], duration=100)
    see_through = np.full((32, 32, 4), 90, np.uint8)
    see_through[:16, :, 3] = 0
    cv2.imwrite(str(folder / "see-through.png"), see_through)
    log = EventLog(tmp_path / "live.log")
    try:
        library = StyleLibrary([folder], stylizer, SIZE, tmp_path / "cache", log).load()
        assert library.names == ["moving", "see-through", "trial"]
        os.mkfifo(folder / "later.png")
        library.rescan()
    finally:
        log.close()
    lines = (tmp_path / "live.log").read_text().splitlines()
    assert sorted(line.split(" ", 2)[1] + " " + re.search(r"/styles/([\w.-]+)", line)[1] for line in lines) == [
        "rescan-skip later.png", "style-note moving.gif", "style-note see-through.png", "style-skip empty.png",
        "style-skip fifo.png"], lines
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("live: ")] == [lines[-1]] and err.count("note: ") == 4, err


def test_the_docs_say_what_the_log_says(stylizer, data_dir, tmp_path, one_thread):
    """docs/live.md showed `mix weight=0.0` (the log writes `weight=0`), recordings named
    live-DATE-TIME.mp4 (their names carry milliseconds), and for a style deleted, `c` "the file
    changed since it was loaded" (it says the file cannot be read)."""
    log = EventLog(tmp_path / "live.log")
    controller = Controller(["a", "b", "c"])
    controller.apply("mix")
    effects = controller.set_styles(["a", "c"])
    log(effects[-1].kind, **effects[-1].detail)
    log.close()
    mix = (tmp_path / "live.log").read_text().strip()
    assert mix == "live: mix weight=0 with=b" and "`live: mix weight=0 with=...`" in DOCS

    events: list = []
    keys = KeyEffects(events_to(events), threading.Event(), Controller(["a"]), None, tmp_path, tmp_path, (32, 24), 24.0)
    keys.toggle_recording()
    keys.toggle_recording()
    keys.join(30)
    assert re.fullmatch(r"live-\d{8}-\d{6}-\d{3}\.mp4", events[0][1]["path"].name), events
    assert "`--record-dir/live-DATE-TIME-MS.mp4`" in DOCS

    folder = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    library = StyleLibrary([folder], stylizer, SIZE, tmp_path / "cache").load()
    (folder / "trial.jpg").unlink()
    events.clear()
    state = Controller(library.names, preserve_color=True).state
    ActiveStyle(library, events_to(events)).stats(state, np.zeros((24, 32, 3), np.uint8))
    (event, fields), = events
    assert event == "color-reference-failed" and fields["reason"].endswith(": cannot read it (No such file or directory)")
    assert 'reason="...: cannot read it (No such file or directory)"' in DOCS


@pytest.mark.slow  # (default run's time: a whole live session)
def test_a_session_whose_stderr_pipe_closed_ends_normally_with_its_output(published_weights, data_dir, tmp_path):
    """`live ... 2>&1 | head -c 1`: the log's lines, written to a copy of stderr (above), raised on
    the closed pipe and the session ended 141 without its -o file; now they go on as before."""
    import subprocess

    from live_support import FAST, cli_env, live_command, read_video, write_video

    clip = write_video(tmp_path / "clip.mp4", frames=24)
    session = subprocess.Popen(live_command("--source", clip, "--styles", data_dir / "style" / "mondrian.jpg",
                                            "--no-window", "-o", tmp_path / "out.mp4", "--max-frames", "12", *FAST),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=cli_env(published_weights, tmp_path / "home"), cwd=tmp_path)
    session.stderr.read(1)
    session.stderr.close()  # (as `head -c 1` does)
    assert session.wait(timeout=120) == 0
    assert read_video(tmp_path / "out.mp4")[0] >= 1
