"""`realtime-adain video` on professional, legacy and niche codecs and containers beyond
tests/video_corpus.py and tests/test_video_more_containers.py: post-production intermediates
(DNxHD/DNxHR in MXF and MOV, CineForm, HuffYUV, MagicYUV, Ut Video, v210, 16-bit RGB, DCP JPEG
2000 in XYZ), camcorder and broadcast formats (DV in MOV, DV50, DVCPRO HD, HDV, AVC-Intra, XDCAM
MPEG-2 4:2:2, MXF with eight mono tracks and a timecode), legacy web video (RealVideo, SVQ1, Snow,
Microsoft Video 1, bare IVF and OBU, Y4M with field and aspect tags), and the camera raw formats
FFmpeg cannot decode (ProRes RAW, Blackmagic RAW, RED R3D). Each file is made here with the
FFmpeg CLI and compared with what FFmpeg makes of it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from cli_support import one_error_line
from realtime_adain.video.encoder_check import check_encoder
from realtime_adain.video.encoder_settings import EncodeSettings
from realtime_adain.video.reader import VideoReader
from test_video_more_containers import (CLIP, SOUND, ffmpeg, frame_count, packet_times, style,  # noqa: F401 (a fixture)
                                        stylize)
from video_corpus import FFMPEG, assert_kept, facts


def audio_codecs(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        return [s.codec_context.name for s in container.streams.audio]


def test_vorbis_into_mp4_is_reencoded_to_aac(run_cli, weights_env, style, tmp_path):
    """Theora and Vorbis in Ogg (or Vorbis in a .mkv) written to .mp4: FFmpeg's MP4 muxer takes
    Vorbis (object type 0xDD), which browsers and QuickTime do not play (a silent video there).
    It is re-encoded to AAC, as `ffmpeg -i in.ogv out.mp4` makes it (.mkv and .webm copy it)."""
    source = tmp_path / "in.ogv"
    ffmpeg(*CLIP, *SOUND, "-c:v", "libtheora", "-c:a", "libvorbis", source, needs=("libtheora", "libvorbis"))
    err = stylize(run_cli, source, style, tmp_path / "out.mp4")
    assert audio_codecs(tmp_path / "out.mp4") == ["aac"], err
    assert "vorbis" in err  # the note says what was re-encoded


def stored_audio(path: Path) -> list[bytes]:
    """Each audio track's packets joined, in stream order."""
    with av.open(str(path)) as container:
        tracks = {s.index: [] for s in container.streams.audio}
        for packet in container.demux(*container.streams.audio):
            if packet.size:
                tracks[packet.stream.index].append(bytes(packet))
    return [b"".join(parts) for parts in tracks.values()]


def timecode(path: Path) -> str | None:
    """The start timecode FFmpeg reads: the file's, else a stream's (MOV keeps it on a data track)."""
    with av.open(str(path)) as container:
        tags = [container.metadata] + [s.metadata for s in container.streams]
    return next((t.get("timecode") or t.get("TIMECODE") for t in tags if t.get("timecode") or t.get("TIMECODE")), None)


@pytest.mark.parametrize("ext", [".mov", ".mkv"])
@pytest.mark.slow_cases('.mkv')
def test_broadcast_mxf_keeps_eight_mono_tracks_in_order_and_its_timecode(ext, run_cli, weights_env, style, tmp_path):
    """A broadcast MXF (MPEG-2 4:2:2, eight mono 24-bit PCM tracks, each a channel of its own,
    timecode 10:00:00:00): every track is copied byte for byte, in its place, and the timecode kept."""
    tones = [arg for hz in range(200, 1000, 100) for arg in ("-f", "lavfi", "-i", f"sine=frequency={hz}:duration=0.5")]
    maps = [arg for i in range(1, 9) for arg in ("-map", f"{i}:a")]
    source = tmp_path / "in.mxf"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=0.5", *tones, "-map", "0:v", *maps,
           "-c:v", "mpeg2video", "-pix_fmt", "yuv422p", "-c:a", "pcm_s24le",
           "-ar", "48000", "-timecode", "10:00:00:00", source, needs=("mpeg2video", "pcm_s24le"))
    out = tmp_path / f"out{ext}"
    stylize(run_cli, source, style, out)
    assert stored_audio(out) == stored_audio(source)
    assert len(stored_audio(out)) == 8
    assert timecode(out) == timecode(source) == "10:00:00:00"
    assert facts(out).frames == facts(source).frames


def first_picture(path: Path) -> np.ndarray:
    """The first picture as `ffmpeg -i IN -frames:v 1 -pix_fmt rgb24` gives it, chroma interpolated
    in full as `video` reads 10-bit and deeper YUV (FFmpeg's default put it ~2 levels low)."""
    with av.open(str(path)) as container:
        width, height = container.streams.video[0].codec_context.width, container.streams.video[0].codec_context.height
    raw = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-frames:v", "1", "-sws_flags",
                          "bilinear+full_chroma_int", "-pix_fmt", "rgb24", "-f", "rawvideo", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(height, width, 3)


@pytest.mark.parametrize("name, args, needs", [
    ("dcp-xyz12.mxf", ("-c:v", "libopenjpeg", "-pix_fmt", "xyz12le"), ("libopenjpeg",)),
    ("rgb48.mov", ("-c:v", "png", "-pix_fmt", "rgb48be"), ("png",)),
    ("gbrp16.mkv", ("-c:v", "ffv1", "-pix_fmt", "gbrp16le"), ("ffv1",)),
    ("v210.mov", ("-c:v", "v210",), ("v210",)),
], ids=lambda v: v if isinstance(v, str) else "")
def test_deep_colour_intermediates_read_as_ffmpeg_converts_them(name, args, needs, tmp_path):
    """A DCP reel's JPEG 2000 in XYZ (12 bits, DCI gamma), 16-bit RGB and 10-bit 4:2:2 intermediates:
    the first picture the reader gives is the one `ffmpeg -pix_fmt rgb24` makes, colour for colour
    (XYZ read as YUV or RGB would be a magenta-tinted picture)."""
    source = tmp_path / name
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24:duration=0.125", *args, source, needs=needs)
    with VideoReader(source) as reader:
        image = reader.first_frame.image
    assert np.abs(image.astype(int) - first_picture(source)).max() <= 1


def write_retagged(source: Path, target: Path, fourcc: bytes) -> None:
    """`source` (a MOV) with its first sample description's codec tag replaced by `fourcc`."""
    data = source.read_bytes()
    at = data.index(b"stsd") + 16  # size, 'stsd', version and flags, count, the entry's size
    target.write_bytes(data[:at] + fourcc + data[at + 4:])


@pytest.mark.parametrize("kind", ["prores-raw", "braw", "r3d"])
def test_camera_raw_that_ffmpeg_cannot_decode_is_one_error_line(kind, run_cli, weights_env, style, tmp_path):
    """ProRes RAW (`aprn`: FFmpeg 8 names a decoder, which gives no picture here), Blackmagic RAW
    (`brxq`: no decoder) and RED's R3D (no demuxer for today's files): one error line, no output."""
    prores = tmp_path / "prores.mov"
    ffmpeg(*CLIP, "-c:v", "prores_ks", prores, needs=("prores_ks",))
    names = {"prores-raw": "clip.mov", "braw": "clip.braw", "r3d": "A001_C001.R3D"}
    source = tmp_path / names[kind]
    if kind == "r3d":
        source.write_bytes((0x48).to_bytes(4, "big") + b"RED2" + bytes(4000))
    else:
        write_retagged(prores, source, b"aprn" if kind == "prores-raw" else b"brxq")
    out = tmp_path / "out.mp4"
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "-o", out)
    assert one_error_line(err, code).startswith(f"error: {source}")
    assert not out.exists()


# Files that came out right (frames, timing, sound) when this sweep was made, kept so they stay
# that way: (file name, ffmpeg arguments after the picture and sound inputs).
KEPT = {
    "dnxhr-lb.mxf": ("testsrc2=size=256x144:rate=25:duration=0.4", "-c:v", "dnxhd", "-profile:v", "dnxhr_lb",
                     "-pix_fmt", "yuv422p", "-c:a", "pcm_s16le"),
    "dnxhr-hqx.mov": ("testsrc2=size=256x144:rate=25:duration=0.4", "-c:v", "dnxhd", "-profile:v", "dnxhr_hqx",
                      "-pix_fmt", "yuv422p10le", "-c:a", "pcm_s24le"),
    "cineform.mov": (None, "-c:v", "cfhd", "-c:a", "pcm_s16le"),
    "cineform.avi": (None, "-c:v", "cfhd", "-c:a", "pcm_s16le"),
    "huffyuv.avi": (None, "-c:v", "huffyuv", "-c:a", "pcm_s16le"),
    "ffvhuff.avi": (None, "-c:v", "ffvhuff", "-c:a", "pcm_s16le"),
    "magicyuv.avi": (None, "-c:v", "magicyuv", "-c:a", "pcm_s16le"),
    "utvideo.avi": (None, "-c:v", "utvideo", "-c:a", "pcm_s16le"),
    "photojpeg.mov": (None, "-c:v", "mjpeg", "-pix_fmt", "yuvj422p", "-c:a", "pcm_s16le"),
    "dv-ntsc.dv": ("testsrc2=size=720x480:rate=30000/1001:duration=0.3", "-c:v", "dvvideo", "-pix_fmt", "yuv411p",
                   "-c:a", "pcm_s16le", "-ac", "2"),
    "dv50.mov": ("testsrc2=size=720x480:rate=30000/1001:duration=0.3", "-c:v", "dvvideo", "-pix_fmt", "yuv422p",
                 "-c:a", "pcm_s16le"),
    "hdv.m2t": ("testsrc2=size=1440x1080:rate=25:duration=0.3", "-c:v", "mpeg2video", "-b:v", "25M", "-aspect", "16:9",
                "-flags", "+ildct+ilme", "-top", "1", "-c:a", "mp2", "-f", "mpegts"),
    "svq1.mov": (None, "-c:v", "svq1", "-c:a", "adpcm_ima_qt"),
    "rv10.rm": (None, "-c:v", "rv10", "-c:a", "ac3"),
    "snow.nut": (None, "-c:v", "snow", "-c:a", "pcm_s16le"),
    "msvideo1.avi": (None, "-c:v", "msvideo1", "-c:a", "pcm_u8"),
    "wmv1.wmv": (None, "-c:v", "wmv1", "-c:a", "wmav1"),
    "h263.3g2": ("testsrc2=size=176x144:rate=12:duration=0.5", "-c:v", "h263", "-c:a", "aac", "-ac", "1"),
    "mpeg4.nut": (None, "-c:v", "mpeg4", "-bf", "2", "-c:a", "mp2"),
    "smc.mov": (None, "-c:v", "smc", "-pix_fmt", "pal8", "-c:a", "pcm_s16le"),
    "rpza.mov": (None, "-c:v", "rpza", "-c:a", "pcm_s16le"),
    "zmbv.avi": (None, "-c:v", "zmbv", "-pix_fmt", "pal8", "-c:a", "pcm_s16le"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", KEPT)
def test_codecs_keep_frames_timing_and_sound(name, run_cli, weights_env, style, tmp_path):
    picture, *args = KEPT[name]
    source = tmp_path / name
    clip = ("-f", "lavfi", "-i", picture) if picture else CLIP
    ffmpeg(*clip, *SOUND, *args, source, needs=tuple(args[i + 1] for i, a in enumerate(args) if a.startswith("-c:")))
    out = tmp_path / "out.mp4"
    stylize(run_cli, source, style, out)
    assert_kept(facts(out), facts(source))


@pytest.mark.parametrize("name, args", [
    ("vp8.ivf", ("-c:v", "libvpx", "-deadline", "realtime")),
    ("av1.obu", ("-c:v", "libaom-av1", "-cpu-used", "8", "-f", "obu")),
    ("fields.y4m", ("-vf", "setfield=bff,setsar=10/11", "-pix_fmt", "yuv420p")),
], ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.slow_cases('av1.obu-')
def test_bare_streams_keep_their_frames(name, args, run_cli, weights_env, style, tmp_path):
    """Bare VP8 in IVF, AV1 as an OBU stream and a Y4M with a field order and pixel aspect in its
    header: every frame, in time; the Y4M's 10:11 pixels shown square (64 high becomes 70, none lost)."""
    source = tmp_path / name
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x64:rate=12:duration=0.5", *args, source,
           needs=tuple(args[i + 1] for i, a in enumerate(args) if a.startswith("-c:")))
    out = tmp_path / "out.mkv"
    stylize(run_cli, source, style, out)
    assert len(packet_times(out, "v")) == frame_count(source) == 6
    if name.endswith(".y4m"):
        with av.open(str(out)) as container:
            picture = container.streams.video[0].codec_context
            assert (picture.width, picture.height) == (64, 70)


def test_dnxhd_output_is_dnxhr_at_any_size_from_256x120(run_cli, weights_env, style, tmp_path):
    """`--codec dnxhd` (Avid's intermediate, for editors): FFmpeg's encoder opens only at the sizes
    and bitrates of DNxHD's table (1920x1080 at 36M...) unless given a DNxHR profile, so it failed
    for every clip ("cannot open encoder dnxhd: Invalid argument"). It is DNxHR HQ, as editors
    export it; a picture under DNxHR's 256x120 is refused, saying so."""
    source = tmp_path / "in.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=256x144:rate=25:duration=0.2", "-c:v", "libx264", source,
           needs=("libx264",))
    out = tmp_path / "out.mov"
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "--stabilize", "off",
                           "--threads", "1", "--codec", "dnxhd", "-o", out)
    assert code == 0, err
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.profile, stream.width) == ("dnxhd", "DNXHR HQ", 256)
        assert len(list(container.decode(stream))) == 5
    small = tmp_path / "small.mp4"
    ffmpeg(*CLIP, "-c:v", "libx264", small, needs=("libx264",))
    code, _, err = run_cli("video", small, "-s", style, "--size", "32", "--codec", "dnxhd", "-o",
                           tmp_path / "small.mov")
    assert "256x120" in one_error_line(err, code)


@pytest.mark.parametrize("pix_fmt, profile", [(None, "dnxhr_hq"), ("yuv422p10le", "dnxhr_hqx"),
                                              ("yuv444p10le", "dnxhr_444")])
def test_dnxhr_profile_follows_the_pixel_format(pix_fmt, profile):
    """10-bit 4:2:2 is DNxHR HQX, 4:4:4 DNxHR 444 (HQ takes 8-bit 4:2:2 only); each opens."""
    settings = EncodeSettings("dnxhd", pix_fmt=pix_fmt)
    assert settings.codec_options()["profile"] == profile
    check_encoder(settings, Path("out.mov"))
