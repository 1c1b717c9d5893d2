"""Where stylized frames go besides the window: an MP4 file, a network stream, a virtual camera.

The file and the stream encode on their own thread behind a bounded queue, so a slow disk or
network never stalls the display; a full queue drops the frame and counts it, and closing gives
up after a time limit, so a peer that stopped reading cannot hang the shutdown. Frames carry
their capture time, which becomes the presentation time: a recording plays at the speed it was
seen, even when the stylizer kept up with only some of the camera's frames. A recording holds
room on its disk ahead of what it writes (`DiskRoom`), so a disk that fills up stops it at once,
playable, rather than losing it; and it is written in fragments (`RECORDING_CONTAINER`), so a
process killed outright (SIGKILL, the OOM killer, a power cut) leaves what it wrote playable.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import importlib
import math
import os
import queue
import re
import shutil
import socket
import threading
import time
import urllib.parse
from fractions import Fraction
from pathlib import Path
from typing import Callable, Protocol

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from realtime_adain import limits
from realtime_adain.atomic import FILE_MODE, MOST_PARTIAL_NUMBERS, PendingOutput, link_first_free, partial_path, process_gone, writable_target
from realtime_adain.clib import c_library
from realtime_adain.download_urls import shown
from realtime_adain.errors import UserError, environment_failure
from realtime_adain.picture_sizes import resize
from realtime_adain.video.encoding import BT709_MATRIX as BT709, LIMITED_RANGE
from realtime_adain.video.sequence import ffmpeg_name

STREAM_FORMATS = {"udp": "mpegts", "rtp": "rtp_mpegts", "srt": "mpegts", "tcp": "mpegts", "rtmp": "flv", "rtmps": "flv"}
QUEUE_FRAMES = 64
# The frame rate outputs are told: a source's own rate can be anything its file claims (one
# frame in hours, 90000 fps), and camera drivers report nonsense; the presentation times come
# from the capture times anyway, so this only sets the encoder's rate control and the stream's GOP.
OUTPUT_FPS = (1.0, 240.0)
# The presentation times' unit (MPEG-TS's clock): capture times on a grid of the average frame
# rate moved the frames of a variable-rate file (a second's pause, then 24 fps) onto an even
# 16 fps, 3.5 s of steady frames for a 3 s file.
OUTPUT_TIME_BASE = Fraction(1, 90000)
RECORDING_CLOSE_TIMEOUT = 30.0  # encoding at most QUEUE_FRAMES frames and flushing to a local disk
STREAM_CLOSE_TIMEOUT = 5.0
# A recording is written as fragmented MP4 (a header, then a moof box and the packets for each
# second), which FFmpeg turns into an ordinary MP4 when it is finished (`hybrid_fragmented`: the
# index at the end, as before): a SIGKILL lost the whole file, whose only index is written last,
# and x264 holds ~10 s of frames at 1-2 fps. Each packet is flushed (`flush_packets`) so a killed
# run's last fragments are not left in FFmpeg's 32 KiB buffer. Fragments have no edit list: B-frames'
# delay is taken by negative composition offsets (else every frame played 2 frames late). FFmpeg
# before 8.0 (libavformat 62) has no hybrid mode: a plain MP4 there.
RECORDING_CONTAINER = ({"movflags": "hybrid_fragmented+negative_cts_offsets", "frag_duration": "1000000",
                        "flush_packets": "1"}
                       if av.library_versions["libavformat"] >= (62, 0, 0) else {})
# What an MP4 needs beyond its packets to be finished: the fragments' boxes, kept in the finished
# file, take up to 139 bytes a frame (one fragment a frame, at 1 fps or less; measured), the
# index about 19 more (uneven capture times), the header and the index's fixed part a few KiB.
CONTAINER_BYTES_PER_FRAME = 160
ROOM_SLACK = 64 * 1024
ROOM_AHEAD = 1 << 20  # reserved beyond the need at a time: most frames make no system call
FALLOC_FL_KEEP_SIZE = 1
# No room: the disk, the user's quota, or the process's file size limit (`ulimit -f`: EFBIG,
# Python ignores SIGXFSZ), which FFmpeg's writes meet just the same.
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def even(size: tuple[int, int]) -> tuple[int, int]:
    """H.264 in 4:2:0 needs even sides. Recordings and streams are 4:2:0 at an even size: the 4:4:4
    that `video` writes at an odd size (formats.choose_pix_fmt) plays neither in browsers nor in
    QuickTime nor on hardware decoders, and a 4:3 camera at the default --size 160 runs at 213x160."""
    return max(2, size[0] // 2 * 2), max(2, size[1] // 2 * 2)


def even_crop(image: np.ndarray) -> np.ndarray:
    """`image` less its last column or row where that side is odd: cropped, not scaled, as the one
    pixel is not worth resampling (softening) the whole picture for, nor padded, which would add
    an edge the picture never had."""
    width, height = even((image.shape[1], image.shape[0]))
    return image[:height, :width]


def output_rate(fps: float) -> Fraction:
    """`fps` as the outputs' frame rate, within OUTPUT_FPS (a rate that rounds to 0 divided by zero)."""
    fps = min(max(fps, OUTPUT_FPS[0]), OUTPUT_FPS[1]) if fps == fps else OUTPUT_FPS[0]
    return Fraction(round(fps * 1000), 1000).limit_denominator(1001)


class Output(Protocol):
    """What the session needs of an output: it is fed frames, named by `label`, closed once.

    `key` is how the event log names `label` ("path" for a file, "target" for the rest); a failed
    output's `error` says why and it writes nothing more.
    """

    key: str

    @property
    def label(self) -> str: ...

    @property
    def outcome(self) -> str:
        """What the closing log line says the output left (a file's path, "" if none; a target)."""

    @property
    def written(self) -> int: ...

    @property
    def dropped(self) -> int: ...

    @property
    def error(self) -> str | None: ...

    def submit(self, image: np.ndarray, captured: float) -> None: ...

    def close(self) -> Path | None: ...


def _fallocate() -> Callable[[int, int, int, int], int] | None:
    """Linux's fallocate(2) returning 0 or the errno (Python wraps only posix_fallocate, which
    grows the file); None where the C library has none (macOS, Windows)."""
    library = c_library()  # (its calls save errno)
    if library is None:
        return None
    for name in ("fallocate64", "fallocate"):
        try:  # by index: an object of its own, whose argument types below are for this use only
            function = library[name]
            break
        except AttributeError:  # not in this C library
            continue
    else:
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    function.restype = ctypes.c_int

    def call(fd: int, mode: int, offset: int, length: int) -> int:
        return 0 if function(fd, mode, offset, length) == 0 else ctypes.get_errno()

    return call


def file_size_limit() -> float:
    """The largest file this process may write (`ulimit -f`), inf where unlimited or unknown."""
    try:
        import resource
    except ImportError:  # (Windows)
        return math.inf
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return math.inf if soft == resource.RLIM_INFINITY else soft


class DiskRoom:
    """Room held on the disk for the rest of a recording, so that a full disk never costs the file.

    An MP4 plays only once its index, written last, is there, and FFmpeg's output stays failed after
    one refused write: a disk that filled up lost the whole recording. So each frame's packets go
    through only when the file can grow by them and still take its index. Where the file system
    allows, that room is reserved in the file itself (fallocate, its size unchanged: no other
    writer can take it, and FFmpeg's writes land in it); elsewhere the free space is checked.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data = self._frames = 0  # the packets let through: bytes, count
        self._reserved = 0  # the file's first bytes held for it
        self._size_limit = file_size_limit()
        self._fallocate = _fallocate()
        try:
            self._fd: int | None = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:  # (gone already: FFmpeg's own open says why)
            self._fd, self._fallocate = None, None

    def take(self, size: int, count: int, opened: bool) -> None:
        """Room for `count` packets of `size` bytes in all, or OSError (ENOSPC, EDQUOT, EFBIG). `opened`:
        FFmpeg has opened the file, which truncates it (freeing what was reserved before)."""
        end = self._data + size + (self._frames + count) * CONTAINER_BYTES_PER_FRAME + ROOM_SLACK
        if end > self._size_limit:  # (room reserved by fallocate is not checked against it: the writes are)
            raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))
        if end > self._reserved:
            self._hold(end, opened)
        self._data += size
        self._frames += count

    def _hold(self, end: int, opened: bool) -> None:
        if opened and self._fallocate is not None:
            for want in (end + ROOM_AHEAD, end):
                refused = self._fallocate(self._fd, FALLOC_FL_KEEP_SIZE, self._reserved, want - self._reserved)
                if not refused:
                    self._reserved = want
                    return
                if refused not in DISK_FULL:  # not supported here (NFS, FAT, ...): free space from now on
                    self._fallocate = None
                    break
            else:
                raise OSError(refused, os.strerror(refused))
        try:
            written = os.fstat(self._fd).st_size if self._fd is not None else 0
            free = shutil.disk_usage(self.path.parent).free
        except OSError:
            return  # (the folder is gone: FFmpeg's write says so)
        if free < end - written:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def release(self) -> None:
        """Give back what was reserved beyond the finished file's end (a truncation to its own size)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if self._reserved:
                os.ftruncate(fd, os.fstat(fd).st_size)
        except OSError:
            pass
        finally:
            os.close(fd)


class EncoderThread(threading.Thread):
    """H.264 from RGB frames to a container (a file or a URL), encoded off the caller's thread."""

    def __init__(
        self,
        target: str,
        container_format: str,
        size: tuple[int, int],
        fps: float,
        codec_options: dict[str, str],
        log: Callable[..., None],
        label: str | None = None,
        container_options: dict[str, str] | None = None,
        room: DiskRoom | None = None,
        stopped: Callable[[], None] = lambda: None,
        key: str = "target",
    ) -> None:
        super().__init__(name=f"encoder {target}", daemon=True)
        self.target = target
        self.label = label or target  # what the user knows it as (not a hidden temporary name)
        self.key = key  # its name in log lines: "path" for a file, as in `output-failed` (the output's `key`)
        self.size = even(size)
        self.rate = output_rate(fps)
        self.log = log
        # Frames in the output: counted as the container takes their packets (the encoder holds a
        # few back until flushed; a recording stopped by a full disk has only those it took).
        self.written = 0
        self.dropped = 0
        self.error: str | None = None
        self.finalised = False  # the container was closed properly: what was written plays
        self._room = room
        self._stopped = stopped  # told at once when a failure closed the container (before output-error)
        self._opened = False  # a packet went to the container, which opened the target then
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)
        self._first_time: float | None = None
        self._last_pts = -1
        self._reformatter = VideoReformatter()  # one scaler for the stream, not one per frame
        try:
            self._container = av.open(target, mode="w", format=container_format, options=container_options or {})
        except (av.FFmpegError, OSError) as exc:
            raise UserError(f"{self.label}: cannot open for writing ({getattr(exc, 'strerror', None) or exc})") from None
        try:
            self._add_stream(codec_options)
            self.start()
        except BaseException as exc:
            # (a thread that cannot start, `ulimit -u` or `-v`: a traceback ended the session at `r`)
            with contextlib.suppress(av.FFmpegError, OSError):
                self._container.close()
            if (why := environment_failure(exc)) is None:
                raise
            raise UserError(f"{self.label}: {why}") from None

    def _add_stream(self, codec_options: dict[str, str]) -> None:
        self._stream = self._container.add_stream("libx264", rate=self.rate)
        self._stream.width, self._stream.height = self.size
        self._stream.pix_fmt = "yuv420p"
        if limits.pools_reduced:  # `ulimit -u` leaves no room for x264's threads (as `video` encodes)
            codec_options = {**codec_options, "threads": "1"}
        self._stream.options = codec_options
        context = self._stream.codec_context  # tagged as converted (untagged, players took HD for BT.709)
        context.time_base = OUTPUT_TIME_BASE
        context.colorspace, context.color_range = BT709, LIMITED_RANGE
        context.color_primaries, context.color_trc = BT709, BT709

    def submit(self, image: np.ndarray, captured: float) -> None:
        """Queue an RGB frame with its capture time; dropped (and counted) if the encoder lags."""
        try:
            self._queue.put_nowait((image, captured))
        except queue.Full:
            self.dropped += 1

    def close(self, timeout: float, keep_queued: bool = True) -> int:
        """Encode what is queued (or drop it), flush, finalise; returns the frames written.

        Waits at most `timeout` seconds: past that the target is taken as stalled, `error` says
        so and the thread (a daemon) is left behind rather than hanging the shutdown.
        """
        if not keep_queued:
            self._discard_queued()
        deadline = time.monotonic() + timeout
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            pass
        self.join(max(0.0, deadline - time.monotonic()))
        if self.is_alive():
            self.error = self.error or f"still writing after {timeout:.0f} s, given up"
            self.log("output-error", **{self.key: self.label}, reason=self.error)
        return self.written

    def _discard_queued(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return
            self.dropped += 1

    def run(self) -> None:
        item = ()
        try:
            while (item := self._queue.get()) is not None:
                self._encode(*item)
            self._mux(self._stream.encode(None))
        except Exception as exc:  # FFmpeg's and the disk's errors, or any other: said, never a thread's traceback
            reason = getattr(exc, "strerror", None) if isinstance(exc, (av.FFmpegError, OSError)) else None
            self.error = (str(reason or exc) or type(exc).__name__).replace(self.target, self.label)
        finally:
            self._close_container()
        if self.error is None:
            return
        # Closed at once, not when the session ends: what was written is kept now (a recording on a
        # disk that filled up plays up to there), then the failure is said.
        try:
            self._stopped()
        except Exception:  # (a file that could not be removed, say: close() decides again, on its thread)
            pass
        self.log("output-error", **{self.key: self.label}, reason=self.error)
        # Take frames until close()'s end marker, unless it was taken already (an error at the flush).
        while item is not None and (item := self._queue.get()) is not None:
            pass

    def _close_container(self) -> None:
        try:
            self._container.close()
            self.finalised = True
        except (av.FFmpegError, OSError) as exc:
            self.error = self.error or str(getattr(exc, "strerror", None) or exc).replace(self.target, self.label)
        finally:
            if self._room is not None:
                self._room.release()

    def _mux(self, packets: list[av.Packet]) -> None:
        """Into the container; with a `DiskRoom`, only while the finished file still fits (else
        OSError, before FFmpeg's write could fail)."""
        if not packets:
            return
        if self._room is not None:
            self._room.take(sum(packet.size for packet in packets), len(packets), self._opened)
        self._opened = True
        self._container.mux(packets)
        self.written += len(packets)

    def _encode(self, image: np.ndarray, captured: float) -> None:
        if self._first_time is None:
            self._first_time = captured
        pts = max(self._last_pts + 1, round((captured - self._first_time) / OUTPUT_TIME_BASE))
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(even_crop(image)), format="rgb24")
        frame = self._reformatter.reformat(frame, width=self.size[0], height=self.size[1], format="yuv420p",
                                           dst_colorspace=BT709, dst_color_range=LIMITED_RANGE,
                                           threads=1 if limits.pools_reduced else None)  # (swscale's: one a CPU)
        frame.color_primaries, frame.color_trc = BT709, BT709
        frame.pts, frame.time_base = pts, OUTPUT_TIME_BASE
        self._mux(self._stream.encode(frame))
        self._last_pts = pts


class EncodedOutput:
    """What the file and the stream share: frames go to their `EncoderThread`."""

    _encoder: EncoderThread

    @property
    def written(self) -> int:
        return self._encoder.written

    @property
    def dropped(self) -> int:
        return self._encoder.dropped

    @property
    def error(self) -> str | None:
        """Why the output stopped working (it writes nothing more), or None while it works."""
        return self._encoder.error

    def submit(self, image: np.ndarray, captured: float) -> None:
        self._encoder.submit(image, captured)


def plays(path: Path) -> bool:
    """Whether a file that had a write error still decodes (FFmpeg may close it without a complaint)."""
    try:
        with av.open(ffmpeg_name(path)) as container:
            next(container.decode(video=0))
        return True
    except (av.FFmpegError, OSError, StopIteration):
        return False


def keep_killed_recordings(final: Path) -> list[Path]:
    """What recordings of `final` killed outright (SIGKILL, a power cut) left, kept as its
    NAME.partial.mp4 (-1, -2, ..., never over a file): their hidden `.NAME.PID-*.part.mp4`, whose
    process is gone, plays up to its last fragment. One that does not play (killed before its first
    fragment) is removed. Done as a new recording of that name starts: left hidden, the next
    output into the folder would remove it unseen (atomic.remove_stale_temporaries)."""
    hidden = re.compile(rf"\.{re.escape(final.stem)}\.(?P<pid>\d+)-[a-z0-9_]{{8}}\.part{re.escape(final.suffix)}")
    kept = []
    try:
        entries = [entry for entry in os.scandir(final.parent)
                   if (match := hidden.fullmatch(entry.name)) and entry.is_file(follow_symlinks=False)
                   and process_gone(int(match.group("pid")))]
    except OSError:
        return kept
    for entry in entries:
        with contextlib.suppress(OSError):
            if plays(Path(entry.path)):
                os.truncate(entry.path, os.stat(entry.path).st_size)  # (gives back room `DiskRoom` held beyond its end)
                os.chmod(entry.path, FILE_MODE)
                kept.append(_claim_partial_name(Path(entry.path), final))
            os.unlink(entry.path)
    return kept


def _claim_partial_name(path: Path, final: Path) -> Path:
    """`path` at the first free partial name of `final` (OSError if none could be had)."""
    claimed, linked = link_first_free(path, [partial_path(final, number) for number in range(MOST_PARTIAL_NUMBERS)])
    if claimed is None:
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(final))
    if not linked:  # (no hard links here: FAT)
        os.rename(path, claimed)
    return claimed


class Recorder(EncodedOutput):
    """An MP4 file that appears only when finalised: written as a hidden .part file, then renamed.

    A recording that failed (a full disk) keeps its frames as NAME.partial.mp4 if the file could
    still be finalised, else nothing: never a file that does not play. That is settled the moment
    it fails, while the session goes on; `error` is None until then. One killed outright is kept
    so by the next recording of its name (`keep_killed_recordings`).
    """

    key = "path"

    def __init__(self, path: str | os.PathLike, size: tuple[int, int], fps: float, log: Callable[..., None],
                 replaces: bool = True) -> None:
        """`replaces`: whether the finished file may replace one at `path` (`-o`, a name the user
        gave), or takes the next free number (`r`, a name chosen free when it began)."""
        self.path = Path(path)
        self.replaces = replaces
        self.published: Path | None = None
        self._settled = False  # what is kept (if anything) is decided and in place
        self._settle_lock = threading.Lock()
        for kept in keep_killed_recordings(writable_target(self.path)):
            log("killed-recording-kept", path=str(kept))
        self._pending = PendingOutput(self.path)
        room = DiskRoom(self._pending.path)
        options = {"preset": "veryfast", "crf": "20"}
        try:
            self._encoder = EncoderThread(ffmpeg_name(self._pending.path), "mp4", size, fps, options, log, label=str(self.path),
                                          container_options=RECORDING_CONTAINER, room=room, stopped=self._settle, key=self.key)
        except BaseException:  # (a UserError, or memory short: no .part left either way)
            room.release()
            self._pending.discard()
            raise

    @property
    def error(self) -> str | None:
        """Why the recording stopped, once what it keeps is in place (so a report can name it)."""
        return self._encoder.error if self._settled else None

    @property
    def label(self) -> str:
        return str(self.path)

    @property
    def outcome(self) -> str:
        """Once closed, the file that was kept: the path, its .partial twin, or "" (none)."""
        return str(self.published or "")

    def close(self) -> Path | None:
        """Finalise; the file exists (complete and playable) only if frames were written."""
        self._encoder.close(RECORDING_CLOSE_TIMEOUT)
        self._settle()
        return self.published

    def _settle(self) -> None:
        """Decide what is kept, once: at close, or from the encoder's thread the moment it failed."""
        with self._settle_lock:
            if not self._settled:
                self.published = self._finalise()
                self._settled = True

    def _finalise(self) -> Path | None:
        written = self._encoder.written
        try:
            if written and self._encoder.error is None:
                return self._pending.publish() if self.replaces else self._pending.publish_unclaimed()
            if written and self._encoder.finalised and plays(self._pending.path):
                return self._pending.publish_partial()
        except UserError as exc:  # renaming failed: the recording is lost, say why
            self._encoder.error = self._encoder.error or str(exc)
            return None
        self._pending.discard()
        return None


def udp_packets(url: str) -> str:
    """The URL asking for datagrams of 7 MPEG-TS packets (1316 bytes), unless it says its own: a
    lost datagram then loses whole TS packets. Given to the muxer, the option was unused (FFmpeg
    said so on stderr) and datagrams ran from 32 to 1472 bytes; it is the UDP protocol's."""
    if "pkt_size=" in url.partition("?")[2]:
        return url
    return f"{url}{'&' if '?' in url else '?'}pkt_size=1316"


@functools.cache
def writable_protocols() -> frozenset[str] | None:
    """The URL protocols PyAV's FFmpeg can write to (`avio_enum_protocols`, which PyAV does not
    offer), or None where its libavformat is not found among the libraries this process loaded
    (read from /proc/self/maps: Linux)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {line.split()[-1] for line in maps if "/libavformat" in line}
        # (OpenCV's wheel loads its own FFmpeg too, with other protocols: PyAV's is the one in its
        # wheel's av.libs, or the only one loaded)
        ours = {path for path in paths if "/av.libs/" in path} or paths
        if len(ours) != 1:
            return None
        enum = ctypes.CDLL(ours.pop()).avio_enum_protocols
    except (OSError, AttributeError):
        return None
    enum.restype, enum.argtypes = ctypes.c_char_p, [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]
    opaque, names = ctypes.c_void_p(), set()
    while (name := enum(ctypes.byref(opaque), 1)) is not None:
        names.add(name.decode("ascii", "replace"))
    return frozenset(names)


def check_host(url: str, host: str) -> None:
    """A UserError where `host` does not resolve (a typo): before the model loads, not at the
    first frame as "Input/output error"."""
    try:
        socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        raise UserError(f"{url}: the host name {host} does not resolve ({exc.strerror})") from None
    except UnicodeError:  # (a label over 63 characters)
        raise UserError(f"{url}: {host} is not a valid host name") from None


RTMP_PORT = 1935
STREAM_ANSWER_S = 5.0  # a receiver's connection and first answer, at most
RTMP_HANDSHAKE = 1 + 1536  # C0 (the version byte) and C1; the server answers S0 and S1, as long


def tcp_timeout(url: str) -> str:
    """The URL with FFmpeg's tcp `timeout` (microseconds) unless it names one: PyAV opens the output
    holding Python's lock, so a receiver that never accepted held the whole session (window,
    signals) for the system's connect timeout, minutes."""
    query = url.partition("?")[2]
    if "timeout=" in query:
        return url
    return f"{url}{'&' if query else '?'}timeout={round(STREAM_ANSWER_S * 1e6)}"


def check_rtmp_answers(url: str, host: str, port: int) -> None:
    """A UserError unless the RTMP server answers a handshake within STREAM_ANSWER_S. FFmpeg's
    RTMP has no timeout PyAV can set, and opens the output holding Python's lock: a server that
    accepted and never answered froze the session for good (SIGTERM and Ctrl-C unanswered)."""
    try:
        with socket.create_connection((host, port), timeout=STREAM_ANSWER_S) as probe:
            probe.sendall(b"\x03" + bytes(RTMP_HANDSHAKE - 1))
            answered = b""
            while len(answered) < RTMP_HANDSHAKE:
                if not (block := probe.recv(RTMP_HANDSHAKE - len(answered))):
                    break
                answered += block
    except socket.timeout:
        raise UserError(f"{url}: the RTMP server did not answer within {STREAM_ANSWER_S:g} s") from None
    except OSError as exc:
        raise UserError(f"{url}: cannot connect ({exc.strerror or exc})") from None
    if len(answered) < RTMP_HANDSHAKE:
        raise UserError(f"{url}: the server closed the connection without an RTMP answer")


def stream_shown(url: str) -> str:
    """A --stream URL as messages say it: without its user:password and query values (`shown`: an
    SRT passphrase), and an RTMP URL without its stream key (what follows the application's name:
    rtmp://HOST/live/***), the password of a live channel."""
    said = shown(url)
    if said.partition("://")[0].lower() not in ("rtmp", "rtmps"):
        return said
    try:
        parts = urllib.parse.urlsplit(said)
    except ValueError:  # (malformed: said as `shown` says it)
        return said
    app, _, key = parts.path.lstrip("/").partition("/")
    return parts._replace(path=f"/{app}/***").geturl() if key else said


class Streamer(EncodedOutput):
    """Low-latency H.264 to a URL: MPEG-TS over UDP/SRT/TCP or in RTP, FLV over RTMP (OBS, ffplay, VLC)."""

    key = "target"

    def __init__(self, url: str, size: tuple[int, int], fps: float, log: Callable[..., None]) -> None:
        self.url = url
        scheme = self.checked_scheme(url)
        options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(max(1, round(output_rate(fps))))}
        target = udp_packets(url) if scheme == "udp" else tcp_timeout(url) if scheme == "tcp" else url
        self._encoder = EncoderThread(target, STREAM_FORMATS[scheme], size, fps, options, log, label=stream_shown(url))

    @staticmethod
    def checked_scheme(url: str) -> str:
        """The URL's scheme, after checking the URL is one we can stream to (scheme, host, port)."""
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        said = stream_shown(url)  # (the URL without its secrets)
        if scheme not in STREAM_FORMATS:
            raise UserError(f"{said}: --stream takes udp://, srt://, tcp://, rtp:// or rtmp:// URLs")
        # Checked before the session starts: `udp://:99999` loaded the model and ran, then ended
        # with "output-failed ... Invalid argument".
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError as exc:  # an unclosed [IPv6 address, a port that is no number
            if "port" not in str(exc).lower():
                raise UserError(f"{said}: not a URL ({exc})") from None
            port = -1
        if port is not None and not 1 <= port <= 65535:
            raise UserError(f"{said}: the port must be a number from 1 to 65535")
        if scheme in ("udp", "rtp", "tcp", "srt") and not (parts.hostname and port):
            raise UserError(f"{said}: --stream {scheme}:// needs HOST:PORT, e.g. {scheme}://127.0.0.1:5000")
        if not parts.hostname:  # (RTMP: its port may be left out; found only after the model loaded)
            raise UserError(f"{said}: --stream {scheme}:// needs a host, e.g. {scheme}://127.0.0.1/live/stream")
        # (found only at the first frame, once the model had loaded: "Protocol not found",
        # "Input/output error")
        if (protocols := writable_protocols()) is not None and scheme not in protocols:
            raise UserError(f"{said}: this FFmpeg (PyAV's) has no {scheme.upper()} support; use udp:// or tcp://")
        if scheme in ("tcp", "rtmp") and "listen" in urllib.parse.parse_qs(parts.query, keep_blank_values=True):
            # (PyAV opens the output holding Python's lock: the session froze, signals unanswered,
            # until a viewer came; and on 0.0.0.0 anyone could watch, with no token)
            raise UserError(f"{said}: --stream does not listen for viewers (the session would stop until one came); "
                            f"start the viewer listening and stream to it, e.g. ffplay '{scheme}://127.0.0.1:5000?listen'")
        if parts.hostname:
            check_host(said, parts.hostname)
        if scheme == "rtmp":
            check_rtmp_answers(said, parts.hostname, port or RTMP_PORT)
        return scheme

    @property
    def label(self) -> str:
        return stream_shown(self.url)

    outcome = label

    def close(self) -> None:
        """Stale frames are worthless to a live viewer: what is still queued is dropped."""
        self._encoder.close(STREAM_CLOSE_TIMEOUT, keep_queued=False)


class VirtualCamera:
    """The stylized feed as a system webcam via pyvirtualcam (v4l2loopback, OBS's virtual camera).

    No encoder and no thread: `send` copies one raw frame into the device's buffer.
    """

    key = "target"
    label = outcome = "virtual-camera"
    dropped = 0
    error: str | None = None  # a send that fails raises: there is no thread to fail quietly

    @staticmethod
    def check_available() -> None:
        """Fail before any work when the optional package is missing, or there but broken (then
        why: "pip install" was no help to one whose native part failed to load)."""
        try:
            importlib.import_module("pyvirtualcam")
        except Exception as exc:  # (also an ImportError of its native part, an OSError, ...)
            if isinstance(exc, ModuleNotFoundError) and exc.name == "pyvirtualcam":
                raise UserError("--virtual-cam needs pyvirtualcam: pip install 'realtime-adain[virtualcam]'") from None
            raise UserError(f"--virtual-cam: pyvirtualcam is installed but does not import "
                            f"({type(exc).__name__}: {exc})") from None

    def __init__(self, size: tuple[int, int], fps: float) -> None:
        self.check_available()
        import pyvirtualcam

        try:
            self._camera = pyvirtualcam.Camera(width=size[0], height=size[1], fps=float(output_rate(fps)))
        except RuntimeError as exc:
            raise UserError(f"no virtual camera device available ({exc}); on Linux load v4l2loopback, "
                            "elsewhere install OBS's virtual camera") from None
        self.size = size
        self.written = 0

    def submit(self, image: np.ndarray, captured: float) -> None:
        if (image.shape[1], image.shape[0]) != self.size:
            image = resize(image, self.size)
        self._camera.send(image)
        self.written += 1

    def close(self) -> None:
        self._camera.close()
