"""`realtime-adain video` on look-alikes of the files phones, action cameras, drones, screen
recorders, messengers and web apps make: iPhone HEVC 10-bit HDR with a timecode track, GoPro
telemetry, DJI subtitles, an Android screen recording with gaps, OBS recordings cut short, WhatsApp
3GP with AMR-NB sound, VP9 with alpha. Each is made with the FFmpeg CLI (or PyAV, where this
FFmpeg lacks the encoder), run through the CLI, and compared with what FFmpeg makes of the input;
streams no output carries are named in a note."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from test_video_realworld_inputs import set_display_matrix, stylize, style  # noqa: F401  (a fixture)
from video_corpus import FFMPEG, FFPROBE, facts

SOUND = ("-f", "lavfi", "-i", "sine=sample_rate=48000:duration=1")
X265_10BIT = ("-c:v", "libx265", "-x265-params", "log-level=error", "-tag:v", "hvc1", "-pix_fmt", "yuv420p10le")


def clip(size: str = "96x64", rate: int = 30, seconds: float = 1) -> tuple[str, ...]:
    return "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"


def ffmpeg(*args: str | Path) -> None:
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", *map(str, args)], check=True, capture_output=True)


def stream_list(path: Path) -> list[dict]:
    out = subprocess.run([FFPROBE, "-v", "error", "-show_entries",
                          "stream=index,codec_type,codec_name,codec_tag_string,sample_rate,color_transfer:"
                          "stream_tags=timecode", "-of", "json", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)["streams"]


def sounds(path: Path) -> list[tuple[str, str]]:
    """(codec, sample rate) of each audio track."""
    return [(s["codec_name"], s["sample_rate"]) for s in stream_list(path) if s["codec_type"] == "audio"]


def assert_same_timing(out: Path, source: Path) -> None:
    """The output's frames, their span and increasing times are the input's (as ffprobe reads both)."""
    got, expected = facts(out), facts(source)
    assert got.frames == expected.frames and got.increasing, (got, expected)
    assert abs(got.seconds - expected.seconds) <= expected.frame_s + 1e-3, (got, expected)
    assert got.audio_tracks == expected.audio_tracks, (got, expected)


def gopro(path: Path) -> Path:
    """An action camera's MP4: video, AAC, a telemetry track ('gpmd', as GoPro writes it) and a
    timecode track ('tmcd'). The FFmpeg CLI writes no telemetry from nothing: a timecode track is
    made first and retagged as 'gpmd' (its bytes are not GoPro's; no reader here looks inside)."""
    first, second = path.with_suffix(".tc.mov"), path.with_suffix(".gpmd.mov")
    ffmpeg(*clip(), *SOUND, "-c:v", "libx264", "-c:a", "aac", "-timecode", "00:00:10:00", first)
    ffmpeg("-i", first, "-map", "0", "-c", "copy", "-tag:d", "gpmd", second)
    ffmpeg("-i", second, "-map", "0:v", "-map", "0:a", "-map", "0:d:0", "-c", "copy", "-tag:d", "gpmd",
           "-metadata:s:d:0", "handler_name=GoPro MET", path)
    assert [s["codec_tag_string"] for s in stream_list(path)] == ["avc1", "mp4a", "gpmd", "tmcd"]
    return path


@pytest.mark.slow  # (default run's time: 3 s)
def test_a_gopro_files_telemetry_and_timecode_are_kept(run_cli, weights_env, style, tmp_path):
    """The telemetry track (GPS, gyro) was left out; it is copied as its `gpmd` track (see
    tests/test_video_tracks17.py). The timecode track's time travels as the video's timecode (the
    MP4 muxer writes a new track from it), so it is not named."""
    source = gopro(tmp_path / "GX010001.MP4")
    out = tmp_path / "out.mp4"
    err = stylize(run_cli, source, style, out)
    assert_same_timing(out, source)
    assert "leaving out" not in err and "#3" not in err, err
    assert [s["codec_tag_string"] for s in stream_list(out)] == ["avc1", "mp4a", "gpmd", "tmcd"]
    assert [s.get("tags", {}).get("timecode") for s in stream_list(out)] == ["00:00:10:00", None, None,
                                                                             "00:00:10:00"]


@pytest.mark.slow  # (default run's time: 2 s)
def test_cover_art_beside_the_video_is_kept(run_cli, weights_env, style, tmp_path):
    """An MP4 from a web app or a music-video download with a thumbnail (an attached picture)
    beside its video: the picture was left out without a word; it is the output's cover, as
    `ffmpeg -map 0 -c copy` keeps it (see tests/test_video_tracks17.py)."""
    source = tmp_path / "download.mp4"
    ffmpeg(*clip(), *SOUND, "-f", "lavfi", "-i", "color=red:size=100x100:duration=1", "-map", "0:v", "-map", "1:a",
           "-map", "2:v", "-frames:v:1", "1", "-c:v:0", "libx264", "-c:v:1", "mjpeg", "-c:a", "aac",
           "-disposition:v:1", "attached_pic", source)
    out = tmp_path / "out.mp4"
    err = stylize(run_cli, source, style, out)
    assert_same_timing(out, source)
    assert "leaving out" not in err and "dropping" not in err, err
    assert [s["codec_name"] for s in stream_list(out)] == ["h264", "aac", "mjpeg"]
    assert "video streams" not in err  # (the thumbnail is not a second video to choose from)


@pytest.mark.slow  # (default run's time: 2 s)
def test_vp9_with_alpha_says_its_transparency_is_left_out(run_cli, weights_env, style, tmp_path):
    """A WebM with transparency (a sticker, an overlay exported for the web): pictures are stylized
    opaque, and nothing said the alpha channel was gone."""
    source = tmp_path / "sticker.webm"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=1,format=yuva420p", *SOUND, "-c:v",
           "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-pix_fmt", "yuva420p", "-c:a", "libopus", source)
    out = tmp_path / "out.webm"
    err = stylize(run_cli, source, style, out)
    assert_same_timing(out, source)
    assert "note: sticker.webm: its transparency (alpha channel) is left out" in err, err


@pytest.mark.parametrize("name, picture, args, see_through", [
    ("opaque.gif", "testsrc2=size=64x48:rate=12:duration=1", (), False),  # FFmpeg decodes every GIF as bgra
    ("opaque.mov", "testsrc2=size=64x48:rate=12:duration=1,format=rgba", ("-c:v", "png"), False),  # a screen recorder's
    ("overlay.mov", "testsrc2=size=64x48:rate=12:duration=1,format=rgba,colorchannelmixer=aa=0.5", ("-c:v", "png"), True),
])
@pytest.mark.slow_cases('overlay.mov-testsrc2=size=64x48:rate=12:duration=1,format=rgba,colorchannelmixer=aa=0.5-args2-True')  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_transparency_is_said_where_a_picture_has_it_not_where_its_format_could(name, picture, args, see_through,
                                                                                  run_cli, weights_env, style, tmp_path):
    """A pixel format with an alpha channel was taken for transparency: every GIF was said to lose it."""
    source = tmp_path / name
    ffmpeg("-f", "lavfi", "-i", picture, *args, source)
    err = stylize(run_cli, source, style, tmp_path / "out.mp4")
    assert ("its transparency (alpha channel) is left out" in err) == see_through, err


@pytest.mark.parametrize("ext", ["mp4", "mov"])
@pytest.mark.slow_cases('mp4', 'mov')  # (default run's time: 2 s)
def test_chapters_are_kept_and_their_track_not_named_as_left_out(ext, run_cli, weights_env, style, tmp_path):
    """FFmpeg writes an MP4's or MOV's chapters as a text track too, which PyAV lists as a data
    stream: every file with chapters was said to lose one."""
    chapters = tmp_path / "chapters.txt"
    chapters.write_text(";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=500\ntitle=One\n"
                        "[CHAPTER]\nTIMEBASE=1/1000\nSTART=500\nEND=1000\ntitle=Two\n")
    source = tmp_path / f"chaptered.{ext}"
    ffmpeg(*clip(), "-i", chapters, "-map_metadata", "1", "-map_chapters", "1", source)
    out = tmp_path / f"out.{ext}"
    err = stylize(run_cli, source, style, out)
    assert "leaving out" not in err, err
    with av.open(str(out)) as container:
        assert [chapter["metadata"]["title"] for chapter in container.chapters()] == ["One", "Two"]


@pytest.mark.slow  # (default run's time: 2 s)
def test_an_iphone_hdr_clip_turned_with_a_timecode_keeps_all(run_cli, weights_env, style, tmp_path):
    """HEVC 10-bit ('hvc1'), HLG over BT.2020, shot in portrait (a 90 degree display matrix), with a
    timecode track: every frame upright, tone-mapped to SDR and tagged BT.709 (test_video_hdr17),
    the timecode kept, and no note about streams left out (the timecode is kept)."""
    source = tmp_path / "IMG_0001.MOV"
    ffmpeg(*clip(), *SOUND, *X265_10BIT, "-color_primaries", "bt2020", "-color_trc", "arib-std-b67", "-colorspace",
           "bt2020nc", "-c:a", "aac", "-timecode", "01:02:03:04", source)
    set_display_matrix(source, 0, 1, -1, 0)
    out = tmp_path / "out.mov"
    err = stylize(run_cli, source, style, out)
    assert_same_timing(out, source)
    assert "leaving out" not in err, err
    video = stream_list(out)[0]
    assert video["color_transfer"] == "bt709" and video["tags"]["timecode"] == "01:02:03:04"
    with av.open(str(out)) as container:
        assert (container.streams.video[0].width, container.streams.video[0].height) == (64, 96)


def amr_3gp(path: Path) -> Path:
    """WhatsApp and old phones: H.263 at 5 fps with AMR-NB, 8 kHz mono, in 3GP (Debian's FFmpeg
    has no AMR encoder; PyAV's FFmpeg has one)."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("h263", rate=5)
        video.width, video.height, video.pix_fmt = 128, 96, "yuv420p"
        audio = out.add_stream("libopencore_amrnb", rate=8000, layout="mono")
        audio.bit_rate = 12200
        for index in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((96, 128, 3), index * 50, np.uint8), format="rgb24")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for start in range(0, 8000, 160):
            tone = (np.sin(2 * np.pi * 440 * (np.arange(160) + start) / 8000) * 8000).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(tone[None], format="s16", layout="mono")
            frame.sample_rate, frame.pts = 8000, start
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    return path


def cut_short(path: Path, fraction: float = 0.6) -> Path:
    """A recording killed mid-write: the file's first `fraction`."""
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * fraction)])
    return path


def made(name: str, *args: str, then=None):
    """A builder: `ffmpeg ARGS tmp/NAME`, then `then(path)` (which may rewrite it)."""
    def build(folder: Path) -> Path:
        path = folder / name
        ffmpeg(*args, path)
        return then(path) or path if then else path
    return build


def srt_track(ext: str, codec: str):
    def build(folder: Path) -> Path:
        lines = folder / "flight.srt"
        lines.write_text("".join(f"{i + 1}\n00:00:00,{i * 100:03d} --> 00:00:00,{i * 100 + 100:03d}\n"
                                 f"F/2.8 GPS(1.{i},2.{i})\n\n" for i in range(10)))
        return made(f"DJI_0001.{ext}", *clip(), *SOUND, "-i", str(lines), "-map", "0:v", "-map", "1:a", "-map", "2:s",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p10le", "-c:a", "aac", "-c:s", codec)(folder)
    return build


def android_screen(folder: Path) -> Path:
    """A screen recording: 30 fps while something moves, then 3 s of nothing (no frames), turned."""
    return made("screen.mp4", *clip("82x162", 30, 4), "-f", "lavfi", "-i", "sine=duration=4", "-vf",
                "select='lt(t\\,0.5)+gte(t\\,3.5)'", "-fps_mode", "vfr", "-c:v", "libx264", "-c:a", "aac",
                then=lambda p: set_display_matrix(p, 0, 1, -1, 0))(folder)


H264 = ("-c:v", "libx264", "-c:a", "aac")
# Inputs that came out right (frames, timing, sound) when this sweep was made, kept so they stay
# that way: name -> builder (folder -> input file).
DEVICES = {
    "iphone-hevc10-pq-rot270-two-aac": made("IMG_0002.MOV", *clip(), *SOUND, "-f", "lavfi", "-i",
                                            "sine=f=880:sample_rate=44100:duration=1", "-map", "0:v", "-map", "1:a",
                                            "-map", "2:a", *X265_10BIT, "-color_primaries", "bt2020", "-color_trc",
                                            "smpte2084", "-colorspace", "bt2020nc", "-c:a", "aac",
                                            then=lambda p: set_display_matrix(p, 0, -1, 1, 0)),
    "iphone-vfr-dropped-frames-timescale-600": made("IMG_0003.MOV", *clip(), *SOUND, "-vf",
                                                    "select='not(between(n\\,5\\,9))*not(eq(n\\,20))'", "-fps_mode",
                                                    "vfr", *H264, "-video_track_timescale", "600"),
    "iphone-video-starts-after-sound": made("IMG_0004.MOV", "-itsoffset", "0.2", *clip(), *SOUND, "-c:v", "libx264",
                                            "-bf", "2", "-c:a", "aac"),
    "gopro-main-and-low-res-proxy": made("GX010002.MP4", *clip("160x120"), *clip("64x48"), *SOUND, "-map", "0:v",
                                         "-map", "1:v", "-map", "2:a", *H264),
    "dji-high10-srt-as-mov_text": srt_track("MP4", "mov_text"),
    "dji-high10-srt-in-mkv": srt_track("mkv", "srt"),
    "android-screen-vfr-gaps-rotated": android_screen,
    "obs-mkv-three-sound-tracks": made("obs.mkv", *clip(), *SOUND, "-f", "lavfi", "-i",
                                       "sine=f=660:sample_rate=44100:duration=1", "-f", "lavfi", "-i",
                                       "sine=f=880:sample_rate=32000:duration=1", "-map", "0:v", "-map", "1:a", "-map",
                                       "2:a", "-map", "3:a", "-c:v", "libx264", "-c:a:0", "aac", "-c:a:1", "libopus",
                                       "-c:a:2", "flac"),
    "obs-killed-live-mkv": made("killed.mkv", *clip(seconds=2), "-f", "lavfi", "-i", "sine=duration=2", "-g", "15",
                                *H264, "-live", "1", then=cut_short),
    "obs-killed-mkv": made("killed2.mkv", *clip(seconds=2), "-f", "lavfi", "-i", "sine=duration=2", "-g", "15", *H264,
                           then=cut_short),
    "obs-killed-fragmented-mp4": made("killed.mp4", *clip(seconds=2), "-f", "lavfi", "-i", "sine=duration=2", "-g",
                                      "15", *H264, "-movflags", "frag_keyframe+empty_moov", then=cut_short),
    "obs-flv-h264-aac": made("stream.flv", *clip(), *SOUND, *H264),
    "whatsapp-3gp-h263-amr-nb-5fps": lambda folder: amr_3gp(folder / "VID-WA0001.3gp"),
    "telegram-5fps-8khz-mono": made("tg.mp4", *clip("128x96", 5), "-f", "lavfi", "-i",
                                    "sine=sample_rate=8000:duration=1", *H264, "-ac", "1"),
    "web-av1-mp4-opus": made("av1.mp4", *clip("64x64", 12), *SOUND, "-c:v", "libsvtav1", "-preset", "12",
                             "-svtav1-params", "verbosity=0", "-c:a", "libopus"),
    "web-h264-mp4-opus": made("opus.mp4", *clip(), *SOUND, "-c:v", "libx264", "-c:a", "libopus"),
}


@pytest.mark.slow  # about 4 s each
@pytest.mark.parametrize("name", DEVICES)
def test_device_files_keep_frames_timing_and_sound(name, run_cli, weights_env, style, tmp_path):
    source = DEVICES[name](tmp_path)
    out = tmp_path / "out.mp4"
    err = stylize(run_cli, source, style, out)
    assert_same_timing(out, source)
    assert [rate for _, rate in sounds(out)] == [rate for _, rate in sounds(source)]
    assert "leaving out" not in err, err
