"""Fuzzing the `video` input path: small real seed files, byte mutations, and a worker that runs
each case in a forked child with a timeout and a memory watchdog.

The worker (`Worker`) is a separate interpreter that loads the test weights once; each case runs
in a child forked from it (the worker itself never runs the network, so no thread pool is forked),
through the library calls the `video` command makes (`check_inputs`, then `stylize_file`). The
parent times the child, kills it past its time or memory, and reads its peak RSS from `wait4`.
A hang, a crash of the interpreter or an exception other than `UserError` is the child's result,
not the test process's fate.
"""

from __future__ import annotations

import json
import os
import select
import signal
import struct
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

# Seeds: 64x48, 1 s at 12 fps, keyframes every 4 frames, with sound (but the GIF), one per
# container and codec pair the task names. (name, extension, ffmpeg output options)
SEEDS: list[tuple[str, str, list[str]]] = [
    ("h264_aac", ".mp4", ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"]),
    ("vp9_opus", ".mkv", ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libopus"]),
    ("mpeg4_ac3", ".mkv", ["-c:v", "mpeg4", "-c:a", "ac3"]),
    ("mpeg4_mp3", ".avi", ["-c:v", "mpeg4", "-c:a", "libmp3lame"]),
    ("mjpeg_pcm", ".avi", ["-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-c:a", "pcm_s16le"]),
    ("mpeg2_ac3", ".ts", ["-c:v", "mpeg2video", "-c:a", "ac3"]),
    ("h264_aac_ts", ".ts", ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"]),
    ("vp8_vorbis", ".webm", ["-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libvorbis"]),
    ("h264_pcm", ".mov", ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le"]),
    ("flv1_mp3", ".flv", ["-c:v", "flv", "-c:a", "libmp3lame", "-ar", "44100"]),
    ("gif", ".gif", ["-an"]),
]


def ffmpeg(*args: str | os.PathLike) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *map(str, args)], check=True, timeout=60)


def make_seed(folder: Path, name: str, ext: str, options: list[str]) -> Path:
    path = folder / f"{name}{ext}"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=1",
           "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1",
           "-g", "4", "-shortest", *options, path)
    return path


def make_seeds(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return {name: make_seed(folder, name, ext, options) for name, ext, options in SEEDS}


# Where a size field sits next to a tag: ISO boxes carry a big-endian u32 before their type, RIFF
# (AVI) chunks a little-endian u32 after their id, FLV tags a 24-bit size after their type byte.
ISO_BOXES = [b"ftyp", b"moov", b"mvhd", b"trak", b"tkhd", b"mdia", b"mdhd", b"minf", b"stbl", b"stsd", b"stts",
             b"stss", b"stsc", b"stsz", b"stco", b"avcC", b"esds", b"mdat", b"edts", b"elst", b"udta", b"hdlr"]
RIFF_CHUNKS = [b"RIFF", b"LIST", b"avih", b"strh", b"strf", b"movi", b"idx1", b"00dc", b"01wb", b"00db", b"JUNK"]
INTERESTING = [0, 1, 7, 8, 0x7F, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF]


def size_fields(data: bytes) -> list[tuple[int, str]]:
    """(offset, struct format) of every size field found beside a known tag."""
    found = []
    for tag in ISO_BOXES:
        at = data.find(tag)
        while at >= 4:
            found.append((at - 4, ">I"))
            at = data.find(tag, at + 1)
    for tag in RIFF_CHUNKS:
        at = data.find(tag)
        while at >= 0 and at + 8 <= len(data):
            found.append((at + 4, "<I"))
            at = data.find(tag, at + 1)
    return sorted(set(found))


@dataclass
class Mutation:
    """One change to a file's bytes; `describe` says it exactly, to reproduce a failure."""

    kind: str
    at: int = 0
    length: int = 0
    value: int = 0
    payload: bytes = b""
    into: bytes = b""  # "replace": what the first `payload` found becomes (a codec id renamed)

    def apply(self, data: bytearray) -> bytearray:
        n = len(data)
        at = min(self.at, max(0, n - 1))
        if self.kind == "flip" and n:
            data[at] ^= self.value or 1
        elif self.kind == "zero":
            data[at:at + self.length] = bytes(len(data[at:at + self.length]))
        elif self.kind == "truncate":
            del data[max(1, at):]
        elif self.kind == "remove":
            del data[at:at + self.length]
        elif self.kind == "duplicate":
            data[at:at] = data[at:at + self.length]
        elif self.kind == "append":
            data += self.payload
        elif self.kind == "prepend":
            data[0:0] = self.payload
        elif self.kind == "insert":
            data[at:at] = self.payload
        elif self.kind == "replace" and (found := data.find(self.payload)) >= 0:
            data[found:found + len(self.payload)] = self.into
        elif self.kind.startswith("size"):  # "size>I" / "size<I": a size field set to `value`
            fmt = self.kind[4:]
            if at + 4 <= n:
                data[at:at + 4] = struct.pack(fmt, self.value & 0xFFFFFFFF)
        return data

    def describe(self) -> str:
        payload = f", payload={self.payload.hex()}" if self.payload else ""
        into = f", into={self.into.hex()}" if self.into else ""
        return f"{self.kind}(at={self.at}, length={self.length}, value={self.value}{payload}{into})"


def mutate(data: bytes, mutations: list[Mutation]) -> bytes:
    out = bytearray(data)
    for mutation in mutations:
        out = mutation.apply(out)
    return bytes(out) or b"\0"


# -- the worker ---------------------------------------------------------------------------------

@dataclass
class Outcome:
    kind: str  # ok, user_error, exception, timeout, memory, crash
    detail: str  # frames written / the message / the traceback / the signal
    peak_mb: float
    seconds: float

    @property
    def bounded(self) -> bool:
        return self.kind in ("ok", "user_error")


def rss_mb(pid: int, field: str = "VmRSS:") -> float:
    """A process's resident memory now (or, with "VmHWM:", its high-water mark) in MB; 0 once gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_case(request: dict, stylizer, style_image) -> dict:
    """In the forked child: the `video` command's library path on one input."""
    import torch

    from realtime_adain.errors import UserError
    from realtime_adain.settings import VideoSettings
    from realtime_adain.styles import StyleSet
    from realtime_adain.video.encoder_settings import EncodeSettings
    from realtime_adain.video.input_checks import check_inputs
    from realtime_adain.video.job import stylize_file

    torch.set_num_threads(1)
    source, output = Path(request["source"]), Path(request["output"])
    settings = VideoSettings(**request.get("settings", {}))
    encode = EncodeSettings()  # the container's default encoder, as the CLI without --codec
    styles = StyleSet(stylizer, {Path("style"): style_image}, 64, False)
    try:
        check_inputs([source], settings, encode)
        frames, size = stylize_file(source, output, stylizer,
                                    lambda first: styles.combined([Path("style")], first, None), settings, encode)
        return {"kind": "ok", "detail": f"{frames} frames, {size[0]}x{size[1]}"}
    except UserError as exc:
        return {"kind": "user_error", "detail": str(exc)}
    except BaseException as exc:  # noqa: BLE001 - any other type is the finding
        return {"kind": "exception", "detail": "".join(traceback.format_exception(exc))[-3000:]}


def serve(vgg: str, decoder: str, style: str) -> None:
    """The worker's loop: one JSON request a line on stdin, one JSON outcome a line on stdout."""
    import cv2

    from realtime_adain.stylizer import Stylizer

    stylizer = Stylizer.load(vgg, decoder, device="cpu", engine="eager")
    style_image = cv2.cvtColor(cv2.resize(cv2.imread(style), (64, 48)), cv2.COLOR_BGR2RGB)
    os.environ["TQDM_DISABLE"] = "1"
    out = sys.stdout
    sys.stdout = sys.stderr  # only outcomes on the real stdout
    for line in sys.stdin:
        request = json.loads(line)
        read_fd, write_fd = os.pipe()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the child
            os.close(read_fd)
            try:
                log = os.open(request.get("log", os.devnull), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(log, 2)
                os.dup2(log, 1)
                try:
                    result = run_case(request, stylizer, style_image)
                except BaseException as exc:  # (the harness's own failure, said rather than lost)
                    traceback.print_exc()
                    result = {"kind": "crash", "detail": f"the case raised {type(exc).__name__}: {exc}"}
                os.write(write_fd, json.dumps(result).encode())
            finally:
                os._exit(0)
        os.close(write_fd)
        outcome = watch(pid, read_fd, request.get("timeout", 30.0), request.get("memory_mb", 3000.0), started)
        os.close(read_fd)
        out.write(json.dumps({**outcome.__dict__, "request": request.get("id")}) + "\n")
        out.flush()


def watch(pid: int, read_fd: int, timeout: float, memory_mb: float, started: float) -> Outcome:
    """Wait for the child: its result, or how it ended (killed for time or memory, or a crash)."""
    chunks, peak, killed = [], 0.0, None
    while True:
        ready, _, _ = select.select([read_fd], [], [], 0.02)
        if ready:
            chunk = os.read(read_fd, 1 << 16)
            if chunk:
                chunks.append(chunk)
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        peak = max(peak, rss_mb(pid))
        if killed is None and time.monotonic() - started > timeout:
            killed = "timeout"
        elif killed is None and peak > memory_mb:
            killed = "memory"
        if killed:
            os.kill(pid, signal.SIGKILL)
            _, status, usage = os.wait4(pid, 0)
            break
    while chunk := (os.read(read_fd, 1 << 16) if select.select([read_fd], [], [], 0)[0] else b""):
        chunks.append(chunk)
    seconds = time.monotonic() - started
    peak = max(peak, usage.ru_maxrss / 1024)
    if killed:
        return Outcome(killed, f"killed after {seconds:.1f} s at {peak:.0f} MB", peak, seconds)
    if os.WIFSIGNALED(status):
        return Outcome("crash", f"signal {os.WTERMSIG(status)}", peak, seconds)
    if not chunks:
        return Outcome("crash", f"exit status {os.WEXITSTATUS(status)} and no result", peak, seconds)
    result = json.loads(b"".join(chunks))
    return Outcome(result["kind"], result["detail"], peak, seconds)


class Worker:
    """The worker process, seen from the test: `run(source, output)` gives an `Outcome`."""

    def __init__(self, vgg: Path, decoder: Path, style: Path) -> None:
        env = {**os.environ, "TQDM_DISABLE": "1"}
        self.sent = 0  # requests sent: each answer names its request
        self.process = subprocess.Popen([sys.executable, __file__, "serve", str(vgg), str(decoder), str(style)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                        cwd=Path(__file__).resolve().parents[1])

    def run(self, source: Path, output: Path, timeout: float = 30.0, memory_mb: float = 3000.0,
            settings: dict | None = None, log: Path | None = None) -> Outcome:
        self.sent += 1
        request = {"id": self.sent, "source": str(source), "output": str(output), "timeout": timeout,
                   "memory_mb": memory_mb, "settings": settings or {}, "log": str(log) if log else os.devnull}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        while True:  # (the answers to requests a test gave up on, timed out, come first: skipped)
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"the fuzz worker died (exit {self.process.wait()})")
            answer = json.loads(line)
            if answer.pop("request") == self.sent:
                return Outcome(**answer)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def leftovers(folder: Path, expected: set[str]) -> list[str]:
    """Files in `folder` other than `expected` (temporary or partial outputs left behind)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in expected)


def readable_frames(path: Path) -> int:
    """How many video frames PyAV decodes from `path` (a finished output)."""
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    serve(*sys.argv[2:5])


# -- inputs that inflate sizes ------------------------------------------------------------------

def y4m(path: Path, width: int, height: int, rate: str = "12:1", frames: int = 12,
        payload: bytes | None = None) -> Path:
    """A raw YUV4MPEG2 file; `payload` (each frame's bytes) shorter than the header's size claims."""
    with path.open("wb") as file:
        file.write(f"YUV4MPEG2 W{width} H{height} F{rate} Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            file.write(b"FRAME\n" + (payload if payload is not None else bytes(width * height * 3 // 2)))
    return path


def patched(source: Path, target: Path, edits: list[tuple[bytes, int, str, tuple[int, ...]]]) -> Path:
    """`source` with struct-packed values written at offsets from the first (given) tag after an
    anchor: each edit is (tag, offset from the tag, struct format, values); tag b"stsd>avc1" finds
    avc1 after stsd."""
    data = bytearray(source.read_bytes())
    for tag, offset, fmt, values in edits:
        at = 0
        for part in tag.split(b">"):
            at = data.index(part, at)
        data[at + offset:at + offset + struct.calcsize(fmt)] = struct.pack(fmt, *values)
    target.write_bytes(bytes(data))
    return target


def with_streams(seed: Path, target: Path, kind: str, count: int) -> Path:
    """`seed`'s video and sound plus `count` more audio or subtitle streams."""
    if kind == "audio":
        ffmpeg("-i", seed, "-map", "0:v", *["-map", "0:a"] * count, "-c", "copy", target)
    else:
        srt = target.with_suffix(".srt")
        srt.write_text("1\n00:00:00,000 --> 00:00:00,900\nhello\n")
        ffmpeg("-i", seed, "-i", srt, "-map", "0:v", "-map", "0:a", *["-map", "1:s"] * count, "-c", "copy",
               "-c:s", "srt", target)
    return target


def with_metadata(seed: Path, target: Path, tag_bytes: int = 0, chapters: int = 0) -> Path:
    """`seed` with one huge comment tag and/or many chapters (FFmpeg's metadata file format)."""
    lines = [";FFMETADATA1"] + ([f"comment={'x' * tag_bytes}"] if tag_bytes else [])
    for i in range(chapters):
        lines += ["[CHAPTER]", "TIMEBASE=1/1000000", f"START={i * 50}", f"END={i * 50 + 50}", f"title=c{i}"]
    meta = target.with_suffix(".meta.txt")
    meta.write_text("\n".join(lines) + "\n")
    ffmpeg("-i", seed, "-i", meta, "-map_metadata", "1", "-c", "copy", target)
    return target


def with_attachments(seed: Path, target: Path, sizes: list[int]) -> Path:
    """`seed` as Matroska with attachments of these sizes (random bytes, called fonts)."""
    folder = target.parent / f"{target.stem}.attachments"
    folder.mkdir(exist_ok=True)
    args: list[str | Path] = []
    for i, size in enumerate(sizes):
        (folder / f"f{i}.ttf").write_bytes(os.urandom(size) if size > 64 else f"font {i}".encode())
        args += ["-attach", folder / f"f{i}.ttf"]
    ffmpeg("-i", seed, "-map", "0", "-c", "copy", *args, "-metadata:s:t", "mimetype=application/x-truetype-font",
           target)
    return target


def zero_delay_gif(target: Path, frames: int) -> Path:
    """A GIF of `frames` frames, each with a delay of 0 (made at 1000 fps)."""
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=32x24:rate=1000", "-frames:v", str(frames), "-pix_fmt", "rgb8", target)
    return target
