"""`video` and signals (h5, session 39): a Ctrl-C while the progress bar was drawn left tqdm's lock
taken and a run writing numbered pictures hung for ever (a note from the encoder thread waited
for it); a signal right after a batch was counted lost that batch, or made a finished run a
partial one; a partial file's sound stopped a packet or two before its last picture. And the
messages for SVT-AV1's bitrate mode and for a --pix-fmt the encoder does not take; the styles
held decoded for the whole run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction

import av
import numpy as np
import pytest
from tqdm import tqdm

from live_support import cli_env
from realtime_adain.commands import video as video_command
from realtime_adain.errors import UserError
from realtime_adain.imageio import write_image
from realtime_adain.interrupts import SignalGuard
from realtime_adain import notes
from realtime_adain.video import pipeline
from realtime_adain.video.encoder_settings import EncodeSettings
from realtime_adain.video.pixel_formats import choose_pix_fmt
from realtime_adain.video.pipeline import Pipeline
from realtime_adain.video.frames import Frame
from realtime_adain.video.writer import VideoFormatOut, VideoWriter
from train_support import REPO


def frames_and_packets(count: int) -> list[object]:
    """frame 0, packet 0, frame 1, packet 1, ...: each packet plays under the frame before it."""
    return [item for i in range(count) for item in (Frame(np.full((4, 4, 3), i, np.uint8), i, 1, i), f"packet-{i}")]


def said(item: object) -> object:
    return int(item.image[0, 0, 0]) if isinstance(item, Frame) else item


def signal_inside(counted: list[int], at: int):
    """An `on_stylized` that gets a SIGINT while it runs on the `at`-th batch (as inside the
    progress bar's drawing) and says whether it ran to its end."""
    def on_stylized(count: int) -> None:
        if len(counted) + 1 == at:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)  # (the handler runs here)
        counted.append(count)
    return on_stylized


def interrupted_while_counting(at: int) -> tuple[Pipeline, list, list]:
    """Six frames, each with its packet, in batches of two, a SIGINT inside the `at`-th count: the
    pipeline, what it wrote and the counts that ran to their end."""
    written, counted = [], []
    run = Pipeline(iter(frames_and_packets(6)), stylize_stream=lambda batches: batches,
                   write_frame=lambda frame: written.append(said(frame)), write_packet=written.append,
                   batch_size=2, on_stylized=signal_inside(counted, at))
    with pytest.raises(KeyboardInterrupt):
        run.run()
    return run, written, counted


def test_a_signal_while_a_batch_is_counted_waits_until_it_is_handed_on_and_counted():
    """The bar's update and the hand-off downstream run with signals held: raised inside the bar's
    drawing, the KeyboardInterrupt left tqdm's lock taken; between the two it lost the batch."""
    run, written, counted = interrupted_while_counting(1)
    assert counted == [2]
    assert written == [0, "packet-0", 1, "packet-1"]
    assert not run.written_whole


def test_a_signal_as_the_last_batch_is_counted_leaves_the_run_whole():
    """Once the last batch is handed on, the run is whole: a signal there (DELAY=0 after the bar
    counted the last frames) made it a partial one, missing its last frames."""
    run, written, counted = interrupted_while_counting(3)
    assert counted == [2, 2, 2]
    assert written == [said(item) for item in frames_and_packets(6)]
    assert run.written_whole


def test_an_interrupted_run_writes_the_sound_that_plays_under_its_last_frame():
    """The reader puts a frame's sound after it; a batch took the packets before its frames, so
    those after its last frame went with the next batch, lost to a Ctrl-C."""
    def stopped_after_one(batches):
        for batch in batches:
            yield batch
            raise KeyboardInterrupt

    written = []
    with pytest.raises(KeyboardInterrupt):
        Pipeline(iter(frames_and_packets(6)), stylize_stream=stopped_after_one,
                 write_frame=lambda frame: written.append(said(frame)), write_packet=written.append,
                 batch_size=2).run()
    assert written == [0, "packet-0", 1, "packet-1"]


def test_a_signal_an_inner_guard_held_is_the_enclosing_guards_first():
    """A signal held across a batch's hand-off is raised through the guard around the whole run,
    which then holds the next one while the partial file is finished (raised past it, a second
    Ctrl-C cut the finishing short)."""
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with SignalGuard("out.mp4") as outer:
            try:
                with SignalGuard(None, hold=True):
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(0.2)
            except KeyboardInterrupt:
                os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C while the partial file is finished
                time.sleep(0.2)
                finished.append(True)
                raise
    assert finished == [True] and outer.held == [signal.SIGINT]


@pytest.mark.slow  # (default run's time: 2 s)
def test_a_note_from_another_thread_goes_on_when_the_bars_lock_was_left_taken(capsys):
    """tqdm's `refresh` releases its lock in no `finally`: a thread interrupted there keeps it,
    and a note from another thread (the encoder's) waited for it for ever."""
    lock = tqdm.get_lock()
    lock.acquire()  # (as a KeyboardInterrupt inside the bar's drawing leaves it)
    try:
        writer = threading.Thread(target=notes.note, args=("numbered pictures keep no timing",), daemon=True)
        writer.start()
        writer.join(timeout=15)
        assert not writer.is_alive()
    finally:
        lock.release()
    writer.join()
    assert "note: numbered pictures keep no timing" in capsys.readouterr().err


HANG = """
import os, sys, signal, time
import realtime_adain.video.job as job
class Bar(job.tqdm):
    def __init__(self, *args, **kwargs):
        kwargs['disable'] = False  # (as on a terminal)
        super().__init__(*args, **kwargs)
    def display(self, *args, **kwargs):
        shown = super().display(*args, **kwargs)
        if self.n >= 5 and not getattr(Bar, 'sent', False):
            Bar.sent = True
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # (the bar's line still being written: the handler runs here)
        return shown
job.tqdm = Bar
from realtime_adain.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow  # (a run in a process of its own; the Pipeline and note tests above check each part)
def test_ctrl_c_while_the_bar_is_drawn_stops_a_run_writing_numbered_pictures(published_weights, data_dir, tmp_path):
    """Numbered pictures and the default two passes: the run hung for ever."""
    script = tmp_path / "hang.py"
    script.write_text(HANG)
    out = tmp_path / "p" / "f_%03d.png"
    done = subprocess.run([sys.executable, str(script), "video", str(data_dir / "videos" / "cutBunny.mp4"),
                           "-s", str(data_dir / "style" / "trial.jpg"), "--size", "32", "--style-size", "32",
                           "--threads", "1", "--frames", "30", "-o", str(out)],
                          capture_output=True, text=True, timeout=240,
                          env={**cli_env(published_weights, tmp_path / "home"), "PYTHONPATH": str(REPO)})
    assert done.returncode == 130, done.stderr[-2000:]
    assert "frames kept in" in done.stderr and list((tmp_path / "p").glob("f_*.partial.png"))


def sound_end(path) -> float:
    with av.open(str(path)) as container:
        return max(float((p.pts + p.duration) * p.time_base) for p in container.demux(audio=0) if p.pts is not None)


@pytest.mark.slow  # (two runs; the Pipeline test above checks the packets)
def test_a_partial_file_has_the_sound_a_frames_run_of_its_frames_has(run_cli, weights_env, data_dir, tmp_path,
                                                                       monkeypatch):
    """`--frames N` ends the sound at the last picture's end; a partial file of N frames stopped
    one or two AAC packets short."""
    source, style = data_dir / "videos" / "cutBunny.mp4", data_dir / "style" / "trial.jpg"
    start = Pipeline.__init__

    def init(self, *args, **kwargs):
        start(self, *args, **kwargs)
        self.on_stylized = signal_inside([], 3)

    monkeypatch.setattr(pipeline.Pipeline, "__init__", init)
    common = ["-s", style, "--size", "32", "--style-size", "32", "--threads", "1", "--stabilize", "off"]
    code, _, err = run_cli("video", source, *common, "-o", tmp_path / "a.mp4")
    assert code == 130 and "3 frames kept in" in err, err
    monkeypatch.setattr(pipeline.Pipeline, "__init__", start)
    code, _, err = run_cli("video", source, *common, "--frames", "3", "-o", tmp_path / "b.mp4")
    assert code == 0, err
    assert sound_end(tmp_path / "a.partial.mp4") == pytest.approx(sound_end(tmp_path / "b.mp4"))


def test_svt_av1_at_a_bitrate_says_that_its_bitrate_mode_needs_a_larger_picture(tmp_path):
    """SVT-AV1's bitrate mode takes no picture under 64x64 (its CRF mode does): it was said as
    "does not open ...: use another --codec"."""
    spec = VideoFormatOut(64, 36, Fraction(1, 24), Fraction(24))
    with pytest.raises(UserError, match=r"64x36 pictures at a --bitrate .* 64x64 and larger\): use --crf instead"):
        VideoWriter(tmp_path / "a.mkv", EncodeSettings("libsvtav1", bitrate=100_000), spec, passthrough=[])
    VideoWriter(tmp_path / "b.mkv", EncodeSettings("libsvtav1", crf=40), spec, passthrough=[]).close()


def test_a_pixel_format_the_encoder_does_not_take_says_how_many_more_it_takes():
    """The list of the formats it takes stopped at 12 without a word (FFV1 takes 61)."""
    with pytest.raises(UserError, match=r"\(it takes yuv420p, .* and \d+ more: `ffmpeg -h encoder=ffv1` lists them\)"):
        choose_pix_fmt(EncodeSettings("ffv1", pix_fmt="nv21"), 64, 64)
    with pytest.raises(UserError) as refused:  # (12 or fewer: all of them, nothing more said)
        choose_pix_fmt(EncodeSettings("libx264rgb", pix_fmt="nv21"), 64, 64)
    assert "more" not in str(refused.value)


def test_video_reads_each_style_again_when_it_is_encoded(tmp_path):
    """The styles were held decoded for the whole run, as `image` no longer holds them; a style
    replaced after the check is refused, not used unchecked."""
    style = tmp_path / "style.png"
    write_image(style, np.zeros((40, 60, 3), np.uint8))
    kept = video_command.read_styles([style], 32)
    assert kept[style].shape == (32, 48, 3)
    write_image(style, np.full((40, 60, 3), 255, np.uint8))
    with pytest.raises(UserError, match="changed since the run checked it"):
        kept[style]
