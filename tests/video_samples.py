"""Small generated videos for the video tests, written with PyAV, and ways to read results back."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import av
import numpy as np


def gradient_frames(count: int, width: int, height: int) -> list[np.ndarray]:
    """Frames with distinct, asymmetric colours (R rises left->right, B top->bottom), moving."""
    y, x = np.mgrid[0:height, 0:width]
    frames = []
    for i in range(count):
        r = (x * 255 // max(1, width - 1) + 7 * i) % 256
        g = np.full_like(x, 60 + 20 * (i % 5))
        b = (y * 255 // max(1, height - 1)) % 256
        frames.append(np.stack([r, g, b], axis=-1).astype(np.uint8))
    return frames


def write_video(
    path: Path,
    frames: Sequence[np.ndarray],
    pts: Sequence[int] | None = None,
    time_base: Fraction = Fraction(1, 30),
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    options: dict[str, str] | None = None,
    rotation: int | None = None,
    audio: str | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Encode RGB `frames` at `pts` (default 0, 1, 2, ...) in `time_base`; optional audio track."""
    pts = list(range(len(frames))) if pts is None else list(pts)
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w", options=container_options or {}) as out:
        video = out.add_stream(codec, rate=Fraction(1) / time_base if audio is None else 30)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.time_base = time_base
        video.codec_context.time_base = time_base
        video.options = options or {}
        if rotation is not None:
            video.set_display_rotation(rotation)
        sound = None
        if audio:
            sound = out.add_stream(audio, rate=8000)
            sound.layout = "mono"
        # Each frame lasts until the next one (the last one a single tick): variable frame rate.
        durations = [b - a for a, b in zip(pts, pts[1:])] + [1]
        for index, (image, stamp, duration) in enumerate(zip(frames, pts, durations)):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.duration, frame.time_base = stamp, duration, time_base
            for packet in video.encode(frame):
                out.mux(packet)
            if sound is not None:
                samples = 2000 * np.sin(np.arange(800) / 5.0 + index)
                chunk = av.AudioFrame.from_ndarray(samples.astype(np.int16)[None], format="s16", layout="mono")
                chunk.sample_rate, chunk.pts, chunk.time_base = 8000, index * 800, Fraction(1, 8000)
                for packet in sound.encode(chunk):
                    out.mux(packet)
        for stream in [video] + ([sound] if sound is not None else []):
            for packet in stream.encode(None):
                out.mux(packet)
    return path


@dataclass
class Probe:
    width: int
    height: int
    time_base: Fraction
    pts: list[int]
    durations: list[int]
    rotation: int
    duration_s: float | None  # the container's: depends on the encoder's decode timestamps
    pix_fmt: str
    codec: str
    audio_codecs: list[str]

    @property
    def end_s(self) -> float:
        """When the last frame stops showing: the duration that does not depend on B-frames."""
        return float((self.pts[-1] + self.durations[-1]) * self.time_base)

    @property
    def span_s(self) -> float:
        """From the first frame's start to the last one's end (input timestamps start anywhere;
        the output's at zero)."""
        return self.end_s - float(self.pts[0] * self.time_base)


def probe(path: Path) -> Probe:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        return Probe(
            stream.codec_context.width, stream.codec_context.height, stream.time_base,
            [f.pts for f in frames], [f.duration for f in frames], frames[0].rotation if frames else 0,
            container.duration / 1e6 if container.duration else None,
            stream.codec_context.pix_fmt, stream.codec_context.name,
            [s.codec_context.name for s in container.streams.audio],
        )


def rgb_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def audio_packets(path: Path) -> list[tuple[bytes, int | None, int | None]]:
    """(bytes, pts, duration) of every audio packet, in seconds-independent stream units."""
    with av.open(str(path)) as container:
        return [(bytes(p), p.pts, p.duration) for p in container.demux(audio=0) if p.dts is not None]


def process_stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command's name (state, parent, ...; Linux): the name
    is in parentheses and may hold spaces and parentheses itself."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """The CPU time a process has spent so far, all its threads (Linux /proc)."""
    import os

    fields = process_stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until_encoding(process, folder: Path, stem: str, cpu_s: float = 1.0, timeout_s: float = 120) -> bool:
    """Until a run's hidden temporary output (`.STEM.*` in `folder`) exists and the process has since
    spent `cpu_s` of CPU: frames stylized and handed to the encoder, measured by the run's own
    progress whatever else loads the machine. False if it ended first. (Waiting for bytes in the
    file waited for the muxer's first 256 KiB block: about 140 frames at 32 px, 5 s a test.) An
    interrupt finishes what the encoder holds, so the frames need not be in the file yet."""
    import time

    deadline, started = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if started is None and any(p.name.startswith(f".{stem}.") for p in folder.iterdir()):
                started = cpu_seconds(process.pid)
            if started is not None and cpu_seconds(process.pid) - started >= cpu_s:
                return True
        except OSError:  # the process ended between the checks
            pass
        time.sleep(0.02)
    return False


def interrupted_video_run(source: Path, style: Path, out: Path, presses: int = 1) -> tuple[int, str]:
    """`realtime-adain video` on `source` at 32 px, sent Ctrl-C (SIGINT) once it is encoding
    (`wait_until_encoding`), `presses` times 20 ms apart (the later ones while it finishes):
    (exit code, stderr)."""
    import signal
    import subprocess
    import sys
    import time

    command = [sys.executable, "-m", "realtime_adain", "video", str(source), "-s", str(style),
               "--size", "32", "--style-size", "64", "--threads", "1", "-o", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_until_encoding(process, out.parent, out.stem), "finished (or never encoded) before it could be interrupted"
    for _ in range(presses):
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            time.sleep(0.02)
    _, err = process.communicate(timeout=60)
    return process.returncode, err



VFR_STAMPS = [0, 1, 3, 4, 9, 10, 11, 20, 21, 35]  # (1/30 s ticks: gaps of 1, 2, 5, 9 and 14)


def stylized_vfr_clip(run_cli, style: Path, folder: Path) -> tuple[Path, Path]:
    """A 10-frame .mp4 at the uneven times of VFR_STAMPS and its stylized .mp4 (`--size 32`)."""
    source = write_video(folder / "vfr.mp4", gradient_frames(len(VFR_STAMPS), 64, 48), pts=VFR_STAMPS,
                         time_base=Fraction(1, 30))
    out = folder / "vfr_out.mp4"
    code, _, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "-o", out)
    assert code == 0, err
    return source, out
