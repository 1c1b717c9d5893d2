"""A segment of a video (`video --start T --duration D`, `stylize_video(start=, duration=)`), as
`ffmpeg -ss T -i in -t D out` cuts it: the output starts at zero with the frame shown at T; sound,
subtitles and chapters move with the pictures. Clips are generated with frames that carry their
number (8 black/white blocks), so which frames a segment holds is read back exactly."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from cli_support import one_error_line
from video_samples import write_video
from realtime_adain import api
from realtime_adain.commands import argtypes
from realtime_adain.errors import UserError
from realtime_adain.times import check_time
from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader

RATE = 30
SRT = "1\n00:00:01,000 --> 00:00:01,400\nfirst\n\n2\n00:00:01,600 --> 00:00:02,000\nsecond\n"
CHAPTERS = (";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1500\ntitle=Intro\n"
            "[CHAPTER]\nTIMEBASE=1/1000\nSTART=1500\nEND=3000\ntitle=Main\n")


def numbered_frames(count: int) -> list[np.ndarray]:
    """64x48 frames whose top row of blocks spells their number in binary."""
    frames = []
    for i in range(count):
        image = np.zeros((48, 64, 3), np.uint8)
        for bit in range(8):
            if i >> bit & 1:
                image[:16, bit * 8:bit * 8 + 8] = 255
        image[24:] = (i * 3) % 256
        frames.append(image)
    return frames


def number(image: np.ndarray) -> int:
    return sum(1 << bit for bit in range(8) if image[:16, bit * 8:bit * 8 + 8, 0].mean() > 128)


def numbered_clip(path: Path, count: int = 90, gop: int = 12) -> Path:
    """`count` numbered frames at 30 fps, H.264 with B-frames and a keyframe every `gop`."""
    return write_video(path, numbered_frames(count), time_base=Fraction(1, RATE), options={"g": str(gop), "bf": "2"})


def ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


def segment_numbers(path: Path, start, duration=None, **options) -> tuple[list[int], list[Fraction], VideoReader]:
    """The frame numbers and start times (s) `VideoReader` gives for a segment."""
    with VideoReader(path, start=Fraction(start), duration=None if duration is None else Fraction(duration),
                     **options) as reader:
        frames = [item for item in reader.items() if isinstance(item, Frame)]
        time_base = reader.time_base  # (the stream's: read after the close, PyAV's freed stream gave None at times)
    return [number(f.image) for f in frames], [f.pts * time_base for f in frames], reader


def decoded_numbers(path: Path) -> list[int]:
    with av.open(str(path)) as container:
        return [number(frame.to_ndarray(format="rgb24")) for frame in container.decode(video=0)]


@pytest.fixture
def style(data_dir):
    return data_dir / "style" / "brushstrokes.jpg"


@pytest.mark.parametrize("text, seconds", [
    ("90", 90), ("90.5", Fraction(181, 2)), ("1:30", 90), ("01:30.5", Fraction(181, 2)), ("0:01:30", 90),
    ("2:00:00", 7200), ("1500ms", Fraction(3, 2)), (" 0.25 ", Fraction(1, 4)), ("0", 0)])
def test_times_are_read_as_ffmpeg_reads_them(text, seconds):
    assert check_time(text, "--start") == seconds == argtypes.start_time(text)


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "", "abc", "1:99", "1:2:3:4", "1e3", "90:00", "--5"])
def test_bad_times_are_refused(value):
    with pytest.raises(UserError):
        check_time(value, "--start")
    with pytest.raises(Exception) as refused:
        argtypes.duration(value)
    assert type(refused.value).__name__ == "ArgumentTypeError"


@pytest.mark.parametrize("option, value", [
    ("--start", "-1"), ("--start", "nan"), ("--start", "inf"), ("--start", ""), ("--start", "abc"),
    ("--start", "1:99"), ("--duration", "0"), ("--duration", "-2"), ("--duration", "0:00")])
def test_bad_times_are_one_line_before_any_work(option, value, run_cli, tmp_path):
    out = tmp_path / "out.mp4"
    code, _, err = run_cli("video", tmp_path / "missing.mp4", "-s", "x.jpg", f"{option}={value}", "-o", out)
    assert code == 2
    assert option in one_error_line(err, code)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["mp4", "mkv"])
def test_a_seeked_segment_holds_the_frames_ffmpeg_cuts(kind, tmp_path):
    """Frame-exact against `ffmpeg -ss 2 -i in -t 1`, and against the numbers the frames carry,
    read after a seek (not decoded from the start)."""
    source = numbered_clip(tmp_path / "v.mp4")
    if kind != "mp4":
        ffmpeg("-i", source, "-c", "copy", source.with_suffix(f".{kind}"))
        source = source.with_suffix(f".{kind}")
    cut = tmp_path / "cut.mkv"
    ffmpeg("-ss", "2", "-i", source, "-t", "1", "-c:v", "ffv1", cut)
    numbers, times, reader = segment_numbers(source, 2, 1)
    assert reader.seeked and reader.skipped < 60  # read from a keyframe near 2 s, not from the start
    assert numbers == decoded_numbers(cut) == list(range(60, 90))
    assert all(abs(at - Fraction(i, RATE)) < Fraction(1, 1000) for i, at in enumerate(times))  # (.mkv: ms)


def test_a_start_between_frames_begins_with_the_frame_shown_then(tmp_path):
    source = numbered_clip(tmp_path / "v.mp4")
    numbers, times, _ = segment_numbers(source, Fraction(101, 100), Fraction(1, 10))  # 1.01 s: frame 30's time
    assert numbers == [30, 31, 32, 33]  # shown at 1.01, 1.0333.., 1.0667.., 1.1 (< 1.11)
    tick = Fraction(1, 15360)  # the MP4's time base: the segment moves by whole ticks
    assert times[0] == 0 and abs(times[1] - (Fraction(1, RATE) - Fraction(1, 100))) < tick


@pytest.mark.parametrize("kind", ["ts", "h264", "avi", "no-index-mp4", "sequence"])
def test_files_that_cannot_be_seeked_still_give_the_right_frames(kind, tmp_path):
    """MPEG-TS (timestamps that may jump), a bare H.264 stream, an AVI without its index, an MP4
    whose index marks every frame a keyframe (the seek lands on a frame that does not decode: read
    again from the start), and numbered pictures."""
    source = numbered_clip(tmp_path / "v.mp4", gop=80)
    options = {}
    if kind in ("ts", "h264"):
        ffmpeg("-i", source, "-c", "copy", tmp_path / f"v.{kind}")
        source = tmp_path / f"v.{kind}"
    elif kind == "avi":
        ffmpeg("-i", source, "-c", "copy", "-bsf:v", "h264_mp4toannexb", tmp_path / "v.avi")
        data = (tmp_path / "v.avi").read_bytes()
        source = tmp_path / "noindex.avi"
        source.write_bytes(data.replace(b"idx1", b"JUNK"))
    elif kind == "no-index-mp4":
        source = tmp_path / "keyless.mp4"
        source.write_bytes((tmp_path / "v.mp4").read_bytes().replace(b"stss", b"free"))  # no sync-sample table
    elif kind == "sequence":
        (tmp_path / "seq").mkdir()
        ffmpeg("-i", source, tmp_path / "seq" / "%04d.png")
        source, options = tmp_path / "seq" / "%04d.png", {"framerate": Fraction(RATE)}
    with VideoReader(source, **options) as whole:  # the whole file: the frames and times to find
        frames = [item for item in whole.items() if isinstance(item, Frame)]
        wanted = [(number(f.image), f.pts * whole.time_base - 2) for f in frames
                  if (f.pts + f.duration) * whole.time_base > 2 and f.pts * whole.time_base < Fraction(5, 2)]
    numbers, times, reader = segment_numbers(source, 2, Fraction(1, 2), **options)
    assert numbers == [n for n, _ in wanted]
    assert times[1:] == [at for _, at in wanted[1:]] and times[0] == 0
    # (an AVI with B-frames shows frame 0 from one frame in, as FFmpeg reads it)
    assert numbers == list(range(60, 75)) if kind != "avi" else list(range(59, 74))
    if kind in ("ts", "h264", "sequence", "no-index-mp4"):
        assert not reader.seeked


def test_frames_count_from_the_start_and_the_first_end_wins(tmp_path):
    source = numbered_clip(tmp_path / "v.mp4")
    assert segment_numbers(source, 1, max_frames=10)[0] == list(range(30, 40))
    assert segment_numbers(source, 1, Fraction(1, 5), max_frames=10)[0] == list(range(30, 36))
    assert segment_numbers(source, 1, 5, max_frames=4)[0] == list(range(30, 34))
    with VideoReader(source, start=Fraction(2), duration=Fraction(1, 2)) as reader:
        assert reader.expected_frames == 15  # the progress bar's total: the segment's frames
    with VideoReader(source, start=Fraction(2)) as reader:
        assert reader.expected_frames == 30


def test_the_cut_bunny_matches_ffmpeg(data_dir, tmp_path):
    source = data_dir / "videos" / "cutBunny.mp4"
    with av.open(str(source)) as container:
        rate = container.streams.video[0].average_rate
    start = Fraction(round(3 * rate), rate)  # on a frame
    cut = tmp_path / "cut.mkv"
    ffmpeg("-ss", str(float(start)), "-i", source, "-t", "0.5", "-an", "-c:v", "ffv1", cut)
    with av.open(str(cut)) as container:
        expected = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    with VideoReader(source, start=start, duration=Fraction(1, 2)) as reader:
        got = [item.image for item in reader.items() if isinstance(item, Frame)]
        assert reader.seeked
    assert len(got) == len(expected) > 0
    assert all(np.array_equal(a, b) for a, b in zip(got, expected))


def audio_offsets(source: Path, output: Path) -> set[Fraction]:
    """Output time minus input time of every audio packet the output copied (matched by bytes)."""
    def packets(path):
        with av.open(str(path)) as container:
            return [(bytes(p), p.pts * p.time_base, p.is_discard) for p in container.demux(audio=0) if p.size]
    given = {data: at for data, at, _ in packets(source)}
    return {at - given[data] for data, at, discard in packets(output) if not discard}


def test_a_segment_keeps_sound_subtitles_and_chapters_in_sync(run_cli, weights_env, style, tmp_path):
    """Against `ffmpeg -ss 1.3 -i in -t 0.4 -c:a copy`: the sound (the packets that overlap the
    window) at the same offset from the pictures, where FFmpeg's is off by a few milliseconds;
    subtitles and chapters moved by the start and cut at the end."""
    video = numbered_clip(tmp_path / "v.mp4")
    (tmp_path / "l.srt").write_text(SRT)
    (tmp_path / "ch.txt").write_text(CHAPTERS)
    source = tmp_path / "in.mkv"
    ffmpeg("-i", video, "-f", "lavfi", "-i", "sine=sample_rate=48000:duration=3", "-i", tmp_path / "l.srt",
           "-i", tmp_path / "ch.txt", "-map", "0", "-map", "1", "-map", "2", "-map_chapters", "3", "-c:v", "copy",
           "-c:a", "aac", "-c:s", "srt", source)
    out, theirs = tmp_path / "out.mkv", tmp_path / "ffmpeg.mkv"
    code, stdout, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64",
                                "--stabilize", "off", "--engine", "eager", "--threads", "1", "--start", "1.3",
                                "--duration", "0:00.4", "--json", "-o", out)
    assert code == 0, err
    report = json.loads(stdout)
    # FFmpeg put the pictures 21 ms on (AAC's priming starts the sound first): frame 38 shows from
    # 1.288 s to 1.321 s, and is the first; `ffmpeg -ss` starts with the first frame from 1.3 s on.
    assert (report["start"], report["duration"], report["frames"]) == (1.3, 0.4, 13)
    ffmpeg("-ss", "1.3", "-i", source, "-t", "0.4", "-map", "0", "-c:v", "ffv1", "-c:a", "copy", "-c:s", "copy", theirs)
    assert decoded_numbers(theirs)[:2] == [39, 40]
    def video_times(path):
        with av.open(str(path)) as container:
            return [(frame.pts * frame.time_base, number(frame.to_ndarray(format="rgb24")))
                    for frame in container.decode(video=0)]

    given = {n: at for at, n in video_times(source)}
    ours, ffmpegs = video_times(out), video_times(theirs)
    # The sound is moved exactly as the pictures are (our second frame is frame 39); FFmpeg's is off
    # by a few milliseconds. (Both muxers then move every stream on, past the first sound packet's
    # start, which begins just before the segment.)
    video_offset, their_video_offset = ours[1][0] - given[39], ffmpegs[0][0] - given[39]
    assert audio_offsets(source, out) == {video_offset}
    (their_audio_offset,) = audio_offsets(source, theirs)
    assert abs(their_audio_offset - their_video_offset) < Fraction(1, RATE)
    with av.open(str(out)) as container:
        assert [(c["metadata"]["title"], c["start"] * c["time_base"], c["end"] * c["time_base"])
                for c in container.chapters()] == [("Intro", 0, Fraction(1, 5) + ours[0][0]),  # (moved with the
                                                   ("Main", Fraction(1, 5) + ours[0][0], Fraction(2, 5) + ours[0][0])]  # streams)
        lines = [(p.pts * p.time_base - ours[0][0], p.duration * p.time_base) for p in container.demux(subtitles=0)
                 if p.size]
    with av.open(str(source)) as container:  # (FFmpeg put them 21 ms on, with the pictures)
        (first, first_ends), (second, _) = [(p.pts * p.time_base, (p.pts + p.duration) * p.time_base)
                                            for p in container.demux(subtitles=0) if p.size]
    # The first line shows from the segment's start, the second is cut at its end (1.7 s)
    start, end = Fraction(13, 10), Fraction(17, 10)
    assert lines == [(0, first_ends - start), (second - start, end - second)]
    with av.open(str(out)) as ours_file, av.open(str(source)) as given_file:
        kept = [bytes(p) for p in ours_file.demux(audio=0) if p.size]
        overlapping = [bytes(p) for p in given_file.demux(audio=0) if p.size and p.pts * p.time_base < Fraction(17, 10)
                       and (p.pts + p.duration) * p.time_base > Fraction(13, 10)]  # (the file starts at zero)
    assert kept == overlapping


def test_a_start_past_the_end_is_one_line_naming_the_length(run_cli, weights_env, style, tmp_path):
    source = numbered_clip(tmp_path / "v.mp4")
    ffmpeg("-i", source, "-c", "copy", tmp_path / "v.h264")  # no stated length: read to its end
    for given in (source, tmp_path / "v.h264"):
        out = tmp_path / "out.mp4"
        code, _, err = run_cli("video", given, "-s", style, "--start", "3", "-o", out)
        assert "past the end of the video, which lasts 3 s" in one_error_line(err, code) and code == 2
        assert not out.exists()


def test_the_api_refuses_a_start_past_the_end(stylizer, style, tmp_path):
    source = numbered_clip(tmp_path / "v.mp4")
    with pytest.raises(UserError, match="past the end of the video, which lasts 3 s"):
        api.stylize_video(source, tmp_path / "out.mp4", style, stylizer=stylizer, start="0:03.5")
    assert list(tmp_path.iterdir()) == [source]


@pytest.mark.parametrize("kwargs", [{"start": -1}, {"start": float("nan")}, {"start": float("inf")}, {"start": ""},
                                    {"start": "abc"}, {"start": "1:99"}, {"duration": 0}, {"start": True},
                                    {"duration": "0"}, {"duration": [1]}])
def test_the_api_refuses_bad_times_before_any_work(kwargs, tmp_path, style):
    source = numbered_clip(tmp_path / "v.mp4", count=3)
    wrong_kind = isinstance(next(iter(kwargs.values())), (bool, list))  # (a TypeError, as every argument of the wrong kind)
    with pytest.raises(TypeError if wrong_kind else ValueError):
        api.stylize_video(source, tmp_path / "out.mp4", style, **kwargs)
    assert not (tmp_path / "out.mp4").exists()


def test_the_api_cuts_a_segment(stylizer, style, tmp_path, one_thread):
    source = numbered_clip(tmp_path / "v.mp4")
    out = api.stylize_video(source, tmp_path / "out.mp4", style, size=32, style_size=64, stylizer=stylizer,
                            start="0:02", duration=0.5)
    with av.open(str(out)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 15 and frames[0].pts == 0


def test_segments_into_pictures_and_gif_from_a_sequence(run_cli, weights_env, style, tmp_path):
    """Numbered pictures keep the input's numbers (a segment's first picture is the one it was);
    a GIF and two-pass stabilising work on a segment too."""
    (tmp_path / "seq").mkdir()
    ffmpeg("-i", numbered_clip(tmp_path / "v.mp4", count=40), "-start_number", "1", tmp_path / "seq" / "%04d.png")
    (tmp_path / "out").mkdir()
    code, _, err = run_cli("video", tmp_path / "seq" / "%04d.png", "--framerate", "10", "-s", style, "--size", "32",
                           "--style-size", "64", "--engine", "eager", "--threads", "1", "--start", "1.5",
                           "--duration", "0.5", "-o", tmp_path / "out" / "%04d.png")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{n:04d}.png" for n in range(16, 21)]
    gif = tmp_path / "out.gif"
    code, _, err = run_cli("video", tmp_path / "v.mp4", "-s", style, "--size", "32", "--style-size", "64",
                           "--stabilize-passes", "2", "--engine", "eager", "--threads", "1", "--start", "0.5",
                           "--frames", "6", "-o", gif)
    assert code == 0, err
    with av.open(str(gif)) as container:
        assert len(list(container.decode(video=0))) == 6
