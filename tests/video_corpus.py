"""A corpus of small videos like the ones users feed in, made with the FFmpeg CLI (and PyAV where
a file needs broken timestamps), and what FFmpeg itself makes of each (frames, duration, audio).

Every clip is tiny (64x48 or smaller, about 1 s, 12 frames a second) so the whole corpus stays
quick. `CASES` lists them; `FAST` are the most telling few, run on every test run.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import numpy as np

FFMPEG, FFPROBE = shutil.which("ffmpeg"), shutil.which("ffprobe")
SIZE, RATE, SECONDS = "64x48", 12, 1


@dataclass(frozen=True)
class Case:
    """One input file: `args` go between the inputs and the output name of an ffmpeg command."""

    name: str
    ext: str
    args: tuple[str, ...]
    encoders: tuple[str, ...]  # what this FFmpeg build must have to make it
    video: str = f"testsrc2=size={SIZE}:rate={RATE}:duration={SECONDS}"
    audio: tuple[str, ...] = ("sine=frequency=440:sample_rate=48000:duration=1",)
    post: Callable[[Path, Path], None] | None = None  # rewrites the file ffmpeg made (source, target)
    broken_pts: bool = False  # decoded timestamps come out of order (a note must say so)
    fast: bool = False
    inputs_first: tuple[str, ...] = field(default=())  # extra ffmpeg input options (e.g. -itsoffset)
    cli: tuple[str, ...] = field(default=())  # extra options for `realtime-adain video`
    # Compare with what `ffmpeg -i IN OUT.mp4` makes of it, not with ffprobe on the input: where
    # ffprobe shows no time for pictures before zero, which the FFmpeg CLI moves to start at zero.
    ffmpeg_reference: bool = False


def _case(name, ext, encoders, *args, **kw) -> Case:
    return Case(name, ext, tuple(args), tuple(encoders), **kw)


CASES = [
    # The three failures first (all in the fast set).
    _case("h264-bframes-timebase-1us-decode-order-pts", "mp4", ["libx264", "aac"],
          "-c:v", "libx264", "-bf", "3", "-c:a", "aac", "-video_track_timescale", "1000000",
          post=lambda s, t: remux_with_decode_order_pts(s, t), broken_pts=True, fast=True),
    _case("mpeg4-avi-packed-bframes-ac3", "avi", ["mpeg4", "ac3"],
          "-c:v", "mpeg4", "-bf", "1", "-vtag", "DX50", "-c:a", "ac3",
          post=lambda s, t: pack_b_frames(s, t), fast=True),  # (timed by their slots: no note, session 59)
    _case("mpeg4-mkv-bframes-ac3-decode-order-pts", "mkv", ["mpeg4", "ac3"],
          "-c:v", "mpeg4", "-bf", "2", "-c:a", "ac3", post=lambda s, t: remux_with_decode_order_pts(s, t),
          broken_pts=True),
    _case("cinepak-avi-dropped-frames", "avi", ["cinepak", "pcm_s16le"],
          "-vf", "select='not(mod(n\\,4))'", "-fps_mode", "vfr", "-r", str(RATE), "-c:v", "cinepak",
          "-c:a", "pcm_s16le", fast=True, cli=("--batch", "100000")),  # used to stack 100000 frames
    _case("mpeg4-divx-avi-bframes-ac3", "avi", ["mpeg4", "ac3"],
          "-c:v", "mpeg4", "-bf", "2", "-vtag", "DX50", "-c:a", "ac3", fast=True),
    _case("vp9-webm-opus", "webm", ["libvpx-vp9", "libopus"],
          "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libopus", fast=True),
    # H.264 as cameras, phones and editors write it.
    _case("h264-open-gop", "mp4", ["libx264", "aac"],
          "-c:v", "libx264", "-x264-params", "open-gop=1:keyint=6", "-bf", "2", "-c:a", "aac"),
    _case("h264-edit-list-negative-start", "mp4", ["libx264", "aac"],
          "-c:v", "libx264", "-bf", "2", "-c:a", "aac", inputs_first=("-itsoffset", "-0.25")),
    _case("h264-mkv-negative-start", "mkv", ["libx264", "aac"],
          "-c:v", "libx264", "-bf", "2", "-c:a", "aac", "-avoid_negative_ts", "disabled",
          "-output_ts_offset", "-0.3", ffmpeg_reference=True),
    _case("h264-10bit", "mp4", ["libx264", "aac"], "-c:v", "libx264", "-pix_fmt", "yuv420p10le", "-c:a", "aac"),
    _case("h264-422", "mov", ["libx264", "aac"], "-c:v", "libx264", "-pix_fmt", "yuv422p", "-c:a", "aac"),
    _case("h264-444", "mkv", ["libx264", "flac"], "-c:v", "libx264", "-pix_fmt", "yuv444p", "-c:a", "flac"),
    _case("h264-interlaced", "ts", ["libx264", "mp2"],
          "-c:v", "libx264", "-flags", "+ildct+ilme", "-x264-params", "tff=1", "-c:a", "mp2"),
    _case("h264-vfr", "mkv", ["libx264", "libvorbis"],
          "-vf", "setpts='N/12/TB+if(mod(N,3),0,0.03/TB)'", "-fps_mode", "vfr", "-c:v", "libx264",
          "-c:a", "libvorbis"),
    _case("h264-tiny-16x16", "mp4", ["libx264", "aac"], "-c:v", "libx264", "-c:a", "aac",
          video=f"testsrc2=size=16x16:rate={RATE}:duration={SECONDS}"),
    _case("h264-odd-size-63x47", "mkv", ["libx264", "aac"], "-c:v", "libx264", "-pix_fmt", "yuv444p",
          "-c:a", "aac", video=f"testsrc2=size=63x47:rate={RATE}:duration={SECONDS}"),
    _case("h264-aac-5.1", "mp4", ["libx264", "aac"], "-c:v", "libx264", "-c:a", "aac", "-ac", "6"),
    _case("h264-two-audio-tracks", "mkv", ["libx264", "aac", "libmp3lame"],
          "-map", "0:v", "-map", "1:a", "-map", "2:a", "-c:v", "libx264", "-c:a:0", "aac", "-c:a:1", "libmp3lame",
          audio=("sine=frequency=440:sample_rate=48000:duration=1", "sine=frequency=660:sample_rate=44100:duration=1")),
    _case("h264-audio-first", "mp4", ["libx264", "aac"],
          "-map", "1:a", "-map", "0:v", "-c:v", "libx264", "-c:a", "aac"),
    _case("h264-cover-art", "mp4", ["libx264", "aac", "mjpeg"],
          "-map", "0:v", "-map", "1:a", "-map", "2:v", "-c:v:0", "libx264", "-c:v:1", "mjpeg", "-c:a", "aac",
          "-disposition:v:1", "attached_pic",
          audio=("sine=frequency=440:sample_rate=48000:duration=1", "color=red:size=32x32:rate=1:duration=1")),
    # Other codecs and containers.
    _case("hevc-mp4-aac", "mp4", ["libx265", "aac"], "-c:v", "libx265", "-x265-params", "log-level=error",
          "-tag:v", "hvc1", "-c:a", "aac"),
    _case("vp8-webm-vorbis", "webm", ["libvpx", "libvorbis"], "-c:v", "libvpx", "-deadline", "realtime",
          "-c:a", "libvorbis"),
    _case("vp9-mkv-flac", "mkv", ["libvpx-vp9", "flac"], "-c:v", "libvpx-vp9", "-deadline", "realtime",
          "-cpu-used", "8", "-c:a", "flac"),
    _case("av1-webm-opus", "webm", ["libaom-av1", "libopus"], "-c:v", "libaom-av1", "-cpu-used", "8",
          "-c:a", "libopus"),
    _case("av1-svt-mkv-opus", "mkv", ["libsvtav1", "libopus"], "-c:v", "libsvtav1", "-preset", "12",
          "-c:a", "libopus", video=f"testsrc2=size=64x64:rate={RATE}:duration={SECONDS}"),
    _case("mpeg4-xvid-avi-mp3", "avi", ["mpeg4", "libmp3lame"],
          "-c:v", "mpeg4", "-bf", "1", "-vtag", "xvid", "-c:a", "libmp3lame"),
    _case("msmpeg4-avi-pcm", "avi", ["msmpeg4", "pcm_s16le"], "-c:v", "msmpeg4", "-c:a", "pcm_s16le"),
    _case("mjpeg-avi-pcm", "avi", ["mjpeg", "pcm_s16le"], "-c:v", "mjpeg", "-pix_fmt", "yuvj422p",
          "-c:a", "pcm_s16le"),
    _case("prores-mov-pcm", "mov", ["prores_ks", "pcm_s16le"], "-c:v", "prores_ks", "-profile:v", "3",
          "-c:a", "pcm_s16le"),
    _case("ffv1-mkv-flac", "mkv", ["ffv1", "flac"], "-c:v", "ffv1", "-c:a", "flac"),
    _case("rawvideo-avi", "avi", ["rawvideo", "pcm_s16le"], "-c:v", "rawvideo", "-pix_fmt", "bgr24",
          "-c:a", "pcm_s16le"),
    _case("mpeg2-ts-ac3", "ts", ["mpeg2video", "ac3"], "-c:v", "mpeg2video", "-bf", "2", "-c:a", "ac3"),
    # DV as camcorders write it (PAL only: 720x576 at 25 fps, stereo PCM), with its timecode: FFmpeg 8
    # reads its average rate as 60000 fps, and the MP4 muxer refused to finish a timecode track at
    # that rate (a traceback, the output lost).
    _case("dv-pal-pcm-timecode", "dv", ["dvvideo", "pcm_s16le"], "-c:v", "dvvideo", "-pix_fmt", "yuv420p",
          "-c:a", "pcm_s16le", "-ac", "2", video="testsrc2=size=720x576:rate=25:duration=1", fast=True),
]
FAST = [case for case in CASES if case.fast]


@functools.cache
def encoders() -> frozenset[str]:
    """Encoder names this FFmpeg build has (`ffmpeg -encoders`)."""
    listing = subprocess.run([FFMPEG, "-hide_banner", "-encoders"], capture_output=True, text=True, check=True).stdout
    return frozenset(line.split()[1] for line in listing.splitlines() if line.startswith(" ") and len(line.split()) > 1)


def missing_encoders(case: Case) -> list[str]:
    return [name for name in case.encoders if name not in encoders()]


def make(case: Case, folder: Path) -> Path:
    """Write the case's file in `folder` and return its path."""
    out = folder / f"{case.name}.{case.ext}"
    command = [FFMPEG, "-nostdin", "-v", "error", "-y", *case.inputs_first, "-f", "lavfi", "-i", case.video]
    for source in case.audio:
        command += ["-f", "lavfi", "-i", source]
    if "-map" not in case.args:
        command += ["-map", "0:v", "-map", "1:a"]
    target = folder / f"{case.name}.clean.{case.ext}" if case.post else out
    subprocess.run([*command, *case.args, str(target)], check=True, capture_output=True)
    if case.post:
        case.post(target, out)
    return out


def remux_with_decode_order_pts(source: Path, target: Path) -> None:
    """Copy every packet, but give each video packet its decode time as presentation time: the
    decoder then hands out pictures in display order carrying timestamps in decode order
    (0, 2, 1, 4, 3, ...), which is what packed B-frames in AVI and some MP4 writers produce."""
    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        streams = {s.index: dst.add_stream_from_template(s) for s in src.streams if s.type in ("video", "audio")}
        for stream in src.streams.video:
            streams[stream.index].time_base = stream.time_base
        for packet in src.demux():
            if packet.dts is None or packet.stream.index not in streams:
                continue
            if packet.stream.type == "video":
                packet.pts = packet.dts
            packet.stream = streams[packet.stream.index]
            dst.mux(packet)


# DivX 5 user data ending in "p" tells FFmpeg's decoder the B-frames are packed; an N-VOP is the
# placeholder "not coded" picture a packed file stores in the B-frame's slot.
DIVX_PACKED = bytes.fromhex("000001b2") + b"DivX503b1393p"
VOP_START, N_VOP = bytes.fromhex("000001b6"), bytes.fromhex("000001b6509f")


def pack_b_frames(source: Path, target: Path) -> None:
    """MPEG-4 Part 2 in AVI as DivX 5 and old Xvid wrote it: each B-frame travels in one chunk with
    the reference frame before it, followed by an N-VOP. FFmpeg's AVI demuxer then hands out
    timestamps in decode order (1, 3, 2, 5, 4, ...). The audio is copied by the ffmpeg CLI."""
    video_only = target.with_suffix(".video.avi")
    with av.open(str(source)) as src, av.open(str(video_only), "w") as dst:
        stream = src.streams.video[0]
        out = dst.add_stream_from_template(stream)
        out.time_base = stream.time_base
        packets = [(p.pts, bytes(p), p.is_keyframe) for p in src.demux(stream) if p.dts is not None]
        chunks, i = [], 0
        while i < len(packets):
            pts, data, key = packets[i]
            if i == 0:
                at = data.index(VOP_START)
                data = data[:at] + DIVX_PACKED + data[at:]
            if i + 1 < len(packets) and packets[i + 1][0] < pts:  # a reference frame, then a B-frame
                chunks += [(data + packets[i + 1][1], key), (N_VOP, False)]
                i += 2
            else:
                chunks.append((data, key))
                i += 1
        for index, (data, key) in enumerate(chunks):
            packet = av.Packet(data)
            packet.stream, packet.pts, packet.dts, packet.time_base = out, index, index, stream.time_base
            packet.is_keyframe = key
            dst.mux(packet)
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", "-i", str(video_only), "-i", str(source),
                    "-map", "0:v", "-map", "1:a", "-c", "copy", str(target)], check=True, capture_output=True)


def ffmpeg_made(source: Path, target: Path) -> Path:
    """What the FFmpeg CLI itself makes of `source` with its defaults (H.264 and AAC in MP4)."""
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", "-i", str(source), "-c:v", "libx264", "-preset",
                    "ultrafast", "-c:a", "aac", str(target)], check=True, capture_output=True)
    return target


@dataclass
class Facts:
    """What FFmpeg makes of a file: pictures it decodes, how long they show, the audio tracks."""

    frames: int
    seconds: float  # from the first picture's start to the last one's end
    frame_s: float  # one frame at the stream's average rate
    audio_tracks: int
    increasing: bool  # presentation timestamps strictly increase


def facts(path: Path) -> Facts:
    """Frames counted by ffprobe (-count_frames); timing from the decoded frames' best-effort
    timestamps, as ffprobe reports them."""
    result = subprocess.run(
        [FFPROBE, "-v", "error", "-select_streams", "V:0", "-count_frames", "-show_entries",
         "stream=nb_read_frames,avg_frame_rate:frame=best_effort_timestamp_time,duration_time,pts_time",
         "-of", "json", str(path)], capture_output=True, text=True, check=True)
    info = json.loads(result.stdout)
    stream, frames = info["streams"][0], info["frames"]
    frames = [f for f in frames if "best_effort_timestamp_time" in f or "pts_time" in f]  # no time: a flushed frame
    times = [float(f.get("best_effort_timestamp_time", f.get("pts_time"))) for f in frames]
    pts = [float(f["pts_time"]) for f in frames if "pts_time" in f]
    last = max(range(len(times)), key=times.__getitem__)
    rate = Fraction(stream.get("avg_frame_rate", "0/1"))
    frame_s = float(1 / rate) if rate else 1 / RATE
    end = times[last] + float(frames[last].get("duration_time", frame_s))
    with av.open(str(path)) as container:
        audio = len(container.streams.audio)
    return Facts(int(stream["nb_read_frames"]), end - min(times), frame_s, audio,
                 all(b > a for a, b in zip(pts, pts[1:])) and len(pts) == len(frames))


def assert_kept(result, expected) -> None:
    """`result` (facts of an output) has `expected`'s frames, in increasing time, lasting as long
    (within a frame), and one audio track."""
    assert result.frames == expected.frames and result.increasing
    assert abs(result.seconds - expected.seconds) <= expected.frame_s + 1e-3
    assert result.audio_tracks == 1


def mux_silence(out: av.container.OutputContainer, sound: av.audio.stream.AudioStream, index: int, samples: int,
                layout: str = "mono") -> None:
    """Encode and mux the `index`-th block of `samples` silent 48 kHz samples (blocks numbered from 0)."""
    channels = 2 if layout == "stereo" else 1
    frame = av.AudioFrame.from_ndarray(np.zeros((channels, samples), np.float32), format="fltp", layout=layout)
    frame.sample_rate, frame.pts = 48000, index * samples
    for packet in sound.encode(frame):
        out.mux(packet)


def flush(out: av.container.OutputContainer, *streams: av.stream.Stream) -> None:
    """Mux what each encoder still holds."""
    for stream in streams:
        for packet in stream.encode(None):
            out.mux(packet)
