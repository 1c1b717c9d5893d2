"""Decoding a video file into upright RGB frames, in presentation order, with their timestamps.

The reader demuxes every stream in one pass and yields, in file order, either a `Frame` (a decoded
video frame as uint8 RGB, rotated as the display matrix says it is shown) or an `av.Packet` of
another stream (audio, subtitles) for the writer to copy. Keeping one ordered stream of items
keeps the output interleaved like the input. Turning a frame into such RGB is pictures.py's work;
holding, ordering and cutting packets as they are demuxed, packets.py's.
"""

from __future__ import annotations

import dataclasses
import errno
import itertools
import math
import os
import shlex
import struct
from concurrent.futures import Future
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import av
import numpy as np

from realtime_adain import limits
from realtime_adain.errors import UserError
from realtime_adain.still_decoders import is_animated_webp
from realtime_adain.times import format_time
from realtime_adain.video.deinterlace import check_mode as check_deinterlace, deinterlaced
from realtime_adain.video.formats import GIF_DELAY_SHOWN, GIF_SHORTEST_SHOWN
from realtime_adain.video.hdr import HDR_TRANSFERS, SRGB, sdr_colour
from realtime_adain.notes import note
from realtime_adain.video.opening import open_input
from realtime_adain.video.packets import (CUT_TYPES, BeforeStart, CutSound, HeldPackets, Recovery, ShownUntil,
                                          TailPackets, Timeline, as_run, edit_list_ends, flush_packet, within_run)
from realtime_adain.video.pictures import (Colour, Orientation, PictureConverter, alpha_decoder, bound_decoder,
                                           check_picture_size, codec_aspect, frame_to_rgb, has_captions,
                                           orientation, pixel_aspect, see_through)
from realtime_adain.video.sequence import DEFAULT_FRAMERATE, check_framerate, ffmpeg_name, find_sequence
from realtime_adain.video.streams import (is_cover_art, main_video_stream, note_left_out, passthrough_streams,
                                          same_program)
from realtime_adain.video.landing import READ_THROUGH_BYTES, StreamLanding
from realtime_adain.video.clocks import (ClusterTimes, ClustersAtOneTime, SeekedIntoStill, SlotTimes, SoundClock,
                                         StuckClock, clock_stands_still, lands_in_still_sound)
from realtime_adain.video.timestamps import Segment, TimestampShift

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
# Decoded frames held back to put their timestamps in order. The decoder returns pictures in
# display order, but some files attach decode-order timestamps to them (packed B-frames in AVI,
# some MP4s): 1, 2, 3, 5, 4, ... Real files are off by at most a few frames; 8 YUV frames is small.
REORDER_WINDOW = 8
# Packets of the other streams held until the video reaches them (`HeldPackets`), at most this
# many bytes in a whole run: a file whose sound is stored far ahead of its pictures lets the
# oldest go early (a --frames preview holds them all: what starts after its end is dropped).
HELD_BYTES = 32 << 20
# Packets of the other streams read one after another go on together, as a list (a run) of at
# most this many as read (those a frame lets go of, as one): a GoPro's telemetry is a million
# packets of a few bytes, and a step through each generator for each was most of a read over it.
RUN_PACKETS = 256
# Video packets held since the latest keyframe, at most this many bytes, to decode the last frames
# again without frame threads where those threads lost them (`VideoReader._lost_at_end`).
TAIL_BYTES = 64 << 20
# FFmpeg's AV_CODEC_FLAG_OUTPUT_CORRUPT: the decoder gives the frames it concealed (see `Recovery`).
OUTPUT_CORRUPT = int(av.codec.context.Flags.output_corrupt)
# FFmpeg's AV_CODEC_FLAG_UNALIGNED: a crop the stream states (an H.264 SPS's) is applied whole;
# without it FFmpeg applies only as much of a left crop as keeps the planes aligned (16 columns
# cropped away were shown: 128x80 came out 144x80).
UNALIGNED = int(av.codec.context.Flags.unaligned)
DECODER_FLAGS = OUTPUT_CORRUPT | UNALIGNED
# A declared frame count is believed only up to this many times what the declared duration holds
# at the average rate: a header written before the frames were (an AVI written to a pipe) carries
# a placeholder (2**30).
PLAUSIBLE_FRAMES = 2
# Seconds of video packets after the last picture that decodes, said apart from damage
# (`VideoReader._note_damage`): another codec's pictures joined on, not a few flipped bytes.
UNDECODED_END_SECONDS = Fraction(1, 4)
# An average frame rate above the guessed one by more than this is a header's claim, not the
# timestamps' (`plausible_rate`); below it, rounding (an MP4's 2997/100 for 30000/1001).
DECLARED_RATE_SLACK = Fraction(101, 100)
# A segment (--start) is read from the keyframe before this much ahead of its start: sound a
# muxer stored before the pictures it plays under is read too.
SEEK_MARGIN = Fraction(1)
# Codecs FFmpeg names and opens but decodes no picture of here, with what to do instead (`no_pictures`).
NO_PICTURES = {
    "prores_raw": "FFmpeg decodes no pictures from ProRes RAW (prores_raw) here; convert it with the camera "
                  "maker's software first (to ProRes 422/4444 or another codec FFmpeg decodes)",
}
# Formats whose timestamps may jump (`TimestampShift`) that a late --start still seeks, by byte
# position where the timeline is found to run on without a jump up to there (`StreamLanding`):
# MPEG-TS (.ts, .m2ts, .mts) and MPEG-PS (.mpg, .vob).
BYTE_SEEKED_FORMATS = frozenset({"mpegts", "mpeg"})
# How much further before the start a TS or PS with subtitles or data is read from, when seeked
# (`VideoReader._seek_by_position`): a DVB subtitle shown at the start is stored when it begins.
LASTING_LEAD = Fraction(30)
# How far past a preview's or segment's end (in video packets' decode time, seconds; and at most
# `HELD_BYTES` read) the file is read on for the sound of its last pictures, which a muxer may
# store after later pictures (MPEG-PS: 0.7 s later; `VideoReader._stored_later`).
LATE_SOUND_SECONDS = 10


class SeekMissed(Exception):
    """The first picture after a seek comes after the segment's start: the file's index cannot be
    trusted (an AVI without one, damage); the file is read again from its beginning."""


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


@dataclass
class Frame:
    """One decoded frame: `image` is (H, W, 3) uint8 RGB, upright; pts/duration in the stream's time base."""

    image: np.ndarray
    pts: int | None
    duration: int
    index: int
    motion: Future | None = None  # the stabiliser's Motion to the previous frame, estimated ahead


def decoder_threads(decoder: av.video.stream.VideoStream | av.codec.context.CodecContext, live: bool = False) -> None:
    """Frame and slice threads in the decoder (slice threads alone for a `live` feed: each frame
    thread holds a frame back, 15 frames, 0.6 s, on 16 cores, unseen in the HUD's latency), or one
    thread where `ulimit -u` leaves no room for them (`limits.pools_reduced`): FFmpeg's threads
    took what room there was, and `live`'s source was lost, or a good file was said to have no frames."""
    decoder.thread_type = "SLICE" if live else "AUTO"
    if limits.pools_reduced:
        decoder.thread_count = 1


def decoded_or_damage(decode: Callable[[av.Packet | None], list[av.VideoFrame]],
                      packet: av.Packet | None) -> list[av.VideoFrame] | av.FFmpegError:
    """The frames `decode` gives for `packet`, or the error where the decoder rejects it as damaged,
    for the caller to skip it (FFmpeg's tools conceal it and play on): `video` and `live` alike.
    Threads FFmpeg could not start (`threads_refused`) are no damage: raised."""
    try:
        return decode(packet)
    except MemoryError:  # (PyAV's ENOMEM is an FFmpegError too)
        raise
    except av.FFmpegError as exc:
        if threads_refused(exc):
            raise
        return exc


def pictures_read_with(format_name: str, path: Path, first: Path | None = None) -> tuple[Path | None, Path | None]:
    """(`picture`, `colour_from`) of a `PictureConverter` for a stream of `format_name` read from
    `path` (`first`: an image sequence's first picture): pictures (a picture file, a sequence, a raw
    MJPEG file) are read with their first picture's facts and colour, an APNG with its colour; a
    clip with neither (`video` and `live` alike)."""
    if format_name == "apng":
        return None, path
    return (first or path, None) if is_picture_format(format_name) else (None, None)


def note_colour_change(name: str, first: Colour, now: Colour) -> None:
    """Say that the colour description changes mid-stream (broadcast SDR joined to HDR, BT.601 to
    BT.709): each picture is read to RGB with its own matrix and range, and the output, tagged as
    the first picture is, holds them right; a change of transfer or primaries (SDR to HDR PQ) is
    not converted: such pictures keep their values, shown as the first's kind (FFmpeg too)."""
    names = ("matrix", "range", "primaries", "transfer")
    changed = [f"{label} {a} to {b}" for label, a, b in zip(names, dataclasses.astuple(first), dataclasses.astuple(now))
               if a != b]
    if {first.color_trc, now.color_trc} & set(HDR_TRANSFERS):
        kept = "HDR pictures are tone-mapped to SDR BT.709 as read, so both kinds show right"
    elif now.color_primaries != first.color_primaries or now.color_trc != first.color_trc:
        kept = "each picture's matrix and range are converted, its primaries and transfer are not (a slight shift)"
    else:
        kept = "every picture is converted with its own, so colours stay right"
    note(f"{name}: the colour description changes mid-stream ({', '.join(changed)}, FFmpeg's numbers); the output "
         f"is tagged as the first picture; {kept}", once=True)


def note_odd_turn(name: str, rotation: float) -> None:
    """Say that a display rotation (`frame.rotation`, counter-clockwise degrees) that is not a
    quarter turn is applied as the nearest quarter turn (`pictures.upright`): it was done without a word."""
    applied = round(rotation / 90) % 4 * 90
    if abs((rotation - applied + 180) % 360 - 180) >= 1:
        done = f"turned {applied} degrees counter-clockwise" if applied else "left unturned"
        note(f"{name}: the display rotation is {rotation:g} degrees counter-clockwise, not a quarter turn; the "
             f"pictures are {done} (the nearest quarter turn)", once=True)


def note_turn_change(name: str, first: Orientation, now: Orientation) -> None:
    """Say that the display matrix changes mid-stream (a phone turned while recording, clips joined):
    every frame is turned as the first is, as FFmpeg turns them; turning each its own way made
    frames of another shape, squeezed into the first one's."""
    note(f"{name}: the display rotation changes mid-stream, from {round(first[0]) % 360} to {round(now[0]) % 360} "
         "degrees; every frame is turned as the first one is (one stream keeps one shape)", once=True)


def note_aspect_change(name: str, first: Fraction, now: Fraction) -> None:
    """Say that the stored pixels change shape mid-stream (clips joined into one MPEG-TS): every
    frame keeps the first frame's, as `ffmpeg` keeps it (later frames show stretched, in its output
    as in ours); resampling each to its own shape would still end at the output's size."""
    note(f"{name}: the pixel shape (sample aspect ratio) changes mid-stream, from {first.numerator}:"
         f"{first.denominator} to {now.numerator}:{now.denominator}; every frame keeps the first frame's, "
         "as FFmpeg keeps it", once=True)


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

    A bare stream's is its codec's rate (FFmpeg 8's average is its raw demuxer's 25 default),
    checked the same way: bare MPEG-4 Part 2 (`-f m4v`) states its VOL's clock ticks a second
    there (30000 at 29.97 fps), and 36 frames became 1.2 ms of video."""
    average, guessed = stream.average_rate, stream.guessed_rate
    if has_no_timestamps(stream.container) and stream.codec_context.framerate:
        average = Fraction(stream.codec_context.framerate)
    if average and guessed and average > guessed * DECLARED_RATE_SLACK:
        return guessed
    return average or guessed


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


def refuse_animated_webp(path: Path) -> None:
    """Refuse an animated WebP in one line that says how to convert it: FFmpeg 8.1 decodes none of
    its frames ("1 damaged video packet skipped", then "the video has no frames"; `live` retried
    it for 15 s). An unreadable file is left to the opening to report. The command takes the path
    as given (it named the file alone: run elsewhere, not found), shell-quoted as arguments (a
    quote in the name broke the code's quoting), and writes the GIF beside it; `disposal=2`
    clears each frame before the next (without it a transparent WebP's moving parts left trails)."""
    try:
        with open(path, "rb") as handle:
            animated = is_animated_webp(handle.read(32))
    except OSError:
        return
    if animated:
        gif = path.with_suffix(".gif") if path.suffix.lower() != ".gif" else path.with_suffix(".converted.gif")
        paths = f"{shlex.quote(str(path))} {shlex.quote(str(gif))}"  # (never the input: a WebP named .gif)
        raise UserError(f"{path}: an animated WebP, which FFmpeg cannot decode: convert it first, e.g. to a GIF "
                        f"(every frame and delay) with Pillow: python3 -c \"import sys; from PIL import Image; "
                        f"Image.open(sys.argv[1]).save(sys.argv[2], save_all=True, disposal=2)\" {paths}")


def gif_delays_as_shown(items: Iterator[av.VideoFrame | av.Packet], name: str) -> Iterator[av.VideoFrame | av.Packet]:
    """A GIF's frames (time base 1/100 s) with a delay under `GIF_SHORTEST_SHOWN` centiseconds
    timed `GIF_DELAY_SHOWN`, as browsers show them (and FFmpeg 5's demuxer timed them); the later
    frames move on by the difference. FFmpeg 8 makes a delay of 0 the default 10 cs but keeps 1 cs:
    a GIF of 1 cs frames, which plays at 10 fps, came out at 100 fps."""
    shift = 0
    for item in items:
        if isinstance(item, av.VideoFrame) and item.pts is not None:
            item.pts += shift
            if item.duration is not None and 0 < item.duration < GIF_SHORTEST_SHOWN:
                note(f"{name}: frames with delays under {GIF_SHORTEST_SHOWN} centiseconds are shown for "
                     f"{GIF_DELAY_SHOWN}, as browsers show them", once=True)
                shift += GIF_DELAY_SHOWN - item.duration
                item.duration = GIF_DELAY_SHOWN
        yield item


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


def mp4_without_index(path: Path) -> bool:
    """Whether `path` is an ISO media file (MP4, MOV: a first box `ftyp`, or `mdat`/`wide`/`free`
    as QuickTime writes them) whose top-level boxes hold no `moov`, the index that says where
    each frame is. A recorder writes it last: FFmpeg says only "moov atom not found"."""
    try:
        with path.open("rb") as file:
            size = path.stat().st_size
            offset, first = 0, True
            while offset + 8 <= size:
                file.seek(offset)
                header = file.read(16)
                length, kind = struct.unpack(">I", header[:4])[0], header[4:8]
                if first and kind not in (b"ftyp", b"mdat", b"wide", b"free"):
                    return False
                if kind == b"moov":
                    return False
                if length == 1 and len(header) == 16:  # a 64-bit size follows
                    length = struct.unpack(">Q", header[8:16])[0]
                if length == 0:  # to the end of the file
                    break
                if length < 8:
                    return False  # not a box: some other format
                offset, first = offset + length, False
            return not first
    except OSError:
        return False


class VideoReader:
    """An opened input: its video stream, the streams to pass through, and its first frame.

    Opening decodes up to the first video frame, so a file that is not a video, or has no
    decodable frame, fails here with a `UserError` before anything is written.
    """

    def __init__(self, path: str | os.PathLike, max_frames: int = 0, deinterlace: str = "auto",
                 framerate: Fraction | None = None, start: Fraction = Fraction(0),
                 duration: Fraction | None = None) -> None:
        """`max_frames` > 0 stops after that many frames (a preview of the start); `deinterlace`:
        which frames are deinterlaced (video/deinterlace.py: auto, on, off, film); `framerate`: an image
        sequence's (`render/%04d.png`, video/sequence.py; None: 25, as FFmpeg); `start` and
        `duration` (seconds): only that segment, moved to start at zero (`Segment`; `max_frames`
        counts from its start)."""
        self.path = Path(path)
        self.max_frames = max_frames
        self.deinterlace = check_deinterlace(deinterlace)
        self.sequence = find_sequence(self.path)
        if self.sequence is not None:
            self.sequence.note_gap()
        if self.sequence is None and not self.path.is_file():
            raise UserError(f"{self.path}: no such file")
        if self.sequence is None and self.path.stat().st_size == 0:
            raise UserError(f"{self.path}: the file is empty")
        if self.sequence is None:
            refuse_animated_webp(self.path)
        try:
            self._open(framerate, start, duration, seek=True)
        except (SeekMissed, SeekedIntoStill):  # (the container is closed)
            self._open(framerate, start, duration, seek=False)
        self.first_frame: Frame = self._first
        self.height, self.width = self.first_frame.image.shape[:2]  # as displayed (after rotation)

    def _open(self, framerate: Fraction | None, start: Fraction, duration: Fraction | None, seek: bool) -> None:
        """Open the file and decode up to its (segment's) first frame; `seek`: to the keyframe
        before the segment's start where the file can be trusted to seek (`_seek`)."""
        try:
            # Latin-1 tags: FFmpeg plays them
            self._options = self._sequence_options(framerate)  # (again for `_lost_at_end`)
            self.container = open_input(self._opened_name, **self._options)
        except (av.error.FFmpegError, UnicodeDecodeError) as exc:
            if mp4_without_index(self.path):
                raise UserError(f"{self.path}: an MP4/MOV without its index (no moov box): a recording that was not "
                                "finished, or a file cut short; nothing can read its frames (recorders that write "
                                "fragmented MP4, .mkv or .ts leave a playable file when stopped abruptly)") from None
            raise UserError(f"{self.path}: not a readable video ({error_reason(exc)})") from None
        max_frames = self.max_frames
        try:
            # One picture is an image; pictures one after another (a raw MJPEG stream, .mjpeg) are a
            # clip, as FFmpeg plays them: told apart by a second frame.
            picture = is_picture_format(self.container.format.name)
            self.stream = main_video_stream(self.container, self.path.name)
            self.decoder = alpha_decoder(self.stream) or self.stream.codec_context  # (`_decoded` uses it)
            first = self.sequence.file(self.sequence.start) if self.sequence else None
            self._converter = PictureConverter(self.path.name, self.decoder.name,
                                               *pictures_read_with(self.container.format.name, self.path, first))
            decoder_threads(self.decoder)
            self.decoder.flags |= DECODER_FLAGS  # damaged frames are concealed, not dropped; crops applied whole
            carried, unknown = passthrough_streams(self.container, self.stream, self.path.name)
            self.passthrough = same_program(self.container, self.stream, carried, self.path.name)
            # Input index -> why no output carries it (`job.stream_reports`), as the notes say.
            kept = {s.index for s in self.passthrough}
            self.left_out: dict[int, str] = {
                **unknown, **note_left_out(self.container, self.stream, self.path.name),
                **{s.index: "another program's (a broadcast channel's, or a playlist variant's)"
                   for s in carried if s.index not in kept},
                **{s.index: f"another video stream (#{self.stream.index} is the one stylized)"
                   for s in self.container.streams.video
                   if s.index != self.stream.index and s.index not in kept and not is_cover_art(s)}}
            if (self.stream.metadata.get("alpha_mode") == "1" and self.decoder is self.stream.codec_context
                    and self.stream.codec_context.name in ("vp8", "vp9")):  # (Matroska tags any codec's alpha so)
                note_transparency_left_out(self.path.name)  # WebM's alpha, which this FFmpeg (no libvpx) cannot read
            self.cover_art = is_cover_art(self.stream)
            self.rotation, self.colour = 0, None  # set from the first decoded frame
            self.captions = False  # whether a decoded picture carried closed captions (`note_captions_left_out`)
            self.pixel_aspect = pixel_aspect(self.stream, self.path.name)  # frames are resampled to square pixels
            check_picture_size(self.stream, self.pixel_aspect, self.path)
            bound_decoder(self.decoder, self.pixel_aspect)
            self.damaged = 0  # video packets the decoder rejected (skipped)
            self.video_packets = 0  # video packets read (with data): none decoding to a picture is said apart
            self.undecoded: tuple[Fraction, Fraction] | None = None  # (last picture, last packet) where they differ (s)
            self._tail_end: int | None = None  # where the video's packets stop showing (`TailPackets.end`)
            self._same_picture_end: int | None = None  # where the latest empty video packet stops showing (`_decoded`)
            self.shift = TimestampShift(self.container, self.path.name)  # timestamps from zero, across splices
            self.sound_clock = SoundClock(self.container, self.passthrough, self.path.name)  # (before the shift)
            # (before it too, on the file's own times: pictures all at one time, a Matroska cluster's damaged time)
            self.stuck_clock = StuckClock(self.stream, self.path) if self._stores_times else None
            self.slot_times = SlotTimes.of(self.container, self.stream)  # (an AVI's reordered pictures)
            matroska = self.container.format.name.startswith("matroska")
            self.cluster_times = ((ClustersAtOneTime.of(self.path, self.stream) or ClusterTimes(self.path.name))
                                  if matroska else None)
            self.segment = Segment(self.stream.time_base, start, duration)
            self._dropped = 0  # frames decoded before the segment's start (after the seek, if any)
            self._before = BeforeStart(self._decode_from(), TAIL_BYTES)  # packets before it, not decoded
            self.seen_end: Fraction | None = None  # where the latest decoded picture stops showing (s)
            self.finished = False  # whether the file was read to its end (not stopped at a preview's or segment's)
            self.streams_given: set[int] = set()  # the pass-through streams a packet was given of (`runs`)
            self.seeked = seek and self._seek()
            self._frame_limit = max(max_frames, 2) if picture and max_frames else max_frames
            self._items = self._demux()
            self._lookahead: list[Frame | av.Packet] = []
            wanted = 2 if picture else 1
            for item in self._items:
                self._lookahead.append(item)
                if isinstance(item, Frame) and (wanted := wanted - 1) == 0:
                    break
            frames = [item for item in self._lookahead if isinstance(item, Frame)]
            if not frames and self._landed_wrong():
                raise SeekMissed
            if not frames and self.segment.start and self.seen_end is not None:
                raise UserError(f"{self.path}: --start {format_time(self.segment.start)} is at or past the end of "
                                f"the video, which lasts {format_time(self.seen_end)}")
            if not frames:
                raise UserError(f"{self.path}: the video has no frames" + self._none_decoded())
            if picture and len(frames) == 1 and not self.skipped:
                raise UserError(f"{self.path}: this is an image, not a video (use `realtime-adain image`)")
            if picture and max_frames == 1:  # the second picture was only looked at (pipes hold no sound)
                self._lookahead, self._items = [frames[0]], iter(())
        except BaseException:
            self.container.close()
            raise
        self._first = frames[0]

    def _seek(self) -> bool:
        """Jump to the keyframe `SEEK_MARGIN` before the segment's start (as `ffmpeg -ss` before
        `-i` does), where seeking can be trusted: a file (not a pipe) with timestamps (not a bare
        H.264 or MPEG-2 stream), not pictures; a format whose timestamps may jump (MPEG-TS,
        MPEG-PS: `TimestampShift` follows them from the start) only by byte position where they
        do not (`_seek_by_position`). Whether it landed before the start is checked on the first
        picture (`SeekMissed`). Returns whether it seeked."""
        target = self.segment.start - SEEK_MARGIN
        if (target <= 0 or self.sequence is not None or is_picture_format(self.container.format.name)
                or has_no_timestamps(self.container) or self.cover_art or not self.path.is_file()):
            return False
        if self.shift.splices:
            return self._seek_by_position(target)
        if isinstance(self.cluster_times, ClustersAtOneTime):
            return False  # (its index puts every cluster at one time: read from the start)
        sound = [s for s in self.passthrough if s.type == "audio"]
        if self.stuck_clock is not None and clock_stands_still(self.container, [self.stream, *sound]):
            raise SeekMissed  # (its index puts every picture, or every sound packet, at one time: read from the start)
        timestamp = math.floor((target - self.shift.offset) / self.stream.time_base)
        if sound and lands_in_still_sound(self.path, self.stream.index, [s.index for s in sound], timestamp):
            raise SeekMissed  # (its sound's clock stands still there: placed only by the sound before it)
        try:
            self.container.seek(timestamp, backward=True, stream=self.stream)
        except av.error.FFmpegError:
            raise SeekMissed from None
        return True

    def _seek_by_position(self, target: Fraction) -> bool:
        """Seek an MPEG-TS or MPEG-PS (a broadcast's or camcorder's, hours long) to a keyframe
        before `target` by its byte position, where `StreamLanding` finds the timeline running on
        without a jump from the file's start to there: the timestamps there are then the ones a
        read from the start gives them. Elsewhere (another format whose timestamps jump, a
        splice before the start, a start near the beginning) the file is read through."""
        if self.container.format.name not in BYTE_SEEKED_FORMATS or self.deinterlace == "film":
            return False  # (inverse telecine reads its cadence from every frame: `_decode_from`)
        rate = self.container.bit_rate  # (bits a second, on average; 0: not known)
        if rate and rate * target < 8 * READ_THROUGH_BYTES:  # (`target`: seconds from the file's start)
            return False  # (near the start at that rate: not opened again to look)
        if any(s.type in CUT_TYPES for s in self.passthrough):
            target -= LASTING_LEAD  # (a subtitle shown from before the start is stored before it)
        try:
            with open_input(ffmpeg_name(self.path)) as probed:
                if SoundClock.untimed_in(probed, self.passthrough):
                    return False  # (its sound is timed from the file's start: read through)
                position = StreamLanding(probed, probed.streams[self.stream.index], self.shift.offset).find(target)
        except (av.error.FFmpegError, IndexError):
            return False
        if position is None:
            return False
        try:
            self.container.seek(position, unsupported_byte_offset=True)
        except av.error.FFmpegError:
            raise SeekMissed from None
        return True

    @property
    def _opened_name(self) -> str:
        """What FFmpeg opens: the file, or an image sequence's pattern as image2 reads it."""
        return ffmpeg_name(self.sequence.ffmpeg_pattern if self.sequence is not None else self.path)

    def _sequence_options(self, framerate: Fraction | None) -> dict:
        """How FFmpeg opens an image sequence (nothing for a file): from its first number, at `framerate`."""
        if self.sequence is None:
            return {}
        if self.path.suffix.lower() in VIDEO_EXTENSIONS:
            raise UserError(f"{self.path}: a numbered pattern reads pictures (PNG, JPEG, TIFF, ...) as one clip, "
                            "not video files: give the videos themselves, or their folder")
        return self.sequence.open_arguments(DEFAULT_FRAMERATE if framerate is None else check_framerate(framerate))

    @property
    def output_colour(self) -> Colour | None:
        """How the output's pictures are converted and tagged: as the first picture is, or SDR
        BT.709 where it is HDR (tone-mapped as read); pictures read on their stated curve
        (`PictureConverter.stated_for`) on the sRGB curve, as `image` reads them."""
        colour = self.colour
        if colour is not None:
            colour = dataclasses.replace(colour, color_primaries=self._converter.primaries_for(colour.color_primaries))
        if colour is not None and self._converter.stated_for(colour.color_trc, colour.color_primaries):
            colour = dataclasses.replace(colour, color_trc=SRGB)
        return sdr_colour(colour)

    @property
    def time_base(self) -> Fraction:
        """The time base of the frames given (`Frame.pts`): the stream's, or a segment's finer one
        that holds its start (`Segment.frame_time_base`); the reader works in the stream's."""
        return self.segment.frame_time_base

    @property
    def frame_rate(self) -> Fraction | None:
        """None for cover art: its stream's only rate is its time base's (90000 fps)."""
        return None if self.cover_art else plausible_rate(self.stream)

    @property
    def expected_frames(self) -> int:
        """Frames to come, from the container's index (0 when the format does not store it, or
        states an implausible count: `declared_frames`), within the segment at the frame rate."""
        declared = self.segment.frames(self.declared_frames, self.frame_rate)
        if self.deinterlace == "film" and not self.max_frames:
            return 0  # inverse telecine gives fewer than the index counts: as many as decimate finds
        return min(declared, self.max_frames) if self.max_frames else declared

    @property
    def declared_frames(self) -> int:
        """The stream's frame count as the container states it, 0 when it does not or when the
        count is implausible: more than `PLAUSIBLE_FRAMES` times what the stream's (else the
        file's) duration holds at the average rate, or no duration at all to weigh it against. An
        AVI written to a pipe states 2**30 frames (its header's placeholder), and a whole file
        was refused as "truncated: only 24 of 1073741824 frames decode"."""
        declared = self.stream.frames or 0
        if self.stream.duration:
            seconds = self.stream.duration * self.stream.time_base
        elif self.container.duration:
            seconds = Fraction(self.container.duration, 1_000_000)
        else:
            return 0
        rate = self.frame_rate
        if not declared or not rate or declared > PLAUSIBLE_FRAMES * seconds * rate + 1:
            return 0
        return declared

    def cover_duration(self) -> int:
        """How long cover art shows, in the stream's time base: the file's duration (at least one tick)."""
        seconds = Fraction(self.container.duration or 0, 1_000_000)
        return max(1, round(seconds / self.stream.time_base))

    def chapters(self) -> list[dict]:
        """The file's chapters, on the timeline from zero (`TimestampShift`), within the segment
        and moved with it, as PyAV gives them."""
        shifted = []
        for chapter in self.container.chapters():
            shift = self.shift.start_ticks(Fraction(chapter["time_base"]))
            shifted.append({**chapter, "start": max(0, chapter["start"] + shift), "end": max(0, chapter["end"] + shift)})
        return self.segment.chapters(shifted)

    def items(self) -> Iterator[Frame | av.Packet]:
        """Every frame and pass-through packet, in file order; raises UserError on corrupt data."""
        for item in self.runs():
            if isinstance(item, list):
                yield from item
            else:
                yield item

    def runs(self) -> Iterator[Frame | list[av.Packet]]:
        """`items`, with packets that come one after another as lists (`RUN_PACKETS`), and
        their streams noted in `streams_given`."""
        given = self.streams_given
        lookahead, self._lookahead = self._lookahead, []
        for item in itertools.chain(lookahead, self._items):
            if isinstance(item, list):
                given.update(packet.stream.index for packet in item)
            yield item

    def _demux(self) -> Iterator[Frame | list[av.Packet]]:
        """Frames and runs of packets (`runs`)."""
        index = 0
        timeline = Timeline(REORDER_WINDOW, self._last_end)
        # Sound travels with the picture it plays under: a packet leaves after the first frame that
        # ends after it starts. Read as they come, the packets ran about half a second ahead (the
        # decoder's delay and the reorder window), which a preview (--frames) or a Ctrl-C file
        # kept as sound past the last picture.
        ticks = self.stream.time_base  # the frames' as read; `segment.moved` gives them in `time_base`
        held = HeldPackets(ticks, limit=0 if self.max_frames else HELD_BYTES)
        # (`_decode` reads it; at a preview's or segment's end, `_stored_later`)
        self._source = self._timed(self._packets())
        segment = self.segment
        ends = self.max_frames or segment.end is not None  # a preview or a segment: subtitles cut at its end
        shown = ShownUntil(segment.frame_time_base) if ends else None
        last: tuple[int | None, int] = (None, 0)  # the latest frame given, on the segment's timeline
        first_aspect = codec_aspect(self.stream)  # before decoding: the decoder runs ahead of the frames given
        turned: Orientation | None = None  # the first frame's (its picture's EXIF: `picture_facts`), for every frame
        first_turn: Orientation | None = None  # the first frame's own, to tell a change by
        codec = self._converter.codec
        turn_noted = colour_noted = False
        try:
            pictures = deinterlaced(self._decode(), self.deinterlace, self.path.name, rate=self.frame_rate)
            for item in timeline.order(self._retimed(pictures)):
                if isinstance(item, list):
                    if not segment.whole:
                        item = [packet for packet in item if not segment.ended(packet)]
                    yield from as_run(segment.packets(held.extend(item)))
                    continue
                decoded, pts, duration = item
                if self.cover_art:  # (no timestamp) shown from the start to the end of the sound
                    pts, duration = segment.shift_ticks, max(1, self.cover_duration() - segment.shift_ticks)
                elif pts is not None and pts < 0:
                    pts, duration = self._from_zero(pts, duration)
                if self.seeked and self.seen_end is None and (pts is None or pts * ticks > segment.start):
                    raise SeekMissed  # the seek went past the start: frames would be missing
                if self.seeked and index == 0 and self.cluster_times is not None and self.cluster_times.stretches:
                    raise SeekMissed  # a Matroska cluster's time went back after the seek: its index misplaced it
                if pts is None:  # (PES headers without timestamps in an MPEG-TS): after the one before
                    pts, duration = self._after_last(duration)
                self.seen_end = (pts + (duration or 0)) * ticks
                if segment.ends_before(pts, duration):  # (not converted to RGB: most of a late start's frames)
                    self._dropped += 1
                    released = segment.packets(held.before(pts, duration))
                    # (one that shows past the segment's start is held, as if before its first picture)
                    yield from as_run(shown.after(released, 0, 0) if shown else released)
                    continue
                if segment.is_after(pts):
                    end = math.ceil(segment.end / ticks)
                    yield from as_run(shown.after(self._stored_later(held, segment, end), *last))
                    released = segment.packets(held.before(end, 0))
                    yield from as_run(shown.after(released, *last))
                    yield from as_run(shown.cut(*last))
                    return
                released = segment.packets(held.before(pts, duration))
                pts, duration = segment.moved(pts, duration)
                if index == 0:
                    self.rotation, self.colour = decoded.rotation, Colour.of(decoded, codec)
                    first_turn = orientation(decoded, codec)
                    turned = self._converter.facts.turned or first_turn
                    note_odd_turn(self.path.name, decoded.rotation)
                    if see_through(decoded, self._converter):
                        note_transparency_left_out(self.path.name, shown_over_white=True)
                elif not colour_noted and Colour.of(decoded, codec) != self.colour:
                    note_colour_change(self.path.name, self.colour, Colour.of(decoded, codec))
                    colour_noted = True
                if index and not turn_noted and orientation(decoded, codec) != first_turn:
                    note_turn_change(self.path.name, first_turn, orientation(decoded, codec))
                    turn_noted = True
                if not self.captions and has_captions(decoded, codec):
                    self.captions = True
                    note_captions_left_out(self.path.name)
                if first_aspect is not None and codec_aspect(self.stream) != first_aspect:
                    note_aspect_change(self.path.name, first_aspect, codec_aspect(self.stream))
                    first_aspect = None  # said once
                yield Frame(frame_to_rgb(decoded, self._converter, self.pixel_aspect, turned), pts, duration, index)
                index += 1
                last = (pts, duration)
                yield from as_run(shown.after(released, pts, duration) if shown else released)
                if index == self._frame_limit:
                    if shown:
                        end = segment.as_read(pts + (duration or 0))  # (on the file's timeline, as held)
                        yield from as_run(shown.after(self._stored_later(held, segment, end), pts, duration))
                        yield from as_run(shown.after(segment.packets(held.before(end, 0)), pts, duration))
                        yield from as_run(shown.cut(pts, duration))
                    return
            # The sound after the last picture (a preview's or a segment's too, if the file ended)
            yield from as_run(segment.packets(held.before(None, 0)))
            if shown:
                yield from as_run(shown.after([], None, 0))
        except av.error.FFmpegError as exc:  # the frames still held for reordering did decode
            if threads_refused(exc):
                raise threads_refused_error(self.path, exc) from None
            good = index + len(timeline.frames)
            raise UserError(f"{self.path}: corrupt video data after {good} frames ({error_reason(exc)})") from None
        if not index and self._landed_wrong():
            # (before the notes on what was read: the file is read again from its start, which says
            # its own; a Matroska whose later clusters all say 0 said its reordering twice)
            raise SeekMissed
        self.finished = True
        if index or self.skipped:  # (none decoded: the error says why, in one line)
            self._note_damage()
        self.shift.note_jumps()
        if self.cluster_times is not None:
            self.cluster_times.note_repairs()
        if timeline.reordered and self.slot_times is None:  # (timed by their slots: FFmpeg's order, see SlotTimes)
            count = timeline.reordered
            note(f"{self.path.name}: {count} frame timestamp{'s were' if count > 1 else ' was'} out of order; "
                 "put back in order (the timing is kept)")
        declared = self.declared_frames
        if 0 < index + self.skipped < declared and self._ends_early(timeline.end, self.seeked or self.passed_over > 0):
            # (said, not refused: FFmpeg plays what decodes; a half-downloaded MP4 was stylized to its end, then lost)
            note(f"{self.path.name}: only {index + self.skipped} of the {declared} frames its index states decode: "
                 "the file looks cut short or damaged (what decodes is stylized, as FFmpeg plays it)")
        tagged = self._tagged_end() if not declared and timeline.end is not None else None
        if tagged is not None and timeline.end + self._one_frame < tagged:  # (a tag, not an index: said, not refused)
            note(f"{self.path.name}: its pictures end at {format_time(timeline.end * self.stream.time_base)} of the "
                 f"{format_time(tagged * self.stream.time_base)} its video track states: the file looks cut short "
                 "(what decodes is stylized)")

    def _landed_wrong(self) -> bool:
        """Whether a seek that gave no frame landed where the file cannot be read from: nothing
        at all after it, or a Matroska that lasts past the start, whose index led to damaged
        cluster times."""
        if not self.seeked:
            return False
        return self.seen_end is None or (self.cluster_times is not None and bool(self.container.duration)
                                         and Fraction(self.container.duration, 1_000_000) > self.segment.start)

    def _stored_later(self, held: "HeldPackets", segment: Segment, end: int) -> Iterator[av.Packet]:
        """Read on past the last picture kept (which stops showing at `end`, video ticks on the
        file's timeline) for the sound that plays under it but is stored after later pictures, into
        `held`; gives what `held` lets go early (over its limit), moved onto the segment's timeline.
        An MPEG-PS stores its MP2 sound 0.7 s after the pictures: `--frames 13` (0.44 s) kept 0.12 s
        of it. Stops once every sound stream has a packet from `end` on, or the video's packets
        are `LATE_SOUND_SECONDS` past it (the sound ended early), or `HELD_BYTES` were read; video
        packets are not decoded."""
        end_seconds = end * self.stream.time_base
        waiting = {s.index for s in self.passthrough if s.type == "audio"}
        if not waiting:
            return
        read = 0
        for packet in self._source:
            read += packet.size
            if read > HELD_BYTES:
                return
            self.shift.apply(packet)
            at = packet.pts if packet.pts is not None else packet.dts
            if at is None or not packet.time_base or not packet.size:
                continue
            if packet.stream is self.stream:
                if (packet.dts if packet.dts is not None else at) * packet.time_base > end_seconds + LATE_SOUND_SECONDS:
                    return
                continue
            if at * packet.time_base >= end_seconds:
                waiting.discard(packet.stream.index)
                if not waiting:
                    return
                continue
            if not packet.is_discard:
                yield from segment.packets(held.add(packet))

    def _last_end(self, pts: int, step: int | None) -> int | None:
        """Where the last picture stops showing at least (`_stored_last_end`), or where the latest
        empty "same picture" packet stops (`_decoded`), whichever is later: a still stretch at
        the end of an Ogg Theora clip is empty packets only, and the clip ended 40 ms early."""
        ends = [end for end in (self._stored_last_end(pts, step), self._same_picture_end) if end is not None]
        return max(ends, default=None)

    def _stored_last_end(self, pts: int, step: int | None) -> int | None:
        """Where the last picture (at `pts`, `step` after the one before it; None: the only one)
        stops showing at least, where the file says (stream time base, on the timeline from zero),
        once every packet decoded; None elsewhere.
        An MP4's or MOV's last video sample (in decode order) ends at its pts plus its duration.
        That duration is all that holds a variable-rate clip's closing still, and with B-frames
        that sample is not the last picture shown, which the decoder gives its own sample's
        duration (a GIF's 2 s hold made into an MP4 read back as 0.04 s). FFmpeg's MP4 muxer ends
        the edit list there too. The other samples' durations are the steps between decode times
        (one before a pause spans it); a file cut short ends where its pictures do.
        An AVI's packet lasts one slot, but the slots after a picture may be empty (`ffmpeg -c
        copy` of variable-rate video into AVI puts a picture every other slot: the output lasted
        1.98 s of 2 s). Its last picture lasts to the stream's stated end where that is after it
        and within an average picture's time (the stated duration over the pictures), else the
        step between the pictures before, as in FFmpeg's output (a file cut short states an end
        FFmpeg guessed from its bytes, before its last picture, which kept one slot), at most an
        average picture's time: the step into a variable-rate clip's last picture may be a pause
        (an AVI without its index held its last picture 2 s)."""
        if self.container.format.name == "avi" and self.undecoded is None:
            stated = self._stated_end()
            average = math.ceil(self.stream.duration / self.video_packets) if self.stream.duration else None
            if stated is not None and 0 < stated - pts <= average:
                return stated
            return None if step is None else pts + min(step, average or step)
        if not self.container.format.name.startswith("mov,") or self.undecoded is not None:
            return None
        return self._tail_end

    def _none_decoded(self) -> str:
        """Why a video gave no frames (`no_pictures`), after "no frames"; nothing where the file
        was not read to its end (a segment's start past it says so itself)."""
        return f": {no_pictures(self.stream, self.video_packets, self.damaged)}" if self.finished else ""

    def _note_damage(self) -> None:
        """Say how many video packets were skipped; packets timed well past the last picture are
        said apart: not damage FFmpeg conceals, but pictures it cannot decode at all (MPEG-TS
        segments joined with another codec on the same stream: H.264, then MPEG-2, whose keyframe
        the H.264 decoder made a green last frame of)."""
        if self.undecoded is not None and self.undecoded[1] - self.undecoded[0] > UNDECODED_END_SECONDS:
            shown, packets = self.undecoded
            rejected = f", {self.damaged} rejected" if self.damaged else ""
            note(f"{self.path.name}: the pictures stop at {float(shown):.2f} s but the video's packets go on to "
                 f"{float(packets):.2f} s{rejected}: they do not decode as {self.stream.codec_context.name} (another "
                 "codec joined on, or damage); the output ends there, as FFmpeg's does")
        elif self.damaged:
            note(f"{self.path.name}: {self.damaged} damaged video packet{'s' if self.damaged > 1 else ''} "
                 "skipped (FFmpeg conceals them the same way)")

    def _from_zero(self, pts: int, duration: int) -> tuple[int, int]:
        """(pts, duration) of a frame that starts before the timeline's zero, shown from zero
        instead, as `ffmpeg -i in out.mp4` shows it. The file's start time is where its first
        packets start; FFmpeg reads some files' start from their sound alone (ASF with B-frames:
        the pictures' own times are made up later), and the first picture came 40 ms before it:
        an MP4 hid it behind its edit list (one frame lost)."""
        note(f"{self.path.name}: a picture starts {float(-pts * self.stream.time_base):.3f} s before the file's "
             "start time; it is shown from the start, as FFmpeg shows it", once=True)
        return 0, max(1, pts + (duration or 0))

    def _retimed(self, items: Iterator[av.VideoFrame | av.Packet]) -> Iterator[av.VideoFrame | av.Packet]:
        """`items`, with the frames of a stream that stores no timestamps (`has_no_timestamps`)
        timed from zero by their durations (the codec's frame rate, pulldown included), as
        `ffmpeg -i in.h264 out.mp4` times them; and a GIF's frames as browsers time them
        (`gif_delays_as_shown`). An image sequence's pictures keep their times: image2 flags no
        timestamps, but times each picture by its number, so one that does not decode leaves its
        place empty (numbered pictures out keep the input's numbers; a video holds the picture
        before longer, as `ffmpeg -i 'f_%04d.png' out.mp4` does). A frame without a duration, or
        one shorter than a frame at the stream's rate (beyond `DECLARED_RATE_SLACK`: the codec's
        rate `plausible_rate` set aside, as bare MPEG-4 Part 2 states it), lasts one frame."""
        if self.container.format.name == "gif":
            yield from gif_delays_as_shown(items, self.path.name)
            return
        if not has_no_timestamps(self.container) or self.sequence is not None:
            yield from items
            return
        clock, one_frame = 0, self._one_frame  # (a bare stream is decoded from its start: `_decode_from`)
        for item in items:
            if isinstance(item, av.VideoFrame):
                if not item.duration or item.duration * DECLARED_RATE_SLACK < one_frame:
                    item.duration = one_frame
                item.pts = clock
                clock += item.duration
            yield item

    @property
    def _one_frame(self) -> int:
        """One frame's duration at the stream's rate (25 fps if it has none), in video ticks."""
        return max(1, round(1 / ((self.frame_rate or Fraction(25)) * self.stream.time_base)))

    def _after_last(self, duration: int | None) -> tuple[int, int]:
        """(pts, duration) for a frame without a timestamp, in a format that stores them: shown
        when the frame before stops (from zero if it is the first), for its own duration or one
        frame at the stream's rate, as FFmpeg's tools time it. A video whose packets carry none
        (an MPEG-TS's PES headers without them) made --frames fail with a traceback."""
        at = 0 if self.seen_end is None else round(self.seen_end / self.stream.time_base)
        return at, duration or self._one_frame

    def _decode(self) -> Iterator[av.VideoFrame | list[av.Packet]]:
        """Decoded video frames and runs of the pass-through streams' packets (lists of up to
        `RUN_PACKETS`, read one after another), in file order: a run goes on before the next
        video packet is decoded, so none is left inside when a frame is given. A video packet the
        decoder rejects as damaged is skipped, as FFmpeg's tools conceal it and play on (counted
        in `damaged`, noted at the end)."""
        recovery, tail, cut = Recovery(), TailPackets(TAIL_BYTES, self.sequence is not None), CutSound()
        last = None  # the highest timestamp of a frame given so far
        run: list[av.Packet] = []
        apply, video = self.shift.apply, self.stream
        for packet in self._source:
            apply(packet)
            if packet.stream is not video:
                # (the flush packet at the end carries nothing; cover art has no timestamps, only its picture)
                if packet.dts is not None or (packet.size and is_cover_art(packet.stream)):
                    cut.keep(packet, run)
                    if len(run) >= RUN_PACKETS:
                        yield run
                        run = []
                continue
            if run:
                yield run
                run = []
            tail.add(packet)
            self.video_packets += 1 if packet.size else 0
            for frame in self._decoded(self._before.ready(packet), recovery, tail):
                if frame.pts is not None:
                    last = frame.pts if last is None else max(last, frame.pts)
                tail.given()
                yield frame
        if run:
            yield run
        for frame in self._decoded(self._before.rest(), recovery, tail):  # (a file ended without its flush)
            if frame.pts is not None:
                last = frame.pts if last is None else max(last, frame.pts)
            tail.given()
            yield frame
        for frame in self._lost_at_end(tail, last):
            last = frame.pts
            yield frame
        if last is not None and tail.top is not None and tail.top > last:
            self.undecoded = last * self.stream.time_base, tail.top * self.stream.time_base
        self._tail_end = tail.end

    def _decoded(self, packets: list[av.Packet], recovery: "Recovery", tail: "TailPackets") -> Iterator[av.VideoFrame]:
        """The frames `packets` (video) decode to, those `recovery` shows; a damaged packet is counted.
        An empty packet with a timestamp is left out, not sent: libtheora's "same picture as before",
        which the decoder refuses (EINVAL), and a still stretch was noted as damage. The held
        picture lasts until the next one shows (`Timeline`), or the last empty packet ends
        (`_last_end`). (The flush, which has none, is sent.)"""
        for packet in packets:
            if not packet.size and packet.dts is not None:
                if packet.pts is not None:
                    self._same_picture_end = packet.pts + (packet.duration or 0)
                continue
            try:
                frames = decoded_or_damage(self.decoder.decode, packet)
            except av.error.FFmpegError as exc:  # (the one it passes on: threads FFmpeg could not start)
                raise threads_refused_error(self.path, exc) from None
            if isinstance(frames, av.error.FFmpegError):  # InvalidData mostly; DV's partial last frame: EPERM
                self.damaged += 1
                tail.damaged += 1
                tail.damaged_since_frame += 1
                continue
            yield from (frame for frame in frames if recovery.keep(frame))

    @property
    def passed_over(self) -> int:
        """The video packets before the segment's start never decoded (`BeforeStart`)."""
        return self._before.passed

    @property
    def skipped(self) -> int:
        """The pictures before the segment's start: decoded and dropped, or never decoded (a
        packet each)."""
        return self._dropped + self.passed_over

    def _decode_from(self) -> Fraction | None:
        """From when (seconds on the timeline, a video packet's decode time) the video is decoded:
        `SEEK_MARGIN` before the segment's start, where the frames' times come from their
        timestamps (an image sequence's: its picture numbers, `_retimed`); None (from the beginning) for
        a bare stream (timed by its decoded frames' durations: pulldown, fields), a GIF (by its
        delays), cover art, and inverse telecine (its cadence is read from every frame)."""
        if (not self.segment.start or (has_no_timestamps(self.container) and self.sequence is None)
                or self.container.format.name == "gif" or self.cover_art or self.deinterlace == "film"):
            return None
        return self.segment.start - SEEK_MARGIN

    def _packets(self) -> Iterator[av.Packet]:
        """The packets of the video and pass-through streams (PyAV's demux, with its empty packet
        per stream at the end, which flushes the decoder). A stream that appears mid-file (MPEG-TS:
        a new PID in a damaged program table) made PyAV's end-of-file loop fail with an IndexError
        (a traceback, the output lost) after the flush packets of the streams asked for: that ends
        the file as it would have ended. An image sequence ends at the first missing number: its
        demuxer would fail on the gap (`within_run`). Data the
        demuxer cannot read (InvalidDataError) or does not implement (PatchWelcomeError) ends the
        file too, as FFmpeg's tools end it there and keep what came before, with a note: an SMJPEG's
        end tag, a recording's garbled tail, a chained Ogg's second part (a file cut short of its
        declared frames is still refused, see `items`)."""
        packets = self.container.demux([self.stream, *self.passthrough])
        if self.sequence:
            packets = within_run(packets, self.stream, self.sequence.run)
        last: av.Packet | None = None
        while True:
            try:
                packet = next(packets)
            except (StopIteration, IndexError):  # (only PyAV's code runs inside `next`)
                return
            except av.error.BlockingIOError:
                if self.sequence:
                    raise
                # MPEG-TS: 64 KB without a sync byte (a stretch of zeros: a disk's hole, a capture's
                # lost signal) is EAGAIN, said as threads FFmpeg could not start; FFmpeg's tools read
                # on from there. Each costs 64 KB of the file: bounded by its size.
                note(f"{self.path.name}: bytes that hold no packets were skipped, as FFmpeg skips them", once=True)
                packets = self.container.demux([self.stream, *self.passthrough])
                continue
            except (av.error.InvalidDataError, av.error.PatchWelcomeError) as exc:
                at = (f" at {float(last.pts * last.time_base):.2f} s" if last is not None and last.pts is not None
                      and last.time_base else "")
                note(f"{self.path.name}: data it cannot read ends the file{at} ({error_reason(exc)}); the pictures "
                     "and sound before it are kept, as FFmpeg keeps them", once=True)
                yield flush_packet(self.stream)
                return
            last = packet if packet.size else last
            yield packet

    @property
    def _stores_times(self) -> bool:
        """Whether the pictures' times are the file's own (not made up: a bare stream's, an image
        sequence's numbers, cover art's none)."""
        return not (has_no_timestamps(self.container) or self.sequence is not None or self.cover_art)

    def _timed(self, packets: Iterator[av.Packet]) -> Iterator[av.Packet]:
        """`packets` with the times repaired that the file stores wrong or not at all, before
        `TimestampShift`: an AVI's reordered pictures (`SlotTimes`), pictures at one time (`StuckClock`), a Matroska cluster's time gone back (`ClusterTimes`),
        sound without times or at one time (`SoundClock`); an MP4's sound cut where its edit list ends
        it (`edit_list_ends`)."""
        packets = edit_list_ends(self.container, self.passthrough, packets)
        if self.slot_times is not None:
            packets = self.slot_times.packets(packets)
        if self.stuck_clock is not None:
            packets = self.stuck_clock.packets(packets, seeked=self.seeked)
        if self.cluster_times is not None:
            packets = self.cluster_times.packets(packets)
        return self.sound_clock.packets(packets, seeked=self.seeked)

    def _lost_at_end(self, tail: "TailPackets", last: int | None) -> Iterator[av.VideoFrame]:
        """The last frames, where frame threads lost them. At the end of the file the decoder
        reports a damaged packet among the last ones (one per thread) as it drains, and PyAV stops
        draining there: the frames the other threads held were lost (up to one per CPU core, and
        the file was refused as truncated), where `ffmpeg` keeps them. When a packet since the
        latest keyframe shows a later timestamp than the last frame, those packets are decoded
        again without frame threads (which report damage at its packet) and the later frames
        are given; a damaged last packet costs that one decode of a GOP. An image sequence's
        pictures each decode alone: those after the last frame given are decoded again, and the
        damage counted since that frame was theirs (two damaged last pictures were noted as one)."""
        if last is None or tail.top is None or tail.top <= last or not tail.packets:
            return
        # none decoded (another codec joined on): their "frames" are noise; in an image sequence every
        # picture is a keyframe, and the damage counted may be an earlier picture's, reported as it drained
        if tail.damaged >= len(tail.packets) and self.sequence is None:
            return
        try:
            with open_input(self._opened_name, **self._options) as again:
                stream = again.streams[self.stream.index]
                context = alpha_decoder(stream) or stream.codec_context  # (the decoder `_decoded` used)
                context.thread_type = "SLICE"
                bound_decoder(context, self.pixel_aspect)
                context.flags |= DECODER_FLAGS
                recovery, flush, damaged = Recovery(), av.Packet(), 0
                flush.time_base = self.stream.time_base
                packets = tail.packets
                counted = tail.damaged
                if self.sequence is not None:
                    packets = [packet for packet in packets if packet.pts is None or packet.pts > last]
                    counted = tail.damaged_since_frame
                for packet in [*packets, flush]:
                    try:
                        frames = context.decode(packet)
                    except MemoryError:
                        raise
                    except av.error.FFmpegError:
                        damaged += 1
                        if damaged > counted:  # one the frame threads did not report before they stopped
                            self.damaged += 1
                        continue
                    for frame in frames:
                        if recovery.keep(frame) and frame.pts is not None and frame.pts > last:
                            last = frame.pts
                            yield frame
        except (av.error.FFmpegError, IndexError):  # the file read again differs: nothing more to give
            return

    def _ends_early(self, end: int | None, seeked: bool = False) -> bool:
        """Whether the frames that decoded stop before the stream's declared end. AVI files count
        dropped frames (empty chunks: the previous picture stays) in their index, so fewer frames
        than declared is not enough: a file is truncated only when its pictures end early. After a
        seek (`seeked`) the frames before it were not counted: only their times tell."""
        stated = self._stated_end()
        if end is None or stated is None:
            return not seeked  # nothing but the frame count to go by
        one_frame = 1 / (self.frame_rate * self.stream.time_base) if self.frame_rate else 1
        return end + one_frame < stated

    def _stated_end(self) -> int | None:
        """Where the stream's declared duration ends (ticks, where the shift put its start); None: not declared."""
        if not self.stream.duration:
            return None
        return (self.stream.start_time or 0) + self.shift.start_ticks(self.stream.time_base) + self.stream.duration

    def _tagged_end(self) -> int | None:
        """Where a Matroska's video track ends (ticks, on the shifted timeline), from the DURATION
        tag FFmpeg's and mkvmerge's muxers write per track: Matroska states no track duration or
        frame count, and a file cut short (a download stopped) gave a shorter output without a
        word. FFmpeg writes the track's end (10:00:01 for a second starting at 10 h); a muxer that
        wrote the length instead only under-states it. None elsewhere, or for a tag unread or 0
        (a recording never finished holds its placeholder). Only a note comes of it: a tag is no
        index, and another tool may have left a stale one."""
        from realtime_adain.times import check_time

        if ("matroska" not in self.container.format.name or self.shift.jumps
                or not isinstance(self.cluster_times, ClusterTimes) or self.cluster_times.stretches):
            return None  # (times repaired or joined: the pictures' end is no longer the file's)
        try:
            seconds = check_time(str(self.stream.metadata.get("DURATION", "")), "DURATION", positive=True)
        except (UserError, ValueError):  # (a tag is the file's text: anything)
            return None
        return round(seconds / self.stream.time_base) + self.shift.start_ticks(self.stream.time_base)

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


CAPTIONS_LEFT_OUT = "closed captions in the video are not kept"


def note_captions_left_out(name: str) -> None:
    """Say that the pictures' closed captions are dropped: PyAV cannot give an encoded picture
    side data (`ffmpeg` passes them to libx264, which writes them again); `--json` lists them
    with the streams (`job.with_captions`)."""
    note(f"{name}: {CAPTIONS_LEFT_OUT}", once=True)


def note_transparency_left_out(name: str, shown_over_white: bool = False) -> None:
    """The network sees RGB (`ffmpeg -i in.webm out.mp4` drops the alpha channel as well);
    `shown_over_white`: the alpha was decoded, and composited (`frame_to_rgb`)."""
    how = ("transparent areas are shown over white, as `realtime-adain image` shows them, and the pictures "
           "stylized" if shown_over_white else "the pictures are stylized")
    note(f"{name}: its transparency (alpha channel) is left out: {how} and written opaque", once=True)


