"""`realtime-adain video` on inputs that earlier sweeps left over: a broadcast MPEG-TS carrying
several programs, a header whose declared frame rate its timestamps contradict, audio only a
re-encode can carry (WMA, DVD and Blu-ray PCM), a preview (`--frames`) of a file with subtitles,
and odd files FFmpeg plays. Each input is made with the FFmpeg CLI (or PyAV) and each result is
checked with ffprobe or PyAV."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from realtime_adain.video.reader import VideoReader
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)
from video_corpus import FFMPEG, FFPROBE

CLIP = "testsrc2=size=64x48:rate=12:duration=1"


def ffmpeg(*args: str | Path) -> None:
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", *map(str, args)], check=True, capture_output=True)


def ffprobe_streams(path: Path, entries: str = "index,codec_type,codec_name") -> list[dict]:
    out = subprocess.run([FFPROBE, "-v", "error", "-show_entries", f"stream={entries}", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["streams"]



def two_programs(path: Path) -> Path:
    """A broadcast capture: program A (64x48 video, 440 Hz) and program B (96x64 video, 880 Hz)."""
    ffmpeg("-f", "lavfi", "-i", CLIP, "-f", "lavfi", "-i", "sine=f=440:duration=1",
           "-f", "lavfi", "-i", "testsrc=size=96x64:rate=12:duration=1", "-f", "lavfi", "-i", "sine=f=880:duration=1",
           "-map", "0:v", "-map", "1:a", "-map", "2:v", "-map", "3:a", "-c:v", "libx264", "-c:a", "mp2",
           "-program", "title=A:st=0:st=1", "-program", "title=B:st=2:st=3", path)
    return path


def test_a_multi_program_ts_keeps_only_the_sound_of_the_chosen_videos_program(tmp_path):
    """The largest picture is program B's (#2): its sound is #3; program A's (#1) is another
    channel's (`ffmpeg -i` 5.1 takes #1, the first audio, which plays under the wrong picture)."""
    with VideoReader(two_programs(tmp_path / "mux.ts")) as reader:
        assert reader.stream.index == 2
        assert [s.index for s in reader.passthrough] == [3]


def test_a_multi_program_ts_gives_one_sound_track(run_cli, weights_env, style, tmp_path):
    out = tmp_path / "out.mkv"
    err = stylize(run_cli, two_programs(tmp_path / "capture.ts"), style, out)
    assert "2 programs" in err  # (said once a file name: each test's file is named apart)
    assert [s["codec_type"] for s in ffprobe_streams(out)] == ["video", "audio"]


def test_an_hls_master_playlist_keeps_the_sound_of_the_variant_taken(tmp_path):
    """Each variant of an HLS master playlist is a program with its own copy of the sound: both
    copies were kept, two identical tracks."""
    ffmpeg("-f", "lavfi", "-i", CLIP, "-f", "lavfi", "-i", "sine=duration=1", "-map", "0:v", "-map", "1:a",
           "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-c:a", "aac", "-s:v:1", "32x24", "-f", "hls",
           "-hls_time", "1", "-master_pl_name", "master.m3u8", "-var_stream_map", "v:0,a:0 v:1,a:1",
           tmp_path / "v%v.m3u8")
    with VideoReader(tmp_path / "master.m3u8") as reader:
        assert reader.stream.index == 0
        assert [s.index for s in reader.passthrough] == [1]


def test_streams_outside_programs_are_all_kept(tmp_path):
    """A file without programs (or one program) keeps every sound track, as before."""
    path = tmp_path / "two.mkv"
    ffmpeg("-f", "lavfi", "-i", CLIP, "-f", "lavfi", "-i", "sine=duration=1", "-f", "lavfi", "-i", "sine=duration=1",
           "-map", "0", "-map", "1", "-map", "2", "-c:v", "libx264", "-c:a", "flac", path)
    with VideoReader(path) as reader:
        assert [s.index for s in reader.passthrough] == [1, 2]


def flv_declaring(path: Path, declared: int, real: int, frames: int = 12) -> Path:
    """An FLV whose header (onMetaData framerate) declares `declared` fps over timestamps `real`
    fps apart, as screen recorders and restreamers write them."""
    from video_samples import gradient_frames

    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=declared)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.codec_context.time_base = Fraction(1, 1000)
        for index, image in enumerate(gradient_frames(frames, 64, 48)):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = index * 1000 // real, Fraction(1, 1000)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
    return path


def test_a_declared_rate_the_timestamps_contradict_is_not_carried_over(run_cli, weights_env, style, tmp_path):
    """FFmpeg reads the FLV as 30 fps on average (its header) and 12 by its timestamps; `ffmpeg -i`
    writes 12 (its guessed rate). A .mkv declared 30 fps (its default duration 33 ms a frame; an
    .mp4 states none: its rate is worked out from its frames' times)."""
    source = flv_declaring(tmp_path / "recording.flv", declared=30, real=12)
    with av.open(str(source)) as probe:
        assert (probe.streams.video[0].average_rate, probe.streams.video[0].guessed_rate) == (30, 12)
    out = tmp_path / "out.mkv"
    stylize(run_cli, source, style, out)
    stream = ffprobe_streams(out, "codec_type,avg_frame_rate,r_frame_rate")[0]
    assert abs(Fraction(stream["avg_frame_rate"]) - 12) < Fraction(1, 10), stream
    assert Fraction(stream["r_frame_rate"]) == 12, stream


def test_a_variable_rate_keeps_its_average(tmp_path):
    """Timestamps on a 60 fps grid at 20 fps on average (12, 30 and 20 fps mixed): the average
    is the rate to declare, as before (FFmpeg's guessed rate is the grid's, 60)."""
    from video_samples import gradient_frames, write_video

    steps = [5, 2, 3] * 8  # ticks of 1/60 s
    pts = [sum(steps[:i]) for i in range(len(steps))]
    path = write_video(tmp_path / "vfr.mp4", gradient_frames(len(pts), 64, 48), pts, Fraction(1, 60))
    with VideoReader(path) as reader:
        assert reader.stream.guessed_rate == 60
        assert abs(reader.frame_rate - 18) < 1


def audio_of(path: Path) -> dict:
    streams = ffprobe_streams(path, "codec_type,codec_name,sample_rate,channels,sample_fmt,bits_per_raw_sample")
    return next(s for s in streams if s["codec_type"] == "audio")


def samples(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.concatenate([frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)])


# Sound only a re-encode carries into .mkv/.mov: (input ext, ffmpeg audio options).
UNCOPYABLE = {
    "wmav2": ("wmv", ("-c:v", "wmv2", "-c:a", "wmav2")),
    "nellymoser": ("flv", ("-c:v", "flv", "-ar", "22050", "-c:a", "nellymoser")),
    "pcm_dvd": ("vob", ("-c:v", "mpeg2video", "-c:a", "pcm_dvd", "-ac", "2", "-f", "vob")),
    "pcm_bluray-24": ("m2ts", ("-c:v", "libx264", "-c:a", "pcm_bluray", "-sample_fmt", "s32", "-ac", "2",
                               "-f", "mpegts", "-mpegts_m2ts_mode", "1")),
    "flac-24": ("mkv", ("-c:v", "libx264", "-c:a", "flac", "-sample_fmt", "s32")),  # (.mov refuses FLAC: was AAC)
    "s302m": ("ts", ("-c:v", "libx264", "-c:a", "s302m", "-strict", "-2", "-ac", "2", "-f", "mpegts")),  # broadcast PCM
}
# What each becomes: (in .mkv, in .mov, in .mp4). Lossless where the container takes it: PCM as
# PCM of its depth, FLAC as PCM in .mov (which refuses FLAC; .mkv and .mp4 copy it); other sound as FLAC in .mkv; AAC in
# .mp4 (and lossy sound in .mov), as `ffmpeg -i in out.mp4` makes it; .mov holds Nellymoser as it is.
BECOMES = {
    "wmav2": ("flac", "aac", "aac"),
    "nellymoser": ("flac", "nellymoser", "aac"),
    "pcm_dvd": ("pcm_s16le", "pcm_s16le", "aac"),
    "pcm_bluray-24": ("pcm_s24le", "pcm_s24le", "aac"),
    "s302m": ("flac", "pcm_s16le", "aac"),  # (lossless, not PCM by name: FLAC in .mkv, PCM in .mov)
    "flac-24": ("flac", "pcm_s24le", "flac"),  # (its stated depth, 24 bits: its STREAMINFO says it)
}


@pytest.mark.parametrize("name", [  # (5-11 s each: two kinds of sound run by default)
    pytest.param(name, marks=pytest.mark.slow) if name in {"wmav2", "nellymoser", "pcm_dvd", "pcm_bluray-24"} else name
    for name in UNCOPYABLE])
@pytest.mark.slow_cases('flac-24', 's302m')
def test_sound_a_container_cannot_copy_is_converted_losslessly_where_it_can(name, run_cli, weights_env, style,
                                                                           tmp_path):
    """WMA, Nellymoser, DVD and Blu-ray PCM into .mkv went to AC-3 (a second lossy generation;
    Nellymoser's 22050 Hz resampled to 32000, which AC-3 takes)."""
    ext, args = UNCOPYABLE[name]
    source = tmp_path / f"{name}.{ext}"
    ffmpeg("-f", "lavfi", "-i", CLIP, "-f", "lavfi", "-i", "sine=f=440:sample_rate=48000:duration=1", *args, source)
    given = audio_of(source)
    for target, codec in zip(("mkv", "mov", "mp4"), BECOMES[name]):
        out = tmp_path / f"out.{target}"
        err = stylize(run_cli, source, style, out)
        got = audio_of(out)
        assert got["codec_name"] == codec, (target, err)
        assert (got["sample_rate"], got["channels"]) == (given["sample_rate"], given["channels"]), target
        if codec.startswith("pcm_"):  # the same samples
            assert np.array_equal(samples(out), samples(source)), target
        if codec != given["codec_name"]:
            assert f"re-encoding it to {codec}" in err
            assert ("losslessly" in err) == (codec != "aac"), err


PREVIEW_SRT = """1
00:00:00,000 --> 00:00:00,150
Short

2
00:00:00,200 --> 00:00:01,900
Long

3
00:00:01,000 --> 00:00:01,800
Later
"""


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_a_preview_lasts_as_long_as_its_pictures_not_its_subtitles(ext, run_cli, weights_env, style, tmp_path):
    """`--frames 5` of a 10 fps clip is 0.5 s; its second line showed until 1.9 s, and so did the
    file (`ffmpeg -frames:v 5` too). Now a line that outlasts the pictures ends with them, one that
    ends within them is kept whole, and one that starts after them is left out (.mp4: converted
    to mov_text, timed the same)."""
    (tmp_path / "lines.srt").write_text(PREVIEW_SRT)
    source = tmp_path / "subtitled.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=2", "-i", tmp_path / "lines.srt",
           "-c:v", "libx264", "-c:s", "srt", source)
    out = tmp_path / f"preview.{ext}"
    stylize(run_cli, source, style, out, "--frames", "5")
    srt = subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-i", str(out), "-map", "0:s", "-f", "srt", "-"],
                         capture_output=True, text=True, check=True).stdout
    assert "00:00:00,000 --> 00:00:00,150\nShort" in srt
    assert "00:00:00,200 --> 00:00:00,500\nLong" in srt
    assert "Later" not in srt
    seconds = subprocess.run([FFPROBE, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(out)],
                             capture_output=True, text=True, check=True).stdout
    assert float(seconds) == pytest.approx(0.5, abs=0.01)


@pytest.mark.slow
def test_fonts_attached_to_a_matroska_file_stay_with_its_subtitles(run_cli, weights_env, style, tmp_path):
    """An anime release's .mkv carries the fonts its ASS subtitles are drawn in, as attachments;
    the output .mkv lost them (the lines then showed in a fallback font). They are copied into a
    .mkv, the one container here that holds attachments, and left out of others with a note."""
    (tmp_path / "lines.srt").write_text(PREVIEW_SRT)
    font = tmp_path / "Brush.ttf"
    font.write_bytes(b"\x00\x01\x00\x00" + bytes(range(256)) * 4)  # (the muxer does not look inside)
    source = tmp_path / "release.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1", "-i", tmp_path / "lines.srt",
           "-c:v", "libx264", "-c:s", "ass", "-attach", font, "-metadata:s:t", "mimetype=font/ttf", source)
    out = tmp_path / "out.mkv"
    stylize(run_cli, source, style, out)
    kept = [s for s in ffprobe_streams(out, "codec_type:stream_tags=filename,mimetype")
            if s["codec_type"] == "attachment"]
    assert [s["tags"] for s in kept] == [{"filename": "Brush.ttf", "mimetype": "font/ttf"}]
    subprocess.run([FFMPEG, "-nostdin", "-v", "quiet", "-y", "-dump_attachment:t:0", str(tmp_path / "back.ttf"),
                    "-i", str(out)], cwd=tmp_path)  # (exits 1: no output named; the attachment is written first)
    assert (tmp_path / "back.ttf").read_bytes() == font.read_bytes()
    err = stylize(run_cli, source, style, tmp_path / "out.mp4")
    assert "dropping attachment stream #2 (Brush.ttf): .mp4 cannot hold it (use .mkv to keep it)" in err


@pytest.mark.parametrize("ext", ["mov", "avi"])
@pytest.mark.slow_cases('mov')
def test_a_gap_in_pcm_sound_stays_a_gap_where_samples_are_counted(ext, run_cli, weights_env, style, tmp_path):
    """PCM with a second missing in the middle (a recorder that dropped sound, a cut): MOV and AVI
    time PCM by counting samples, so the sound after the gap played a second early, out of sync
    to the end (`ffmpeg -c copy` does the same). The gap is filled with silence."""
    source = tmp_path / "dropout.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=3", "-f", "lavfi", "-i", "sine=duration=3",
           "-af", "aselect='not(between(t,1,2))'", "-c:v", "libx264", "-c:a", "pcm_s16le", source)
    out = tmp_path / f"out.{ext}"
    stylize(run_cli, source, style, out)
    assert ffprobe_streams(out, "codec_type,codec_name")[1]["codec_name"] == "pcm_s16le"
    sound = samples(out).astype(float)
    rate = 44100
    assert len(sound) == pytest.approx(3 * rate, abs=rate // 20)
    assert np.abs(sound[int(1.1 * rate):int(1.9 * rate)]).max() == 0  # the gap: silence
    assert np.abs(sound[int(2.1 * rate):int(2.9 * rate)]).max() > 1000  # the sound after it, in place


@pytest.mark.slow  # (default run's time: 2 s)
def test_sound_that_starts_late_keeps_its_place_in_an_avi(run_cli, weights_env, style, tmp_path):
    """A .mkv whose AAC starts 5 s after its picture (a recorder that started the sound late):
    FFmpeg has not read its frame size then (it looks at the first 5 s), and the AVI muxer,
    counting its samples as frames, refused it ("the .avi muxer refused a packet"). It is
    re-encoded now, and as AVI plays sound from the file's start (no edit list; `ffmpeg -i in.mkv
    out.avi` plays it 5 s early) it is preceded by silence."""
    source = tmp_path / "late.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=4:duration=6", "-itsoffset", "5", "-f", "lavfi", "-i",
           "sine=duration=1", "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-c:a", "aac", source)
    out = tmp_path / "out.avi"
    err = stylize(run_cli, source, style, out)
    # (not "cannot hold aac audio" alone: AVI holds AAC, the copy's timing is what fails; so for DTS
    # and E-AC-3, whose frame size FFmpeg never finds: `ffmpeg -c copy` made a 1 s clip 5 MB of chunks)
    assert ".avi cannot hold aac audio whose frame size FFmpeg does not know (AVI would time it by the byte" in err
    assert "re-encoding it to mp3" in err
    sound, rate = samples(out), 44100
    assert np.abs(sound[:int(4.9 * rate)]).max() == 0
    assert np.abs(sound[int(5.1 * rate):int(5.9 * rate)]).max() > 0.05
