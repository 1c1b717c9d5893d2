"""`realtime-adain video ... -o out.gif`: animated GIF output (it was refused as an unknown
format). Every frame kept at its time in centiseconds, a palette per frame (colours close to the
stylized frames, unlike swscale's one fixed palette), looping forever, sound and subtitles
dropped with a note, options GIF has no use for refused in one line, Ctrl-C leaving a playable
NAME.partial.gif. Each GIF is decoded back with PyAV."""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction

import av
import numpy as np
import pytest

import realtime_adain as ra
from realtime_adain.errors import UserError
from realtime_adain.video.containers import GIF_LONGEST_DELAY, GIF_MOST_REPEATS
from realtime_adain.video.framing import check_picture_size
from video_samples import gradient_frames, interrupted_video_run, rgb_frames, write_video

FFMPEG, FFPROBE = shutil.which("ffmpeg"), shutil.which("ffprobe")
assert FFMPEG and FFPROBE, "these tests need the FFmpeg CLI: run the README's test command, bash .ci/run"

SMALL = ("--size", "16", "--style-size", "32", "--stabilize", "off", "--threads", "1")


@pytest.fixture
def style(data_dir):
    return data_dir / "style" / "brushstrokes.jpg"


def gif_timeline(path) -> list[tuple[int, int]]:
    """(pts, duration) of each frame of a GIF, in its 1/100 s time base, as PyAV decodes them."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.time_base == Fraction(1, 100)
        return [(frame.pts, frame.duration) for frame in container.decode(stream)]


def probed_times(path) -> list[Fraction]:
    """Every video frame's time in seconds, from ffprobe (the file's own start time subtracted)."""
    out = subprocess.run([FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time",
                          "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True).stdout
    times = [Fraction(line.strip(",")) for line in out.split()]
    return [t - times[0] for t in times]


def centiseconds(seconds: Fraction) -> int:
    return int(seconds * 100 + Fraction(1, 2))  # (half up: the writer rounds as FFmpeg's muxers do)


def loop_count(path) -> int | None:
    """The NETSCAPE2.0 loop count (0: forever); None without the block (played once)."""
    data = path.read_bytes()
    at = data.find(b"NETSCAPE2.0")
    return None if at < 0 else int.from_bytes(data[at + 13: at + 15], "little")


def vfr_clip_with_sound_and_subtitles(folder):
    """A variable-frame-rate Matroska clip made by ffmpeg: 30 fps test frames with some dropped
    (gaps of 1, 2 and 3 frames), a sine tone and an SRT line."""
    (folder / "line.srt").write_text("1\n00:00:00,100 --> 00:00:00,600\nHello\n")
    path = folder / "vfr.mkv"
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=48x32:rate=30:duration=1", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                    "-i", str(folder / "line.srt"),
                    "-vf", r"select=not(eq(mod(n\,6)\,1))*not(eq(mod(n\,6)\,3))*not(eq(mod(n\,6)\,4))",
                    "-fps_mode", "vfr", "-c:v", "libx264", "-c:a", "aac", "-c:s", "srt", str(path)], check=True)
    return path


@pytest.mark.slow  # (default run's time: 2 s)
def test_a_variable_frame_rate_clip_becomes_a_looping_gif_with_every_frame_at_its_time(
        tmp_path, weights_env, run_cli, style):
    """Was "unknown video output format '.gif'". Now every frame of the input, each shown at its own
    time rounded to the centisecond (no drift), the last for as long as it lasted; loops forever;
    the sound and the subtitles, which GIF cannot hold, dropped with one note each."""
    source = vfr_clip_with_sound_and_subtitles(tmp_path)
    expected = probed_times(source)
    assert len(set(b - a for a, b in zip(expected, expected[1:]))) == 3  # (really variable: 1, 2 and 3 frames apart)
    out = tmp_path / "out.gif"
    code, _, err = run_cli("video", source, "-s", style, "-o", out, *SMALL)
    assert code == 0, err
    assert f"note: {source.name}: dropping audio stream #1 (aac): .gif files hold no sound" in err
    assert f"note: {source.name}: dropping subtitle stream #2 (subrip): .gif cannot hold it" in err
    timeline = gif_timeline(out)
    assert len(timeline) == len(expected) == len(probed_times(out))
    assert [pts for pts, _ in timeline] == [centiseconds(t) for t in expected]
    assert timeline[-1][1] == centiseconds(Fraction(1, 30))  # the last frame's own duration
    assert loop_count(out) == 0
    with av.open(str(out)) as container:
        assert [s.type for s in container.streams] == ["video"]
        assert container.streams.video[0].codec_context.name == "gif"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return 10 * np.log10(255 ** 2 / mse)


@pytest.mark.slow  # (default run's time: 2 s)
def test_each_frame_gets_its_own_palette(tmp_path, weights_env, run_cli, style, data_dir):
    """A GIF holds 256 colours a frame: from a palette made of each frame's own colours (FFmpeg's
    palettegen/paletteuse), the decoded GIF is close to the stylized frames (a lossless run of the
    same clip); swscale's fixed pal8 palette lost about 12 dB (docs/video.md)."""
    photo = ra.read_image(data_dir / "content" / "sailboat.jpg")
    frames = [np.ascontiguousarray(photo[40 + 4 * i: 136 + 4 * i, 60 + 6 * i: 188 + 6 * i]) for i in range(4)]
    source = write_video(tmp_path / "in.mp4", frames, pix_fmt="yuv444p")
    options = ("--size", "64", "--style-size", "64", "--stabilize", "off", "--threads", "1")
    code, _, err = run_cli("video", source, "-s", style, "-o", tmp_path / "out.gif", *options)
    assert code == 0, err
    code, _, err = run_cli("video", source, "-s", style, "-o", tmp_path / "lossless.mkv", "--codec", "ffv1",
                           "--pix-fmt", "bgr0", *options)
    assert code == 0, err
    gif, lossless = rgb_frames(tmp_path / "out.gif"), rgb_frames(tmp_path / "lossless.mkv")
    assert len(gif) == len(lossless) == 4
    fixed = [av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="rgb8").to_ndarray(format="rgb24")
             for f in lossless]
    for frame, reference, swscale in zip(gif, lossless, fixed):
        assert frame.shape == reference.shape == (96, 128, 3)
        assert psnr(frame, reference) > 35  # (44 dB here; swscale's 19.5)
        assert psnr(frame, reference) > psnr(swscale, reference) + 10


@pytest.mark.parametrize("options, message", [
    (("--crf", "20"), "error: --crf: GIF has no quality setting"),
    (("--bitrate", "1M"), "error: --bitrate: GIF has no bitrate setting"),
    (("--pix-fmt", "rgb8"), "error: --pix-fmt rgb8: GIF is always pal8"),
    (("--codec", "libx264"), "error: .gif files cannot hold libx264 video (try .mkv)"),
])
def test_options_gif_has_no_use_for_are_one_line_before_any_work(tmp_path, monkeypatch, run_cli, style, options,
                                                                 message):
    """Refused before the model loads (the weights here do not exist), leaving nothing."""
    monkeypatch.setenv("REALTIME_ADAIN_VGG", str(tmp_path / "missing-vgg.pth"))
    monkeypatch.setenv("REALTIME_ADAIN_DECODER", str(tmp_path / "missing-decoder.pth"))
    source = write_video(tmp_path / "in.mp4", gradient_frames(2, 32, 24))
    folder = tmp_path / "out"
    code, _, err = run_cli("video", source, "-s", style, "-o", folder / "o.gif", *options)
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(message), err
    assert not folder.exists()


def test_gif_codec_and_pal8_are_taken_and_gif_is_an_ext(tmp_path, weights_env, run_cli, style):
    """`--codec gif --pix-fmt pal8` names what .gif is anyway; `--ext gif` names a folder's outputs."""
    source = write_video(tmp_path / "in.mp4", gradient_frames(3, 32, 24))
    code, _, err = run_cli("video", source, "-s", style, "-o", tmp_path / "a.gif", "--codec", "gif", "--pix-fmt",
                           "pal8", *SMALL)
    assert code == 0, err
    assert len(gif_timeline(tmp_path / "a.gif")) == 3
    code, _, err = run_cli("video", source, "-s", style, "-o", tmp_path / "folder", "--ext", "gif", *SMALL)
    assert code == 0, err
    assert len(gif_timeline(tmp_path / "folder" / "in_stylized_brushstrokes.gif")) == 3


def test_frames_under_two_centiseconds_are_noted(tmp_path, weights_env, run_cli, style):
    """At 60 fps some GIF delays are 1 cs, which browsers show for 10 cs (the GIF plays slower):
    said once; the frames are all kept."""
    source = write_video(tmp_path / "in.mp4", gradient_frames(6, 32, 24), time_base=Fraction(1, 60))
    code, _, err = run_cli("video", source, "-s", style, "-o", tmp_path / "fast.gif", *SMALL)
    assert code == 0, err
    assert [line for line in err.splitlines() if "centisecond" in line] == [
        "note: in.mp4: the input runs faster than 50 fps and GIF times frames in centiseconds: web browsers show a frame of "
        "under 2 cs for 10 cs (the GIF plays slower there), and a frame in the same centisecond as the one before "
        "(over 100 fps) is dropped, as FFmpeg drops it; convert the input to 25 fps first"], err
    assert [pts for pts, _ in gif_timeline(tmp_path / "fast.gif")] == [0, 2, 3, 5, 7, 8]


def test_the_api_writes_a_gif(tmp_path, weights_env, style):
    source = write_video(tmp_path / "in.mp4", gradient_frames(2, 32, 24))
    out = ra.stylize_video(source, tmp_path / "out.gif", style, size=16, style_size=32, stabilize="off")
    assert out == tmp_path / "out.gif" and len(gif_timeline(out)) == 2
    with pytest.raises(ValueError, match="^crf: GIF has no quality setting"):
        ra.stylize_video(source, tmp_path / "bad.gif", style, crf=20)


def test_a_gif_side_over_65535_is_refused():
    check_picture_size("gif", 65535, 8)
    with pytest.raises(UserError, match="gif cannot encode 65536x8 pictures"):
        check_picture_size("gif", 65536, 8)


@pytest.mark.slow  # (6-8 s of timed signals; video partials run by default in test_signals)
def test_ctrl_c_leaves_a_playable_partial_gif(weights_env, data_dir, style, tmp_path):
    """As for the other formats: the frames done are a finished, looping NAME.partial.gif, each at
    the input's time, and nothing else is left."""
    bunny = data_dir / "videos" / "cutBunny.mp4"
    code, err = interrupted_video_run(bunny, style, tmp_path / "bunny.gif")
    assert code == 130, err
    partial = tmp_path / "bunny.partial.gif"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bunny.partial.gif"]
    assert " kept in " in err and "Traceback" not in err
    timeline = gif_timeline(partial)
    assert 0 < len(timeline) < 240
    assert [pts for pts, _ in timeline] == [centiseconds(Fraction(n, 24)) for n in range(len(timeline))]
    assert loop_count(partial) == 0


def test_a_pause_longer_than_a_gif_delay_repeats_the_frame(tmp_path, weights_env, run_cli, style):
    """A GIF delay is 16 bits of centiseconds (655.35 s at most). A 700 s pause in a VFR clip was
    cut to 655.35 s (every later frame 44.65 s early), and a last frame held 800 s (a still
    picture for a long sound) wrapped to 144.64 s. Now the frame is shown again every 655.35 s,
    so every frame keeps its time and the last its duration."""
    source = write_video(tmp_path / "pause.mp4", gradient_frames(4, 32, 24), pts=[0, 1, 21001, 21002])
    code, _, err = run_cli("video", source, "-s", style, "-o", tmp_path / "pause.gif", *SMALL)
    assert code == 0, err
    timeline = gif_timeline(tmp_path / "pause.gif")
    assert timeline == [(0, 3), (3, 65535), (65538, 4465), (70003, 4), (70007, 3)]
    frames = rgb_frames(tmp_path / "pause.gif")
    assert np.array_equal(frames[1], frames[2])  # (the repeat: the same picture)
    # A clip's first frame, shown for 800 s, alone (`--frames 1`): its 800 s kept as 655.35 + 144.65.
    still = write_video(tmp_path / "still.mkv", gradient_frames(2, 32, 24), pts=[0, 80000], time_base=Fraction(1, 100),
                        codec="ffv1", pix_fmt="bgr0")
    code, _, err = run_cli("video", still, "-s", style, "-o", tmp_path / "still.gif", "--frames", "1", *SMALL)
    assert code == 0, err
    assert gif_timeline(tmp_path / "still.gif") == [(0, 65535), (65535, 14465)]
    assert loop_count(tmp_path / "still.gif") == 0


def test_over_100_fps_frames_sharing_a_centisecond_are_dropped_not_delayed(tmp_path, weights_env, run_cli, style):
    """A 240 fps clip: each frame landing in the centisecond of the one before was moved a tick
    later, and every later one with it: 24 frames (0.1 s) played 0.24 s, a 10 s slow-motion clip 24 s.
    Now such a frame is dropped (as FFmpeg drops it), said once: the GIF lasts as long as the clip."""
    source = write_video(tmp_path / "fast.mkv", gradient_frames(24, 32, 24), time_base=Fraction(1, 240),
                         codec="ffv1", pix_fmt="bgr0")
    code, out, err = run_cli("video", source, "-s", style, "-o", tmp_path / "fast.gif", "--json", *SMALL)
    assert code == 0, err
    assert json.loads(out)["frames"] == 11  # (the frames in the GIF)
    assert len([line for line in err.splitlines() if "centisecond" in line or "cs apart" in line]) == 1, err  # (was two)
    assert "moving them one tick later" not in err
    assert [pts for pts, _ in gif_timeline(tmp_path / "fast.gif")] == list(range(11))  # 0 to 23/240 s: 0 to 10 cs


def test_a_timestamp_years_ahead_is_not_millions_of_repeats(tmp_path, weights_env, run_cli, style):
    """The repeats over a long time are bounded: a damaged timestamp 100 million seconds on would
    be 152,000 repeats of the frame (256 MB at 32x24). They stop after a day's worth in a file
    (noted); the rest of that time is cut, and no delay wraps around."""
    source = write_video(tmp_path / "jump.mkv", gradient_frames(3, 32, 24), pts=[0, 40, 10 ** 11],
                         time_base=Fraction(1, 1000), codec="ffv1", pix_fmt="bgr0")
    code, _, err = run_cli("video", source, "-s", style, "-o", tmp_path / "jump.gif", *SMALL)
    assert code == 0, err
    assert err.count("past a day of repeated frames the rest is cut") == 1, err
    timeline = gif_timeline(tmp_path / "jump.gif")
    assert len(timeline) == 3 + GIF_MOST_REPEATS == 134
    assert [duration for _, duration in timeline] == [4] + [GIF_LONGEST_DELAY] * (1 + GIF_MOST_REPEATS) + [1]
    assert (tmp_path / "jump.gif").stat().st_size < 500_000
