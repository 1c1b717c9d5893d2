"""`realtime-adain video` end to end: timing, sound, sizes, colours, rotation, errors, Ctrl-C."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from av.audio.plane import AudioPlane

from realtime_adain.adain import StyleStats
from realtime_adain.commands import video as video_command
from realtime_adain.errors import UserError
from realtime_adain.imageio import read_image, write_image
from realtime_adain.stylizer import Stylizer
from video_samples import (VFR_STAMPS, audio_packets, gradient_frames, interrupted_video_run, probe, rgb_frames,
                           stylized_vfr_clip, write_video)


@pytest.fixture
def style(data_dir):
    return data_dir / "style" / "brushstrokes.jpg"


@pytest.fixture
def bunny(data_dir):
    return data_dir / "videos" / "cutBunny.mp4"


def content_frames(data_dir, count: int, width: int, height: int) -> list[np.ndarray]:
    """Crops of a real photo, shifted per frame, so colours are natural and asymmetric."""
    photo = read_image(sorted((data_dir / "content").glob("*.jpg"))[0])
    return [np.ascontiguousarray(photo[40 + 3 * i: 40 + 3 * i + height, 60 + 5 * i: 60 + 5 * i + width])
            for i in range(count)]


def assert_same_picture(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal up to float summation order: at most 1 level off, in under 0.1% of the samples."""
    assert actual.shape == expected.shape
    diff = np.abs(actual.astype(int) - expected)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, (diff.max(), (diff > 0).mean())


def test_cutbunny_keeps_every_frame_timestamp_and_audio_bytes(run_cli, weights_env, bunny, style, tmp_path):
    out = tmp_path / "bunny.mp4"
    code, _, err = run_cli("video", bunny, "-s", style, "--size", "32", "--style-size", "64",
                          "--threads", "1", "-o", out)
    assert code == 0, err
    source, result = probe(bunny), probe(out)
    assert len(result.pts) == len(source.pts) == 240
    assert result.pts == source.pts
    assert result.durations == source.durations
    assert result.time_base == source.time_base
    assert result.duration_s == pytest.approx(source.duration_s, abs=1e-3)
    assert (result.width, result.height) == (source.width, source.height) == (640, 360)
    assert result.codec == "h264" and result.pix_fmt == "yuv420p"
    assert audio_packets(out) == audio_packets(bunny)  # bytes, pts and durations: a copy, no re-encode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bunny.mp4"]
    assert (out.stat().st_mode & 0o777) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_frames_equal_the_image_command_output_and_catch_channel_swaps(
    run_cli, weights_env, data_dir, style, tmp_path
):
    """Lossless video path == image path on the same decoded frame; and it is not the BGR result."""
    source = write_video(tmp_path / "in.mkv", content_frames(data_dir, 4, 72, 56), codec="ffv1", pix_fmt="bgr0")
    out = tmp_path / "out.mkv"
    code, _, err = run_cli("video", source, "-s", style, "--style-size", "64", "--codec", "ffv1",
                           "--pix-fmt", "bgr0", "--stabilize", "off", "-o", out)
    assert code == 0, err
    decoded, stylized = rgb_frames(source), rgb_frames(out)
    assert len(stylized) == 4
    frame_png, image_out = tmp_path / "frame.png", tmp_path / "frame_out.png"
    write_image(frame_png, decoded[2])
    code, _, err = run_cli("image", frame_png, "-s", style, "--style-size", "64", "--size", "0", "-o", image_out)
    assert code == 0, err
    assert_same_picture(stylized[2], read_image(image_out))

    vgg, decoder = weights_env
    stylizer = Stylizer.load(vgg, decoder, device="cpu")
    stats = stylizer.style_stats(read_image(style), 64)
    for frame, result in zip(decoded, stylized):
        assert_same_picture(result, stylizer.stylize(frame, stats))
    # The check has teeth: a pipeline that fed BGR to the network would give a different picture.
    swapped = stylizer.stylize(decoded[0][..., ::-1].copy(), stats)[..., ::-1]
    assert np.abs(swapped.astype(int) - stylized[0]).mean() > 5


@pytest.mark.slow  # (default run's time: tiny and thin videos above keep theirs)
def test_odd_size_without_audio_keeps_exact_size(run_cli, weights_env, style, tmp_path):
    source = write_video(tmp_path / "odd.mp4", gradient_frames(5, 641, 361), pix_fmt="yuv444p")
    out = tmp_path / "odd_out.mp4"
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "-o", out)
    assert code == 0, err
    result = probe(out)
    assert (result.width, result.height) == (641, 361)
    assert result.pix_fmt == "yuv444p" and result.audio_codecs == []
    assert result.pts == probe(source).pts
    # Asking for 4:2:0 explicitly cannot keep 641x361: a clear refusal, nothing written.
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--pix-fmt", "yuv420p", "-o", tmp_path / "x.mp4")
    assert code == 2 and "needs an even width and height" in err
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.slow  # (default run's time: 2 s)
def test_tiny_and_thin_videos_with_the_default_stabiliser(run_cli, weights_env, style, tmp_path):
    """A file FFmpeg plays is a file we process: 8x8 and 640x10 clips, whose lumas OpenCV's optical
    flow refused or crashed on, come out frame for frame at their size (stabiliser on by default)."""
    sources = [write_video(tmp_path / f"{w}x{h}.mp4", gradient_frames(4, w, h), pix_fmt="yuv444p") for w, h in ((8, 8), (640, 10))]
    code, _, err = run_cli("video", *sources, "-s", style, "--style-size", "64", "-o", tmp_path / "out")
    assert code == 0, err
    for source in sources:
        result = probe(tmp_path / "out" / f"{source.stem}_stylized_brushstrokes.mp4")
        assert (result.width, result.height) == (probe(source).width, probe(source).height)
        assert result.pts == probe(source).pts


@pytest.mark.slow  # (default run's time: the corpus writes MPEG-TS)
def test_mpeg_ts_output_holds_h264_and_copies_the_aac(run_cli, weights_env, bunny, style, tmp_path):
    """FFmpeg lists only MPEG-2 and MP2 for MPEG-TS (its muxer keeps no list), yet it holds H.264
    and AAC: `.ts` was refused for every encoder. Now H.264, with the sound copied (the muxer only
    adds each AAC packet's 7-byte ADTS header)."""
    import av

    out = tmp_path / "out.ts"
    code, _, err = run_cli("video", bunny, "-s", style, "--size", "32", "--style-size", "64", "--frames", "12", "-o", out)
    assert code == 0, err
    assert "re-encoding" not in err
    with av.open(str(out)) as container:
        assert [s.codec_context.name for s in container.streams] == ["h264", "aac"]
    assert len(probe(out).pts) == 12
    copied, source = audio_packets(out), audio_packets(bunny)
    assert 10 < len(copied) < len(source)
    assert all(packet.endswith(original) and len(packet) == len(original) + 7
               for (packet, _, _), (original, _, _) in zip(copied, source))
    # The muxer takes any codec, as private data no player decodes: FLAC is re-encoded to MP2
    # (said), a video encoder MPEG-TS has no stream type for is refused before any work.
    flac = write_video(tmp_path / "flac.mkv", gradient_frames(4, 64, 48), audio="flac")
    code, _, err = run_cli("video", flac, "-s", style, "--size", "32", "--style-size", "64", "-o", tmp_path / "flac.ts")
    assert code == 0 and f"note: {flac.name}: .ts cannot hold flac audio; re-encoding it to mp2" in err, err
    with av.open(str(tmp_path / "flac.ts")) as container:
        assert sorted(s.codec_context.name for s in container.streams) == ["h264", "mp2"]
    code, _, err = run_cli("video", flac, "-s", style, "--codec", "ffv1", "-o", tmp_path / "ffv1.ts")
    assert code == 2 and err == "error: .ts files cannot hold ffv1 video (try .mkv)\n"
    # Back out of MPEG-TS: its AAC carries ADTS headers, which AVI takes only under a tag nothing
    # reads back as audio (it failed with "Invalid argument"): re-encoded, said.
    code, _, err = run_cli("video", out, "-s", style, "--size", "32", "--style-size", "64", "-o", tmp_path / "back.avi")
    assert code == 0 and f"note: {out.name}: .avi cannot hold ADTS aac audio; re-encoding it to " in err, err
    with av.open(str(tmp_path / "back.avi")) as container:
        assert [s.type for s in container.streams] == ["video", "audio"] and len(list(container.decode(audio=0))) > 10


def test_pixel_budget_refuses_before_and_during_the_run(run_cli, weights_env, style, tmp_path):
    """--max-pixels bounds every frame at the processing size: a thin strip scaled by its short side
    is refused before any work, and a stream that grows mid-way (MPEG-TS concatenation) when it
    does; one line each, nothing left behind."""
    strip = write_video(tmp_path / "strip.mp4", gradient_frames(3, 300, 2), pix_fmt="yuv444p")
    code, _, err = run_cli("video", strip, "-s", style, "--size", "64", "--style-size", "64", "--max-pixels", "100000",
                           "-o", tmp_path / "a.mp4")
    assert code == 2 and err == (f"error: {strip}: 300x2 at --size 64 is 9600x64, over the budget of 100000 pixels "
                                 "(raise it with --max-pixels, or give --size 25 or less)\n")
    code, _, err = run_cli("video", strip, "-s", style, "--size", "4096", "-o", tmp_path / "a.mp4")
    assert code == 2 and "is 614400x4096, longer than 16384 pixels on a side (--size 109 or less fits)" in err
    parts = [write_video(tmp_path / f"{w}x{h}.ts", gradient_frames(3, w, h), pix_fmt="yuv444p") for w, h in ((32, 32), (320, 32))]
    grows = tmp_path / "grows.ts"
    grows.write_bytes(b"".join(part.read_bytes() for part in parts))
    code, _, err = run_cli("video", grows, "-s", style, "--size", "32", "--style-size", "64", "--max-pixels", "5000",
                           "-o", tmp_path / "b.mp4")
    assert code == 2 and "320x32 at --size 32 is 320x32, over the budget of 5000 pixels" in err, err
    assert [line for line in err.splitlines() if not line.startswith("note:")] == [err.splitlines()[-1]]
    assert not list(tmp_path.glob("a*.mp4")) and not list(tmp_path.glob("b*.mp4"))


def test_styles_are_kept_at_the_size_they_are_encoded_at(tmp_path):
    """The styles were decoded and kept whole until the run ended: a folder of 200 photos of 24 MP
    held 14 GB. Each is kept at --style-size (the network sees the same pixels: it scales them
    there anyway)."""
    big, small = tmp_path / "big.png", tmp_path / "small.png"
    write_image(big, np.zeros((1000, 1500, 3), np.uint8))
    write_image(small, np.zeros((40, 60, 3), np.uint8))
    kept = video_command.read_styles([big, small, big], 256)
    assert [image.shape for image in kept.values()] == [(256, 384, 3), (256, 384, 3)]
    assert video_command.read_styles([big], 0)[big].shape == (1000, 1500, 3)


def test_styles_over_the_budget_at_their_size_are_refused_naming_each(tmp_path):
    """A style was encoded at --style-size at any size: a strip 1 pixel high became 512x102400
    pixels and the run ended out of memory, saying 'lower --size'. A style is bounded as `image`
    bounds it, by the default budget (4096x4096) or a higher --max-pixels (a lower one is the
    frames', far below many styles)."""
    thin, square, small = tmp_path / "thin.png", tmp_path / "square.png", tmp_path / "small.png"
    write_image(thin, np.zeros((1, 200, 3), np.uint8))
    write_image(square, np.zeros((100, 200, 3), np.uint8))
    write_image(small, np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(UserError) as refused:
        video_command.read_styles([thin, square, small], 4096, 1000)
    assert str(refused.value).startswith("2 inputs cannot be used")
    assert "thin.png: 200x1 at --style-size 4096 is 819200x4096, longer than 16384 pixels" in str(refused.value)
    assert "square.png: 200x100 at --style-size 4096 is 8192x4096, over the budget of 16777216 pixels" in str(refused.value)
    assert video_command.read_styles([square], 4096, 8192 * 4096)[square].shape == (4096, 8192, 3)


def test_bad_inputs_among_several_are_all_named_before_any_work(run_cli, weights_env, style, tmp_path):
    """A folder run is not refused halfway: every input is opened to its first frame and checked
    against the budget first; each bad one is named, and no output is made for the good one."""
    good = write_video(tmp_path / "good.mp4", gradient_frames(3, 64, 48))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    strip = write_video(tmp_path / "strip.mp4", gradient_frames(3, 300, 2), pix_fmt="yuv444p")
    code, _, err = run_cli("video", good, junk, strip, "-s", style, "--size", "64", "--max-pixels", "100000",
                           "-o", tmp_path / "out")
    assert code == 2 and err.startswith("error: 2 inputs cannot be used, nothing done: ")
    assert f"{junk}: not a readable video" in err and f"{strip}: 300x2 at --size 64 is 9600x64" in err
    assert err.count("\n") == 1 and not (tmp_path / "out").exists()


@pytest.mark.slow  # (default run's time: 2 s)
def test_concatenated_ts_with_sound_into_mp4(run_cli, weights_env, style, tmp_path):
    """Two MPEG-TS files joined byte for byte (their clocks restart): the timeline continues across
    the splice (it once went back: sound moved a tick at a time, which the muxer refused with
    EINVAL where two TS ticks are one MP4 tick). Every frame and every audio packet arrives."""
    parts = [write_video(tmp_path / f"part{i}.ts", gradient_frames(6, 64, 48), audio="aac") for i in range(2)]
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(part.read_bytes() for part in parts))
    out = tmp_path / "out.mp4"
    code, _, err = run_cli("video", joined, "-s", style, "--size", "32", "--style-size", "64", "-o", out)
    assert code == 0, err
    assert "the timestamps jump (segments joined together)" in err
    result, part = probe(out), probe(parts[0])
    assert len(result.pts) == len(probe(joined).pts) == 12
    # No overlap; the second part starts where the first one's longer sound ends (as in FFmpeg).
    assert 2 * part.span_s - 0.05 < result.span_s < 1.5
    copied, source = audio_packets(out), audio_packets(joined)  # MP4 holds AAC without TS's ADTS headers
    assert len(copied) == len(source) and all(s.endswith(c) and len(s) == len(c) + 7 for (c, _, _), (s, _, _) in zip(copied, source))


@pytest.mark.slow  # (default run's time: a wide clip encoded)
def test_an_output_too_wide_to_encode_is_refused_up_front(run_cli, weights_env, style, tmp_path):
    """4100x16 stored at 4:1 pixels shows as 16400x16: kept at that size no encoder takes it, so it
    is refused before the model loads (it used to fail after it, as "Generic error in an external
    library"); --no-keep-size runs."""
    source = tmp_path / "wide.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=4100x16:rate=10:duration=0.2",
                    "-vf", "setsar=4", "-pix_fmt", "yuv444p", "-c:v", "libx264", str(source)], check=True)
    code, _, err = run_cli("video", source, "-s", style, "--size", "8", "-o", tmp_path / "a.mp4")
    assert code == 2 and err == (f"error: {source}: shown at 16400x16, longer than 16384 pixels on a side to encode "
                                 "(use --no-keep-size)\n")
    code, _, err = run_cli("video", source, "-s", style, "--size", "8", "--style-size", "64", "--no-keep-size",
                           "-o", tmp_path / "b.mp4")
    assert code == 0, err
    assert (probe(tmp_path / "b.mp4").width, probe(tmp_path / "b.mp4").height) == (8200, 8)


@pytest.mark.parametrize("codec, ext", [("mpeg2video", "ts"), ("mpeg4", "mp4")])
@pytest.mark.slow_cases('mpeg2video-ts')  # (default run's time: 3 s)
def test_encoders_that_refuse_the_inputs_time_base(run_cli, weights_env, style, tmp_path, codec, ext):
    """MPEG-2 takes only its standard frame rates as time base, MPEG-4 Part 2 no denominator over
    65535 (MPEG-TS's 1/90000): both used to fail with "cannot start encoding (Invalid argument)".
    The encoder gets a time base it takes; every frame arrives, the clip as long as before."""
    source = write_video(tmp_path / "in.ts", gradient_frames(12, 64, 48), time_base=Fraction(1, 24))
    out = tmp_path / f"out.{ext}"
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "--codec", codec, "-o", out)
    assert code == 0, err
    result, original = probe(out), probe(source)
    assert original.time_base == Fraction(1, 90000) and len(result.pts) == len(original.pts) == 12
    assert result.span_s == pytest.approx(original.span_s, abs=1 / 24)


def test_variable_frame_rate_timestamps_survive(run_cli, weights_env, style, tmp_path):
    source, out = stylized_vfr_clip(run_cli, style, tmp_path)
    source_probe, result = probe(source), probe(out)
    assert result.pts == source_probe.pts
    assert result.time_base == source_probe.time_base
    assert [float(p * result.time_base) for p in result.pts] == pytest.approx([s / 30 for s in VFR_STAMPS])
    assert result.end_s == pytest.approx(source_probe.end_s) == pytest.approx(36 / 30)


@pytest.mark.slow  # (default run's time: 3 s)
def test_rotated_phone_video_comes_out_upright(run_cli, weights_env, data_dir, style, tmp_path):
    frames = content_frames(data_dir, 3, 64, 40)  # at 30 fps: 33.3 ms apart, not whole milliseconds
    source = write_video(tmp_path / "phone.mp4", frames, rotation=-90, codec="libx264rgb", pix_fmt="rgb24",
                         options={"crf": "0"})
    out = tmp_path / "phone_out.mkv"
    code, _, err = run_cli("video", source, "-s", style, "--style-size", "64", "--codec", "ffv1",
                           "--pix-fmt", "bgr0", "--stabilize", "off", "-o", out)
    assert code == 0, err
    result = probe(out)
    assert (result.width, result.height, result.rotation) == (40, 64, 0)  # displayed as the phone showed it
    source_probe = probe(source)  # Matroska stores milliseconds: compare times, not ticks
    seconds = [float(p * source_probe.time_base) for p in source_probe.pts]
    assert [float(p * result.time_base) for p in result.pts] == pytest.approx(seconds, abs=1e-3)
    vgg, decoder = weights_env
    stylizer = Stylizer.load(vgg, decoder, device="cpu")
    expected = stylizer.stylize(np.rot90(rgb_frames(source)[0], -1).copy(), stylizer.style_stats(read_image(style), 64))
    assert_same_picture(rgb_frames(out)[0], expected)


@pytest.mark.slow  # (default run's time: 2 s)
def test_audio_the_container_cannot_hold_is_reencoded(run_cli, weights_env, style, tmp_path):
    source = write_video(tmp_path / "pcm.mkv", gradient_frames(6, 64, 48), audio="pcm_u8", codec="ffv1",
                         pix_fmt="yuv444p")
    out = tmp_path / "pcm_out.mp4"
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "-o", out)
    assert code == 0, err
    result = probe(out)
    assert result.audio_codecs == ["aac"] and len(result.pts) == 6
    assert "re-encoding it to aac" in err
    # 16-bit PCM: FFmpeg 8's MP4 muxer takes it, as `ipcm`, which most players cannot play.
    source = write_video(tmp_path / "pcm16.mkv", gradient_frames(6, 64, 48), audio="pcm_s16le", codec="ffv1",
                         pix_fmt="yuv444p")
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "-o", out)
    assert code == 0 and "cannot hold pcm_s16le audio; re-encoding it to aac" in err, err
    assert probe(out).audio_codecs == ["aac"]
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "-o", tmp_path / "pcm.mov")
    assert code == 0 and "re-encoding" not in err, err
    assert probe(tmp_path / "pcm.mov").audio_codecs == ["pcm_s16le"]


def _ts_segment(path, offset: float):
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=1", "-f",
                    "lavfi", "-i", "sine=duration=1", "-c:v", "libx264", "-c:a", "aac", "-output_ts_offset",
                    str(offset), str(path)], check=True)
    return path.read_bytes()


@pytest.mark.slow  # (default run's time: 3 s)
def test_segments_each_starting_near_zero_follow_one_another(run_cli, weights_env, style, tmp_path):
    """`cat seg.ts seg.ts seg.ts` (HLS segments, each from about 1.4 s): steps back of a second
    are splices too, as in FFmpeg; the three overlapped in one second, every timestamp moved on."""
    segment = _ts_segment(tmp_path / "seg.ts", 0)
    source = tmp_path / "three.ts"
    source.write_bytes(segment * 3)
    out = tmp_path / "out.mp4"
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "-o", out)
    assert code == 0 and "the timestamps jump" in err and "frame timestamps" not in err, err
    result = probe(out)
    assert len(result.pts) == 36 and result.end_s == pytest.approx(3.0, abs=0.1)
    assert (np.diff(result.pts) * float(result.time_base)).max() < 0.1


def test_latin1_tags_do_not_make_a_file_unreadable(run_cli, weights_env, style, tmp_path):
    source = tmp_path / "latin1.avi"
    """An AVI's INFO title in Latin-1 ("\xe9"): PyAV refused the file ("utf-8 codec can't decode");
    FFmpeg plays it."""
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=1", "-c:v",
                    "mpeg4", "-metadata", "title=x", str(source)], check=True)
    data = source.read_bytes().replace(b"INAM\x02\x00\x00\x00x\x00", b"INAM\x02\x00\x00\x00\xe9\x00")
    assert data != source.read_bytes()
    source.write_bytes(data)
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "-o", tmp_path / "o.mp4")
    assert code == 0, err


@pytest.mark.parametrize("order", ["late start", "jump forward", "jump back"])
@pytest.mark.slow_cases('jump forward', 'jump back')  # (default run's time: the other joins stay)
def test_timestamps_start_at_zero_and_continue_across_joined_segments(run_cli, weights_env, style, tmp_path, order):
    """As `ffmpeg -i in out.mp4` does: a clip starting at 10 s made an MP4 with 11 s of nothing
    first; segments joined from a playlist (each with its own clock) a 500 s frozen gap, or, for
    a jump back (read as a 33-bit wrap), a traceback from the MP4 muxer and a 26-hour .mkv."""
    early, late = _ts_segment(tmp_path / "a.ts", 10), _ts_segment(tmp_path / "b.ts", 500)
    source = tmp_path / "in.ts"
    source.write_bytes({"late start": early, "jump forward": early + late, "jump back": late + early}[order])
    frames = 12 if order == "late start" else 24
    for ext in ("mp4", "mkv"):
        out = tmp_path / f"out.{ext}"
        code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "-o", out)
        assert code == 0, err
        assert ("the timestamps jump (segments joined together)" in err) == (order != "late start"), err
        result = probe(out)
        assert len(result.pts) == frames
        assert float(result.pts[0] * result.time_base) < 0.05  # the sound's encoder delay at most
        assert result.end_s == pytest.approx(frames / 12, abs=0.1)
        steps = np.diff(result.pts) * float(result.time_base)
        assert steps.max() < 0.1, steps  # no gap where the segments meet
        with av.open(str(out)) as container:
            assert container.duration / 1e6 == pytest.approx(frames / 12, abs=0.1)


def test_avi_output_counts_frames_not_ticks(run_cli, weights_env, style, tmp_path):
    """AVI indexes one entry per tick of the stream's time base: an MP4's 1/15360 made a "15360 fps"
    file of empty entries that FFmpeg reads with DTS errors. The stream runs at the frame rate."""
    source = tmp_path / "in.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=1", "-f",
                    "lavfi", "-i", "sine=duration=1", "-c:v", "libx264", "-c:a", "aac", str(source)], check=True)
    out = tmp_path / "out.avi"
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "-o", out)
    assert code == 0, err
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.time_base == Fraction(1, 12) and stream.frames == 12
        assert len(container.streams.audio) == 1
    assert len(probe(out).pts) == 12
    decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(out), "-f", "null", "-"], capture_output=True, text=True)
    assert decoded.returncode == 0 and decoded.stderr == ""


@pytest.mark.slow  # (default run's time: a whole clip; the tracks tests keep tags too)
def test_titles_languages_default_track_and_chapters_are_kept(run_cli, weights_env, style, tmp_path):
    """As `ffmpeg` keeps them: the output lost the file's title, which audio track is which
    language (players listed two "unknown" tracks), the default track and the chapters."""
    plain, source = tmp_path / "plain.mkv", tmp_path / "in.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=2", "-f",
                    "lavfi", "-i", "sine=duration=2", "-f", "lavfi", "-i", "sine=frequency=600:duration=2", "-map", "0",
                    "-map", "1", "-map", "2", "-c:v", "libx264", "-c:a", "aac", "-metadata", "title=My trip",
                    "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=jpn", "-metadata:s:a:1",
                    "title=Commentary", "-disposition:a:1", "0", str(plain)], check=True)
    chapters = tmp_path / "chapters.txt"
    chapters.write_text(";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1000\ntitle=Intro\n"
                        "[CHAPTER]\nTIMEBASE=1/1000\nSTART=1000\nEND=2000\ntitle=Main\n")
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(plain), "-i", str(chapters), "-map", "0", "-map_chapters", "1",
                    "-c", "copy", str(source)], check=True)
    for ext in ("mkv", "mp4"):
        out = tmp_path / f"out.{ext}"
        code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "-o", out)
        assert code == 0, err
        with av.open(str(out)) as container:
            assert container.metadata["title"] == "My trip"
            audio = container.streams.audio
            assert [s.language for s in audio] == ["eng", "jpn"]
            assert [bool(s.disposition & av.stream.Disposition.default) for s in audio] == [True, False]
            assert [(c["metadata"]["title"], float(c["start"] * c["time_base"])) for c in container.chapters()] == [
                ("Intro", 0.0), ("Main", 1.0)]
            if ext == "mkv":
                assert audio[1].metadata["title"] == "Commentary"
                assert "DURATION" not in audio[0].metadata or audio[0].metadata["DURATION"].startswith("00:00:02")


@pytest.mark.slow  # (default run's time: 2 s)
def test_audio_a_muxer_lists_but_refuses_is_reencoded(run_cli, weights_env, style, tmp_path):
    """MOV's muxer lists Opus among the codecs it holds, then refuses it as the header is written
    ("opus only supported in MP4"): that failed the run; now the sound is re-encoded, as `ffmpeg`
    does."""
    source = write_video(tmp_path / "opus.mp4", gradient_frames(6, 64, 48), audio="libopus")
    out = tmp_path / "out.mov"
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "-o", out)
    assert code == 0, err
    assert f"note: {source.name}: .mov cannot hold opus audio (its muxer refuses it); re-encoding it to aac" in err
    result = probe(out)
    assert result.audio_codecs == ["aac"] and len(result.pts) == 6
    # Only the refused track is re-encoded: an AAC track beside it is still copied.
    both = tmp_path / "both.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=1", "-f",
                    "lavfi", "-i", "sine=sample_rate=48000:duration=1", "-map", "0", "-map", "1", "-map", "1",
                    "-c:v", "libx264", "-c:a:0", "aac", "-c:a:1", "libopus", str(both)], check=True)
    code, _, err = run_cli("video", both, "-s", style, "--size", "32", "--style-size", "64", "-o", tmp_path / "both.mov")
    assert code == 0 and "opus audio (its muxer refuses it)" in err and "aac audio" not in err, err
    copied = [data for data, _, _ in audio_packets(tmp_path / "both.mov")]
    assert copied == [data for data, _, _ in audio_packets(both)]  # the AAC track's bytes (track 0)


def test_a_damaged_packet_of_reencoded_audio_is_skipped(run_cli, weights_env, style, tmp_path):
    """A WMV cut off inside an audio packet: WMA audio is re-encoded for MP4, and its decoder's
    refusal of the partial packet was a traceback. FFmpeg skips it and plays on; so do we."""
    import av

    whole = tmp_path / "whole.wmv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=1",
                    "-f", "lavfi", "-i", "sine=duration=1", "-c:v", "wmv2", "-c:a", "wmav2", str(whole)], check=True)
    with av.open(str(whole)) as container:
        starts = sorted({p.pos for p in container.demux(audio=0) if p.dts is not None})
    cut = tmp_path / "cut.wmv"
    cut.write_bytes(whole.read_bytes()[:starts[len(starts) // 2] + 200])
    out = tmp_path / "out.mp4"
    code, _, err = run_cli("video", cut, "-s", style, "--size", "32", "--style-size", "64", "-o", out)
    assert code == 0, err
    assert f"note: {cut.name}: stream #1: a damaged audio packet was skipped" in err
    result = probe(out)
    assert result.audio_codecs == ["aac"] and len(result.pts) > 0


def test_directory_of_videos_loads_model_and_style_once(run_cli, weights_env, style, tmp_path, monkeypatch):
    clips = tmp_path / "clips"
    clips.mkdir()
    write_video(clips / "a.mp4", gradient_frames(3, 64, 48))
    write_video(clips / "b.mov", gradient_frames(4, 48, 64))
    (clips / "notes.txt").write_text("not a video")
    loads, encodes = [], []
    original_load, original_stats = Stylizer._load.__func__, Stylizer.style_stats  # (where every load ends)
    monkeypatch.setattr(Stylizer, "_load", classmethod(lambda cls, *a, **k: loads.append(1) or original_load(cls, *a, **k)))
    monkeypatch.setattr(Stylizer, "style_stats", lambda self, *a, **k: encodes.append(1) or original_stats(self, *a, **k))
    out = tmp_path / "out"
    code, _, err = run_cli("video", clips, "-s", style, "--size", "32", "--style-size", "64", "-o", out)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["a_stylized_brushstrokes.mp4", "b_stylized_brushstrokes.mp4"]
    assert len(probe(out / "b_stylized_brushstrokes.mp4").pts) == 4
    assert (len(loads), len(encodes)) == (1, 1)


def _truncated(data_dir, tmp_path):
    path = tmp_path / "cut.mp4"
    path.write_bytes((data_dir / "videos" / "cutBunny.mp4").read_bytes()[:300_000])
    return path


def _zero_frames(tmp_path):
    """A Matroska file that declares a video stream but holds only audio."""
    import av

    path = tmp_path / "zero.mkv"
    with av.open(str(path), "w") as out:
        video = out.add_stream("ffv1", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv444p"
        sound = out.add_stream("pcm_s16le", rate=8000)
        sound.layout = "mono"
        chunk = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        chunk.sample_rate, chunk.pts, chunk.time_base = 8000, 0, Fraction(1, 8000)
        for stream, frame in ((sound, chunk), (sound, None)):
            for packet in stream.encode(frame):
                out.mux(packet)
    return path


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "no such input file"),
        ("text", "not a readable video"),
        ("truncated", "an MP4/MOV without its index (no moov box)"),
        ("zero", "has no frames"),
        ("codec", "unknown video encoder 'nosuchcodec'"),
        ("image-as-video", "this is an image, not a video"),
        ("unknown-output-format", "unknown video format '.xyz'"),
        ("bad-option-value", "argument --batch: 0 must be at least 1"),
    ],
)
def test_bad_input_gives_one_line_and_no_output(run_cli, weights_env, data_dir, style, tmp_path, case, message):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "notes.mp4").write_text("hello\n" * 100)
    source = {
        "missing": inputs / "missing.mp4",
        "text": inputs / "notes.mp4",
        "truncated": _truncated(data_dir, inputs),
        "zero": _zero_frames(inputs),
        "codec": data_dir / "videos" / "cutBunny.mp4",
        "image-as-video": data_dir / "mask" / "mask.png",
        "unknown-output-format": data_dir / "videos" / "cutBunny.mp4",
        "bad-option-value": data_dir / "videos" / "cutBunny.mp4",
    }[case]
    extra = {"codec": ["--codec", "nosuchcodec"], "bad-option-value": ["--batch", "0"]}.get(case, [])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    name = "result.xyz" if case == "unknown-output-format" else "result.mp4"
    code, out, err = run_cli("video", source, "-s", style, "--size", "32", *extra, "-o", out_dir / name)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
    assert list(out_dir.iterdir()) == []


def test_nvenc_opens_or_fails_in_one_clear_line(run_cli, weights_env, bunny, style, tmp_path):
    """Without a GPU (or on one without an encoder unit, e.g. H100) NVENC is a clear error."""
    out = tmp_path / "o.mp4"
    code, _, err = run_cli("video", bunny, "-s", style, "--size", "32", "--style-size", "64", "--frames", "24",
                           "--codec", "h264_nvenc", "-o", out)
    if code == 0:
        assert torch.cuda.is_available() and probe(out).pts == probe(bunny).pts[:24]
    else:
        assert code == 2 and err.startswith("error: cannot open encoder h264_nvenc"), err
        assert len(err.strip().splitlines()) == 1 and list(tmp_path.iterdir()) == []
    if not torch.cuda.is_available():
        assert code == 2


@pytest.mark.gpu
def test_gpu_fp16_keeps_every_frame_and_the_sound(run_cli, weights_env, bunny, style, tmp_path):
    out = tmp_path / "o.mp4"
    code, _, err = run_cli("video", bunny, "-s", style, "--device", "cuda", "--dtype", "fp16", "-o", out)
    assert code == 0, err
    result, source = probe(out), probe(bunny)
    assert result.pts == source.pts and (result.width, result.height) == (640, 360)
    assert audio_packets(out) == audio_packets(bunny)


def test_refuses_to_overwrite_its_input(run_cli, weights_env, style, tmp_path):
    source = write_video(tmp_path / "clip.mp4", gradient_frames(2, 32, 32))
    before = source.read_bytes()
    code, _, err = run_cli("video", source, "-s", style, "-o", source)
    assert code == 2 and "overwrite an input" in err
    assert source.read_bytes() == before


@pytest.mark.slow  # (8-16 s; test_signals keeps partials on SIGINT and SIGTERM by default)
def test_ctrl_c_leaves_a_playable_partial_file(weights_env, bunny, style, tmp_path):
    """... beside, never over, a file already called NAME.partial.EXT (it was replaced)."""
    (tmp_path / "bunny.partial.mp4").write_bytes(b"my notes")
    code, err = interrupted_video_run(bunny, style, tmp_path / "bunny.mp4", presses=3)  # impatient: 3 Ctrl-C
    last = err.strip().splitlines()[-1]  # (one line: the signal's word and what was kept)
    assert code == 130 and last.startswith("interrupted: ") and last.endswith("bunny.partial-1.mp4"), err
    partial = tmp_path / "bunny.partial-1.mp4"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bunny.partial-1.mp4", "bunny.partial.mp4"]
    assert (tmp_path / "bunny.partial.mp4").read_bytes() == b"my notes"
    assert f" kept in {partial}" in err and "Traceback" not in err
    result, source = probe(partial), probe(bunny)
    assert 0 < len(result.pts) < 240
    assert result.pts == source.pts[: len(result.pts)]
    sound = audio_packets(partial)
    assert sound  # the sound up to that point came along
    # ... and no further: no audio packet starts after the last picture ends (they ran about 0.4 s
    # ahead, read while the decoder and the reorder window held frames: the sound went on over a
    # frozen picture). The input's packets, as many as were kept.
    with av.open(str(partial)) as container:
        audio_tb = container.streams.audio[0].time_base
    assert max(pts for _, pts, _ in sound) * audio_tb < result.end_s
    assert sound == audio_packets(bunny)[: len(sound)]


def test_frames_option_previews_the_start(run_cli, weights_env, bunny, style, tmp_path):
    out = tmp_path / "preview.mp4"
    code, _, err = run_cli("video", bunny, "-s", style, "--size", "32", "--style-size", "64", "--frames", "12",
                           "--threads", "1", "-o", out)
    assert code == 0, err
    result, source = probe(out), probe(bunny)
    assert result.pts == source.pts[:12]
    # The sound ends with the picture (it ran on ~0.4 s: the packets read while the decoder and
    # the reorder window held the last frames): the input's packets that start before 0.5 s.
    copied, original = audio_packets(out), audio_packets(bunny)
    with av.open(str(bunny)) as container:
        audio_tb = container.streams.audio[0].time_base
    assert copied == [p for p in original if p[1] * audio_tb < Fraction(12, 24)]
    assert copied[-1][1] * audio_tb > Fraction(12, 24) - 1024 * audio_tb  # AAC: 1024 samples a packet


@pytest.mark.slow  # (default run's time: 2 s)
def test_mix_and_preserve_color_use_the_first_frame(run_cli, weights_env, data_dir, tmp_path):
    """--preserve-color recolours the style to the first frame: the result's colours follow the clip."""
    styles = [data_dir / "style" / "brushstrokes.jpg", data_dir / "style" / "mondrian.jpg"]
    source = write_video(tmp_path / "clip.mkv", content_frames(data_dir, 3, 64, 48), codec="ffv1", pix_fmt="bgr0")
    results = {}
    for name, extra in {"plain": [], "kept": ["--preserve-color"]}.items():
        out = tmp_path / f"{name}.mkv"
        code, _, err = run_cli("video", source, "-s", styles[0], "-s", styles[1], "--mix", "0.5,0.5",
                               "--style-size", "64", "--codec", "ffv1", "--pix-fmt", "bgr0", "--stabilize", "off", *extra, "-o", out)
        assert code == 0, err
        results[name] = rgb_frames(out)
    assert len(results["kept"]) == 3
    vgg, decoder = weights_env
    stylizer = Stylizer.load(vgg, decoder, device="cpu")
    first = rgb_frames(source)[0]
    stats = StyleStats.mix([stylizer.style_stats(read_image(s), 64, first) for s in styles], [0.5, 0.5])
    assert_same_picture(results["kept"][1], stylizer.stylize(rgb_frames(source)[1], stats))
    assert np.abs(results["kept"][0].astype(int) - results["plain"][0]).mean() > 1


@pytest.mark.slow  # (compiles on the CPU (8-16 s); test_engines compares compile with eager by default)
def test_compile_engine_is_prepared_once_for_the_whole_clip(run_cli, weights_env, style, tmp_path):
    """`--engine compile` in batches of 3 over 5 frames (a short last batch) whose size needs
    padding: compiled once, before the progress bar starts (said on stderr), never again for the
    real frames' memory layout or the tail; frames match eager."""
    from torch._dynamo.utils import counters

    source = write_video(tmp_path / "clip.mp4", gradient_frames(5, 60, 44))
    eager_out, compiled_out = tmp_path / "eager.mp4", tmp_path / "compiled.mp4"
    common = ("-s", style, "--size", "33", "--style-size", "64", "--batch", "3", "--codec", "ffv1", "--stabilize", "off")
    code, _, err = run_cli("video", source, *common, "--engine", "eager", "-o", eager_out)
    assert code == 0, err
    torch._dynamo.reset()
    counters.clear()
    code, _, err = run_cli("video", source, *common, "--engine", "compile", "-o", compiled_out)
    assert code == 0, err
    assert "preparing the compile engine for 45x33, batch 3" in err
    assert counters["stats"]["unique_graphs"] == 1
    assert probe(compiled_out).pts == probe(source).pts
    for expected, got in zip(rgb_frames(eager_out), rgb_frames(compiled_out), strict=True):
        assert np.abs(expected.astype(int) - got.astype(int)).max() <= 2


@pytest.mark.slow  # (default run's time: 2 s)
def test_a_picture_that_changes_shape_mid_stream_is_noted(run_cli, weights_env, style, tmp_path):
    """Joined MPEG-TS, landscape then portrait: one stream has one size, so the portrait frames are
    scaled to it (as FFmpeg does), every frame kept, and the note says so once."""
    parts = []
    for index, size in enumerate(("64x36", "36x64", "64x36")):
        part = tmp_path / f"part{index}.ts"
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc=size={size}:rate=10", "-t", "0.5",
                        "-c:v", "libx264", "-pix_fmt", "yuv420p", str(part)], check=True)
        parts.append(part.read_bytes())
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(parts))
    out = tmp_path / "out.mp4"
    code, _, err = run_cli("video", joined, "-s", style, "--size", "32", "--style-size", "64", "--threads", "1", "-o", out)
    assert code == 0, err
    notes = [line for line in err.splitlines() if "changes shape mid-stream" in line]
    # (both sizes as decoded: it said "a 32x57 frame", the portrait frame at --size 32)
    assert len(notes) == 1 and "a 36x64 frame in a 64x36 video" in notes[0], notes
    assert len(probe(out).pts) == 15


def _sound(path) -> tuple[list[str], np.ndarray, float]:
    """FFmpeg's names for the audio channels of `path`, each channel's RMS level, and the sound's
    length in seconds (all decoded samples). Read without letting PyAV free the channel map of a
    custom-order layout (see sound_decoding.decoder_layout): the layout object is dropped only once the
    decoder has a layout by channel count."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        held = stream.codec_context.layout
        names = [channel.name for channel in held.channels]
        stream.codec_context.layout = f"{len(names)}c"
        del held
        chunks = []
        for frame in container.decode(stream):  # (plane by plane: PyAV's to_ndarray overruns 8 planes)
            dtype, full = {"s16": (np.int16, 32768), "s16p": (np.int16, 32768), "flt": (np.float32, 1),
                           "fltp": (np.float32, 1)}[frame.format.name]
            planes = len(names) if frame.format.is_planar else 1
            samples = np.stack([np.frombuffer(AudioPlane(frame, i), dtype, count=frame.samples * len(names) // planes)
                                for i in range(planes)]) / full
            chunks.append(samples if frame.format.is_planar else samples.reshape(-1, len(names)).T)
        rate = stream.codec_context.sample_rate
    samples = np.concatenate(chunks, axis=1)
    return names, np.sqrt((samples[:, rate // 10: -rate // 10] ** 2).mean(axis=1)), samples.shape[1] / rate


@pytest.mark.parametrize("layout, pcm, ext", [  # (each 7-16 s: one layout runs by default)
    pytest.param("7.1", "pcm_s16le", "mp4", marks=pytest.mark.slow), ("6.1", "pcm_f32le", "mp4"),
    pytest.param("5.1", "pcm_s16le", "ts", marks=pytest.mark.slow)])
@pytest.mark.slow_cases('6.1-pcm_f32le-mp4')  # (default run's time: every layout runs in the slow set)
def test_multichannel_pcm_from_mov_is_reencoded(weights_env, style, tmp_path, layout, pcm, ext):
    """PCM 7.1 or 6.1 in .mov, as `ffmpeg` writes it, re-encoded to AAC for MP4: FFmpeg 8 reads its
    channel order as a custom one, and PyAV's layout objects free such a layout's channel map; the
    run ended in "UnicodeDecodeError", then a corrupt heap (exit 134, or a segfault), leaving a
    .part file. Now each channel keeps its name and level (FFmpeg's resampler reorders them the
    same way), 8 channels for 7.1 and 7 for 6.1 as in `ffmpeg -i in.mov out.mp4`. 5.1 into
    MPEG-TS, whose MP2 takes no more than stereo ("cannot start encoding (Invalid argument)"), was
    then mixed down to stereo MP2, as `ffmpeg` does; MPEG-TS carries AC-3 (broadcast's 5.1 is AC-3),
    which keeps the six channels, so it is re-encoded to that, each channel at its level. Run in a
    process of its own: a crash fails the test."""
    count = {"7.1": 8, "6.1": 7, "5.1": 6}[layout]
    pan = "|".join(f"c{i}={(i + 1) / 10}*c0" for i in range(count))  # channel i at level (i + 1) / 10
    source = tmp_path / "in.mov"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=1",
                    "-f", "lavfi", "-i", "sine=frequency=100:sample_rate=48000:duration=1", "-filter_complex",
                    f"[1]pan={layout}|{pan}[a]", "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-c:a", pcm, str(source)],
                   check=True)
    out = tmp_path / f"out.{ext}"
    run = subprocess.run([sys.executable, "-m", "realtime_adain", "video", str(source), "-s", str(style), "--size", "32",
                          "--style-size", "64", "--threads", "1", "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mov", out.name]  # (no .part file left)
    assert len(probe(out).pts) == 12
    out_names, levels, seconds = _sound(out)
    assert seconds == pytest.approx(1, abs=0.05)
    names, source_levels, _ = _sound(source)
    if ext == "ts":  # AC-3 5.1, its surrounds at the sides (AC-3's 3/2 layout names them so)
        assert "re-encoding it to ac3" in run.stderr and "mixed down" not in run.stderr, run.stderr
        assert out_names == ["FL", "FR", "FC", "LFE", "SL", "SR"], out_names
        np.testing.assert_allclose(levels, source_levels, rtol=0.1)
        return
    assert len(levels) == count
    if layout == "6.1":  # AAC has no 6.1 of its own: MP4 says "7 channels", no names
        np.testing.assert_allclose(np.sort(levels), np.sort(source_levels), rtol=0.1)
        return
    assert out_names == ["FL", "FR", "FC", "LFE", "BL", "BR", "SL", "SR"]  # 7.1
    np.testing.assert_allclose(levels, [source_levels[names.index(name)] for name in out_names], rtol=0.1)


def test_webm_with_the_default_encoder(run_cli, weights_env, style, tmp_path):
    """`-o out.webm` without --codec was always "error: .webm files cannot hold libx264 video (try
    .mkv)": the default follows the container, VP9 (with Opus sound), as `ffmpeg` picks."""
    source = write_video(tmp_path / "in.mp4", gradient_frames(6, 64, 48), audio="aac")
    out = tmp_path / "out.webm"
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "-o", out)
    assert code == 0, err
    result = probe(out)
    assert (result.codec, result.audio_codecs, len(result.pts)) == ("vp9", ["opus"], 6)


def test_a_one_pixel_video(run_cli, weights_env, style, tmp_path):
    """1x1 (a crop to one pixel, FFV1): 4:2:0 was chosen (its one-pixel chroma plane looked full
    size) and x264 refused it: "Generic error in an external library". yuv444p, as FFmpeg picks."""
    source = tmp_path / "one.mkv"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=2x2:rate=12:duration=1",
                    "-vf", "crop=1:1", "-c:v", "ffv1", str(source)], check=True)
    out = tmp_path / "out.mp4"
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "-o", out)
    assert code == 0, err
    result = probe(out)
    assert (result.width, result.height, result.pix_fmt) == (1, 1, "yuv444p") and len(result.pts) == 12


@pytest.mark.parametrize("codec", [pytest.param("libx265", marks=pytest.mark.slow),  # (6-22 s each; encoders that
                                   pytest.param("libsvtav1", marks=pytest.mark.slow)])  # crash or hang run by default)
def test_one_frame_with_encoders_that_talk_on_their_own(weights_env, style, tmp_path, codec):
    """`--frames 1 --codec libx265`: "the .mp4 muxer refused a packet" (x265 made up the decode
    time of a lone frame), after some 40 "x265 [info]" lines that x265 prints itself; SVT-AV1
    prints "Svt[info]" lines the same way. One frame comes out, and stderr holds no encoder
    chatter (a process of its own: the encoders write to file descriptor 2 directly)."""
    source = write_video(tmp_path / "in.mp4", gradient_frames(4, 64, 64))
    for ext in ("mp4", "mkv"):
        out = tmp_path / f"out.{ext}"
        run = subprocess.run([sys.executable, "-m", "realtime_adain", "video", str(source), "-s", str(style), "--size",
                              "32", "--style-size", "64", "--threads", "1", "--frames", "1", "--codec", codec, "-o", str(out)],
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0 and run.stderr == "", run.stderr
        assert len(probe(out).pts) == 1


def test_no_notes_about_changes_that_did_not_happen(run_cli, weights_env, style, tmp_path):
    """--size 8 makes 320x240 frames 11x8 (a rounded pixel: 3% wider than 4:3): that was noted as
    "the picture changes shape mid-stream (a 11x8 frame in a 320x240 video)". And at
    --stabilize-strength 0 nothing is blended, yet a note said the backward pass's cut-off weighs
    "up to 100.0%"."""
    source = write_video(tmp_path / "in.mp4", gradient_frames(4, 320, 240))
    code, _, err = run_cli("video", source, "-s", style, "--size", "8", "--style-size", "64", "-o", tmp_path / "a.mp4")
    assert code == 0 and "note:" not in err, err
    assert len(probe(tmp_path / "a.mp4").pts) == 4
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64",
                           "--stabilize-strength", "0", "-o", tmp_path / "b.mp4")
    assert code == 0 and "note:" not in err, err
