"""Which streams of an input are stylized, carried to the output, or left out: the video
`ffmpeg` takes (`main_video_stream`), the sound, subtitles, fonts, cover art and data tracks some
output holds (`passthrough_streams`), only those of the video's program in a broadcast capture
(`same_program`), with a note naming each stream no output carries. Kept apart from the reader,
which decodes the one video and hands the others' packets on."""

from __future__ import annotations

import os
import re
from typing import Sequence

import av

from realtime_adain.errors import UserError
from realtime_adain.notes import note
from realtime_adain.regular_files import file_head
from realtime_adain.unreadable_stills import unsupported_picture, unsupported_sequence
from realtime_adain.video.opening import open_input
from realtime_adain.video.sequence import named_file

# Streams carried over to the output: packets of sound, subtitles and data tracks (those some
# output holds: `carried_data`); attachments (a Matroska file's fonts for its ASS subtitles) have
# none, only data. Cover art beside the video (a video stream marked attached_pic) is carried too.
PASSTHROUGH_TYPES = ("audio", "subtitle", "attachment", "data")
# Data tracks MPEG-TS keeps as what they are (a stream type of their own): a broadcast's or a
# drone's KLV metadata, HLS's timed ID3, SMPTE 2038 ancillary data. It writes any other as
# private data, which reads back as bytes of no kind (`bin_data`).
TS_DATA_CODECS = frozenset({"klv", "timed_id3", "smpte_2038"})
def is_cover_art(stream: av.video.stream.VideoStream) -> bool:
    """Whether `stream` is one still picture attached to the sound (an MP3's or M4A's cover)."""
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def has_decoder(stream: av.stream.Stream) -> bool:
    """Whether FFmpeg knows `stream`'s codec (PyAV gives no codec context otherwise: a damaged
    header's codec id, or one this FFmpeg lacks); its packets can be neither decoded nor copied."""
    return stream.codec_context is not None


def passthrough_streams(container: av.container.InputContainer, video: av.stream.Stream,
                        name: str) -> tuple[list[av.stream.Stream], dict[int, str]]:
    """The streams to carry over (`PASSTHROUGH_TYPES`, those data tracks some output holds, and
    cover art beside `video`); sound or subtitles of a codec FFmpeg does not know are left out,
    with a note (reading one's codec failed with an AttributeError), and returned by index with
    why. Which output holds which is the writer's to say (`OutputStreams._add_passthrough`)."""
    kept, unknown = [], {}
    for stream in container.streams:
        if stream.index == video.index:
            continue
        if stream.type == "video":
            if is_cover_art(stream) and has_decoder(stream):
                kept.append(stream)
            continue
        if stream.type not in PASSTHROUGH_TYPES or (stream.type == "data" and not carried_data(stream, video)):
            continue
        if stream.type not in ("attachment", "data") and not has_decoder(stream):  # (those are bytes: no codec context)
            unknown[stream.index] = unknown_codec_said(container, stream)
            note(f"{name}: leaving out {stream.type} stream #{stream.index}: {unknown[stream.index]}", once=True)
            continue
        kept.append(stream)
    return kept, unknown


# An iPhone's video (15 Pro on) holds its sound twice: AAC stereo, and Apple Positional Audio
# (`apac`, spatial audio), a codec this FFmpeg does not know; PyAV cannot copy such a track (it adds
# no stream without a codec) and `ffmpeg -c copy` into .mp4 refuses it. FFmpeg keeps the track's
# tag to itself, so the note names the likely case rather than blaming the file alone.
APPLE_SPATIAL_AUDIO = "no codec FFmpeg knows (an iPhone's spatial audio, Apple Positional Audio, is one; else a damaged header)"


def unknown_codec_said(container: av.container.InputContainer, stream: av.stream.Stream) -> str:
    """Why a stream of a codec FFmpeg does not know (`has_decoder`) is left out."""
    if stream.type == "audio" and container.format.name.startswith("mov,"):
        return APPLE_SPATIAL_AUDIO
    return "no codec FFmpeg knows (a damaged header?)"


def is_gopro_telemetry(stream: av.stream.Stream) -> bool:
    """Whether `stream` is an MP4's or MOV's `gpmd` track (an action camera's GPS, gyro and
    accelerometer samples): FFmpeg reads that tag, its one data tag there, as `bin_data`, and its
    MP4 and MOV muxers write `bin_data` back as `gpmd` (from another container, such as MPEG-TS's
    private data, it would be mislabelled)."""
    return stream.type == "data" and stream.name == "bin_data" and stream.container.format.name.startswith("mov,")


def carried_data(stream: av.stream.Stream, video: av.stream.Stream) -> bool:
    """Whether some output holds data track `stream` as what it is (`is_gopro_telemetry`,
    `TS_DATA_CODECS`)."""
    return not told_otherwise(stream, video) and (is_gopro_telemetry(stream) or stream.name in TS_DATA_CODECS)


# Why a timecode or chapter track is not carried as a stream (`told_otherwise`), for `--json`;
# `stream_reports.stream_reports` says instead that it is dropped where the output holds no such thing.
TIMECODE_CARRIED = "its time is carried as the output's timecode tag"
CHAPTERS_CARRIED = "what it holds is carried as the file's chapters"


def told_otherwise(stream: av.stream.Stream, video: av.stream.Stream) -> str | None:
    """How what `stream` holds reaches the output another way, or None: a timecode track's time
    travels as the video's tag (MP4 and MOV outputs write a new track from it); MOV's chapter
    track is read as the chapters (FFmpeg discards its stream). Every timecode track (FFmpeg tags
    one with its timecode) is one: a cover's, which FFmpeg discards too, was called chapters."""
    if stream.type == "data" and "timecode" in stream.metadata:
        return TIMECODE_CARRIED if video.metadata.get("timecode") else None
    return CHAPTERS_CARRIED if stream.discard == av.stream.Discard.all else None


# The most pixels cover art is decoded at to check it, and carried (8192 x 8192, a print scan's):
# FFmpeg decoded a 2 MB PNG whose header claims 16000x16000 16-bit RGBA into 2 GB, for 11 s.
COVER_MAX_PIXELS = 1 << 26
COVER_LIMIT = {"max_pixels": str(COVER_MAX_PIXELS)}  # (FFmpeg refuses a larger picture before it allocates)


def oversized_cover(stream: av.stream.Stream) -> bool:
    """Whether cover art `stream`'s header claims more than `COVER_MAX_PIXELS` (a decode bomb)."""
    return stream.codec_context.width * stream.codec_context.height > COVER_MAX_PIXELS


def attached_pictures(covers: Sequence[av.stream.Stream]) -> dict[int, bytes]:
    """The pictures of cover art streams `covers` (of one file) that decode, by stream index, read
    from the file again: a Matroska output stores them in its header, before the reader's packets
    reach the writer, and a damaged one copied made `ffmpeg -i out -f null -` say "No JPEG data
    found in image" (where the cover is larger than the video, it is what FFmpeg decodes). FFmpeg
    gives cover art first, before any packet of the file (queued as it opens): reading stops at the
    first other, one pass for them all (a file of 990 covers, opened again for each, took a minute).
    Left out: no picture, one that does not decode, a file that no longer reads; one over
    `COVER_MAX_PIXELS` is not decoded (nor while the file is opened again: FFmpeg decodes pictures
    to learn their format)."""
    wanted, pictures = {stream.index: stream for stream in covers}, {}
    if not wanted:
        return pictures
    try:
        with open_input(next(iter(wanted.values())).container.name, options=COVER_LIMIT) as again:
            for packet in again.demux():
                if not is_cover_art(packet.stream):
                    break
                stream = wanted.get(packet.stream.index)
                if stream is not None and packet.size and packet.stream.index not in pictures:
                    pictures[packet.stream.index] = bytes(packet)
    except (av.error.FFmpegError, IndexError):
        pass  # (a file that no longer reads, or no further: the pictures read so far)
    return {index: picture for index, picture in pictures.items() if decodes(wanted[index], picture)}


def decodes(stream: av.stream.Stream, picture: bytes) -> bool:
    """Whether `picture`, cover art `stream`'s, decodes (at most `COVER_MAX_PIXELS`)."""
    try:
        decoder = av.CodecContext.create(stream.codec_context.name, "r")
        decoder.options = COVER_LIMIT
        return bool([*decoder.decode(av.Packet(picture)), *decoder.decode(None)])
    except av.error.FFmpegError:
        return False


def data_label(stream: av.stream.Stream) -> str:
    """What a data track is, for a note: its track's name, else its codec's (a DVD's navigation
    packets, dvd_nav_packet); empty where neither is known."""
    codec = stream.name if stream.type == "data" else None
    label = stream.metadata.get("handler_name") or (codec if codec not in (None, "none") else None)
    return f" ({label})" if label else ""


def note_left_out(container: av.container.InputContainer, video: av.stream.Stream, name: str) -> dict[int, str]:
    """Name the streams no output carries, which went without a word: data no container written
    here holds (a phone's metadata track `mebx`, a drone's, a DVD's navigation packets), cover
    art of a codec FFmpeg does not know. Other moving video streams are named by
    `main_video_stream`; what one output cannot hold (cover art in a GIF, telemetry in a .mkv) by
    the writer. Returns why each is left out by index, with the tracks carried another way."""
    left, why = [], {}
    for stream in container.streams:
        if stream.index != video.index and is_cover_art(stream) and not has_decoder(stream):
            left.append(f"cover art #{stream.index}")  # (of no codec FFmpeg knows: not carried)
            why[stream.index] = "no codec FFmpeg knows"
        if stream.type in ("video", "audio", "subtitle", "attachment"):
            continue
        if carried := told_otherwise(stream, video):
            why[stream.index] = carried
        elif not (stream.type == "data" and carried_data(stream, video)):
            left.append(f"{stream.type} stream #{stream.index}{data_label(stream)}")
            why[stream.index] = "no output format here holds it"
    if left:
        note(f"{name}: leaving out {', '.join(left)}: no output format here holds it (the output carries the "
             "picture, sound, subtitles, fonts, cover art, GoPro telemetry and MPEG-TS's KLV and ID3 data)", once=True)
    return why


def decodable_video(container: av.container.InputContainer, name: str,
                    first: str | os.PathLike | None = None) -> list[av.video.stream.VideoStream]:
    """The video streams of `container` FFmpeg has a decoder for; a UserError naming `name` where
    it has none (`live` and `video` alike: a JPEG XL in `live` was an AttributeError traceback),
    which says a picture format no decoder here reads as `image` says it (`undecodable_picture`
    of `first`, a sequence's first picture, or the file opened)."""
    if not (video := [s for s in container.streams.video if has_decoder(s)]):
        said = undecodable_picture(first, sequence=True) if first else undecodable_picture(named_file(container.name))
        raise UserError(f"{name}: {said or 'no video stream FFmpeg can decode (a codec it does not know, or a damaged header)'}")
    return video


def undecodable_picture(path: str | os.PathLike, sequence: bool = False) -> str | None:
    """What `image` says of picture file `path` in a format no decoder here reads (JPEG XL: `video`
    said "a codec it does not know"), None where it is no such picture or cannot be read (a pipe,
    a device, a URL: said as before). `sequence`: `path` is a numbered sequence's first picture,
    where an AVIF or HEIC, read alone, is named as a sequence not read (`unsupported_sequence`)."""
    if (head := file_head(path)) is None:
        return None
    return (unsupported_sequence(head) if sequence else None) or unsupported_picture(head)


def main_video_stream(container: av.container.InputContainer, name: str,
                      first: str | os.PathLike | None = None) -> av.video.stream.VideoStream:
    """The video stream `ffmpeg` takes from a file: the one with the most pixels, a default one
    (disposition) counting 5000000 more, the first of equals; cover art (a one-picture stream
    marked attached_pic) is not the video, unless there is nothing else to show with the sound
    (see `is_cover_art`). Where there are several, a note names the one taken. Streams of a codec
    FFmpeg does not know (`has_decoder`) are not candidates (`first`: a sequence's first picture,
    read to say why where none is)."""
    video = decodable_video(container, named_file(container.name), first) if container.streams.video else []
    moving = [s for s in video if not s.disposition & av.stream.Disposition.attached_pic]
    if not moving and video and container.streams.audio:
        # A podcast or song with cover art: FFmpeg makes that picture a video shown for the whole sound.
        note(f"{name}: no video but cover art; the picture is shown for the whole sound, as FFmpeg shows it",
             once=True)
        return video[0]
    if not moving:
        raise UserError(f"{named_file(container.name)}: no video stream")

    def score(stream: av.video.stream.VideoStream) -> int:
        default = bool(stream.disposition & av.stream.Disposition.default)
        return (stream.codec_context.width or 0) * (stream.codec_context.height or 0) + 5_000_000 * default

    animated = [s for s in moving if not is_still_item(s)]
    chosen = max(animated or moving, key=score)  # (max keeps the first of equals)
    if len(moving) > 1:
        which = "the animation, not its still picture" if len(animated) < len(moving) else "the one ffmpeg takes"
        note(f"{name}: {len(moving)} video streams; taking #{chosen.index} ({chosen.codec_context.width}x"
             f"{chosen.codec_context.height}), {which}", once=True)
    return chosen


def is_still_item(stream: av.video.stream.VideoStream) -> bool:
    """Whether `stream` is one still picture with no duration: FFmpeg 8 reads an animated AVIF's or
    HEIF sequence's primary image as a stream of its own, first and default, beside the
    animation's track; taken, a 10-frame AVIF came out as 1 frame."""
    return stream.frames == 1 and not stream.duration


def programs(container: av.container.InputContainer) -> list[set[int]]:
    """The stream indices of each program the file declares (an MPEG-TS's services, an HLS
    playlist's variants), empty where it declares none. PyAV does not expose FFmpeg's programs;
    FFmpeg's own summary of the file (`av_dump_format`, ffprobe's "Program 1" lines) lists them,
    and is logged at INFO only: PyAV's log level is raised while it is written, then put back."""
    before = av.logging.get_level()
    av.logging.set_level(av.logging.INFO)
    try:
        summary = container.dumps_format()
    finally:
        av.logging.set_level(before)
    found: list[set[int]] = []
    current: set[int] | None = None
    for line in summary.splitlines():
        if re.match(r"\s*Program \d+", line):
            current = set()
            found.append(current)
        elif re.match(r"\s*No Program", line):
            current = None
        elif current is not None and (stream := re.match(r"\s*Stream #\d+:(\d+)", line)):
            current.add(int(stream[1]))
    return found


def same_program(container: av.container.InputContainer, video: av.stream.Stream,
                 streams: list[av.stream.Stream], name: str) -> list[av.stream.Stream]:
    """`streams`, less those of other programs than `video`'s: a broadcast capture carries several
    channels, each its own picture and sound, and the other channels' sound does not belong under
    this picture (`ffmpeg -i` 5.1 even takes the first channel's sound under the largest picture);
    an HLS master playlist's variants each carry a copy of the sound (two tracks of one sound).
    Streams in no program, and every stream where `video` is in none, are kept."""
    if len(streams) < 2 or not container.format.flags & av.format.Flags.show_ids.value:
        return streams  # (only formats with stream ids, MPEG-TS and its kin, have programs)
    listed = programs(container)
    own = set().union(*(p for p in listed if video.index in p))
    if not own:
        return streams
    others = set().union(*listed) - own
    kept = [s for s in streams if s.index not in others]
    if len(kept) < len(streams):
        dropped = ", ".join(f"#{s.index}" for s in streams if s.index in others)
        note(f"{name}: {len(listed)} programs (broadcast channels, or a playlist's variants); keeping the "
             f"streams of the one holding video #{video.index}, leaving out {dropped}", once=True)
    return kept
