"""`realtime-adain video` on look-alikes of files from producers the other video tests do not
imitate: broadcast recorders (an empty or late audio PID), Blu-ray remuxes (TrueHD), DVDs (navigation
packets), AVCHD and HDV camcorders, DV tape, editors' ProRes and MXF with several mono PCM tracks,
security cameras (G.711, H.265, dropped frames), Flash-era webcams (Nellymoser, Speex), MP4
players' AMV, game cut-scenes (RoQ, SMJPEG), VCD. Each is made with the FFmpeg CLI, run through the
CLI, and compared with what ffprobe reads of the input; streams no output carries are named."""

from __future__ import annotations

import json
import re
import struct
import subprocess
from pathlib import Path

import av
import pytest

from test_video_devices14 import assert_same_timing, ffmpeg
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)
from video_corpus import FFPROBE, facts


def lavfi(source: str) -> tuple[str, ...]:
    return "-f", "lavfi", "-i", source


def clip(size: str = "96x64", rate: str | int = 25, seconds: float = 1) -> tuple[str, ...]:
    return lavfi(f"testsrc2=size={size}:rate={rate}:duration={seconds}")


def sine(rate: int = 48000, seconds: float = 1, frequency: int = 440) -> tuple[str, ...]:
    return lavfi(f"sine=frequency={frequency}:sample_rate={rate}:duration={seconds}")


def tracks(path: Path) -> list[dict]:
    """Each audio track: codec, sample rate, start (s), and its packets' bytes and span (s), read
    as FFmpeg reads them (up to data it cannot read)."""
    with av.open(str(path)) as container:
        audio = container.streams.audio
        packets: dict[int, list[av.Packet]] = {stream.index: [] for stream in audio}
        try:
            for packet in container.demux(*audio):
                if packet.size:
                    packets[packet.stream.index].append(packet)
        except av.error.InvalidDataError:
            pass
        found = []
        for stream in audio:
            times = [(p.pts * p.time_base, (p.pts + (p.duration or 0)) * p.time_base) for p in packets[stream.index]
                     if p.pts is not None]
            found.append({"codec": stream.codec_context.name, "rate": stream.codec_context.sample_rate,
                          "bytes": sum(p.size for p in packets[stream.index]),
                          "start": float(min(t[0] for t in times)) if times else None,
                          "span": float(max(t[1] for t in times) - min(t[0] for t in times)) if times else 0.0})
    return found


def video_start(path: Path) -> float:
    out = subprocess.run([FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=start_time",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True).stdout
    return float(json.loads(out)["streams"][0]["start_time"])


def late_sound_ts(folder: Path) -> Path:
    """A broadcast recording whose sound starts 10 s in: FFmpeg meets none of it while it opens the
    file (it reads 5 s ahead), so the track has no format (sample rate 0)."""
    path = folder / "late.ts"
    ffmpeg(*clip("64x48", 2, 12), "-itsoffset", "10", *sine(44100), "-c:v", "mpeg2video", "-c:a", "mp2", path)
    return path


def empty_pid_ts(folder: Path) -> Path:
    """A DVB recording whose programme declares an audio track (audio description) that carries nothing."""
    path = folder / "empty.ts"
    ffmpeg(*clip("64x48", 12), *sine(), *sine(), "-map", "0:v", "-map", "1:a", "-map", "2:a", "-frames:a:1", "0",
           "-c:v", "mpeg2video", "-c:a", "mp2", path)
    return path


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
@pytest.mark.slow_cases('mkv')  # (default run's time: 2 s)
def test_sound_that_starts_after_the_file_is_opened_is_kept_at_its_time(ext, run_cli, weights_env, style, tmp_path):
    """With no format for it, FLAC (.mkv) had no rate to open at: a ZeroDivisionError traceback;
    an .mp4 said "cannot hold mp3 audio (its muxer refuses it)" and encoded it at 7350 Hz, AAC's
    lowest rate. Now it is re-encoded at 48 kHz, from its own time, with a note saying why."""
    source = late_sound_ts(tmp_path)
    with av.open(str(source)) as container:
        assert container.streams.audio[0].codec_context.sample_rate == 0  # (what this test is about)
    out = tmp_path / f"out.{ext}"
    err = stylize(run_cli, source, style, out)
    assert "audio stream #1 (mp3): none of its sound is near the start of the file, so its format is not known" in err
    assert "muxer refuses" not in err, err
    assert_same_timing(out, source)
    [sound] = tracks(out)
    assert sound["rate"] == 48000 and sound["span"] == pytest.approx(1, abs=0.05)
    assert sound["start"] - video_start(out) == pytest.approx(10, abs=0.05)


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_an_empty_audio_track_of_a_broadcast_is_said_not_a_traceback(ext, run_cli, weights_env, style, tmp_path):
    """The same with no sound at all in the track: a traceback into .mkv, a false reason in .mp4."""
    source = empty_pid_ts(tmp_path)
    out = tmp_path / f"out.{ext}"
    err = stylize(run_cli, source, style, out)
    assert "audio stream #2 (mp3): none of its sound is near the start of the file" in err, err
    got, expected = facts(out), facts(source)
    assert (got.frames, got.seconds) == (expected.frames, pytest.approx(expected.seconds, abs=1e-3))
    assert tracks(out)[0]["bytes"] == tracks(source)[0]["bytes"]  # the first track copied whole
    assert len(tracks(out)) == 2 or "audio stream #2 holds no sound" in err  # (MP4's muxer leaves an empty one out)


@pytest.mark.slow  # (default run's time: 2 s)
def test_truehd_from_a_blu_ray_keeps_its_timing_in_matroska(run_cli, weights_env, style, tmp_path):
    """TrueHD comes 1200 packets a second; a .mkv counts milliseconds, so packets share one. Each
    such packet was moved a millisecond on ("packet timestamps that do not increase"): the sound's
    timestamps ran 20% slow (1.2 s for 1 s), as they would by 20 minutes in a 100-minute film.
    Matroska takes a repeated time (`ffmpeg -c copy` writes it so)."""
    source = tmp_path / "00001.m2ts"
    ffmpeg(*clip(rate=24), *sine(), "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-c:a", "truehd", "-strict", "-2",
           "-ac", "2", "-f", "mpegts", "-mpegts_m2ts_mode", "1", source)
    out = tmp_path / "out.mkv"
    err = stylize(run_cli, source, style, out)
    assert "do not increase" not in err, err
    assert_same_timing(out, source)
    copied, expected = tracks(out)[0], tracks(source)[0]
    assert copied["codec"] == "truehd" and copied["bytes"] == expected["bytes"]
    assert copied["span"] == pytest.approx(expected["span"], abs=0.01)


def test_an_unreadable_end_keeps_the_pictures_and_sound_before_it(run_cli, weights_env, style, tmp_path):
    """An SMJPEG (Loki's game cut-scenes) ends in a tag FFmpeg 8's demuxer reads as invalid data:
    `ffmpeg` keeps all 15 frames and exits 0; the run was "error: corrupt video data after 15 frames"."""
    source = tmp_path / "intro.mjpg"
    ffmpeg(*clip(rate=15), *sine(22050), "-c:v", "mjpeg", "-c:a", "pcm_s16le", "-f", "smjpeg", source)
    out = tmp_path / "out.mkv"
    err = stylize(run_cli, source, style, out)
    assert re.search(r"note: intro.mjpg: data it cannot read ends the file at 0\.9\d s \(Invalid data", err), err
    assert_same_timing(out, source)
    assert tracks(out)[0]["bytes"] == tracks(source)[0]["bytes"]


@pytest.mark.slow  # (default run's time: 2 s)
def test_a_dvds_navigation_packets_are_named_by_their_codec(run_cli, weights_env, style, tmp_path):
    """Every authored DVD's VOB carries navigation packets, which FFmpeg 8 reads as a data stream:
    it was named only as "data stream #0", which says nothing of what it is."""
    source = tmp_path / "VTS_01_1.VOB"
    ffmpeg(*clip(rate="30000/1001"), *sine(), "-target", "ntsc-dvd", "-s", "96x64", "-b:v", "500k", "-maxrate",
           "1000k", source)
    err = stylize(run_cli, source, style, tmp_path / "out.mp4")
    assert "leaving out data stream #0 (dvd_nav_packet)" in err, err


def spu(shown_s: float, width: int = 32, height: int = 16) -> bytes:
    """One DVD subtitle (a sub-picture unit): a box in colour 1, shown at once for `shown_s`. Its
    lines are run-length coded as "the rest of the line in colour 1" (0x0001), top field then
    bottom; two command sequences follow: set colours, contrast, area and fields, show; then stop."""
    fields = b"\x00\x01" * height
    first = 4 + len(fields)
    x1, y1, x2, y2 = 10, 10, 10 + width - 1, 10 + height - 1
    area = bytes([x1 >> 4, (x1 & 15) << 4 | x2 >> 8, x2 & 255, y1 >> 4, (y1 & 15) << 4 | y2 >> 8, y2 & 255])
    show = (b"\x03\x01\x23\x04\xff\xf0\x05" + area + b"\x06" + struct.pack(">HH", 4, 4 + height) + b"\x01\xff")
    second = first + 4 + len(show)
    body = fields + struct.pack(">HH", 0, second) + show + struct.pack(">HH", round(shown_s * 90000 / 1024), second)
    body += b"\x02\xff"
    return struct.pack(">HH", 4 + len(body), first) + body


def vobsub(stem: Path, starts: list[float]) -> Path:
    """DVD subtitles as rippers save them (VobSub: .sub, MPEG-PS packs of 2048 bytes, and .idx,
    the palette and where each starts): FFmpeg has no encoder that makes them from text."""
    packs = []
    for start in starts:
        pts = round(start * 90000)
        stamp = bytes([0x21 | (pts >> 29) & 0x0E, pts >> 22 & 255, (pts >> 14 & 0xFE) | 1, pts >> 7 & 255,
                       (pts << 1 & 0xFE) | 1])
        payload = b"\x81\x80\x05" + stamp + b"\x20" + spu(0.4)
        pack = b"\x00\x00\x01\xba\x44\x00\x04\x00\x04\x01\x01\x89\xc3\xf8\x00\x00\x01\xbd"
        pack += struct.pack(">H", len(payload)) + payload
        packs.append(pack + b"\x00\x00\x01\xbe" + struct.pack(">H", 2042 - len(pack)) + b"\xff" * (2042 - len(pack)))
    stem.with_suffix(".sub").write_bytes(b"".join(packs))
    lines = ["# VobSub index file, v7 (do not modify this line!)", "size: 720x480",
             "palette: " + ", ".join(["000000", "ffffff", "808080", "ff0000"] * 4), "id: en, index: 0"]
    for i, start in enumerate(starts):
        ms = round(start * 1000)
        lines.append(f"timestamp: {ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}:{ms % 1000:03d}, "
                     f"filepos: {i * 2048:09x}")
    stem.with_suffix(".idx").write_text("\n".join(lines) + "\n")
    return stem.with_suffix(".idx")


@pytest.mark.parametrize("name", ["VTS_01_1.VOB", "rip.mkv"])
@pytest.mark.slow_cases('rip.mkv')  # (default run's time: 2 s)
def test_dvd_subtitles_keep_their_last_line_in_an_mp4(name, run_cli, weights_env, style, tmp_path):
    """A DVD's subtitles (pictures) carry no duration in a VOB or a .mkv; copied into an MP4, the
    last had none, and MP4 readers skip such a one (`ffmpeg -c copy` loses it too). Each is now
    given the time it shows, which it holds itself."""
    source = tmp_path / name
    ffmpeg(*clip(rate="30000/1001"), *sine(), "-i", vobsub(tmp_path / "subs", [0.1, 0.5]), "-map", "0:v", "-map",
           "1:a", "-map", "2:s", "-c:v", "mpeg2video", "-c:a", "ac3", "-c:s", "copy", source)
    out = tmp_path / "out.mp4"
    err = stylize(run_cli, source, style, out)
    assert "dropping" not in err and "leaving out" not in err, err
    assert_same_timing(out, source)
    with av.open(str(out)) as container:
        shown = [(float(p.pts * p.time_base), p.size) for p in container.demux(subtitles=0) if p.size]
    assert [start for start, _ in shown] == pytest.approx([0.1, 0.5], abs=0.011)
    assert [size for _, size in shown] == [len(spu(0.4))] * 2


def producer(name: str, *args: str):
    """A builder: `ffmpeg ARGS folder/NAME`."""
    def build(folder: Path) -> Path:
        ffmpeg(*args, folder / name)
        return folder / name
    return build


def mono_tracks(count: int) -> tuple[str, ...]:
    """`count` mono sines as inputs 1.., each mapped as its own track."""
    inputs = [a for i in range(count) for a in sine(frequency=300 + 50 * i)]
    return (*inputs, "-map", "0:v", *[a for i in range(count) for a in ("-map", f"{i + 1}:a")])


# Producers' files that came out right (frames, timing, sound, shape) when this sweep was made,
# kept so they stay that way: name -> (builder, output extension).
PRODUCERS = {
    "avchd-mts-interlaced-h264-ac3-anamorphic": (producer(
        "00000.MTS", *clip("96x72"), *sine(), "-vf", "setsar=4/3", "-c:v", "libx264", "-flags", "+ildct+ilme",
        "-x264-params", "tff=1", "-bf", "2", "-c:a", "ac3", "-ac", "2", "-f", "mpegts", "-mpegts_m2ts_mode", "1"),
        "mp4"),
    "avchd-m2ts-lpcm": (producer(
        "00001.m2ts", *clip("96x72", "30000/1001"), *sine(), "-c:v", "libx264", "-c:a", "pcm_bluray", "-ac", "2",
        "-f", "mpegts", "-mpegts_m2ts_mode", "1"), "mkv"),
    "hdv-m2t-mpeg2-interlaced-sar-4-3": (producer(
        "hdv.m2t", *clip("144x108"), *sine(), "-vf", "setsar=4/3", "-c:v", "mpeg2video", "-flags", "+ildct+ilme",
        "-top", "1", "-c:a", "mp2", "-f", "mpegts"), "mp4"),
    "prores-mov-4-mono-s24-timecode": (producer(
        "edit.mov", *clip(rate=24), *mono_tracks(4), "-c:v", "prores_ks", "-profile:v", "2", "-c:a", "pcm_s24le",
        "-timecode", "01:00:00:00"), "mkv"),
    "mxf-op1a-dnxhr-4-mono-s24": (producer(
        "clip.mxf", *clip("256x144"), *mono_tracks(4), "-c:v", "dnxhd", "-profile:v", "dnxhr_lb", "-pix_fmt",
        "yuv422p", "-c:a", "pcm_s24le"), "mkv"),
    "dv-ntsc-411-in-avi-16-9": (producer(
        "tape.avi", *clip("720x480", "30000/1001"), *sine(), "-c:v", "dvvideo", "-pix_fmt", "yuv411p", "-aspect",
        "16:9", "-c:a", "pcm_s16le", "-ac", "2"), "mkv"),
    "dvd-vob-mpeg2-sar-40-33-lpcm": (producer(
        "VTS_02_1.VOB", *clip(), *sine(), "-vf", "setsar=40/33", "-c:v", "mpeg2video", "-c:a", "pcm_dvd", "-ac", "2",
        "-f", "vob"), "mp4"),
    "ipcam-hevc-mulaw-mkv-15fps-dropped-frames": (producer(
        "cam.mkv", *clip(rate=15, seconds=2), *sine(8000, 2),
        "-vf", "select='not(between(n\\,7\\,10))*not(eq(n\\,20))'",
        "-fps_mode", "vfr", "-c:v", "libx265", "-x265-params", "log-level=error", "-c:a", "pcm_mulaw"), "mp4"),
    "ipcam-h264-alaw-mov-12.5fps": (producer(
        "cam.mov", *clip(rate=12.5), *sine(8000), "-c:v", "libx264", "-c:a", "pcm_alaw"), "mkv"),
    "flash-webcam-flv1-nellymoser": (producer(
        "webcam.flv", *clip(rate=15), *sine(22050), "-c:v", "flv", "-c:a", "nellymoser", "-ac", "1"), "mp4"),
    "mp4-player-amv": (producer(
        "clip.amv", *clip(rate=15), *sine(22050), "-c:v", "amv", "-pix_fmt", "yuvj420p", "-c:a", "adpcm_ima_amv",
        "-block_size", "1470", "-strict", "-1"), "mkv"),
    "game-roq": (producer(
        "intro.roq", *clip(rate=30), *sine(22050), "-c:v", "roqvideo", "-c:a", "roq_dpcm"), "mp4"),
    "vcd-dat": (producer(
        "AVSEQ01.DAT", *clip("352x240", "30000/1001"), *sine(44100), "-target", "ntsc-vcd"), "mkv"),
    "dvb-ts-aac-latm": (producer(
        "dvb.ts", *clip(), *sine(), "-c:v", "libx264", "-c:a", "aac", "-mpegts_flags", "latm"), "mp4"),
    "old-camera-mov-mjpeg-pcm_u8": (producer(
        "CIMG0001.MOV", *clip(rate=15), *sine(8000), "-c:v", "mjpeg", "-c:a", "pcm_u8"), "mkv"),
    "audio-2s-before-video-ts": (producer(
        "early.ts", "-itsoffset", "2", *clip(), *sine(seconds=3), "-c:v", "libx264", "-c:a", "mp2"), "mkv"),
}


def display_aspect(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        sar = stream.sample_aspect_ratio or 1
        return float(stream.codec_context.width * sar / stream.codec_context.height)


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name == "dv-ntsc-411-in-avi-16-9" else name
                                  for name in PRODUCERS])  # (DV in AVI: 7-14 s)
@pytest.mark.slow_cases('audio-2s-before-video-ts', 'ipcam-hevc-mulaw-mkv-15fps-dropped-frames', 'dvb-ts-aac-latm', 'prores-mov-4-mono-s24-timecode', 'old-camera-mov-mjpeg-pcm_u8', 'mp4-player-amv', 'dvd-vob-mpeg2-sar-40-33-lpcm', 'avchd-m2ts-lpcm', 'mxf-op1a-dnxhr-4-mono-s24', 'hdv-m2t-mpeg2-interlaced-sar-4-3', 'avchd-mts-interlaced-h264-ac3-anamorphic', 'game-roq', 'vcd-dat')  # (default run's time: 2 s)
def test_producers_files_keep_frames_timing_sound_and_shape(name, run_cli, weights_env, style, tmp_path):
    build, ext = PRODUCERS[name]
    source = build(tmp_path)
    out = tmp_path / f"out.{ext}"
    err = stylize(run_cli, source, style, out)
    assert "leaving out" not in err, err
    assert_same_timing(out, source)
    assert display_aspect(out) == pytest.approx(display_aspect(source), rel=0.03)
    for kept, sound in zip(tracks(out), tracks(source), strict=True):
        if kept["codec"] == sound["codec"]:
            assert kept["bytes"] == sound["bytes"], (kept, sound)
        # (AAC's priming and padding: up to 0.128 s at 8 kHz)
        assert kept["span"] == pytest.approx(sound["span"], abs=0.13), (kept, sound)
