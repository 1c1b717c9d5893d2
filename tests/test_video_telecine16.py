"""NTSC film on DVD (`--deinterlace film`): 24000/1001 progressive frames spread by 3:2 pulldown
over 30000/1001 interlaced ones come back as the film's own frames, each once (PSNR against the
numbered source frames: a woven frame deinterlaced by bwdif is far lower), on the same timeline
with the same sound; soft telecine, film joined to video, a clip shorter than one cycle and
--frames keep working; `auto` says when its frames look telecined and changes nothing."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from realtime_adain.video.deinterlace import MODES, Deinterlacer
from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from test_video_deinterlace import frame, interlaced_clip, ffmpeg
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)

FILM = "testsrc2=size=160x120:rate=24000/1001:duration=2"  # 48 frames, each unlike the next
VIDEO = "testsrc2=size=160x120:rate=60000/1001:duration=1"  # scanned 60 times a second: 30 interlaced frames
MPEG2_TFF = ("-c:v", "mpeg2video", "-flags", "+ildct+ilme", "-top", "1", "-q:v", "2")
PULLDOWN = "telecine=pattern=23,setfield=tff"
WHOLE_DB = 38  # a film frame given back (measured 42 dB and more); bwdif's woven frames: 26 dB


@pytest.fixture(scope="module")
def film(tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    """(the film, lossless), and its frames as RGB."""
    path = tmp_path_factory.mktemp("film") / "film.nut"
    ffmpeg("-f", "lavfi", "-i", FILM, "-c:v", "ffv1", "-pix_fmt", "yuv420p", path)
    with av.open(str(path)) as container:
        return path, [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.fixture(scope="module")
def dvd(film, tmp_path_factory) -> Path:
    """The film as a DVD holds it: hard-telecined to 60 interlaced MPEG-2 frames, with MP2 sound."""
    path = tmp_path_factory.mktemp("dvd") / "VTS_01_1.VOB"
    ffmpeg("-i", film[0], "-f", "lavfi", "-i", "sine=sample_rate=48000:duration=2", "-vf", PULLDOWN,
           *MPEG2_TFF, "-c:a", "mp2", "-f", "vob", path)
    return path


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    error = np.mean((a.astype(np.float64) - b) ** 2)
    return 99.0 if error == 0 else float(10 * np.log10(255 ** 2 / error))


def matches(frames: list[Frame], source: list[np.ndarray]) -> list[tuple[int, float]]:
    """(the source frame each frame is closest to, its PSNR)."""
    best = []
    for f in frames:
        scores = [psnr(f.image, s) for s in source]
        best.append((int(np.argmax(scores)), max(scores)))
    return best


def read(path: Path, mode: str, max_frames: int = 0) -> tuple[list[Frame], list[av.Packet], Fraction]:
    """(frames, sound packets, time base) as `video` reads `path`."""
    with VideoReader(path, max_frames, mode) as reader:
        items = list(reader.items())
        return ([i for i in items if isinstance(i, Frame)], [i for i in items if isinstance(i, av.Packet)],
                reader.time_base)


def end(frames: list[Frame]) -> int:
    return frames[-1].pts + frames[-1].duration


def test_film_gives_back_every_film_frame_once_where_bwdif_weaves_them(dvd, film):
    frames, _, _ = read(dvd, "film")
    found = matches(frames, film[1])
    assert [number for number, _ in found] == list(range(48)), found
    assert min(score for _, score in found) > WHOLE_DB, found
    woven, _, _ = read(dvd, "auto")
    assert len(woven) == 60 and min(score for _, score in matches(woven, film[1])) < WHOLE_DB - 8


def test_film_keeps_the_timeline_and_the_sound(dvd):
    """4 frames in the time of 5, evenly (1.25 input frames apart), from the first frame's time to
    the last one's end; every sound packet is kept."""
    frames, sound, time_base = read(dvd, "film")
    woven, woven_sound, _ = read(dvd, "auto")
    assert frames[0].pts == woven[0].pts and abs(end(frames) - end(woven)) <= 1
    steps = {b.pts - a.pts for a, b in zip(frames, frames[1:])}
    assert steps <= {3753, 3754}, steps  # 1001/24000 s at 1/90000
    assert [(bytes(p), p.pts) for p in sound] == [(bytes(p), p.pts) for p in woven_sound] and len(sound) > 50


def test_soft_telecine_comes_out_as_it_went_in(film, tmp_path):
    """Soft telecine (repeat-field flags: the decoder gives the 48 film frames themselves, flagged
    progressive) is not decimated: the same pictures at the same times as with `off`."""
    path = tmp_path / "soft.ts"
    ffmpeg("-i", film[0], "-c:v", "libx264", "-crf", "10", "-x264-params", "pulldown=32:fake-interlaced=1", path)
    frames, _, _ = read(path, "film")
    plain, _, _ = read(path, "off")
    assert [f.pts for f in frames] == pytest.approx([f.pts for f in plain], abs=1)
    assert len(frames) == 48 and min(psnr(a.image, b.image) for a, b in zip(frames, plain)) > 45


def test_film_then_video_keeps_the_video_at_its_own_rate(film, tmp_path):
    """A DVD whose film is followed by video shot interlaced (titles, extras): the film part comes
    back as its 48 frames, the video part keeps its 30 frames a second (decimate's `mixed`), and
    the whole timeline is kept."""
    path = tmp_path / "mixed.mpg"
    ffmpeg("-i", film[0], "-f", "lavfi", "-i", VIDEO, "-filter_complex",
           f"[0:v]{PULLDOWN}[a];[1:v]tinterlace=mode=interleave_top,setfield=tff[b];[a][b]concat=n=2:v=1[v]",
           "-map", "[v]", *MPEG2_TFF, path)
    frames, _, _ = read(path, "film")
    woven, _, _ = read(path, "auto")
    assert len(woven) == 90 and len(frames) == 48 + 30
    assert [number for number, _ in matches(frames[:48], film[1])] == list(range(48))
    assert abs(end(frames) - end(woven)) <= 1


def test_a_clip_shorter_than_one_cycle(dvd, tmp_path):
    """3 frames, fewer than decimate's cycle of 5: none is lost, none is woven, the span is kept."""
    path = tmp_path / "short.mpg"
    ffmpeg("-i", dvd, "-frames:v", "3", "-an", *MPEG2_TFF, path)
    frames, _, _ = read(path, "film")
    woven, _, _ = read(path, "off")
    assert len(frames) == 3 and end(frames) == end(woven)


def test_frames_counts_film_frames(dvd, film):
    """--frames 10 with film: the first 10 film frames."""
    frames, _, _ = read(dvd, "film", max_frames=10)
    assert [number for number, _ in matches(frames, film[1])] == list(range(10))


def test_auto_says_telecine_suggests_film_and_changes_nothing(dvd, tmp_path, capsys):
    """`auto` on telecined film: the note points at `--deinterlace film`; its pictures are bwdif's
    as they were (the same as `on`: every frame is flagged). A camcorder's interlaced video
    repeats no field: no such note. (A name of its own: a note is said once a process.)"""
    path = tmp_path / "VTS_02_1.VOB"
    path.write_bytes(dvd.read_bytes())
    frames, _, _ = read(path, "auto")
    err = capsys.readouterr().err
    assert err.count("looks like telecined film") == 1 and "--deinterlace film" in err, err
    every, _, _ = read(path, "on")
    assert all(np.array_equal(a.image, b.image) and a.pts == b.pts for a, b in zip(frames, every, strict=True))
    read(interlaced_clip(tmp_path / "00001.mts"), "auto")
    assert "telecine" not in capsys.readouterr().err


def test_a_new_picture_size_in_film_mode_loses_no_frame():
    """Frames that are no film at all (noise: no repeated picture to drop), SD then HD: every
    frame comes out once, in order, at its own time."""
    frames = [frame(64, 48, 10 * i) for i in range(7)] + [frame(80, 60, 10 * i) for i in range(7, 12)]
    deinterlacer = Deinterlacer("film", "capture.ts")
    out = [picture for f in frames for picture in deinterlacer.push(f)] + list(deinterlacer.flush())
    assert [(p.pts, p.width) for p in out] == [(f.pts, f.width) for f in frames]


@pytest.mark.slow  # (default run's time: 2 s)
def test_film_is_a_mode_of_the_command_line(run_cli, weights_env, style, dvd, tmp_path):
    """`video --deinterlace film` on a DVD's VOB: 48 frames at 24000/1001 in the output, as long as
    the input's, with its sound."""
    assert "film" in MODES
    source, out = tmp_path / "VTS_03_1.VOB", tmp_path / "film.mkv"  # (a name of its own: notes are said once)
    source.write_bytes(dvd.read_bytes())
    err = stylize(run_cli, source, style, out, "--deinterlace", "film")
    assert "60 frames in, 48 film frames out" in err, err
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        pictures = list(container.decode(video=0))
        assert len(pictures) == 48 and len(container.streams.audio) == 1
        assert abs(float(pictures[-1].pts * video.time_base) - 47 * 1001 / 24000) < 0.01


def test_pal_film_stored_as_fields_comes_back_whole(tmp_path):
    """PAL film (2:2 pulldown: 25 progressive frames a second, each stored as an interlaced frame's
    two fields): `film` gives every frame once and whole (nothing repeats to drop), where bwdif
    rebuilds each from one field (measured 38.8 dB against 23.3)."""
    source, path = tmp_path / "pal.nut", tmp_path / "pal.mpg"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=1", "-c:v", "ffv1", "-pix_fmt", "yuv420p",
           source)
    ffmpeg("-i", source, "-vf", "setfield=tff", *MPEG2_TFF, path)
    with av.open(str(source)) as container:
        film = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    found = matches(read(path, "film")[0], film)
    assert [number for number, _ in found] == list(range(25)) and min(score for _, score in found) > 35, found
    assert min(score for _, score in matches(read(path, "auto")[0], film)) < 30


def test_the_progress_bar_expects_no_more_frames_than_come(film, tmp_path):
    """An MP4's index counts the 60 telecined frames; `film` gives 48: the progress bar's total
    (`expected_frames`) must not promise 60 (the bar stopped at 80%). Needs the reader's patch."""
    path = tmp_path / "telecined.mp4"
    ffmpeg("-i", film[0], "-vf", PULLDOWN, "-c:v", "libx264", "-crf", "10", "-flags", "+ildct+ilme",
           "-x264-params", "tff=1", path)
    with VideoReader(path, deinterlace="film") as reader:
        expected = reader.expected_frames
        frames = [item for item in reader.items() if isinstance(item, Frame)]
    assert len(frames) == 48 and expected in (0, 48), expected
    with VideoReader(path, deinterlace="auto") as reader:
        assert reader.expected_frames == 60


def test_film_on_a_progressive_24_fps_clip_drops_no_frame(data_dir, capsys):
    """`--deinterlace film` on cutBunny (progressive, 24 fps): decimate took 13 of its 240 frames,
    near-still ones it took for pulldown's repeats. Off the rates pulldown makes, nothing is dropped."""
    frames, _, _ = read(data_dir / "videos" / "cutBunny.mp4", "film")
    assert len(frames) == 240
    assert "so no frame is dropped here" in capsys.readouterr().err
