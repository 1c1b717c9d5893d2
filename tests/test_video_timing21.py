"""Timing leftovers of the twentieth sweep (a twenty-first): a seek that is retried said its notes
twice, an MP4 whose sound alone freezes mid-file lost its sound under a --start past the freeze,
and Matroska whose clusters all say 0 was shown unevenly. Each file is made with FFmpeg's CLI and
the damage written into its bytes; each is read as a user expects."""

from __future__ import annotations

import collections
from fractions import Fraction
from pathlib import Path

import pytest

from realtime_adain.video.reader import VideoReader
from test_attack20 import matroska_with_clusters_back
from test_video_clock20 import clip, sound_end, stts_frozen
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)
from test_video_timing19 import clip as clip2s, ffmpeg, frames_and_sound
from test_video_timing20 import cluster_timestamps


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("timing21")


def test_a_retried_seek_says_each_note_once(run_cli, weights_env, style, folder):
    """Every Matroska cluster after the first at Timestamp 0, `video --start 2.5`: the seek lands
    where the index says, finds no picture after 2.5 s, and the file is read again from its
    start. The seeked read said its notes on what it had read ("1 frame timestamps were out of
    order", of the wrong stretch) before it was retried, once for the check of the inputs and
    once for the run: the same line twice. Each note is said once, by the read that is kept."""
    path = matroska_with_clusters_back(folder / "seek_retried.mkv", back_ms=10_000)
    err = stylize(run_cli, path, style, folder / "seek_retried.mp4", "--start", "2.5",
                 "--duration", "0.4")
    notes = collections.Counter(line for line in err.splitlines() if line.startswith("note: "))
    assert all(count == 1 for count in notes.values()), err
    assert "out of order" not in err


def test_an_mp4_whose_sound_alone_freezes_keeps_its_sound_after_a_late_start(folder):
    """An MP4 whose sound samples' `stts` deltas are 0 after the 47th (about 1 s; the pictures'
    clock runs): read through, the sound is played one packet after another. `--start 2.5`
    seeked by its index, which put the sound after the freeze at 0.98 s: the seek gave the
    sound one packet there, dropped as before the start, and the output had no sound. The file
    is read from its start instead: the undamaged file's sound from 2.5 s, 71 packets."""
    source = clip(folder / "clip.mp4", 4, "-bf", "2", "-g", "10")
    path = folder / "sound_frozen.mp4"
    path.write_bytes(stts_frozen(source.read_bytes(), 1, 47))
    late, late_sound = frames_and_sound(path, start=Fraction(5, 2))
    expected, expected_sound = frames_and_sound(source, start=Fraction(5, 2))
    assert [f.pts for f in late] == [f.pts for f in expected] and len(late) == 38
    assert late_sound == expected_sound and len(late_sound) == 71
    # (within its last packet, which the undamaged file's `stts` cut to what the encoder gave it)
    assert abs(sound_end(path, start=Fraction(5, 2)) - sound_end(source, start=Fraction(5, 2))) < Fraction(1024, 48000)


def test_an_mp4_whose_sound_ends_early_is_still_seeked(folder):
    """Sound that ends (1 s under 4 s of pictures) also lands the seek on its last packet, long
    before the pictures; its clock does not stand still there, so the file is seeked as before
    (not read from its start), and a --start past the sound's end has none."""
    path = folder / "short_sound.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=25", "-f", "lavfi", "-i", "sine=sample_rate=48000:duration=1",
           "-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-c:a", "aac", path)
    with VideoReader(path, start=Fraction(5, 2)) as reader:
        assert reader.seeked
    late, late_sound = frames_and_sound(path, start=Fraction(5, 2))
    assert len(late) == 38 and late_sound == []


def test_matroska_whose_clusters_all_say_zero_is_shown_evenly(folder, capsys):
    """Clusters of about 0.1 s (no B-frames), every cluster's Timestamp 0 (a broken muxer's), the
    blocks' times relative to it: the 50 pictures were shown within 0.71 s, unevenly (5 to 35 ms
    apart), the sound over itself (FFmpeg's CLI keeps 4 pictures). Each cluster is placed after
    the one before: the undamaged file's pictures, 40 ms apart at the 25 fps it states, and its
    sound (to Matroska's millisecond), said in a note; a --start is read from the file's start
    (its index holds one time), the undamaged file's pictures from there."""
    source = clip2s(folder / "clusters.mkv", "libx264", "aac", "-preset", "ultrafast", "-bf", "0",
                    "-cluster_time_limit", "100")
    data = bytearray(source.read_bytes())
    clusters = cluster_timestamps(bytes(data))
    assert len(clusters) > 15
    for at, length, _ in clusters:
        data[at:at + length] = bytes(length)
    path = folder / "clusters_zero.mkv"
    path.write_bytes(data)
    frames, sound = frames_and_sound(path)
    expected, expected_sound = frames_and_sound(source)
    assert [f.pts for f in frames] == [f.pts for f in expected] == [21 + 40 * n for n in range(50)]
    assert len(sound) == len(expected_sound)
    assert all(abs(a - b) <= Fraction(1, 1000) for a, b in zip(sound, expected_sound))
    assert "every cluster has the same timestamp" in capsys.readouterr().err
    late, _ = frames_and_sound(path, start=Fraction(1))
    assert [f.pts for f in late] == [f.pts for f in frames_and_sound(source, start=Fraction(1))[0]]
