"""`live` recordings: 4:2:0 at an even size whatever the processing size, and written in fragments
so that a run killed outright (SIGKILL) leaves what it recorded playable."""

from __future__ import annotations

import signal
import struct
import time
from pathlib import Path

import pytest
import av
import numpy as np

from live_support import FAST, cli_env, copy_styles, live_command, read_video, start, write_video
from realtime_adain.live.recorder import Recorder, plays


def top_level_boxes(path: Path) -> list[str]:
    """The MP4's top-level box types, in order."""
    data, boxes, offset = path.read_bytes(), [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        size = struct.unpack(">Q", data[offset + 8:offset + 16])[0] if size == 1 else size or len(data) - offset
        boxes.append(kind.decode("latin-1"))
        offset += size
    return boxes


def test_a_recording_of_an_odd_size_is_420_at_an_even_size_and_an_ordinary_mp4(tmp_path):
    """213x160 (a 4:3 camera at the CPU's default --size 160) was recorded as High 4:4:4 at
    213x160, which browsers, QuickTime and hardware decoders do not play."""
    out = tmp_path / "odd.mp4"
    recorder = Recorder(out, (213, 160), fps=24, log=lambda *a, **k: None)
    image = np.zeros((160, 213, 3), np.uint8)
    image[:, :106] = 200  # left half bright: cropped, the edge stays where it was
    for i in range(30):
        recorder.submit(image, i / 24)
    assert recorder.close() == out
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height, stream.codec_context.pix_fmt) == (212, 160, "yuv420p")
        assert stream.codec_context.profile == "High" and stream.frames == 30
        assert abs(float(container.duration / av.time_base) - 30 / 24) < 0.05
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(frames) == 30
    assert frames[0][:, 103].min() > 180 and frames[0][:, 108].max() < 20
    # Fragments while recording, an ordinary MP4 once finished: the index (moov) after the data.
    assert "moof" not in top_level_boxes(out) and top_level_boxes(out)[-2:] == ["mdat", "moov"]


@pytest.mark.slow  # (default run's time: test_live_headless kills a recording)
def test_a_killed_recording_plays_and_the_next_one_of_its_name_keeps_it(published_weights, data_dir, tmp_path,
                                                                         run_cli, weights_env, one_thread):
    """SIGKILL (the OOM killer, a power cut) lost the whole -o recording: its only index is written
    last, and a 48-byte hidden .part was left for good."""
    clip = write_video(tmp_path / "clip.mp4", frames=12, size=(96, 72))  # 4:3: 85x64 at --size 64
    styles = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    out = tmp_path / "out.mp4"
    process = start(live_command("--source", clip, "--styles", styles, "--no-window", "-o", out, *FAST),
                    cli_env(published_weights, tmp_path / "home"), tmp_path, tmp_path / "stderr.txt")
    try:  # killed once its file plays (at most 30 s from the start: a plain MP4 never does)
        deadline = time.monotonic() + 90
        while "live: start" not in (tmp_path / "stderr.txt").read_text():
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "stderr.txt").read_text()
            time.sleep(0.2)
        deadline = time.monotonic() + 30
        while not any(plays(part) for part in tmp_path.glob(".out.*.part.mp4")) and time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "stderr.txt").read_text()
            time.sleep(0.5)
        time.sleep(1)  # a fragment more
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    (part,) = tmp_path.glob(".out.*.part.mp4")
    frames, width, height = read_video(part)
    assert frames > 0 and (width, height) == (84, 64)
    # The next recording of that name keeps it, playable, as out.partial.mp4.
    code, _, err = run_cli("live", "--source", clip, "--styles", styles, "--no-window", "-o", out,
                           "--max-frames", "2", *FAST)
    assert code == 0, err
    assert f"live: killed-recording-kept path={tmp_path / 'out.partial.mp4'}" in err
    assert read_video(tmp_path / "out.partial.mp4") == (frames, 84, 64) and read_video(out)[0] == 2
    assert not list(tmp_path.glob(".out.*"))
