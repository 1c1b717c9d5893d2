"""Session 53 follow-ups: a `live --source` name no file can have is said so, cut short (it was
"no such file" with the whole name); `file:` before a folder says it is a folder; a pipe that
stalls again and again is logged once a session; the doctor calls a weights variable naming no
possible file "not usable", as `weights info` does; 24-bit FLAC re-encoded to PCM stays 24 bits."""
import os
import subprocess
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from realtime_adain.doctor.storage import _check_weights_file
from realtime_adain.live.capture import Capture
from realtime_adain.live.source_opening import open_source
from realtime_adain.live.sources import SourceError
from realtime_adain.video.reader import VideoReader
from test_live_streams15 import make
from test_video_io import copy_through


@pytest.mark.parametrize("spec, reason", [
    ("/" + "/".join(["y" * 200] * 25), "path too long (5025 bytes; a path holds at most 4095)"),
    ("file:/" + "x" * 300 + ".mp4", "file name too long (304 bytes in one name; a name holds at most 255)"),
    ("x" * 300, "file name too long (300 bytes in one name; a name holds at most 255)"),
], ids=["path", "file-protocol", "name"])
def test_a_source_name_no_file_can_have_is_said_so_and_cut_short(spec, reason):
    """A 5,025-character path was one 5,086-character line, "no such file" (the name printed twice
    after `file:`): now the name cut short, its length and why no file can have it."""
    with pytest.raises(SourceError) as caught:
        open_source(spec)
    message = str(caught.value)
    assert message == f"'{spec[:80]}...' ({len(spec)} characters): {reason}"


def test_a_folder_after_file_is_said_to_be_a_folder(tmp_path):
    """`file:/some/folder` said "no such file" of a folder that is there."""
    with pytest.raises(SourceError, match=r"is a folder, not a video") as caught:
        open_source(f"file:{tmp_path}")
    assert "no such file" not in str(caught.value)


def test_a_pipe_that_stalls_again_is_logged_once_a_session(tmp_path):
    """A fifo whose writer stopped mid-stream said nothing for as long as it waited (FFmpeg's read
    of a pipe waits past any timeout), and then, one slower than a picture per timeout logged
    `source-stalled` and `source-resumed` for every picture (the docs: "said once"). Now the first
    stall and its resumption are logged, a later stall shown in the HUD only, and the pipe plays
    to its end, not given up."""
    clip = make(tmp_path / "clip.ts", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-t", "2",
                "-c:v", "mpeg2video", "-g", "5", "-f", "mpegts").read_bytes()
    fifo = tmp_path / "feed"
    os.mkfifo(fifo)
    stalled, log, shown, held = threading.Event(), [], [], []

    def said(event: str, **fields) -> None:
        log.append((event, fields))
        if event == "source-stalled":
            stalled.set()

    def write() -> None:
        with open(fifo, "wb") as pipe:
            pipe.write(clip[:len(clip) * 6 // 10])
            pipe.flush()
            stalled.wait(15)
            pipe.write(clip[len(clip) * 6 // 10:len(clip) * 8 // 10])
            pipe.flush()
            deadline = time.monotonic() + 15
            for state in ("live", "waiting for the pipe"):  # (it plays on, then stalls again)
                while time.monotonic() < deadline and state not in held[0].status:
                    time.sleep(0.01)
                shown.append(held[0].status)
            pipe.write(clip[len(clip) * 8 // 10:])

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    source = open_source(str(fifo))
    source.timeout = 0.5
    capture = Capture(source, log=said, backoff=(0.05, 0.05))
    held.append(capture)
    capture.start()
    capture.join(30)
    hung = capture.is_alive()
    capture.stop()
    writer.join(5)
    assert not hung, log
    assert shown[0] == "live" and "waiting for the pipe to go on" in shown[1], shown  # (the second stall, in the HUD)
    assert [event for event, _ in log] == ["source-stalled", "source-resumed", "source-ended"], log
    assert log[0][1]["reason"].endswith("s; waiting for the pipe to go on"), log
    assert log[2][1]["frames"] == 50, log  # (played to its end, not given up)
    assert capture.status == "ended"


def test_a_weights_variable_naming_no_possible_file_is_not_usable_in_the_doctor(monkeypatch, tmp_path):
    """It said "missing: ... file name too long" with the fix "point ... at an existing file";
    `weights info` says "not usable"."""
    monkeypatch.setenv("REALTIME_ADAIN_DECODER", str(tmp_path / ("x" * 300)))
    finding = _check_weights_file("decoder")
    text = " ".join(str(value) for value in vars(finding).values())
    assert "not usable: " in text and "file name too long" in text, text
    assert "missing" not in text and "existing file" not in text, text


def samples(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.concatenate([frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)])


@pytest.mark.parametrize("target", ["avi", "mov"])
def test_24_bit_flac_reencoded_to_pcm_stays_24_bits(target, tmp_path):
    """Its depth was read from the bit rate, which for FLAC is the compressed one: pcm_s32le, a
    third larger than the 24 bits it holds. Now the depth the stream states: pcm_s24le, the same
    samples."""
    source = tmp_path / "in.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=0.5",
                    "-f", "lavfi", "-i", "sine=f=440:sample_rate=48000:duration=0.5", "-c:v", "libx264",
                    "-c:a", "flac", "-sample_fmt", "s32", str(source)], check=True)
    out = tmp_path / f"out.{target}"
    copy_through(VideoReader(source), out)
    with av.open(str(out)) as container:
        assert container.streams.audio[0].codec_context.name == "pcm_s24le"
    assert np.array_equal(samples(out), samples(source))
