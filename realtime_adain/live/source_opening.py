"""The live source `--source` names (camera index, device, URL, pipe, file or image sequence),
opened (`open_source`); a URL or a pipe opened on a thread, so that Ctrl-C and SIGTERM act at once."""

from __future__ import annotations

import os
import stat
import sys
import threading
import time
from pathlib import Path

from realtime_adain.checks import ascii_whole
from realtime_adain.descriptors import STANDARD_INPUT, descriptor_number, descriptor_path, unreadable_descriptor
from realtime_adain.errors import as_given
from realtime_adain.live.camera import CameraSource
from realtime_adain.live.pyav_source import PyAVSource
from realtime_adain.live.sources import Source, SourceError
from realtime_adain.output_paths import name_too_long
from realtime_adain.video.sequence import DEFAULT_FRAMERATE, check_framerate, ffmpeg_name, find_sequence

PIPE_OPEN_S = 30.0  # the longest a pipe's opening may take once its first bytes came (FFmpeg probes ~5 s of stream)

# OpenCV takes a camera index as a C int: a larger one was a cv2.error traceback.
MAX_CAMERA_INDEX = 2**31 - 1


def _pipe(spec: str) -> str | None:
    """What FFmpeg reads for a piped source, read once to its end (`ffmpeg ... -f mpegts - |
    realtime-adain live --source -`): "pipe:0" for standard input, the path of a fifo, "pipe:N"
    for a descriptor that is a socket (a socket-activated or socat-launched process's: no path
    opens one, and it was refused as "not a camera"); None for anything else."""
    if spec in STANDARD_INPUT:
        if sys.stdin is None or sys.stdin.isatty() or stat.S_ISCHR(os.fstat(0).st_mode):
            what = "closed" if sys.stdin is None else "a terminal" if sys.stdin.isatty() else "a device, not a pipe"
            raise SourceError(f"--source {spec}: standard input is {what}; "
                              "pipe a video into it (ffmpeg -i clip.mp4 -f mpegts - | realtime-adain live --source - ...)")
        return "pipe:0"
    try:
        mode = os.stat(spec).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISSOCK(mode) and (number := descriptor_number(spec)) is not None:
        return f"pipe:{number}"
    return ffmpeg_name(spec) if stat.S_ISFIFO(mode) else None


def open_source(
    spec: str,
    resolution: tuple[int, int] | None = None,
    fps: float | None = None,
    loop: bool = True,
) -> Source:
    """The source `spec` names (camera index, /dev path, URL or file), already opened."""
    if not spec:  # (it was looked for as a file: "error: : no such file")
        raise SourceError("--source is empty: give a camera index, a device, a video file or a URL")
    given, spec = spec, descriptor_path(spec)  # (pipe:3 was "no such file", though /dev/fd/3 was read)
    if unreadable := unreadable_descriptor(given):
        raise SourceError(unreadable)
    if spec in STANDARD_INPUT and os.path.isfile("/dev/stdin"):  # (`< clip.mp4`: that file, looped)
        spec = os.path.realpath("/dev/stdin")
    if (index := ascii_whole(spec)) is not None:
        if index > MAX_CAMERA_INDEX:
            raise SourceError(f"camera {spec}: no such camera (an index is 0 to {MAX_CAMERA_INDEX})")
        source: CameraSource | PyAVSource = CameraSource(index, resolution, fps)
    elif (piped := _pipe(spec)) is not None:
        source = PyAVSource(piped, is_file=False, loop=False, resolution=resolution)
        source.description, source.reopenable = "standard input" if piped == "pipe:0" else given, False
        source.paced = True  # (at its timestamps, as a camera gives them: a file piped at full speed went by unseen)
    elif spec.startswith("/dev/") and not (os.path.isfile(spec) or os.path.isdir(spec)):  # (a clip in /dev/shm is a file)
        source = CameraSource(spec, resolution, fps)
    elif "://" in spec:
        scheme, _, rest = spec.partition("://")  # (FFmpeg knows schemes in lower case: `HTTP://` was "Protocol not found")
        source = PyAVSource(f"{scheme.lower()}://{rest}", is_file=False, loop=loop, resolution=resolution)
    elif os.path.isfile(spec) and spec.lower().endswith(".sdp"):
        # the description of a live RTP stream: read as a URL is (its wait bounded, never paced as a file)
        source = PyAVSource(spec, is_file=False, loop=loop, resolution=resolution)
        source.description, source.live_protocol = given, True
    elif os.path.isfile(spec):
        source = PyAVSource(spec, is_file=True, loop=loop, resolution=resolution)
        if descriptor_number(given) is not None:  # (`3< clip.mp4`: named as given; its number alone said `source=3`)
            source.description = given
    elif reason := name_too_long(Path(spec.removeprefix("file:"))):  # (was "no such file", the whole name echoed)
        raise SourceError(f"{as_given(spec)}: {reason}")
    elif sequence := find_sequence(Path(spec)):  # numbered pictures, as `video` reads them; --fps their rate
        sequence.note_gap()
        rate = DEFAULT_FRAMERATE if fps is None else check_framerate(fps, "--fps")
        source = PyAVSource(spec, is_file=True, loop=loop, resolution=resolution, sequence=sequence, rate=rate)
    elif os.path.isdir(spec):  # (named as given: `pipe:3` with `3< folder` was "/dev/fd/3: not a camera")
        raise SourceError(f"{given}: a folder, not a video (for its images as a sequence give a pattern, "
                          "e.g. frames/%04d.png)")
    elif os.path.exists(spec):  # (a device outside /dev, a socket: it is there, but no file to play)
        raise SourceError(f"{spec}: a device or socket, not a video file (a camera is a /dev/video* path)")
    elif spec.startswith("file:") and os.path.isdir(spec[5:]):
        raise SourceError(f"{spec}: {spec[5:]} is a folder, not a video (for its images as a sequence give a pattern, "
                          "e.g. frames/%04d.png, without file:)")
    elif spec.startswith("file:"):  # FFmpeg's file protocol: not taken, as -o and --log are checked against the path
        raise SourceError(f"{spec}: no such file; for the file {spec[5:]} give its path alone, without file:")
    elif not spec.strip():  # (looked for as a file first: a file may have a blank name)
        raise SourceError(f"--source '{spec}': blank, and no file has that name (an unset variable?); give a camera "
                          "index, a device, a video file or a URL")
    elif spec != spec.strip():  # (blanks at an end, unseen unquoted)
        raise SourceError(f"--source '{spec}': no such file (and not a camera index, device or URL)")
    else:
        raise SourceError(f"{spec}: no such file (and not a camera index, device or URL)")
    if isinstance(source, PyAVSource) and not source.is_file:
        _open_answering_signals(source)
    else:
        source.open()
    return source


def _open_answering_signals(source: Source) -> None:
    """Opens `source` on a thread while this one waits: a silent URL holds its open inside FFmpeg
    for up to its timeout, where a signal's handler (run only between Python steps of the main
    thread) waited for it: Ctrl-C and SIGTERM took 5-8 s. Now they act at once; a container the
    open gives after that is closed on its thread."""
    failure: list[BaseException] = []
    done = threading.Event()

    def open_it() -> None:
        try:
            source.open()
        except BaseException as exc:  # (handed to the waiting thread)
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=open_it, name="open-source", daemon=True).start()
    # (a pipe that stalls after its first bytes holds FFmpeg's probing read past any timeout)
    deadline = time.monotonic() + PIPE_OPEN_S if isinstance(source, PyAVSource) and not source.reopenable else None
    try:
        while not done.wait(0.05):
            if deadline is not None and time.monotonic() > deadline:
                raise SourceError(f"{source.description}: no video recognised in what came within {PIPE_OPEN_S:.0f} s "
                                  "(the stream stalled?)")
    except BaseException:  # a signal: the open goes on to its timeout, then closes what it opened
        threading.Thread(target=lambda: (done.wait(), source.close()), name="close-source", daemon=True).start()
        raise
    if failure:
        raise failure[0]
