"""Pictures whose clock stands still, placed at the rate the file states exactly, and a muxer that
stores every picture twice (session 49). A stuck clock's pictures were a rounded frame apart: 24
fps in milliseconds placed them 42 ms apart, said as "23.81 fps (the rate the file states)", 0.5 s
behind the sound after a minute frozen. Pairs at one time were left as stored: the writer moved
each second picture a tick on (0, 1, 83, 84 ms ...) and FFmpeg read the output's decode times as
not increasing. Each file is MPEG-4 in Matroska (1 ms ticks) written with PyAV, its times as given."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)


def stored_at(path: Path, times: list[int], rate: int = 24, sound: bool = False) -> Path:
    """MPEG-4 (no B-frames) in Matroska stating `rate` fps, one distinct 64x48 picture at each of
    `times` (ms, as stored, repeats kept), with `sound`: AAC under the whole span."""
    with av.open(str(path), "w", format="matroska") as out:
        video = out.add_stream("mpeg4", rate=rate)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.codec_context.gop_size, video.codec_context.max_b_frames = 12, 0
        video.time_base = Fraction(1, 1000)
        audio = out.add_stream("aac", rate=48000, layout="stereo") if sound else None
        pictures = []
        for n, _ in enumerate(times):
            image = np.zeros((48, 64, 3), np.uint8)
            image[:, :, 0], image[(n * 5) % 48:, (n * 7) % 64:, 1] = (n * 37) % 256, 200
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = n, Fraction(1, rate)
            pictures += video.encode(frame)
        pictures += video.encode()
        sounds = []
        for n in range((times[-1] + 1000 // rate) * 48 // 1024 + 1) if audio else ():
            samples = np.full((2, 1024), 0.01, np.float32) * np.sin(np.arange(1024) * (n + 1) / 50, dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = 48000, n * 1024
            sounds += audio.encode(frame)
        sounds += audio.encode() if audio else []
        for packet, at in zip(pictures, times):
            while sounds and sounds[0].pts * 1000 // 48000 <= at:
                out.mux(sounds.pop(0))
            packet.pts = packet.dts = at
            packet.duration, packet.time_base = 1000 // rate, Fraction(1, 1000)
            out.mux(packet)
        for packet in sounds:
            out.mux(packet)
    return path


def pictures_at(path: Path, **options) -> list[int]:
    """The times (ms) of the pictures a reader gives."""
    with VideoReader(path, **options) as reader:
        return [item.pts for item in reader.items() if isinstance(item, Frame)]


def in_pairs(count: int, step: int = 83) -> list[int]:
    """`count` pictures stored two at a time, `step` ms apart."""
    return [(n // 2) * step for n in range(count)]


def at_24_fps(first: int, last: int) -> list[int]:
    """The times (ms) of pictures `first` to `last` (excluded) at 24 fps."""
    return [round(n * 1000 / 24) for n in range(first, last)]


def test_pictures_all_at_one_time_are_placed_at_the_stated_rate_without_drift(tmp_path, capsys):
    """25 pictures at 0, stated 24 fps: placed 42 ms apart (the 25th at 1.008 s, not 1 s), and the
    note said 23.81 fps. The nth is at n/24 s, to the millisecond, and the note says 24 fps."""
    got = pictures_at(stored_at(tmp_path / "all_at_zero_24fps.mkv", [0] * 25))
    assert got == at_24_fps(0, 25)
    assert "at the video's nominal rate, 24 fps (the rate the file states)" in capsys.readouterr().err


def test_a_clock_frozen_mid_file_goes_on_at_the_rate_it_ran_at_without_drift(tmp_path, capsys):
    """24 fps to 1 s, then 24 more pictures at the time of the one before: the clock's steps, 41
    or 42 ms, gave 42 (23.81 fps): the last picture at 2.008 s. That step is the stated rate to
    a tick: the pictures go on at n/24 s."""
    times = at_24_fps(0, 25)
    got = pictures_at(stored_at(tmp_path / "frozen_after_1s_24fps.mkv", times + [times[-1]] * 24))
    assert got == at_24_fps(0, 49)
    assert "stop advancing at 1.00 s (each at the time of the one before): they are shown one after another at " \
           "the rate before, 24 fps, from there" in capsys.readouterr().err


def test_pictures_stored_in_pairs_are_spread_evenly(tmp_path, capsys):
    """Every picture stored twice at one time, pairs 83 ms apart (24 pictures): left as stored,
    the writer moved each second picture a tick on. Each pair is spread over the time up to the
    next; the last pair, whose time is not known, a frame apart; a note says so."""
    got = pictures_at(stored_at(tmp_path / "stored_in_pairs.mkv", in_pairs(24)))
    assert got == [(n // 2) * 83 + (n % 2) * 41 for n in range(22)] + [913, 955]
    assert "the file's first pictures are each stored twice, at one timestamp (a muxer's repeats)" in capsys.readouterr().err


@pytest.mark.parametrize("times", [in_pairs(240), at_24_fps(0, 24) + [1000 + at for at in in_pairs(200)]],
                         ids=["from-the-start", "after-1-s"])
def test_a_seek_into_pictures_stored_in_pairs_gives_the_times_a_whole_read_gives(tmp_path, times):
    """--start 5 in 10 s of pairs: the seek lands in pairs, but what tells them is the file's start
    (read again): pairs from the start are spread, pairs only from 1 s on kept as stored, as a
    whole read has them. The pictures after 5 s are at the whole read's times."""
    path = stored_at(tmp_path / "pairs_long.mkv", times)
    with VideoReader(path, start=Fraction(5)) as reader:
        seeked = [item.pts for item in reader.items() if isinstance(item, Frame)]
        assert reader.seeked
    whole = pictures_at(path)
    assert [at for at in seeked if at > 0] == [at - 5000 for at in whole if at > 5000]
    spread = times[2] == times[3]  # (pairs from the start)
    assert (len(set(whole)) == len(whole)) is spread and (len(set(seeked)) == len(seeked)) is spread


@pytest.mark.parametrize("times", [
    [0, 0] + at_24_fps(1, 24),  # (a file's first two pictures share one time)
    at_24_fps(0, 12) + [458] + at_24_fps(12, 24),  # (a stray repeat of the 12th, at 458 ms)
    in_pairs(6) + at_24_fps(6, 24),  # (three pairs, then a picture a time)
], ids=["first-two", "stray-repeat", "three-pairs"])
def test_pictures_at_one_time_that_are_not_a_muxers_pairs_keep_their_times(tmp_path, capsys, times):
    """One pair, or pairs only for the first three times: no muxer's pairs. Left as stored (the
    writer moves the second a tick on), no note."""
    assert pictures_at(stored_at(tmp_path / "repeat.mkv", times)) == times
    assert "note:" not in capsys.readouterr().err


@pytest.mark.slow  # (the reader's tests above check the times; this one the written file)
def test_the_output_of_pictures_stored_in_pairs_has_increasing_times_and_its_sound(run_cli, weights_env, style,
                                                                                   tmp_path):
    """`video` of pairs with sound: the output's pictures were at 0, 1, 83, 84 ms ... ("frame
    timestamps that do not increase"). Now at the spread times, 24 of them, no such note, and the
    sound's packets copied byte for byte."""
    source = stored_at(tmp_path / "stored_in_pairs_with_sound.mkv", in_pairs(24), sound=True)
    out = tmp_path / "out.mkv"
    err = stylize(run_cli, source, style, out)
    assert "do not increase" not in err and "stored twice" in err
    shown = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts",
                            "-of", "csv=p=0", str(out)], capture_output=True, text=True, check=True).stdout.split()
    assert [int(at.strip(",")) for at in shown] == [(n // 2) * 83 + (n % 2) * 41 for n in range(22)] + [913, 955]

    def sound(path: Path) -> list[bytes]:
        with av.open(str(path)) as container:
            return [bytes(p) for p in container.demux(audio=0) if p.size]
    assert sound(out) == sound(source)
