"""`realtime-adain video` on sound that real recordings carry: a broadcast capture or joined files
whose sound changes rate, sample format or channel layout mid-stream, channels of an unspecified
order, and decoding threads that cannot start. Inputs are made with the FFmpeg CLI; each output is
checked with PyAV (samples, channels, pitch) and played through `ffmpeg -f null`."""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from live_support import cli_env
from test_signals import spawn, wait_for_frames_in_file
from test_video_leftovers import ffmpeg
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)
from video_corpus import FFMPEG

TONE = 440


def segment(path: Path, rate: int, layout: str, codec_args: tuple[str, ...]) -> Path:
    """One second of 64x48 video with a 440 Hz tone of `rate` Hz in `layout`, as MPEG-TS (m2ts
    packets for Blu-ray PCM), the way broadcast captures and joined recordings are cut."""
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=1", "-f", "lavfi", "-i",
           f"sine=f={TONE}:sample_rate={rate}:duration=1", "-filter_complex", f"[1]aformat=channel_layouts={layout}[a]",
           "-map", "0:v", "-map", "[a]", "-c:v", "libx264", *codec_args, "-f", "mpegts", path)
    return path


def joined(path: Path, *segments: Path) -> Path:
    path.write_bytes(b"".join(s.read_bytes() for s in segments))
    return path


def sound(path: Path) -> tuple[int, np.ndarray]:
    """(sample rate, channels x samples as floats) of the first audio stream."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        channels, chunks = stream.codec_context.channels, []
        for frame in container.decode(stream):
            data = frame.to_ndarray().astype(float)
            chunks.append(data if frame.format.is_planar else data.reshape(-1, channels).T)
        return stream.codec_context.sample_rate, np.concatenate(chunks, axis=1)


def pitch(samples: np.ndarray, rate: int) -> list[int]:
    """The tone's frequency (Hz) in each whole half second, counted by zero crossings."""
    half, found = rate // 2, []
    for start in range(0, len(samples) - half + 1, half):
        window = samples[start:start + half] - samples[start:start + half].mean()
        found.append(round(np.count_nonzero(np.diff(np.sign(window))) / 2 / 0.5))
    return found


def plays(path: Path) -> str:
    return subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-f", "null", "-"],
                          capture_output=True, text=True).stderr


PCM = ("-c:a", "pcm_bluray", "-mpegts_m2ts_mode", "1")
PCM_24 = ("-c:a", "pcm_bluray", "-sample_fmt", "s32", "-mpegts_m2ts_mode", "1")
AC3 = ("-c:a", "ac3")
# name -> (each segment's (rate, layout, codec arguments), the change the note names)
CHANGES = {
    "rate": ([(48000, "stereo", PCM), (96000, "stereo", PCM)], "48000 Hz stereo s16 to 96000 Hz stereo s16"),
    "depth": ([(48000, "stereo", PCM), (48000, "stereo", PCM_24)], "48000 Hz stereo s16 to 48000 Hz stereo s32"),
    "ad-break": ([(48000, "stereo", PCM), (48000, "5.1", PCM), (48000, "stereo", PCM)], "48000 Hz stereo s16 to 48000 Hz 5.1"),
    "ac3-rate": ([(48000, "stereo", AC3), (44100, "stereo", AC3)], "48000 Hz stereo fltp to 44100 Hz stereo fltp"),
}


@pytest.mark.parametrize("change, ext", [("rate", "mp4"), pytest.param("rate", "mov", marks=pytest.mark.slow),
                                         ("depth", "mkv"), pytest.param("ad-break", "avi", marks=pytest.mark.slow),
                                         ("ad-break", "mov"), ("ac3-rate", "webm")])  # (4-5 s each)
@pytest.mark.slow_cases('depth-mkv', 'rate-mp4', 'ad-break-mov', 'ac3-rate-webm')  # (default run's time: 2 s)
def test_sound_that_changes_mid_stream_is_converted_to_the_first_kind(change, ext, run_cli, weights_env, style,
                                                                      tmp_path):
    """Joined broadcast segments whose sound switches 48 -> 96 kHz, 16 -> 24 bits, 2.0 -> 5.1 ->
    2.0 (an ad break) or AC-3 48 -> 44.1 kHz, re-encoded: into .mp4, .avi and .webm the encoder's
    resampler was set up by the first frame and the next kind raised "ValueError: Frame does not
    match AudioResampler setup" (a traceback, no file); into .mov and .mkv (PCM, passed through)
    the later samples were written as if of the first kind: the 96 kHz second played 2 s long at
    half pitch, 24-bit and 5.1 sound as noise. Now every part keeps its pitch and length, in the
    first part's kind, as `ffmpeg` converts it, with a note."""
    parts, said = CHANGES[change]
    source = joined(tmp_path / "joined.ts",
                    *(segment(tmp_path / f"{i}.ts", *part) for i, part in enumerate(parts)))
    out = tmp_path / f"out.{ext}"
    err = stylize(run_cli, source, style, out)
    assert f"the sound changes mid-stream ({said}" in err
    rate, samples = sound(out)
    assert samples.shape[1] / rate == pytest.approx(len(parts), abs=1 / 12 + 0.1)  # (+ encoder delay: mp3, opus)
    tone = pitch(samples[np.argmax(np.abs(samples).max(axis=1))], rate)
    assert all(abs(found - TONE) < 30 for found in tone[1:-1]), tone  # (the ends: the encoder's delay)
    assert plays(out) == ""
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("out")) == [out.name]


@pytest.mark.parametrize("ext", ["webm", "mp4"])
@pytest.mark.slow_cases('webm')  # (default run's time: 1 s)
def test_three_channels_of_no_named_order_keep_the_third(ext, run_cli, weights_env, style, tmp_path):
    """3-channel PCM in .mkv (L R C: Matroska stores no channel names) was taken as FFmpeg's
    default for 3 channels, 2.1, its third channel a subwoofer: Opus mixed it down to stereo,
    dropping that channel (the output was silent), and AAC band-limited it (at 1% of its level).
    It is 3.0 now, which both encoders take, every channel at its level."""
    source = tmp_path / "three.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=1", "-f", "lavfi", "-i",
           f"sine=f={TONE}:sample_rate=48000:duration=1", "-filter_complex",
           "[1]pan=3c|c0=0.1*c0|c1=0.2*c0|c2=0.4*c0[a]", "-map", "0:v", "-map", "[a]", "-c:v", "libx264",
           "-c:a", "pcm_s16le", source)
    out = tmp_path / f"out.{ext}"
    stylize(run_cli, source, style, out)
    _, given = sound(source)
    rate, got = sound(out)
    assert got.shape[0] == 3
    levels = np.sqrt((got[:, rate // 10:-rate // 10] ** 2).mean(axis=1))
    expected = np.sqrt((given[:, rate // 10:-rate // 10] ** 2).mean(axis=1)) / 32768
    np.testing.assert_allclose(levels, expected, rtol=0.15)


def limited(stack_kib: int, memory_kib: int):
    """A child's limits: each thread's stack `stack_kib` (glibc reserves it per thread) in at most
    `memory_kib` of address space: threads that cannot start, as under `ulimit -u` for a non-root
    user (root is exempt from that limit)."""
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_STACK, (stack_kib * 1024, stack_kib * 1024))
        resource.setrlimit(resource.RLIMIT_AS, (memory_kib * 1024, memory_kib * 1024))
    return apply


@pytest.mark.slow  # (default run's time: 4 s)
def test_threads_that_cannot_start_are_named_not_taken_for_damage(weights_env, data_dir, style, tmp_path):
    """Where FFmpeg cannot start its threads (EAGAIN), the run said "241 damaged video packets
    skipped" then "the video has no frames" (the decoder did not open, each packet failed). Now one
    line names the cause and the limits to raise, and nothing is left behind."""
    out = tmp_path / "out.mp4"
    run = subprocess.run([sys.executable, "-m", "realtime_adain", "video", str(data_dir / "videos" / "cutBunny.mp4"),
                          "-s", str(style), "--size", "32", "--style-size", "64", "--stabilize", "off", "-o", str(out)],
                         capture_output=True, text=True, timeout=120, preexec_fn=limited(2_000_000, 8_000_000),
                         env={**os.environ, "OPENCV_LOG_LEVEL": "SILENT"})
    errors = [line for line in run.stderr.splitlines() if line.startswith(("error:", "note:"))]
    assert run.returncode != 0 and len(errors) == 1, run.stderr
    assert "FFmpeg cannot start its threads" in errors[0] and "`ulimit -u`" in errors[0], run.stderr
    assert "Traceback" not in run.stderr
    assert not any(p.name.startswith("out") for p in tmp_path.iterdir())


# name -> (where the sound is missing: the audio filter, or an offset for its start; audio codec arguments, format)
COPIED_GAPS = {
    "ac3-dropout": ("aselect='not(between(t,0.5,1.0))'", ("-c:a", "ac3"), "mpegts"),
    "mp2-dropout": ("aselect='not(between(t,0.5,1.0))'", ("-c:a", "mp2"), "mpegts"),
    "mp3-dropout": ("aselect='not(between(t,0.5,1.0))'", ("-c:a", "libmp3lame"), "matroska"),
    "mp3-late": ("aselect='gte(t,1.0)'", ("-c:a", "libmp3lame"), "matroska"),
}


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name == "mp3-late" else name
                                  for name in COPIED_GAPS])  # (4 s each)
@pytest.mark.slow_cases('ac3-dropout', 'mp2-dropout')  # (default run's time: 2 s)
def test_missing_sound_copied_into_avi_stays_in_its_place(name, run_cli, weights_env, style, tmp_path):
    """AC-3, MP2 and MP3 copied into .avi with half a second missing (a broadcast dropout, a cut)
    or starting late: AVI plays each frame of sound after the one before, whatever its timestamp,
    so the gap closed up and the rest played 0.5 s early, out of sync to the end (as `ffmpeg -c
    copy` leaves it; PCM gaps were filled already). Silent frames of the codec now fill it."""
    where, codec, fmt = COPIED_GAPS[name]
    source = tmp_path / "gap.in"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=2", "-f", "lavfi", "-i",
           f"sine=f={TONE}:sample_rate=44100:duration=2", "-filter_complex", f"[1]{where}[a]", "-map", "0:v",
           "-map", "[a]", "-c:v", "libx264", *codec, "-f", fmt, source)
    out = tmp_path / "out.avi"
    stylize(run_cli, source, style, out)
    rate, samples = sound(out)
    assert samples.shape[1] / rate == pytest.approx(2, abs=1 / 12)
    peaks = np.abs(samples).max(axis=0)[:2 * rate].reshape(20, -1).max(axis=1)  # each tenth of a second
    assert peaks[6:9].max() < 0.01 * peaks.max(), peaks  # the gap: silence
    assert peaks[12:19].min() > 0.5 * peaks.max(), peaks  # the sound after it, in place
    assert plays(out) == ""


def with_a_jump(path: Path, codec: str, jump_s: float) -> Path:
    """2 s of pictures and sound whose second half-second of packets is stamped `jump_s` later (a
    damaged timestamp), in .mkv."""
    out = av.open(str(path), "w")
    video = out.add_stream("mpeg4", rate=12)
    video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
    audio = out.add_stream(codec, rate=48000, layout="stereo")
    for index in range(24):
        frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), index * 10, np.uint8), format="rgb24")
        frame.pts = index
        for packet in video.encode(frame):
            out.mux(packet)
    starts = [*range(0, 24000, 1024), *(round(jump_s * 48000) + s for s in range(0, 24000, 1024))]
    for start in starts:
        tone = (np.sin(2 * np.pi * TONE * (np.arange(1024) + start) / 48000) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.repeat(tone[None], 2, axis=0).T.reshape(1, -1), format="s16",
                                           layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = 48000, start, Fraction(1, 48000)
        for packet in audio.encode(frame):
            out.mux(packet)
    for stream in (video, audio):
        for packet in stream.encode(None):
            out.mux(packet)
    out.close()
    return path


@pytest.mark.slow  # (default run's time: 3 s)
def test_a_gap_of_hours_in_the_sound_is_not_filled(run_cli, weights_env, style, tmp_path):
    """A damaged timestamp three hours on: the .avi of a 400 KB file became 2 GB of silence, held in
    memory at once (2.8 GB); copied AC-3 took 1.3 GB. Gaps longer than LONGEST_FILLED_GAP are left
    (a note); where AVI then cannot be finished, the error says so and names .mkv."""
    pcm = with_a_jump(tmp_path / "pcm.mkv", "pcm_s16le", 3 * 3600)
    code, _, err = run_cli("video", pcm, "-s", style, "--size", "32", "--style-size", "64", "--stabilize", "off",
                           "-o", tmp_path / "pcm.avi")
    assert code == 0, err
    assert re.search(rf"note: {pcm.name}: stream #1: a gap of 1079\d s in its sound is left as it is", err), err
    assert (tmp_path / "pcm.avi").stat().st_size < 2_000_000
    ac3 = with_a_jump(tmp_path / "ac3.mkv", "ac3", 3 * 3600)
    code, _, err = run_cli("video", ac3, "-s", style, "--size", "32", "--style-size", "64", "--stabilize", "off",
                           "-o", tmp_path / "ac3.avi")
    assert code == 2 and re.search(r"its sound jumps by 1079\d s, damaged: .mkv takes such a jump$", err.strip()), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ac3.mkv", "pcm.avi", "pcm.mkv"]


@pytest.mark.slow  # (default run's time: 2 s)
def test_a_gap_of_seconds_is_still_filled_a_second_at_a_time(run_cli, weights_env, style, tmp_path):
    source = with_a_jump(tmp_path / "pcm.mkv", "pcm_s16le", 30)
    stylize(run_cli, source, style, tmp_path / "out.avi")
    rate, samples = sound(tmp_path / "out.avi")
    assert samples.shape[1] / rate == pytest.approx(30.5, abs=0.05)


def with_an_empty_sound_track(path: Path, frames: int) -> Path:
    """A Matroska of `frames` pictures and an AAC track that holds no packet."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=12)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        out.add_stream("aac", rate=48000, layout="stereo")
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), index * 10, np.uint8), format="rgb24")
            frame.pts = index
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
    return path


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_an_audio_stream_without_sound_is_said(ext, run_cli, weights_env, style, tmp_path):
    """An audio stream with no packets: MP4's muxer left the track out, Matroska writes it empty;
    either way the output had nothing to say about it."""
    source = with_an_empty_sound_track(tmp_path / "empty_sound.mkv", 12)
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "--stabilize", "off",
                           "-o", tmp_path / f"out.{ext}")
    assert code == 0, err
    assert f"note: {source.name}: audio stream #1 holds no sound (no packets); .{ext} gets an empty track or none" in err


@pytest.mark.slow  # about 30 s: frames enough to reach the file before the interrupt
def test_an_interrupted_run_does_not_say_its_sound_is_missing(published_weights, style, tmp_path):
    """Ctrl-C before the sound starts (it begins 50 s in): the partial file has no sound packets
    yet, and the run said "audio stream #1 holds no sound", which is false of the input."""
    source = tmp_path / "late_sound.mkv"
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=12:duration=60",
                    "-itsoffset", "50", "-f", "lavfi", "-i", "sine=duration=1", "-c:v", "mpeg4", "-c:a", "aac",
                    str(source)], check=True)
    out = tmp_path / "out"
    out.mkdir()
    process = spawn(["video", source, "-s", style, "--size", "128", "--style-size", "64", "--stabilize", "off",
                     "--threads", "1", "-o", out / "clip.mp4"], cli_env(published_weights, tmp_path / "home"), tmp_path)
    wait_for_frames_in_file(process, out, "clip")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert "interrupted" in err and (out / "clip.partial.mp4").is_file(), err
    assert "holds no sound" not in err, err
