"""What an input is before the reader reads its frames, and how a failure is said: which files a
folder's search takes as video (`is_video_path`), whether a demuxer reads pictures, the frame rate
believed, files refused with a reason (a PDF, an animated WebP, an MP4 without its index or cut inside
it), why a stream gave no pictures, and FFmpeg's or the OS's reason in one line (threads FFmpeg
could not start said apart); `video` and `live` alike."""

from __future__ import annotations

import errno
import os
import struct
from fractions import Fraction
from pathlib import Path

import av

from realtime_adain.errors import UserError, shell_quoted
from realtime_adain.regular_files import file_head
from realtime_adain.unreadable_stills import is_animated_webp, unsupported_document
from realtime_adain.video.opening import open_input
from realtime_adain.video.sequence import ffmpeg_name
from realtime_adain.video.streams import is_cover_art

# What a folder given as input is searched for (a file named on its own is opened whatever its
# name): Blu-ray and AVCHD (.m2ts, .mts), DVD (.vob), camcorders (.dv, .mod, .tod), broadcast
# (.mxf, .m2t), old web and phone formats (RealVideo .rm/.rmvb, Ogg Media .ogm), lossless
# interchange (.y4m, .nut), and bare elementary streams as security recorders and drones export
# them (.h264, .264, .hevc, .h265, .m1v, .ivf).
VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts",
                    ".wmv", ".flv", ".3gp", ".ogv", ".m2ts", ".m2t", ".m2v", ".vob", ".dv", ".mod", ".tod",
                    ".mxf", ".3g2", ".asf", ".f4v", ".divx", ".qt", ".y4m", ".nut", ".rm", ".rmvb", ".ogm",
                    ".h264", ".264", ".hevc", ".h265", ".265", ".m1v", ".ivf")
# Extensions that name sound as often as video (Ogg: Vorbis songs, Theora clips): a folder's file
# is taken when it holds a moving picture (not just cover art).
MIXED_EXTENSIONS = (".ogg",)
# Demuxers that read still images (plus every "*_pipe" one, e.g. png_pipe, jpeg_pipe).
IMAGE_FORMATS = ("image2",)
# An average frame rate above the guessed one by more than this is a header's claim, not the
# timestamps' (`plausible_rate`); below it, rounding (an MP4's 2997/100 for 30000/1001).
DECLARED_RATE_SLACK = Fraction(101, 100)
# Codecs FFmpeg names and opens but decodes no picture of here, with what to do instead (`no_pictures`).
NO_PICTURES = {
    "prores_raw": "FFmpeg decodes no pictures from ProRes RAW (prores_raw) here; convert it with the camera "
                  "maker's software first (to ProRes 422/4444 or another codec FFmpeg decodes)",
}


def is_video_path(path: Path) -> bool:
    suffix = path.suffix.lower()
    return suffix in VIDEO_EXTENSIONS or (suffix in MIXED_EXTENSIONS and has_moving_picture(path))


def has_moving_picture(path: Path) -> bool:
    """Whether FFmpeg finds a video stream other than cover art in `path` (False if unreadable)."""
    try:
        with open_input(ffmpeg_name(path)) as container:
            return any(not is_cover_art(s) for s in container.streams.video)
    except (av.error.FFmpegError, UnicodeDecodeError, OSError):
        return False


def pictures_read_with(format_name: str, path: Path, first: Path | None = None) -> tuple[Path | None, Path | None]:
    """(`picture`, `colour_from`) of a `PictureConverter` for a stream of `format_name` read from
    `path` (`first`: an image sequence's first picture): pictures (a picture file, a sequence, a raw
    MJPEG file) are read with their first picture's facts and colour, an APNG with its colour; a
    clip with neither (`video` and `live` alike)."""
    if format_name == "apng":
        return None, path
    return (first or path, None) if is_picture_format(format_name) else (None, None)



def is_picture_format(name: str) -> bool:
    """Whether FFmpeg's demuxer `name` reads pictures (a JPEG, a PNG, or such pictures one after another)."""
    return name in IMAGE_FORMATS or name.endswith("_pipe")


def plausible_rate(stream: av.video.stream.VideoStream) -> Fraction | None:
    """The stream's average frame rate, unless it is faster than the rate FFmpeg guesses from its
    timestamps (its r_frame_rate: a grid every timestamp lands on, so no more frames a second fit
    in): then a header's claim the timestamps contradict, and the guessed rate is the one, as
    `ffmpeg -i` takes it. An FLV's metadata said 30 fps over frames 83 ms apart (a .mkv of it
    declared 30); FFmpeg 8 reads DV with an average of one frame per tick of its 1/60000 time
    base (60000 fps, where ffprobe 5.1 says 25: an MP4 muxer refused to finish a timecode track
    at that rate). Slower than guessed is a variable rate (12, 30 and 20 fps mixed: the grid is
    60), where the average is the better guess.

    A bare stream's is its codec's rate (`bare_stream_rate`)."""
    average, guessed = stream.average_rate, stream.guessed_rate
    if has_no_timestamps(stream.container) and stream.codec_context.framerate:
        return bare_stream_rate(stream)
    if average and guessed and average > guessed * DECLARED_RATE_SLACK:
        return guessed
    return average or guessed


def bare_stream_rate(stream: av.video.stream.VideoStream) -> Fraction:
    """A bare stream's frame rate: its codec's (FFmpeg 8's average is its raw demuxer's 25
    default), as `ffmpeg -i in.h264 out.mp4` times it, unless faster than the grid its parser
    times the frames on (r_frame_rate): bare MPEG-4 Part 2 (`-f m4v`) states its VOL's clock
    ticks a second there (30000 at 29.97 fps), and 36 frames became 1.2 ms of video. Not checked
    against FFmpeg's guessed rate: above a 210 fps grid (H.264's ticks twice a frame) the guess
    falls back to that 25 default, and a Raspberry Pi's 120 fps H.264 lasted 4.8 times too long."""
    rate, grid = Fraction(stream.codec_context.framerate), stream.base_rate
    if grid and rate > grid * DECLARED_RATE_SLACK:
        return Fraction(grid)
    return rate


def has_no_timestamps(container: av.container.InputContainer) -> bool:
    """Whether the format stores no timestamps (a bare H.264, HEVC or MPEG-1/2 video stream): the
    ones FFmpeg's parser makes up are guesses (MPEG-1 started 0, 0.08, 0.12, ...; MPEG-2 at one
    frame, not zero), and FFmpeg 8 gives the stream its raw demuxer's default rate, 25."""
    return bool(container.format.flags & av.format.Flags.no_timestamps.value)


def error_reason(exc: BaseException) -> str:
    """FFmpeg's or the OS's reason for a failure, as one short line."""
    text = getattr(exc, "strerror", None) or str(exc)
    return text.strip().splitlines()[0][:160] if text.strip() else type(exc).__name__


def threads_refused(exc: BaseException) -> bool:
    """Whether FFmpeg failed with EAGAIN: a decoder or scaler could not start its threads
    (pthread_create), not damage. Under `ulimit -u`, or a memory limit the threads' stacks do not
    fit in, every packet failed to open the decoder: "241 damaged video packets skipped", then "the
    video has no frames"; or the scaler failed as "corrupt video data after 8 frames"."""
    return isinstance(exc, av.error.FFmpegError) and exc.errno == errno.EAGAIN


def threads_refused_error(path: Path, exc: BaseException, doing: str = "decoding") -> UserError:
    """The one line for `threads_refused` while `doing` (decoding, converting pictures): the limit to raise."""
    return UserError(f"{path}: FFmpeg cannot start its threads for {doing} ({error_reason(exc)}): the limit on "
                     "processes and threads is reached (raise `ulimit -u`), or memory for their stacks is short "
                     "(raise `ulimit -v`, or lower `ulimit -s`)")


def refuse_unplayable(path: Path) -> None:
    """Refuse, before FFmpeg opens it, a file it would play wrong, in one line that says what to do:
    a document (`unsupported_document`: FFmpeg found a PDF's embedded photos, which were played as
    its frames, its text lost, where `image` refuses it) and an animated WebP (`refuse_animated_webp`)."""
    if said := unsupported_document(file_head(path) or b""):
        raise UserError(f"{path}: {said}")
    refuse_animated_webp(path)


def refuse_animated_webp(path: Path) -> None:
    """Refuse an animated WebP in one line that says how to convert it: FFmpeg 8.1 decodes none of
    its frames ("1 damaged video packet skipped", then "the video has no frames"; `live` retried
    it for 15 s). An unreadable file is left to the opening to report. The command takes the path
    as given (it named the file alone: run elsewhere, not found), shell-quoted as arguments (a
    quote in the name broke the code's quoting), and writes the GIF beside it under a name not
    taken (anim.gif, else anim.converted.gif, anim.converted-2.gif, ...: it wrote over a GIF of the
    user's, or the input, a WebP named .gif); `disposal=2` clears each frame before the next
    (without it a transparent WebP's moving parts left trails)."""
    try:
        with open(path, "rb") as handle:
            animated = is_animated_webp(handle.read(32))
    except OSError:
        return
    if animated:
        gif, number = path.with_suffix(".gif"), 1
        while os.path.lexists(gif):  # (a dangling link too: the command would write through it)
            gif = path.with_name(f"{path.stem}.converted{f'-{number}' if number > 1 else ''}.gif")
            number += 1
        paths = f"{shell_quoted(str(path))} {shell_quoted(str(gif))}"
        raise UserError(f"{path}: an animated WebP, which FFmpeg cannot decode: convert it first, e.g. to a GIF "
                        f"(every frame and delay) with Pillow: python3 -c \"import sys; from PIL import Image; "
                        f"Image.open(sys.argv[1]).save(sys.argv[2], save_all=True, disposal=2)\" {paths}")



def no_pictures(stream: av.video.stream.VideoStream, packets: int, damaged: int) -> str:
    """Why a video stream whose `packets` (read; `damaged` of them rejected) decoded to no
    picture gave none, as a clause: a codec FFmpeg knows but decodes nothing of here (ProRes
    RAW: FFmpeg 8's decoder takes its packets and gives nothing, no error), a stream without
    packets, packets all rejected (a picture size FFmpeg refuses, a GIF's logical screen of
    20000x20000, a codec's variant it cannot decode), or a decoder that gave nothing from them."""
    name = stream.codec_context.name
    if name in NO_PICTURES:
        return NO_PICTURES[name]
    if not packets:
        return "its video stream holds no packets (no picture data at all)"
    plural = "s" if packets > 1 else ""
    if damaged >= packets:
        return (f"its {packets} video packet{plural} do{'' if plural else 'es'} not decode as {name} "
                "(a picture size or variant FFmpeg refuses, or damage)")
    return f"the decoder gave no pictures from {name} ({packets} video packet{plural} read)"


def iso_boxes(path: Path) -> list[tuple[bytes, int]] | None:
    """The top-level boxes of an ISO media file (MP4, MOV: a first box `ftyp`, or `mdat`/`wide`/`free`
    as QuickTime writes them), each (kind, the offset where its stated size ends it: past the end of
    a file cut inside it; a last box of size 0 runs to the file's end, a box header cut short ends
    8 bytes on); None where the file is not one (or cannot be read)."""
    try:
        with path.open("rb") as file:
            size = path.stat().st_size
            offset, boxes = 0, []
            while offset < size:
                file.seek(offset)
                header = file.read(16)
                if len(header) < 8:  # the file ends inside a box's header (the first's: not one)
                    return boxes + [(b"", offset + 8)] if boxes else None
                length, kind = struct.unpack(">I", header[:4])[0], header[4:8]
                if not boxes and kind not in (b"ftyp", b"mdat", b"wide", b"free"):
                    return None
                if length == 1 and len(header) == 16:  # a 64-bit size follows
                    length = struct.unpack(">Q", header[8:16])[0]
                if length == 0:  # to the end of the file
                    boxes.append((kind, size))
                    break
                if length < 8:
                    return None  # not a box: some other format
                offset += length
                boxes.append((kind, offset))
            return boxes
    except OSError:
        return None


def mp4_without_index(path: Path) -> bool:
    """Whether `path` is an ISO media file (`iso_boxes`) whose top-level boxes hold no `moov`, the
    index that says where each frame is. A recorder writes it last: FFmpeg says only "moov atom not
    found"."""
    boxes = iso_boxes(path)
    return bool(boxes) and all(kind != b"moov" for kind, _ in boxes)


def cut_inside_header(path: Path) -> bool:
    """Whether `path` is an ISO media file (`iso_boxes`) that ends inside a box other than the
    pictures' data (`mdat`): its index (`moov`) or a fragment's header (`moof`) cut short. FFmpeg
    says "End of file", or "Invalid data found" where the cut falls between a fragment's sample
    entries (ffprobe refuses it alike)."""
    boxes = iso_boxes(path)
    return bool(boxes) and boxes[-1][1] > path.stat().st_size and boxes[-1][0] != b"mdat"

