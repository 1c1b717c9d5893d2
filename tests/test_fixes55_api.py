"""Two `stylize_video` calls of one process writing the same output at once: the second is refused
while the first writes (both had returned the path, and the file held only one call's video)."""

from __future__ import annotations

import threading
from pathlib import Path

import av
import numpy as np
import pytest

import realtime_adain as ra
from video_samples import gradient_frames, write_video

HANG_GUARD_S = 60  # (a guard against a hang only: every wait below is ended by an event)


@pytest.fixture(scope="module")
def style(stylizer):
    return stylizer.style(np.random.default_rng(5).integers(0, 256, (32, 32, 3), np.uint8), size=32)


@pytest.fixture
def held_stylizer(published_weights):
    """A Stylizer whose first engine step waits until the test lets it go: a call on it is held
    mid-write, deterministically. (`entered` is set once the call is stylizing.)"""
    stylizer = ra.Stylizer.load(*published_weights, device="cpu")
    engine, entered, go = stylizer.engine, threading.Event(), threading.Event()

    def step(*args):
        entered.set()
        assert go.wait(HANG_GUARD_S)
        return type(engine).step(engine, *args)

    engine.step = step
    yield stylizer, entered, go
    go.set()


def writing_in_a_thread(stylizer, source: Path, output: Path, style, entered: threading.Event) -> tuple:
    """`stylize_video` on a thread, returned once it is stylizing: (thread, its result or error)."""
    result: dict = {}

    def work():
        try:
            result["path"] = ra.stylize_video(source, output, style=style, stylizer=stylizer, stabilize="off")
        except BaseException as exc:  # (re-raised by the test)
            result["error"] = exc
        finally:
            entered.set()  # (a call that failed before stylizing: the test goes on and sees it)

    thread = threading.Thread(target=work)
    thread.start()
    assert entered.wait(HANG_GUARD_S)
    return thread, result


def finished(thread: threading.Thread, result: dict) -> Path:
    thread.join(HANG_GUARD_S)
    assert not thread.is_alive()
    if "error" in result:
        raise result["error"]
    return result["path"]


def frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_a_second_call_writing_the_same_video_is_refused_while_the_first_writes(
        held_stylizer, stylizer, style, tmp_path, one_thread):
    held, entered, go = held_stylizer
    source = write_video(tmp_path / "in.mp4", gradient_frames(4, 32, 24))
    (tmp_path / "out").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "out")
    output = tmp_path / "out" / "same.mp4"
    thread, result = writing_in_a_thread(held, source, output, style, entered)
    try:
        for spelled in (output, tmp_path / "link" / "same.mp4"):  # (the same file through a link)
            with pytest.raises(ra.UserError, match=r"same\.mp4: another call of this process is writing it"):
                ra.stylize_video(source, spelled, style=style, stylizer=stylizer, stabilize="off")
        other = ra.stylize_video(source, tmp_path / "out" / "other.mp4", style=style, stylizer=stylizer,
                                 stabilize="off")  # another output goes on meanwhile
        assert frame_count(other) == 4
    finally:
        go.set()
    assert finished(thread, result) == output and frame_count(output) == 4
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["other.mp4", "same.mp4"]
    # released once written: the next call writes it
    assert ra.stylize_video(source, output, style=style, stylizer=stylizer, stabilize="off") == output


def test_a_second_call_writing_the_same_pictures_is_refused_while_the_first_writes(
        held_stylizer, stylizer, style, tmp_path, one_thread):
    held, entered, go = held_stylizer
    source = write_video(tmp_path / "in.mp4", gradient_frames(3, 32, 24))
    pattern = tmp_path / "pics" / "%04d.png"
    thread, result = writing_in_a_thread(held, source, pattern, style, entered)
    try:
        with pytest.raises(ra.UserError, match=r"%04d\.png: another call of this process is writing it"):
            ra.stylize_video(source, pattern, style=style, stylizer=stylizer, stabilize="off")
    finally:
        go.set()
    assert finished(thread, result) == pattern
    assert sorted(p.name for p in pattern.parent.iterdir()) == ["0001.png", "0002.png", "0003.png"]


def test_a_failed_call_leaves_its_output_free(stylizer, style, tmp_path, one_thread):
    """The claim ends with the call however it ends: a failure left the name refused for good."""
    (tmp_path / "not_a_video.mp4").write_bytes(b"no video here")
    output = tmp_path / "out.mp4"
    with pytest.raises(ra.UserError) as failed:
        ra.stylize_video(tmp_path / "not_a_video.mp4", output, style=style, stylizer=stylizer, stabilize="off")
    assert "another call" not in str(failed.value)
    source = write_video(tmp_path / "in.mp4", gradient_frames(2, 32, 24))
    assert ra.stylize_video(source, output, style=style, stylizer=stylizer, stabilize="off") == output
