"""Encoding stylized RGB frames with PyAV, and carrying the input's audio and subtitles over.

Video frames keep the input's time base and timestamps (so variable frame rate survives) and its
colour tags. Audio and subtitle packets are copied byte for byte when the output container
accepts their codec; audio it does not accept is re-encoded, losslessly where the container
holds a lossless codec, else to its default audio codec (`reencoded_audio`; decoding and
converting the sound for it: `sound.py`); text subtitles are converted to its default subtitle
codec, and other subtitles it does not accept are dropped with a note, as is audio where it holds
none (GIF; see docs/video.md). Attached files (fonts for ASS subtitles) are copied into Matroska,
the one container that holds them. Cover art beside the video goes into MP4 as its cover and into
Matroska as an attached picture; data tracks where the container holds them as what they are
(`_add_data`); elsewhere both are dropped with a note.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Sequence

import av
from av.video.reformatter import VideoReformatter
import numpy as np

from realtime_adain.errors import UserError
from realtime_adain.video.formats import (ADTS_KEEPING_FORMATS, pad_short_ts, ATTACHING_FORMATS, EMPTY_TRACKS_LEFT_OUT,
                                          GIF_LONGEST_DELAY, GIF_MOST_REPEATS,
                                          GIF_SHORTEST_SHOWN, LONGEST_FILLED_GAP, MUXER_OPTIONS, ORDER_STATING_FORMATS,
                                          PALETTE_ENCODERS,
                                          PALETTE_FILTERS, SHORTEST_GAP, SILENCE_CHUNK_S,
                                          EncodeSettings, adpcm_block_bytes, audio_opens, check_bitrate_picture,
                                          choose_pix_fmt, encoder_rate,
                                          container_format, copied_into_encoder_stream, dropped_roles, dropped_tags,
                                          encodable_layout,
                                          pcm_sample_bytes,
                                          encodable_rate, encoder_time_base, fills_gaps, holds_copy, is_adts_aac,
                                          language_for,
                                          muxer_accepts, muxer_time_base, reencoded_audio, sound_from_zero, unframed_in_avi)
from realtime_adain.video.framing import check_picture_size, encoder_framing
from realtime_adain.notes import note
from realtime_adain.video.pictures import BT601_MATRIX, Colour
from realtime_adain.video.reader import threads_refused, threads_refused_error
from realtime_adain.video.sequence import ffmpeg_name
from realtime_adain.video.sound import (KindChange, RawAacFraming, SoundConverter, decoder_layout, kind_change,
                                        reorder_channels)
from realtime_adain.video.streams import (COVER_MAX_PIXELS, TS_DATA_CODECS, attached_pictures, data_label,
                                          is_gopro_telemetry, oversized_cover)
from realtime_adain.video.timestamps import moved_chapters

# FFmpeg's AVColorSpace and AVColorRange values (frame.colorspace, frame.color_range).
RGB_MATRIX, BT709_MATRIX, LIMITED_RANGE, FULL_RANGE = 0, 1, 1, 2
# Encoders of JPEG pictures: BT.601 at full range by definition (decoders read them so, whatever
# the tags say).
JPEG_CODECS = frozenset({"mjpeg", "ljpeg"})
# Where a full-range picture decodes as full range (`holds_full_range`): codecs whose bitstream
# states the range (H.264, HEVC, VP9, AV1, DNxHD), in any container; others where the container
# states it (Matroska's Colour element, MP4's colr box; not MOV's, AVI or MPEG-TS), except codecs
# whose decoders read limited range whatever the container says (MPEG-1/2, VP8, ProRes).
RANGE_STATING_CODECS = frozenset({"h264", "hevc", "vp9", "av1", "dnxhd"})
RANGE_STATING_FORMATS = frozenset({"matroska", "webm", "mp4"})
# The MP4 muxer's flag that writes its colr box (which states the range) whatever the tags: without
# it the box is written only where primaries, transfer and matrix are all known, and full range
# tagged for range alone (a phone's clip) was written unstated, read as limited: stretched.
WRITE_COLR = "write_colr"
LIMITED_RANGE_CODECS = frozenset({"mpeg1video", "mpeg2video", "vp8", "prores"})
# The rate sound of no known format is encoded at (`Writer._add_passthrough`): a broadcast
# recording's track whose sound starts late or never; what it decodes to is resampled to it.
UNKNOWN_SOUND_RATE = 48000
# Muxers that time each sample until the next one's decode time, the last by its packet's duration
# (MP4, MOV): with B-frames the last packet in decode order is not the last picture shown, and
# its duration ended the track early (`VideoWriter._mux_video`).
DECODE_TIMED_FORMATS = frozenset({"mp4", "mov"})
# Cover art's picture codecs, with the MIME type and file extension a Matroska attachment is named
# by (FFmpeg's Matroska demuxer reads JPEG and PNG ones back as cover art). MP4 holds JPEG and PNG
# (its muxer lists BMP, then refuses it); FFmpeg's MOV muxer writes no cover (`ffmpeg -c copy` to
# .mov drops it), nor does any other container written here.
COVER_PICTURES = {"mjpeg": ("image/jpeg", "jpg"), "png": ("image/png", "png"), "bmp": ("image/bmp", "bmp"),
                  "webp": ("image/webp", "webp"), "gif": ("image/gif", "gif"), "tiff": ("image/tiff", "tif")}
MP4_COVER_PICTURES = frozenset({"mjpeg", "png"})
# The containers that hold GoPro telemetry (`is_gopro_telemetry`) as its `gpmd` track.
TELEMETRY_FORMATS = frozenset({"mp4", "mov"})
# The muxers that keep chapters, and those that keep a timecode (MP4 and MOV write a tmcd track from
# the video's tag, Matroska a tag, AVI the file's tag as its ISMP chunk): MPEG-TS and GIF drop both,
# AVI its chapters, without a word.
CHAPTER_FORMATS = frozenset({"mp4", "mov", "matroska", "webm"})
TIMECODE_FORMATS = CHAPTER_FORMATS | {"avi"}
# The muxers that move every stream on where one starts before zero (by its pts: a segment's first
# FLAC packet), as FFmpeg's avoid_negative_ts does; MP4 and MOV hide that part with an edit list.
# Chapters are not moved with them (`VideoWriter._muxer_shift`).
NONNEGATIVE_FORMATS = frozenset({"matroska", "webm"})
OPUS_RATE = 48000  # the rate an Opus header counts its pre-skip in, whatever the input's
# The one disposition of the input's video the output's takes: whether it plays by default. The
# others say what the input's picture was (cover art, a layer of a multilayer video: an MV-HEVC
# track's `multilayer` made the MP4 muxer write an lhvC box for libx265's one layer, a file FFmpeg
# 8 cannot open) or roles WebM drops; the stylized video is none of them.
VIDEO_DISPOSITIONS = av.stream.Disposition.default
# The most empty frames FFmpeg's AVI muxer fills one pause with ("Too large number of skipped frames").
AVI_MAX_SKIPPED = 60000


def _rescale(value: int, source: Fraction, target: Fraction) -> int:
    """`value` ticks of `source` in ticks of `target`, rounded half away from zero as FFmpeg's
    muxing rescale does (av_rescale_q_rnd with AV_ROUND_NEAR_INF); in whole numbers (three
    Fractions a packet were seconds of copying a million packets of telemetry)."""
    num = value * source.numerator * target.denominator
    den = source.denominator * target.numerator
    whole, left = divmod(abs(num), den)
    whole += 2 * left >= den
    return whole if num >= 0 else -whole


def holds_full_range(codec: str, fmt: str) -> bool:
    """Whether pictures encoded by encoder `codec` into container `fmt` decode as full range when
    written so (`RANGE_STATING_CODECS`)."""
    name = av.Codec(codec, "w").canonical_name
    return name in RANGE_STATING_CODECS or (fmt in RANGE_STATING_FORMATS and name not in LIMITED_RANGE_CODECS)


def yuv_colour(colour: Colour, pix_fmt: str = "", codec: str = "", fmt: str = "") -> Colour:
    """How YUV output is converted and tagged for an input of `colour`: the input's own, except
    that RGB-coded input (the "RGB" matrix: PNG, TIFF, EXR, GIF, libx264rgb, grey, whatever the
    decoder says: `pictures.stored_as_rgb`) gets BT.709 at limited range,
    as a YUV stream cannot carry the RGB matrix (tagged so, players and zscale refuse or misread it);
    full range becomes limited where the output cannot state it (`holds_full_range`: written full,
    a phone's video came out of MPEG-2 in .ts, ProRes or .avi stretched, 6 read 0 and 249 read
    255); a JPEG pixel format (`yuvj420p`) is full range by definition, and a JPEG picture
    (MJPEG) BT.601 (converted with BT.709, red came back as (210, 0, 29) for (230, 20, 30))."""
    if colour.colorspace == RGB_MATRIX:
        colour = dataclasses.replace(colour, colorspace=BT709_MATRIX, color_range=LIMITED_RANGE)
    if colour.color_range == FULL_RANGE and codec and not holds_full_range(codec, fmt):
        colour = dataclasses.replace(colour, color_range=LIMITED_RANGE)
    if pix_fmt.startswith("yuvj"):
        colour = dataclasses.replace(colour, color_range=FULL_RANGE)
    if codec in JPEG_CODECS:
        colour = dataclasses.replace(colour, colorspace=BT601_MATRIX, color_range=FULL_RANGE)
    return colour


class PaletteFrames:
    """RGB frames to 256-colour ones, each with a palette made of its own colours (FFmpeg's
    palettegen and paletteuse filters, `PALETTE_FILTERS`), one frame in, one frame out."""

    def __init__(self, width: int, height: int, time_base: Fraction) -> None:
        self.graph = av.filter.Graph()
        source = self.graph.add_buffer(width=width, height=height, format="rgb24", time_base=time_base)
        split = self.graph.add("split")
        (gen, gen_args), (use, use_args) = PALETTE_FILTERS
        palette, mapped = self.graph.add(gen, gen_args), self.graph.add(use, use_args)
        sink = self.graph.add("buffersink")
        source.link_to(split)
        split.link_to(mapped, 0, 0)  # the picture ...
        split.link_to(palette, 1, 0)
        palette.link_to(mapped, 0, 1)  # ... and its own palette
        mapped.link_to(sink)
        self.graph.configure()

    def convert(self, frame: av.VideoFrame | None) -> list[av.VideoFrame]:
        """`frame` in palette colours (None: what the filters still hold, at the end)."""
        self.graph.push(frame)
        done = []
        while True:
            try:
                done.append(self.graph.vpull())
            except (av.error.BlockingIOError, av.error.EOFError):
                return done


@dataclass
class VideoFormatOut:
    """What the output video stream must match: display size, timing and colour of the input."""

    width: int
    height: int
    time_base: Fraction
    frame_rate: Fraction | None
    colour: Colour | None = None
    tags: dict[str, str] = dataclasses.field(default_factory=dict)  # the file's (title, date...)
    video_tags: dict[str, str] = dataclasses.field(default_factory=dict)  # the video stream's (language...)
    chapters: list[dict] = dataclasses.field(default_factory=list)  # as `InputContainer.chapters()` gives them
    base_rate: Fraction | None = None  # FFmpeg's r_frame_rate: a rate every timestamp fits (for AVI)
    disposition: int = 0  # the video stream's (default, its roles), as `ffmpeg` copies them


# Tags that describe how a file was written, not what it holds: the muxer writes its own.
WRITER_TAGS = frozenset({"encoder", "duration", "number_of_frames", "number_of_bytes", "major_brand",
                         "minor_version", "compatible_brands"})


def another_codec(name: str) -> str:
    """What to change where encoder `name` refuses the pictures, as words after an error."""
    return ": use another --codec" + (", e.g. libx264" if name != "libx264" else " (or --size)")


# MP4 and MOV muxers: what writes tags named as QuickTime metadata keys (reverse DNS).
KEYED_TAGS_OPTIONS = {"movflags": "use_metadata_tags"}


def muxer_options(fmt: str, tags: dict[str, str]) -> dict[str, str]:
    """The options `fmt`'s muxer opens with. A phone's location, make, model, capture date and
    slow-motion rate are QuickTime metadata keys (`com.apple.quicktime.location.ISO6709`,
    `com.android.capture.fps`), which FFmpeg's MP4/MOV muxer writes only with `use_metadata_tags`:
    without it they were dropped from .mp4 and .mov (and kept in .mkv). With it every tag, the
    title too, is written as such a key instead of a classic atom, so only where there are some."""
    options = dict(MUXER_OPTIONS.get(fmt, {}))
    if fmt in ("mp4", "mov") and any("." in key for key in content_tags(tags)):
        options.update(KEYED_TAGS_OPTIONS)
    return options


def movie_timescale(time_base: Fraction) -> int:
    """The MP4/MOV movie time scale for a video stream of `time_base`: the video track's own (the
    muxer takes its denominator, doubled up to 10000). The muxer writes the first picture's delay
    (an empty edit) in the movie's scale, 1 ms by default: 1024/12288 s (83.33 ms) was written
    as 83 ms and read back 4 ticks early, every picture with it."""
    scale = time_base.denominator
    while scale < 10000:
        scale *= 2
    return min(scale, 2**31 - 1)


def content_tags(tags: dict[str, str]) -> dict[str, str]:
    """`tags` without those that describe the input's encoding (FFmpeg drops them the same way)."""
    return {key: value for key, value in tags.items()
            if key.lower() not in WRITER_TAGS and not key.lower().startswith("_statistics")}


# A stream's number in a note (`#2`): notes alike but for it are given as one (`merged_notes`).
STREAM_NUMBER = re.compile(r"#\d+")


def codec_said(stream: av.stream.Stream) -> str:
    """The codec of an input audio or subtitle `stream` as the notes name it: by its codec as ffprobe
    and `--json` name it, not its decoder (mp3, not mp3float; subrip, not srt)."""
    if is_adts_aac(stream):
        return "ADTS aac"
    return stream.codec_context.codec.canonical_name


def merged_notes(notes: Sequence[str]) -> list[str]:
    """One note a kind: lines alike but for their stream's number are one, which names the others
    (a file of 300 telemetry tracks or 990 covers gave a line each); identical lines, counted (a
    file with 300 subtitle tracks)."""
    alike: dict[str, list[str]] = {}
    for line in notes:
        alike.setdefault(STREAM_NUMBER.sub("#", line), []).append(line)
    merged = []
    for lines in alike.values():
        others = [found[0] for line in lines[1:] if (found := STREAM_NUMBER.findall(line))]
        if len(lines) == 1:
            merged.append(lines[0])
        elif not others:
            merged.append(f"{lines[0]} ({len(lines)} streams)")
        else:
            named = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
            merged.append(f"{lines[0]} (also {named}: {len(lines)} streams)")
    return merged


class VideoWriter:
    """An output file being written: one encoded video stream plus the copied streams."""

    def __init__(
        self, path: Path, settings: EncodeSettings, video: VideoFormatOut, passthrough: Sequence[av.stream.Stream],
        source: str | None = None,
    ) -> None:
        self.path = path
        self.source = source  # the input's name, which the notes start with (a folder run's notes said no file)
        settings = settings.for_container(container_format(path))  # no --codec: the container's default
        self._reformatter = VideoReformatter()  # one RGB -> YUV converter for the stream, not one per frame
        # Input audio stream index -> its decoder's native layout and channel order (`decoder_layout`:
        # set once, before the decoder opens; the header may be tried twice).
        self._decoded_layouts: dict[int, tuple[av.AudioLayout, list[int] | None]] = {}
        self._converters: dict[int, SoundConverter] = {}  # input stream index -> its re-encoded sound's converter
        self._pictures: dict[int, bytes] | None = None  # input index -> cover art's picture that decodes (read once)
        # The muxer's list of codecs it holds is not the last word: MOV lists Opus and FLAC, yet
        # refuses them when the header is written (MP4 only), MP4 TrueHD as experimental. Then the
        # audio is re-encoded, as `ffmpeg -i in out.mov` does.
        notes = self._open(settings, video, passthrough, set())
        if notes is None:  # re-encode the audio the muxer refuses alone; if none does alone, all of it
            audio = [s for s in passthrough if s.type == "audio"]
            refused = {s.index for s in audio if not muxer_accepts(container_format(path), s)}
            notes = self._open(settings, video, passthrough, refused or {s.index for s in audio}, last=True)
        for line in merged_notes(notes):
            self._note(line)
        self.frames_written = 0
        self._last_pts: int | None = None
        self._shifted = False  # a timestamp was moved to keep them increasing (noted once)
        self._moved_on = False  # the latest frame was moved a slot on (`_drop_crowded_frame`)
        self._crowded = False  # frames were dropped from a fixed rate's slots (noted once)
        self._fast = False  # GIF frames closer than browsers show them, or dropped (`_note_fast_gif`, once)
        self._held: av.VideoFrame | None = None  # the last GIF frame in palette colours (repeated over long gaps)
        self._repeats = 0  # GIF frames written again to span a long time (at most GIF_MOST_REPEATS)
        self._cut = False  # a GIF frame's time was cut, past the repeats (noted once)
        self._last_duration = 0  # the last frame's duration (encoder time base)
        self._last_dts: dict[int, int] = {}  # input stream index -> last copied packet's dts
        self._pcm_end: dict[int, Fraction] = {}  # input stream index -> where its latest PCM packet ends (s)
        self._longest_gap: Fraction | None = None  # the longest gap in the sound left unfilled (`_fills`)
        self._coded_end: dict[int, Fraction] = {}  # input stream index -> where its copied compressed sound ends (s)
        self._sound_end: dict[int, Fraction] = {}  # input stream index -> where its re-encoded sound ends (s)
        # Input stream index -> its latest re-encoded packet's (pts, end, time base).
        self._encoded_end: dict[int, tuple[int, int, Fraction]] = {}
        self._moved: set[int] = set()  # copied streams whose timestamps were moved (noted once each)
        self._damaged: set[int] = set()  # re-encoded streams with a packet that did not decode (noted once each)
        self._durations: dict[int, int] = {}  # pts -> duration of the frames inside the encoder
        self._first_pts: int | None = None  # the first frame's timestamp (encoder time base)
        self._first_input_pts: int | None = None  # ... in the input's time base (`_in_slots`)
        self._last_video_dts: int | None = None  # the latest video packet's decode timestamp
        # The video packets held back (`_mux_video`): the latest, muxed once the next decode time is known,
        # or from the one before the picture shown last so far, until a later picture comes.
        self._held_video: list[av.Packet] = []
        self._decode_delay: int | None = None  # the first video packet's pts - dts (packet time base)
        self._video_end: int | None = None  # where the latest picture shown stops showing (packet time base)
        self._video_end_time_base = Fraction(1)  # ... that time base
        self._last_data: dict[int, av.Packet] = {}  # input stream index -> its latest data packet (`_mux_last_data`)
        self._held_cues: list[av.Packet] = []  # subtitle packets shown past the pictures written so far (`_mux_cues`)
        self._read_end: int | None = None  # ... as a reader times the packets muxed (`_mux_video`)
        # Output stream index -> its latest muxed (pts, time base, duration), and its first.
        self._muxed_at: dict[int, tuple[int, Fraction, int | None]] = {}
        self._first_muxed: dict[int, tuple[int, Fraction, int | None]] = {}
        self._covers_muxed: set[int] = set()  # input indices of cover art whose picture went to the muxer

    def _open(self, settings: EncodeSettings, video: VideoFormatOut, passthrough: Sequence[av.stream.Stream],
              reencode: set[int], last: bool = False) -> list[str] | None:
        """Open the file with its streams and write the header, re-encoding the audio streams in
        `reencode` (input indices) even where the container lists their codec: the notes to give
        (given once the file opens: a header refused first gave the chapters' note twice), or None
        when the muxer refused the header with audio copied (unless `last`)."""
        fmt = container_format(self.path)
        try:
            self.container = av.open(ffmpeg_name(self.path), "w", format=fmt, options=muxer_options(fmt, video.tags))
        except av.error.FFmpegError as exc:
            raise UserError(f"{self.path}: cannot write here ({exc.strerror or exc})") from None
        video_context = None
        try:
            self.video = self._add_video(settings, video)
            video_context = self.video.codec_context
            self.streams: dict[int, av.stream.Stream] = {}  # input stream index -> output stream
            self.in_header: set[int] = set()  # input indices of cover art stored with the header (Matroska)
            self.transcoded: dict[int, av.stream.Stream] = {}  # input index -> input stream, re-encoded
            self._kind_changes: dict[int, KindChange] = {}  # input index -> copied sound that may change kind
            self._raw_aac: dict[int, RawAacFraming] = {}  # input index -> copied AAC that may need ADTS headers
            self._covers = [stream for stream in passthrough if stream.type == "video"]  # (`_add_cover`)
            # Input index -> what is said of it (re-encoded, converted, left out and why): `job.stream_reports`.
            self.said = {stream.index: line for stream in passthrough
                         if (line := self._add_passthrough(stream, stream.index not in reencode))}
            lost = self._label(video, passthrough)
            self.container.start_encoding()
            return [*([self.framing.said] if self.framing else []), *lost, *self.said.values()]
        except av.error.FFmpegError as exc:
            self.container.close()
            if video_context is not None and not video_context.is_open:  # (an encoder's smallest picture: x265 16x16)
                raise UserError(f"{self.path}: encoder {video_context.codec.name} does not open for "
                                f"{video_context.width}x{video_context.height} {video_context.pix_fmt} pictures "
                                f"({exc.strerror or exc}){another_codec(video_context.codec.name)}") from None
            copied_audio = any(s.type == "audio" and s.index not in self.transcoded for s in passthrough
                               if s.index in self.streams)
            if copied_audio and not last:
                return None
            raise UserError(f"{self.path}: cannot start encoding ({exc.strerror or exc})") from None
        except BaseException:
            self.container.close()
            raise

    def partly_reencoded(self) -> dict[int, str]:
        """Input index -> why a stream copied at first was re-encoded from some point on
        (`KindChange`), for `--json`."""
        return {index: change.reason for index, change in self._kind_changes.items() if change.reason}

    def _label(self, video: VideoFormatOut, passthrough: Sequence[av.stream.Stream]) -> list[str]:
        """Carry over what the input says about itself, as `ffmpeg` does: the file's tags (title,
        date), each stream's (language, title: `language_for`) and dispositions (which video and
        audio track plays by default), and the chapters. The note to give where the output holds
        no chapters or timecode the input has."""
        fmt = self.container.format.name
        self.container.metadata.update(content_tags(video.tags))
        self.video.metadata.update(language_for(fmt, content_tags(video.video_tags)))
        # (Matroska's muxer writes a track without the default flag as not to be played by default)
        self.video.disposition = video.disposition & VIDEO_DISPOSITIONS
        for stream in passthrough:
            out = self.streams.get(stream.index)
            if out is not None:
                out.metadata.update(language_for(fmt, content_tags(stream.metadata)))
                if out.type == stream.type:  # (cover art as a Matroska attachment: a file, with no disposition)
                    out.disposition = stream.disposition
                    self._note_dropped_labels(stream)
        self._chapters = video.chapters  # given to the muxer as the file is finished (`_write_chapters`)
        timecode = next((value for key, value in video.video_tags.items() if key.lower() == "timecode"), None)
        if timecode and fmt == "avi":  # (AVI's muxer writes the file's tag, not the stream's)
            self.container.metadata["timecode"] = timecode
        lost = [what for what, had, held in (("chapters", video.chapters, self.holds_chapters),
                                             ("timecode", timecode, self.holds_timecode)) if had and not held]
        return [f"{self.path.suffix} holds no {' or '.join(lost)}: the input's are dropped"] if lost else []

    @property
    def holds_chapters(self) -> bool:
        return self.container.format.name in CHAPTER_FORMATS

    @property
    def holds_timecode(self) -> bool:
        return self.container.format.name in TIMECODE_FORMATS

    @property
    def keeps_empty_tracks(self) -> bool:
        """Whether a stream that got no packet is still a track of the file, empty (`EMPTY_TRACKS_LEFT_OUT`)."""
        return self.container.format.name not in EMPTY_TRACKS_LEFT_OUT

    def _note_dropped_labels(self, stream: av.stream.Stream) -> None:
        """Say (`said`: the notes, `--json`) where the output cannot mark a carried `stream` as
        what its dispositions say it is (`dropped_roles`), or drops its title or language
        (`dropped_tags`): WebM's, MOV's, AVI's and MPEG-TS's muxers drop a commentary flag, AVI's
        a language, MPEG-TS's a title, without a word. (Sound and subtitles: what a cover or a data
        track is marked as says nothing of whom it is for.)"""
        fmt = self.container.format.name
        dropped, tags = dropped_roles(fmt, stream), " or ".join(dropped_tags(fmt, stream))
        if stream.type not in ("audio", "subtitle") or (dropped is None and not tags):
            return
        said = f"{stream.type} stream #{stream.index} ({codec_said(stream)})"
        lines = [self.said[stream.index]] if stream.index in self.said else []
        if dropped is not None:
            roles, hint = dropped
            lines.append(f"{self.path.suffix} cannot mark {said} as {roles}: it is written unmarked{hint}")
        if tags:
            lines.append(f"its {tags} is dropped too ({self.path.suffix} holds none)" if dropped else
                         f"{self.path.suffix} holds no track {tags}: {said} is written without its {tags} "
                         "(use .mkv to keep it)")
        self.said[stream.index] = "; ".join(lines)

    def _add_video(self, settings: EncodeSettings, spec: VideoFormatOut) -> av.video.stream.VideoStream:
        check_picture_size(settings.codec, spec.width, spec.height)
        self.framing = encoder_framing(settings, spec.width, spec.height, spec.frame_rate)
        width, height = self.framing.size if self.framing else (spec.width, spec.height)
        check_bitrate_picture(settings, width, height)
        if self.framing:  # (said by `_open`)
            settings = dataclasses.replace(settings, pix_fmt=self.framing.pix_fmt or settings.pix_fmt)
        stream = self.container.add_stream(settings.codec, rate=encoder_rate(settings.codec, spec.frame_rate))
        stream.width, stream.height = width, height
        stream.pix_fmt = choose_pix_fmt(settings, width, height, self.container.format.name)
        encoder_tb = (1 / self.framing.rate if self.framing and self.framing.rate else
                      encoder_time_base(settings.codec, spec.time_base, spec.frame_rate, self.container.format.name,
                                        spec.base_rate))
        if self.framing:  # (DV's stream says it too: AVI, whose stream's aspect PyAV cannot set, keeps it)
            stream.codec_context.sample_aspect_ratio = self.framing.sar
        stream.time_base = muxer_time_base(self.container.format.name, encoder_tb, spec.time_base)
        if self.container.format.name in ("mp4", "mov"):
            self.container.options["movie_timescale"] = str(movie_timescale(stream.time_base))
        self.input_time_base = spec.time_base
        stream.codec_context.time_base = encoder_tb
        stream.options = settings.codec_options()
        if settings.bitrate:
            stream.bit_rate = settings.bitrate
        self.palette = (PaletteFrames(spec.width, spec.height, encoder_tb)
                        if av.Codec(settings.codec, "w").name in PALETTE_ENCODERS else None)
        self.rgb_output = av.VideoFormat(stream.pix_fmt).is_rgb or self.palette is not None
        self.colour = (yuv_colour(spec.colour, stream.pix_fmt, settings.encoder, self.container.format.name)
                       if spec.colour and not self.rgb_output else None)
        if self.colour:
            ctx = stream.codec_context
            ctx.colorspace, ctx.color_range = self.colour.colorspace, self.colour.color_range
            ctx.color_primaries, ctx.color_trc = self.colour.color_primaries, self.colour.color_trc
        if self.colour and self.colour.color_range == FULL_RANGE and self.container.format.name == "mp4":
            flags = self.container.options.get("movflags")
            self.container.options["movflags"] = f"{flags}+{WRITE_COLR}" if flags else WRITE_COLR
        return stream

    def _add_passthrough(self, stream: av.stream.Stream, copy_audio: bool = True) -> str | None:
        """Add the output stream for an input audio, subtitle or attachment stream: copied,
        re-encoded or dropped (the note to give for the last two)."""
        if stream.type == "attachment":  # (no codec context: data alone)
            return self._add_attachment(stream)
        if stream.type == "data":
            return self._add_data(stream)
        if stream.type == "video":  # (cover art: `streams.passthrough_streams`)
            return self._add_cover(stream)
        name = codec_said(stream)
        if stream.type == "audio" and self.container.default_audio_codec in (None, "none"):  # (GIF)
            return f"dropping audio stream #{stream.index} ({name}): {self.path.suffix} files hold no sound"
        # An MPEG-TS or -PS audio track none of whose sound FFmpeg met while opening the file (it
        # starts late, or never: a broadcast's empty audio PID) has no format (rate 0): no muxer
        # takes a copy of it, and FLAC or PCM had no rate to open at (a ZeroDivisionError).
        unknown = stream.type == "audio" and not stream.codec_context.sample_rate
        copies = not unknown and holds_copy(self.container.format.name, stream, self.container.supported_codecs)
        reordered = copies and self._order_unstated(stream)
        if copies and not reordered and (copy_audio or stream.type != "audio"):
            out = self._encoder_made_stream(stream) or self.container.add_stream_from_template(stream)
            self.streams[stream.index] = out
            if is_adts_aac(stream):  # (or AAC with no configuration at all: framed as ADTS first)
                self._raw_aac[stream.index] = RawAacFraming(stream)
            # (MPEG-TS states no kind of its own: players read each frame's header)
            if stream.type == "audio" and self.container.format.name not in ADTS_KEEPING_FORMATS:
                if (change := kind_change(stream, out)) is not None:
                    self._kind_changes[stream.index] = change
        elif stream.type == "audio":
            source_layout, order = self._decoded_layout(stream)
            codec, sample_format = reencoded_audio(self.container.format.name, stream, source_layout.nb_channels,
                                                   self.container.default_audio_codec, self.container.supported_codecs,
                                                   reordered)
            rate = encodable_rate(codec, stream.codec_context.sample_rate or UNKNOWN_SOUND_RATE)
            layout = encodable_layout(codec, source_layout, rate)  # MP2 takes no 5.1: mixed down, as FFmpeg does
            out = self.container.add_stream(codec, rate=rate, layout=layout)
            if sample_format:
                out.codec_context.format = sample_format
            self.streams[stream.index] = out
            self.transcoded[stream.index] = stream
            why = (" (its muxer refuses it)" if copies else
                   " whose frame size FFmpeg does not know (AVI would time it by the byte: an empty chunk for each)"
                   if self.container.format.name == "avi" and unframed_in_avi(stream) else "")
            mixed = (f" ({source_layout.name} mixed down to {layout.name}, the most {codec} takes)"
                     if layout.nb_channels < source_layout.nb_channels else "")
            given_rate = stream.codec_context.sample_rate
            resampled = f" at {rate} Hz ({codec} takes no {given_rate} Hz)" if given_rate and rate != given_rate else ""
            lossless = ", losslessly" if av.Codec(codec, "w").lossless else ""
            if reordered:
                listed = " ".join(channel.name for channel in source_layout.channels)
                given = " ".join(listed.split()[order.index(place)] for place in range(len(order)))
                return (f"audio stream #{stream.index} ({name}) lists its {source_layout.name} channels as {given}, an "
                        f"order {self.path.suffix} cannot state (copied, they would play from the wrong speakers); "
                        f"re-encoding it to {codec}{lossless}, its channels in FFmpeg's order ({listed})")
            if unknown:
                return (f"audio stream #{stream.index} ({name}): none of its sound is near the start of the file, so "
                        f"its format is not known (it starts late, or is empty); re-encoding it to {codec} at {rate} "
                        f"Hz {layout.name}")
            # (Matroska holds any audio with a WAV tag in an ACM track; FFmpeg lists only its own codecs)
            held = (f"{name} audio is not copied into {self.path.suffix}: not one of Matroska's own codecs "
                    "(FFmpeg writes others only as Windows ACM tracks, when told to break the standard)"
                    if self.container.format.name == "matroska" and not copies
                    else f"{self.path.suffix} cannot hold {name} audio{why}")
            return f"{held}; re-encoding it to {codec}{lossless}{resampled}{mixed}"
        elif (codec := self._subtitle_conversion(stream)) is not None:
            out = self.container.add_stream(codec)
            out.codec_context.subtitle_header = stream.codec_context.subtitle_header  # styles (ASS), set on opening
            self.streams[stream.index] = out
            self.transcoded[stream.index] = stream
            return f"{self.path.suffix} cannot hold {name} subtitles; converting them to {codec}"
        else:
            hint = "" if self.container.format.name == "matroska" else " (use .mkv to keep it)"
            return f"dropping {stream.type} stream #{stream.index} ({name}): {self.path.suffix} cannot hold it{hint}"
        return None

    def _decoded_layout(self, stream: av.stream.Stream) -> tuple[av.AudioLayout, list[int] | None]:
        """`decoder_layout` of an input audio `stream`, worked out once (never `codec_context.channels`:
        see there). A copy is unchanged by it: it is made from the stream's parameters."""
        if stream.index not in self._decoded_layouts:
            self._decoded_layouts[stream.index] = decoder_layout(stream)
        return self._decoded_layouts[stream.index]

    def _order_unstated(self, stream: av.stream.Stream) -> bool:
        """Whether `stream` is PCM whose channels come in another order than FFmpeg's, which the
        output cannot state (`ORDER_STATING_FORMATS`): it is re-encoded in FFmpeg's order."""
        if stream.type != "audio" or self.container.format.name in ORDER_STATING_FORMATS \
                or not stream.codec_context.codec.name.startswith("pcm_"):
            return False
        return self._decoded_layout(stream)[1] is not None

    def _add_attachment(self, stream: av.stream.Stream) -> str | None:
        """Copy an attached file (a font the ASS subtitles are drawn in, a cover picture) where the
        container holds one (Matroska; FFmpeg's muxers for the others refuse it): the note to give
        where it does not."""
        if self.container.format.name in ATTACHING_FORMATS:
            self.streams[stream.index] = self.container.add_stream_from_template(stream)
            return None
        name = stream.metadata.get("filename") or stream.codec_context.name
        return (f"dropping attachment stream #{stream.index} ({name}): {self.path.suffix} cannot hold it "
                "(use .mkv to keep it)")

    def _add_data(self, stream: av.stream.Stream) -> str | None:
        """Copy a data track where the container holds it as what it is, as `ffmpeg -map 0 -c copy`
        copies it: GoPro telemetry into MP4 and MOV (a `gpmd` track; FFmpeg's Matroska muxer refuses
        data, AVI's writes a track of no kind), KLV and timed ID3 into MPEG-TS (`TS_DATA_CODECS`;
        the rest would become private data of no kind). The note to give where it does not."""
        fmt = self.container.format.name
        telemetry = is_gopro_telemetry(stream)
        holds = fmt in TELEMETRY_FORMATS if telemetry else fmt == "mpegts" and stream.name in TS_DATA_CODECS
        if holds and muxer_accepts(self.container.format.name, stream):
            self.streams[stream.index] = self.container.add_stream_from_template(stream)
            return None
        keep = ".mp4 or .mov" if telemetry else ".ts"
        return (f"dropping data stream #{stream.index}{data_label(stream)}: {self.path.suffix} cannot hold it "
                f"(use {keep} to keep it)")

    def _add_cover(self, stream: av.stream.Stream) -> str | None:
        """Copy cover art (a picture beside the video: a music video's, a podcast's) byte for byte,
        as `ffmpeg -map 0 -c copy` does: MP4 stores it as its cover, Matroska as an attached file
        (`COVER_PICTURES`; FFmpeg reads it back as cover art). One whose picture is missing or does
        not decode is left out (`attached_pictures`). The note to give where it is not kept."""
        codec, fmt = stream.codec_context.name, self.container.format.name
        as_cover = fmt == "mp4" and codec in MP4_COVER_PICTURES
        as_file = fmt in ATTACHING_FORMATS and codec in COVER_PICTURES
        keep = (" (use .mp4 or .mkv to keep it)" if codec in MP4_COVER_PICTURES
                else " (use .mkv to keep it)" if codec in COVER_PICTURES else "")
        dropped = f"dropping cover art #{stream.index} ({codec}): {self.path.suffix} cannot hold it{keep}"
        if not (as_cover or as_file):
            return dropped
        if oversized_cover(stream):  # (a decode bomb: not decoded, not carried)
            context = stream.codec_context
            return (f"cover art #{stream.index} ({codec}): {context.width}x{context.height}, more than the "
                    f"{COVER_MAX_PIXELS} pixels a cover is checked at; leaving it out")
        if self._pictures is None:  # (the file read again once, for all its covers)
            self._pictures = attached_pictures([s for s in self._covers if not oversized_cover(s)])
        picture = self._pictures.get(stream.index)  # (before the muxer's check: a damaged JPEG has no size it takes)
        if picture is None:
            return f"cover art #{stream.index} ({codec}): its picture does not decode (damaged); leaving it out"
        if as_cover and not muxer_accepts(self.container.format.name, stream):
            return dropped
        if as_cover:
            self.streams[stream.index] = self.container.add_stream_from_template(stream)
            return None
        mimetype, extension = COVER_PICTURES[codec]
        # ("cover.jpg" is the name Matroska's players show; a second one gets a name of its own)
        name = stream.metadata.get("filename") or f"cover{f'_{stream.index}' if self.in_header else ''}.{extension}"
        self.streams[stream.index] = self.container.add_attachment(name, mimetype, picture)
        self.in_header.add(stream.index)
        return None

    def _encoder_made_stream(self, stream: av.stream.Stream) -> av.stream.Stream | None:
        """A stream made by the encoder of `stream`'s codec (opened, never fed) to copy its packets
        into, where a copy from its template would be misread (`copied_into_encoder_stream`); None:
        any other stream, or no such encoder here (copied from its template, as before)."""
        context = stream.codec_context
        codec = context.codec.canonical_name
        if not copied_into_encoder_stream(self.container.format.name, stream):
            return None
        layout, rate = self._decoded_layout(stream)[0], context.sample_rate
        if not rate or not audio_opens(codec, layout.name, rate):  # (no such encoder here: as before)
            return None
        block = adpcm_block_bytes(stream)  # (ADPCM's encoder states its blocks' own bit rate)
        options = {"block_size": str(block)} if block else {}
        out = self.container.add_stream(codec, rate=rate, layout=layout, options=options)
        if context.bit_rate and not block:
            out.bit_rate = context.bit_rate
        return out

    def _subtitle_conversion(self, stream: av.stream.Stream) -> str | None:
        """The text subtitle codec a subtitle `stream` the container cannot hold is converted to, as
        FFmpeg converts text subtitles to the container's default (MP4's mov_text into .mkv: ASS;
        SubRip into .webm: WebVTT). MP4 and MOV have no default (FFmpeg drops SubRip there unless
        told `-c:s mov_text`): their own text codec, mov_text. None where there is none (MPEG-TS,
        AVI) or the subtitles are pictures (DVD, PGS)."""
        codec = self.container.default_subtitle_codec
        if codec in (None, "none") and "mov_text" in self.container.supported_codecs:
            codec = "mov_text"
        if stream.type != "subtitle" or codec in (None, "none") or not stream.codec_context.codec.text_sub:
            return None
        try:
            if not av.Codec(codec, "w").text_sub:
                return None
            if not stream.codec_context.is_open:
                stream.codec_context.open()  # a decoder makes its subtitle header (styles) when opened
        except av.error.FFmpegError:
            return None
        return codec

    def write_frame(self, image: np.ndarray, pts: int | None, duration: int) -> None:
        """Encode one (H, W, 3) uint8 RGB frame at `pts` (input time base)."""
        image = np.ascontiguousarray(self.framing.fit(image) if self.framing else image)
        frame = self._in_pix_fmt(av.VideoFrame.from_ndarray(image, format="rgb24"))
        encoder_tb = self.video.codec_context.time_base
        if encoder_tb != self.input_time_base:  # an encoder that takes only some time bases (MPEG-2)
            pts = self._in_slots(pts, encoder_tb) if pts is not None else None
            duration = max(1, _rescale(duration, self.input_time_base, encoder_tb)) if duration else duration
        if pts is None:  # some AVI files carry no timestamps: continue from the previous frame
            pts = 0 if self._last_pts is None else self._last_pts + max(duration, 1)
        elif self._last_pts is not None and pts <= self._last_pts and self._gif:
            self._drop_gif_frame()  # one frame a centisecond: moving it a tick on would delay all later ones
            return
        elif self._last_pts is not None and pts <= self._last_pts and encoder_tb != self.input_time_base and self._moved_on:
            self._drop_crowded_frame(encoder_tb)  # moved on again, it would be two slots late, and all after it
            return
        elif self._last_pts is not None and pts <= self._last_pts:  # the muxer refuses it (EINVAL)
            if not self._shifted and encoder_tb == self.input_time_base:  # (else rounded onto one slot: a slot on is right)
                self._note(f"frame timestamps that do not increase (at {pts}); moving them one tick later")
            self._shifted = self._moved_on = True
            pts = self._last_pts + self._muxer_tick(encoder_tb)
        else:
            self._moved_on = False
        gap = None if self._last_pts is None else pts - self._last_pts
        if self._gif and gap is not None and gap < GIF_SHORTEST_SHOWN:
            self._note_fast_gif()
        # In the encoder's time base (the input's where it takes it); the muxer may use another
        # (Matroska: 1 ms).
        frame.pts, frame.duration, frame.time_base = pts, duration, encoder_tb
        self._hold_gif_frame(pts)
        self._last_pts, self._last_duration = pts, duration
        if self._held_cues:
            self._mux_cues(self._pictures_end())
        if self._first_pts is None:
            self._first_pts = pts
        self._durations[pts] = duration
        self._encode_video(frame)
        self.frames_written += 1

    def _in_slots(self, pts: int, encoder_tb: Fraction) -> int:
        """`pts` (input time base) in frame slots of a coarser `encoder_tb` (AVI, MPEG-2's standard
        rates), counted from the first frame's: the same rounding for every frame. Each rounded on
        its own, a 23.976 fps .mkv (milliseconds) starting half a frame in (21 ms, after 48 kHz
        AAC's priming) had times either side of a slot's middle (2.49, 3.50 frames), two frames in
        one slot now and then, and a frame in 24 dropped as if the rate rose."""
        if self._first_input_pts is None:
            self._first_input_pts = pts
        first = self._first_input_pts
        return _rescale(first, self.input_time_base, encoder_tb) + _rescale(pts - first, self.input_time_base,
                                                                            encoder_tb)

    def _in_pix_fmt(self, frame: av.VideoFrame) -> av.VideoFrame:
        """An RGB `frame` in the encoder's pixel format and colours. FFmpeg's scaler runs threads:
        where none can start (EAGAIN) that is said, not taken for a failure to write."""
        try:
            if self.colour:
                converted = self._reformatter.reformat(frame, format=self.video.pix_fmt,
                                                       dst_colorspace=self.colour.colorspace,
                                                       dst_color_range=self.colour.color_range)
                # (encoders that tag from the frame, not the codec context: prores_ks wrote "unknown")
                converted.color_primaries, converted.color_trc = self.colour.color_primaries, self.colour.color_trc
                return converted
            if self.palette is None and self.video.pix_fmt != "rgb24":
                return self._reformatter.reformat(frame, format=self.video.pix_fmt)
        except av.error.FFmpegError as exc:
            raise self._refused(exc, "converting pictures") from None
        return frame

    def _muxer_tick(self, encoder_tb: Fraction) -> int:
        """One tick of the container's time base, in ticks of `encoder_tb`: a frame moved one
        encoder tick (1/90000 s) later landed on the same millisecond as the one before in a
        .mkv, which stores milliseconds (two frames at one time)."""
        muxer_tb = Fraction(self.video.time_base) if self.video.time_base else Fraction(encoder_tb)
        return max(1, math.ceil(muxer_tb / Fraction(encoder_tb)))

    @property
    def _gif(self) -> bool:
        return self.container.format.name == "gif"

    def _encode_video(self, frame: av.VideoFrame | None) -> None:
        """Encode `frame` (in palette colours first, for GIF; None: what the palette filters hold)
        and mux its packets."""
        for out in self.palette.convert(frame) if self.palette else [frame]:
            self._held = out if self.palette else None
            self._mux_video(self._encoded(out))

    def _encoded(self, frame: av.VideoFrame | None) -> list[av.Packet]:
        """The encoder's packets for `frame` (None: the last ones), its refusal said in one line."""
        try:
            return self.video.encode(frame)
        except av.error.FFmpegError as exc:
            if isinstance(exc, MemoryError):  # (said by the job, as any shortage of memory)
                raise
            raise self._refused(exc, "encoding pictures") from None

    def _refused(self, exc: av.error.FFmpegError, doing: str) -> UserError:
        """`exc`, raised while `doing` (converting or encoding pictures), as one line naming the
        encoder: a rule of one found only then (a size or format it opened for, then refused;
        rgb24 to pal8, for which swscale makes no palette) was a traceback."""
        if threads_refused(exc):
            return threads_refused_error(self.path, exc, doing)
        context = self.video.codec_context
        return UserError(f"{self.path}: encoder {context.codec.name} refused a {context.width}x{context.height} "
                         f"{context.pix_fmt} picture ({exc.strerror or exc}){another_codec(context.codec.name)}")

    def _hold_gif_frame(self, until: int) -> None:
        """Show the last GIF frame again every `GIF_LONGEST_DELAY` centiseconds until `until`: a
        longer delay does not fit its 16 bits (the muxer cut a longer pause short, wrapped a last
        frame's). Each repeat is one more frame in the file (a whole picture: its palette is its own),
        so there are at most `GIF_MOST_REPEATS`; then the time is cut (noted), as the muxer cuts it."""
        if not self._gif or self._held is None or self._last_pts is None:
            return
        while until - self._last_pts > GIF_LONGEST_DELAY:
            if self._repeats >= GIF_MOST_REPEATS:
                if not self._cut:
                    self._note(f"a GIF frame is shown for {(until - self._last_pts) / 100:.0f} s: a delay holds "
                               "655.35 s, and past a day of repeated frames the rest is cut (later frames come that "
                               "much sooner)")
                self._cut = True
                return
            self._repeats += 1
            pts = self._last_pts + GIF_LONGEST_DELAY
            self._held.pts = pts
            self._durations[pts] = min(until - pts, GIF_LONGEST_DELAY)
            self._mux_video(self._encoded(self._held))
            self._last_pts = pts

    def _drop_crowded_frame(self, encoder_tb: Fraction) -> None:
        """Leave out a frame that lands in a slot already taken, twice running, of an output timed
        in whole frames (AVI; MPEG-2's standard rates): the input runs faster there than the rate
        read from its start (MPEG-TS segments of 25 and 50 fps joined). Moving each a slot on, a
        second of 50 fps became two in a 25 fps AVI (the sound out of sync); FFmpeg drops them."""
        if not self._crowded:
            self._note(f"the video runs faster than the output's {float(1 / encoder_tb):g} fps in places (its frame "
                       "rate changes mid-stream?); frames there are dropped to keep the timing, as FFmpeg drops them")
        self._crowded = True

    def _drop_gif_frame(self) -> None:
        """Leave out a frame GIF cannot time after the previous one."""
        self._note_fast_gif()

    def _note_fast_gif(self) -> None:
        """Say once what an input faster than a GIF shows costs: both effects in one line (a 240 fps
        clip has both, and got two notes)."""
        if not self._fast:
            self._note("the input runs faster than 50 fps and GIF times frames in centiseconds: web browsers show a "
                       "frame of under 2 cs for 10 cs (the GIF plays slower there), and a frame in the same "
                       "centisecond as the one before (over 100 fps) is dropped, as FFmpeg drops it; convert the "
                       "input to 25 fps first")
        self._fast = True

    def _mux_video(self, packets: list[av.Packet], last: bool = False) -> None:
        """Mux the encoder's `packets` (`last`: its final ones). Encoders with look-ahead drop
        frame durations; they are put back, so the last frame of a variable-frame-rate video lasts
        as long as it did in the input. Where the muxer times samples by decode order
        (`DECODE_TIMED_FORMATS`: each lasts until the next one's decode time, the final one its
        packet's duration; a reader's file ends where the latest of them, from its pts, ends) the
        packets from the one shown last so far wait for one shown later (`_decode_after_shown_last`),
        and the final one is made to last to where the last picture stops showing, where the others
        end before that: with B-frames that picture is not the final packet, and a GIF's closing 2 s
        hold ended the MP4 at 1.2 s (its edit list said 3.16 s; FFmpeg 8 read the file as 1.2 s long)."""
        for packet in packets:
            duration = self._durations.pop(packet.pts, None)
            if duration:  # (GIF: no longer than a delay holds, which the muxer would wrap around)
                packet.duration = min(duration, GIF_LONGEST_DELAY) if self._gif else duration
            self._repair_dts(packet)
            if self._decode_delay is None and None not in (packet.pts, packet.dts) and packet.pts >= packet.dts:
                self._decode_delay = packet.pts - packet.dts  # (the first packet's: how far decoding runs ahead)
            if self.container.format.name not in DECODE_TIMED_FORMATS:
                self._mux(packet)
                continue
            if packet.pts is not None:
                end = packet.pts + (packet.duration or 0)
                self._video_end = end if self._video_end is None else max(self._video_end, end)
                self._video_end_time_base = Fraction(packet.time_base)
            shown_last = max((p.pts for p in self._held_video if p.pts is not None), default=None)
            if self._held_video and (None in (packet.pts, shown_last) or packet.pts > shown_last):
                self._mux_held(len(self._held_video) - 1)  # (the one before `packet` is timed by it)
            self._held_video.append(packet)
        if last and self._held_video:
            self._decode_after_shown_last(self._held_video)
            packet = self._held_video[-1]
            self._mux_held(len(self._held_video) - 1)
            self._held_video = []
            if None not in (packet.pts, packet.dts, self._decode_delay):
                # (decoded as late as the encoder's delay allows: a held final frame's packet, decoded at
                # an earlier picture's time, ended the track early; its length is counted in decode times)
                packet.dts = max(packet.dts, packet.pts - self._decode_delay)
            if packet.pts is not None and self._video_end is not None:
                read_end = max(self._read_end or 0, packet.pts + (packet.duration or 0))
                if read_end < self._video_end:
                    packet.duration = self._video_end - packet.pts
            if None not in (packet.dts, self._decode_delay, self._video_end):
                # (the sample table starts at the first packet's decode time, its pts less the delay, and
                # ends at the final one's plus its duration: where `--start` shortened the first picture,
                # the delay was shorter than later ones', and the track ended that much early)
                packet.duration = max(packet.duration or 0, self._video_end - self._decode_delay - packet.dts)
            self._mux(packet)

    def _mux_held(self, count: int) -> None:
        """Mux the first `count` held video packets, noting where a reader has each end: at the next
        packet's decode time, from its own pts (as the sample table will time it)."""
        for packet, following in zip(self._held_video[:count], self._held_video[1:count + 1]):
            if None not in (packet.pts, packet.dts, following.dts):
                end = packet.pts + following.dts - packet.dts
                self._read_end = end if self._read_end is None else max(self._read_end, end)
            self._mux(packet)
        del self._held_video[:count]

    @staticmethod
    def _decode_after_shown_last(held: list[av.Packet]) -> None:
        """Time the final video packets (`held`: from the one before the picture shown last) so that
        picture lasts its own duration, where it does not: each lasts until the next decode time,
        and a VFR clip's last picture, second to last in decode order (a B-frame after it), lasted
        9 frames (so FFmpeg 8 read it). The packets after it decode as late as their pts allow
        (moved earlier instead, the track's decode times fell short of its end: FFmpeg 8 read it as
        shorter), and it its duration before them, no later than lets the packet before it end by
        its end. No decode time moves earlier."""
        shown = max((i for i, p in enumerate(held) if p.pts is not None), key=lambda i: held[i].pts, default=None)
        if shown is None or shown == len(held) - 1 or any(None in (p.pts, p.dts) for p in held[max(shown - 1, 0):]):
            return
        shown_last, after = held[shown], held[shown + 1:]
        if not shown_last.duration or after[0].dts - shown_last.dts == shown_last.duration:
            return
        latest = None
        for packet in reversed(after):
            packet.dts = max(packet.dts, packet.pts if latest is None else min(packet.pts, latest - 1))
            latest = packet.dts
        dts = min(shown_last.pts, latest - shown_last.duration)
        if shown:  # (the one before lasts until it)
            before = held[shown - 1]
            dts = min(dts, shown_last.pts + shown_last.duration - before.pts + before.dts)
        shown_last.dts = max(shown_last.dts, dts)

    def _repair_dts(self, packet: av.Packet) -> None:
        """Put a video packet's decode timestamp back in range where the encoder got it wrong: x265
        given fewer frames than its B-frame delay (`--frames 1`) derives it from timestamps it
        never received (uninitialised: -4378314912683108556, which the muxer refused). An encoder
        delays decoding by at most the frames it was given, so a valid one lies between the first
        frame's timestamp less the time they span and the packet's own (and after the previous)."""
        pts, dts = packet.pts, packet.dts
        if pts is not None and self._first_pts is not None and self._last_pts is not None:
            earliest = 2 * self._first_pts - self._last_pts
            if self._last_video_dts is not None:
                earliest = max(earliest, self._last_video_dts + 1)
            if dts is None or not earliest <= dts <= pts:
                dts = packet.dts = min(earliest, pts)
        if dts is not None:
            self._last_video_dts = dts

    def _mux(self, packet: av.Packet, hold_cue: bool = True) -> None:
        """Hand a packet to the muxer; what it refuses is one line, not a traceback. A subtitle cue
        (`hold_cue`) waits until the pictures written reach its end (`_mux_cues`)."""
        stream, at = packet.stream, (packet.pts, packet.time_base, packet.duration)
        if hold_cue and stream.type == "subtitle" and packet.pts is not None and packet.duration and packet.time_base:
            self._held_cues.append(packet)
            return
        try:
            self.container.mux(packet)
        except av.error.FFmpegError as exc:
            if isinstance(exc, (OSError, MemoryError)):  # a full disk: named by the caller
                raise
            raise UserError(f"{self.path}: the {self.path.suffix} muxer refused a packet "
                            f"({exc.strerror or exc}){self._jump_hint(stream, at)}") from None
        if at[0] is not None:
            self._first_muxed.setdefault(stream.index, at)
            self._muxed_at[stream.index] = at

    def _jump_hint(self, stream: av.stream.Stream, at: tuple[int | None, Fraction | None, int | None]) -> str:
        """Why a muxer may have refused a packet at `at` (pts, time base, duration): a pause longer than AVI
        fills with empty frames, or a timestamp jump longer than a day (a damaged file: MP4 and
        MOV store the time between frames in 32 bits; Matroska takes it). Worked out only then:
        the packets muxed keep their raw timestamps."""
        previous = self._muxed_at.get(stream.index)
        if previous is None or None in at[:2] or None in previous[:2]:
            return ""
        jump = at[0] * at[1] - previous[0] * previous[1]
        empty = math.ceil(jump / stream.time_base) - 1 if stream.time_base else 0
        if self.container.format.name == "avi" and empty > AVI_MAX_SKIPPED:
            return (f"; a pause of {float(jump):.0f} s at {float(previous[0] * previous[1]):.2f} s: AVI fills a pause "
                    f"with empty frames, at most {AVI_MAX_SKIPPED}, and this one needs {empty} (.mp4 or .mkv keep it)")
        if abs(jump) < 24 * 3600:
            return ""
        return f"; the timestamps jump by {float(jump):.0f} s there, damaged: .mkv takes such a jump"

    def write_packet(self, packet: av.Packet) -> None:
        """Copy (or re-encode) one packet of an audio/subtitle stream of the input."""
        out = self.streams.get(packet.stream.index)
        if out is None:
            return
        index = packet.stream.index
        source = self.transcoded.get(index)
        if packet.stream.type in ("video", "data") and not self._copies_picture_or_data(packet):
            return
        if source is None:
            if (framing := self._raw_aac.get(index)) is not None:
                packet = framing.framed(packet)
            change = self._kind_changes.get(index)
            if change is not None and (encoded := change.packets(packet)) is not None:
                for each in encoded:
                    self._mux_increasing(each, out, index)
                return
            if out.type == "audio":
                self._fill_gap(packet, out, index)
                self._fill_coded_gap(packet, out, index)
            self._keep_increasing(packet, out, index)
            self._time_picture_subtitle(packet)
            packet.stream = out
            if out.type == "data" and self.container.format.name in DECODE_TIMED_FORMATS:
                packet, self._last_data[index] = self._last_data.get(index), packet  # (`_mux_last_data`)
                if packet is None:
                    return
            self._mux(packet)
            return
        if source.type == "subtitle":
            self._convert_subtitle(packet, source, out)
            return
        try:
            frames = source.codec_context.decode(packet)
        except MemoryError:
            raise
        except av.error.FFmpegError:  # a damaged packet: FFmpeg's tools skip it and play on
            self._note_damaged(index, "audio")
            return
        self._encode_audio(index, self._in_native_order(index, frames))

    def _copies_picture_or_data(self, packet: av.Packet) -> bool:
        """Whether a packet of cover art or of a data track is muxed: cover art's one picture
        (not one stored with the header, an empty one, or a second); a data packet that starts
        before the output does (a segment's: `Segment.packets` moves it before zero) is shown from
        zero, for what is left of it, as a subtitle is; one over by then (telemetry recorded before
        the first picture; KLV in MPEG-TS, of no duration, as `Segment.ended` drops it) is not
        (squeezed in at zero a tick apart, the track's times were moved on)."""
        index = packet.stream.index
        if packet.stream.type == "video":
            if index in self.in_header or index in self._covers_muxed or not packet.size:
                return False
            self._covers_muxed.add(index)
            return True
        if packet.pts is not None and packet.pts < 0:
            if packet.pts + (packet.duration or 0) <= 0:  # (over before the first picture, or an instant's)
                return False
            packet.duration = max(1, packet.pts + (packet.duration or 0))
            packet.pts = packet.dts = 0
        return True

    @staticmethod
    def _time_picture_subtitle(packet: av.Packet) -> None:
        """Give a DVD subtitle packet (a picture, with no duration in a VOB or a .mkv) the time it
        shows, which it holds itself (its stop command). An MP4's or MOV's last subtitle without
        one was lost: the muxer gives it no time and the demuxer skips it (`ffmpeg -c copy` too)."""
        if packet.stream.type != "subtitle" or packet.duration or not packet.time_base:
            return
        context = packet.stream.codec_context
        if context.codec.text_sub:
            return
        try:
            shown = context.decode2(packet)
        except av.error.FFmpegError:  # a damaged one: copied as it is
            return
        if shown is not None and 0 <= shown.start_display_time < shown.end_display_time < 2**31:
            seconds = Fraction(shown.end_display_time - shown.start_display_time, 1000)
            packet.duration = max(1, round(seconds / Fraction(packet.time_base)))

    def _convert_subtitle(self, packet: av.Packet, source: av.stream.Stream, out: av.stream.Stream) -> None:
        """Decode a text subtitle packet and encode it for the output's subtitle codec (at the time
        and for as long as the input showed it, as FFmpeg times a converted subtitle)."""
        try:
            subtitles = source.codec_context.decode2(packet)
        except MemoryError:
            raise
        except av.error.FFmpegError:
            self._note_damaged(packet.stream.index, "subtitle")
            return
        if subtitles is None or not len(subtitles):  # an empty sample: the end of the previous one
            return
        encoded = out.codec_context.encode_subtitle(subtitles)
        microsecond = Fraction(1, 1_000_000)
        if subtitles.pts is not None:
            encoded.time_base = microsecond
            encoded.pts = encoded.dts = subtitles.pts + 1000 * subtitles.start_display_time
        else:
            encoded.time_base, encoded.pts, encoded.dts = packet.time_base, packet.pts, packet.pts
        shown = subtitles.end_display_time - subtitles.start_display_time
        encoded.duration = _rescale(shown, Fraction(1, 1000), encoded.time_base) if shown > 0 else packet.duration
        encoded.stream = out
        self._mux_increasing(encoded, out, packet.stream.index)

    def _in_native_order(self, index: int, frames: list[av.AudioFrame]) -> list[av.AudioFrame]:
        """Decoded `frames` of input stream `index` with their channels in native order."""
        layout, order = self._decoded_layouts.get(index, (None, None))
        if order is None:
            return frames
        return [reorder_channels(frame, order, layout) for frame in frames]

    def _encode_audio(self, index: int, frames: Sequence[av.AudioFrame] | None) -> None:
        """Re-encode decoded `frames` of input stream `index` (None: flush the encoder) and mux them."""
        out = self.streams[index]
        converter = self._converters.get(index)
        if converter is None:
            converter = self._converters[index] = SoundConverter(out.codec_context, index)
        if frames is None:
            ready: list[av.AudioFrame | None] = [*converter.convert(None), None]
        else:
            ready = [converted for frame in frames for converted in converter.convert(frame)]
        for frame in ready:
            for encoded in [packet for silence in self._silence_before(index, frame) for packet in out.encode(silence)]:
                self._mux_increasing(encoded, out, index)
            for encoded in out.encode(frame):
                self._continue_timing(encoded, index)
                self._fill_gap(encoded, out, index)
                self._mux_increasing(encoded, out, index)  # joined segments' sound may overlap

    def _fill_gap(self, packet: av.Packet, out: av.stream.Stream, index: int) -> None:
        """Mux silence before a PCM `packet` that starts later than the previous one of input stream
        `index` ended, where the container counts samples (`fills_gaps`). A sample frame is the
        codec's bytes a sample (its name's bits: pcm_s16le) times the channels, which the packet's
        size over its samples tells (a Matroska packet's duration is rounded to the millisecond);
        zero is silence, 128 in unsigned 8 bits."""
        codec = out.codec_context.name
        width = pcm_sample_bytes(codec)
        if out.type != "audio" or not width or not fills_gaps(self.container.format.name, codec):
            return
        pts, duration, time_base, rate = packet.pts, packet.duration, packet.time_base, out.codec_context.sample_rate
        if pts is None or not duration or not time_base or not rate:
            return
        start = Fraction(0) if sound_from_zero(self.container.format.name) else None
        end, self._pcm_end[index] = self._pcm_end.get(index, start), (pts + duration) * Fraction(time_base)
        gap = pts * Fraction(time_base) - end if end is not None else 0
        if not self._fills(index, gap):
            return
        channels = max(1, round(packet.size / (width * duration * Fraction(time_base) * rate)))
        first, missing = round(end * rate), round(gap * rate)
        for offset in range(0, missing, SILENCE_CHUNK_S * rate):
            samples = min(SILENCE_CHUNK_S * rate, missing - offset)
            silence = av.Packet(bytes([128 if codec == "pcm_u8" else 0]) * (samples * width * channels))
            silence.time_base = Fraction(1, rate)
            silence.pts = silence.dts = first + offset
            silence.duration = samples
            silence.stream = out
            self._mux_increasing(silence, out, index)

    def _fills(self, index: int, gap: Fraction) -> bool:
        """Whether a `gap` (s) in input stream `index`'s sound is filled with silence: from
        SHORTEST_GAP to LONGEST_FILLED_GAP; a longer one is said (once a stream) and left."""
        if gap > LONGEST_FILLED_GAP:
            if self._longest_gap is None:
                self._note(f"stream #{index}: a gap of {float(gap):.0f} s in its sound is left as it is, not filled "
                           f"with silence (longer than {float(LONGEST_FILLED_GAP):.0f} s: damaged timestamps?)")
            self._longest_gap = max(gap, self._longest_gap or gap)
            return False
        return gap >= SHORTEST_GAP

    def _fill_coded_gap(self, packet: av.Packet, out: av.stream.Stream, index: int) -> None:
        """Mux silent frames of its own codec before a copied compressed audio `packet` (MP3, AC-3,
        MP2, ADPCM) that starts later than the previous one of input stream `index` ended (or than zero),
        where the container plays sound from the file's start (`sound_from_zero`: AVI counts the
        frames, whatever their timestamps). A broadcast capture's AC-3 with 0.45 s missing played
        the rest of the file 0.45 s early (as `ffmpeg -c copy` leaves it). Whole frames, encoded
        by a fresh encoder of the codec at the stream's rate, layout and bit rate."""
        context = out.codec_context
        if out.type != "audio" or pcm_sample_bytes(context.name) or not sound_from_zero(self.container.format.name):
            return
        pts, time_base, rate, size = packet.pts, packet.time_base, context.sample_rate, context.frame_size
        if pts is None or not time_base or not rate:
            return
        duration = packet.duration * Fraction(time_base) if packet.duration else Fraction(size or 0, rate)
        start = pts * Fraction(time_base)
        end = self._coded_end.get(index, Fraction(0))
        self._coded_end[index] = max(end, start + duration)
        if not size or not self._fills(index, start - end):
            return
        missing = round((start - end) * rate / size)
        for number, silent in enumerate(self._silent_packets(out, missing)):
            silent.time_base = Fraction(1, rate)
            silent.pts = silent.dts = round(end * rate) + number * size
            silent.duration, silent.stream = size, out
            self._mux_increasing(silent, out, index)

    @staticmethod
    def _silent_packets(out: av.stream.Stream, count: int) -> list[av.Packet]:
        """`count` packets of silence in `out`'s codec, rate, layout and bit rate (fewer where its
        encoder does not open here: the gap then stays)."""
        context = out.codec_context
        try:
            encoder = av.CodecContext.create(context.name, "w")
            if block := adpcm_block_bytes(out):  # (ADPCM's blocks: the size the stream's encoder made)
                encoder.options = {"block_size": str(block)}
            encoder.sample_rate, encoder.layout = context.sample_rate, context.layout
            encoder.format = encoder.codec.audio_formats[0]
            encoder.time_base = Fraction(1, context.sample_rate)
            if context.bit_rate:
                encoder.bit_rate = context.bit_rate
            encoder.open()
            size, packets = encoder.frame_size or context.frame_size, []
            for number in range(count + 2):  # (+ what the encoder's delay holds back)
                frame = av.AudioFrame(format=encoder.format.name, layout=context.layout.name, samples=size)
                for plane in frame.planes:
                    plane.update(bytes(plane.buffer_size))  # zero: silence (no such encoder takes unsigned samples)
                frame.sample_rate, frame.pts = context.sample_rate, number * size
                packets += encoder.encode(frame)
                if len(packets) >= count:
                    break
            packets += encoder.encode(None) if len(packets) < count else []
        except (av.error.FFmpegError, av.codec.codec.UnknownCodecError, ValueError):
            return []
        return packets[:count]

    def _silence_before(self, index: int, frame: av.AudioFrame | None) -> Iterator[av.AudioFrame]:
        """Silence to encode before decoded `frame` of input stream `index` where the container plays
        sound from the file's start (`sound_from_zero`: AVI) and `frame` starts later than the sound
        before it ended (or than zero): the gap, in `frame`'s format. Zero is silence, 128 in
        unsigned 8 bits. (Not for more than 8 planar channels: PyAV's frames hold 8 planes.)"""
        if frame is None or frame.pts is None or not frame.time_base or not frame.sample_rate \
                or not sound_from_zero(self.container.format.name):
            return
        start, rate = frame.pts * Fraction(frame.time_base), frame.sample_rate
        expected = self._sound_end.get(index, Fraction(0))
        self._sound_end[index] = max(expected, start + Fraction(frame.samples, rate))
        channels = frame.layout.nb_channels
        if (frame.format.is_planar and channels > 8) or not self._fills(index, start - expected):
            return
        missing = round((start - expected) * rate)
        dtype = frame.to_ndarray().dtype
        for offset in range(0, missing, SILENCE_CHUNK_S * rate):  # a second at a time
            samples = min(SILENCE_CHUNK_S * rate, missing - offset)
            shape = (channels, samples) if frame.format.is_planar else (1, samples * channels)
            silence = av.AudioFrame.from_ndarray(np.full(shape, 128 if dtype == np.uint8 else 0, dtype),
                                                 format=frame.format.name, layout=frame.layout.name)
            silence.sample_rate, silence.time_base = rate, frame.time_base
            silence.pts = round((expected + Fraction(offset, rate)) / Fraction(frame.time_base))
            yield silence
        return [silence]

    def _continue_timing(self, packet: av.Packet, index: int) -> None:
        """Time an encoded audio packet that comes without a timestamp, or one before the previous
        packet's, where the previous one ends. PyAV's resampler gives the samples it held at the end
        without a timestamp; the FLAC encoder times its closing packet (the header's final
        checksum) from that frame's, from nothing: at -2**63 + 1536, which Matroska refused."""
        before = self._encoded_end.get(index)
        if before is not None and (packet.pts is None or packet.pts < before[0]):
            end = _rescale(before[1], before[2], packet.time_base) if packet.time_base else before[1]
            packet.pts = packet.dts = end
        if packet.pts is not None and packet.time_base:
            self._encoded_end[index] = (packet.pts, packet.pts + (packet.duration or 0), packet.time_base)

    def _note(self, line: str) -> None:
        """Say `line` of this input, named where known (`source`)."""
        note(f"{self.source}: {line}" if self.source else line)

    def _note_damaged(self, index: int, kind: str) -> None:
        if index not in self._damaged:
            self._note(f"stream #{index}: a damaged {kind} packet was skipped (FFmpeg skips it the same way)")
        self._damaged.add(index)

    def _mux_increasing(self, packet: av.Packet, out: av.stream.Stream, index: int) -> None:
        """Mux a copied or re-encoded packet of input stream `index`, its decode time kept increasing."""
        self._keep_increasing(packet, out, index)
        self._mux(packet)

    def _keep_increasing(self, packet: av.Packet, out: av.stream.Stream, index: int) -> None:
        """Move a copied packet whose decode time does not increase one tick after the previous
        one (as FFmpeg does: "Non-monotonic DTS ... changing to"); the muxer would refuse it.
        Muxers that take a repeated decode time (Matroska, FLV: FFmpeg's AVFMT_TS_NONSTRICT) get
        it, as `ffmpeg` gives it: a Blu-ray's TrueHD comes 1200 packets a second, and each moved
        one millisecond on put a .mkv's sound 20% late by its end.

        Compared in the output stream's time base, which the muxer rescales to: two input ticks
        apart can be one output tick (MPEG-TS 1/90000 into an MP4's 1/48000 audio). A moved packet
        is given in the output's time base."""
        dts = packet.dts
        if dts is None:
            return
        tb_in, tb_out = packet.time_base, out.time_base
        scaled = _rescale(dts, tb_in, tb_out) if tb_in and tb_out else dts
        last = self._last_dts.get(index)
        step = 0 if self.container.format.flags & av.format.Flags.ts_nonstrict.value else 1
        if last is not None and scaled < last + step:
            if index not in self._moved:
                self._note(f"stream #{index}: packet timestamps that do not increase (at {dts}); moving them on")
            self._moved.add(index)
            scaled = last + step
            if tb_in and tb_out and tb_in != tb_out:
                pts = _rescale(packet.pts, tb_in, tb_out) if packet.pts is not None else None
                duration = _rescale(packet.duration, tb_in, tb_out) if packet.duration else packet.duration
                packet.time_base = tb_out
                packet.pts, packet.duration = pts, duration
            packet.dts = scaled
            if packet.pts is not None and packet.pts < scaled:
                packet.pts = scaled
        self._last_dts[index] = scaled

    def _note_silent_streams(self, within: str | None) -> None:
        """Say which audio streams held no sound at all (`within` the part of the input kept: none
        of it there; "holds no sound" read as if the input's track were empty), data tracks no
        packet, cover art no picture: a muxer writes such a track empty, or leaves it out (MP4),
        and the output had one track fewer without a word."""
        for index, out in self.streams.items():
            if out.index in self._muxed_at or index in self._covers_muxed or index in self.in_header:
                continue
            if out.type == "audio":
                said = f": none of its sound falls within {within}" if within else " holds no sound (no packets)"
                self._note(f"audio stream #{index}{said}; {self.path.suffix} gets an empty track or none")
            elif out.type == "data":  # (MPEG-TS lists each stream in its program table, packets or none)
                gets = "an empty stream" if self.container.format.name == "mpegts" else "no track for it"
                self._note(f"data stream #{index}: none of its packets fall within the output; {self.path.suffix} "
                           f"gets {gets}")
            elif out.type == "video":
                self._note(f"cover art #{index} holds no picture (damaged?); {self.path.suffix} gets none")

    def _mux_last_data(self, cut: bool) -> None:
        """Mux each data track's latest packet, held back (`write_packet`) to be cut, where `cut`
        (an interrupted run's file), to end with the last picture: a GoPro's second of telemetry
        ran past the pictures of a partial MP4, a packet of hours made it last hours."""
        end = self._video_end
        for packet in self._last_data.values():
            if cut and end is not None and packet.pts is not None and packet.duration and packet.time_base:
                ends = math.floor(end * self._video_end_time_base / Fraction(packet.time_base))
                packet.duration = max(1, min(packet.duration, ends - packet.pts))
            self._mux(packet)
        self._last_data = {}

    def _mux_cues(self, until: Fraction | None, cut: bool = False) -> None:
        """Mux the held subtitle cues that end by `until` (seconds; None: all), or (`cut`: an
        interrupted run's file) all of them cut to end there, those that start there or later left
        out: an interrupted MP4 kept a cue's whole 1.3 s, and lasted 0.6 s past its last picture,
        its last chapter starting after it."""
        held, self._held_cues = self._held_cues, []
        for packet in held:
            tb = Fraction(packet.time_base)
            if until is None or (packet.pts + packet.duration) * tb <= until:
                self._mux(packet, hold_cue=False)
            elif cut and packet.pts * tb < until:
                packet.duration = max(1, math.floor(until / tb) - packet.pts)
                self._mux(packet, hold_cue=False)
            elif not cut:
                self._held_cues.append(packet)

    def _muxer_shift(self) -> Fraction:
        """How far the muxer moves every stream on (`NONNEGATIVE_FORMATS`): as far as the earliest
        first packet starts before zero (seconds)."""
        if self.container.format.name not in NONNEGATIVE_FORMATS:
            return Fraction(0)
        return max([Fraction(0), *(-pts * Fraction(tb) - self._pre_skip(index)
                                   for index, (pts, tb, _) in self._first_muxed.items() if tb)])

    def _pre_skip(self, index: int) -> Fraction:
        """How long before zero output stream `index` starts without moving any stream (seconds):
        an Opus track's pre-skip (its OpusHead's), which Matroska stores as its CodecDelay and adds
        to its times. Counted as a move, chapters in a .webm were 6.5 ms late."""
        head = self.container.streams[index].codec_context.extradata or b""
        if not head.startswith(b"OpusHead") or len(head) < 12:
            return Fraction(0)
        return Fraction(int.from_bytes(head[10:12], "little"), OPUS_RATE)

    def _pictures_end(self) -> Fraction | None:
        """Where the pictures written so far stop showing (seconds; None: none written)."""
        if self._last_pts is None:
            return None
        return (self._last_pts + self._last_duration) * Fraction(self.video.codec_context.time_base)

    def _content_end(self) -> Fraction | None:
        """Where the file's pictures, sound, subtitles and data end (seconds, before `_muxer_shift`;
        None: no picture written)."""
        if self._last_pts is None:
            return None
        ends = [self._pictures_end()]
        ends += [(pts + (duration or 0)) * Fraction(tb) for index, (pts, tb, duration) in self._muxed_at.items()
                 if tb and self.container.streams[index].type != "video"]  # (cover art: no time of its own)
        return max(ends)

    def _write_chapters(self) -> None:
        """Give the muxer the input's chapters once everything else is muxed, cut where the file's
        content ends and moved with every stream (`_muxer_shift`): set with the header, MP4 and
        Matroska wrote them as they were (and can change them no more), so a preview (`--frames`)
        or an interrupted run's file kept chapters past its end, an MP4 lasting as long as them (2 s
        for 0.5 s of pictures), and a .mkv whose sound starts before zero had them early."""
        if not self._chapters:
            return
        shift, end = self._muxer_shift(), self._content_end()
        self.container.set_chapters(moved_chapters(self._chapters, shift, None if end is None else end + shift))

    def close(self, whole: bool = True, within: str | None = None) -> None:
        """Flush the encoders and finish the file (it is complete and playable afterwards);
        `whole`: the input was read to its end (else a partial file: what it lacks is not noted);
        `within`: the part of the input the output holds, where not all of it (`--start`, ...)."""
        try:
            if self.palette:
                self._encode_video(None)
            if self._last_pts is not None:
                self._hold_gif_frame(self._last_pts + self._last_duration)
            self._mux_video(self._encoded(None), last=True)
            for index, source in self.transcoded.items():
                if source.type != "audio":
                    continue
                try:
                    frames = source.codec_context.decode(None)
                except av.error.FFmpegError:  # what the decoder held was damaged: there is nothing more
                    frames = []
                self._encode_audio(index, self._in_native_order(index, frames))
                self._encode_audio(index, None)
            for index, change in self._kind_changes.items():
                for each in change.flush():
                    self._mux_increasing(each, self.streams[index], index)
            self._mux_last_data(cut=not whole)
            self._mux_cues(None if whole else self._pictures_end(), cut=not whole)
            self._write_chapters()
            if whole:
                self._note_silent_streams(within)
        except BaseException:
            with contextlib.suppress(av.error.FFmpegError):  # the first error is the one to report
                self.container.close()
            raise
        try:
            self.container.close()
        except av.error.FFmpegError as exc:
            if not whole and not self.frames_written:  # (stopped before a frame: a GIF without one cannot be
                return                                 # finished, EINVAL, and the caller discards the file)
            if isinstance(exc, (OSError, MemoryError)):  # a full disk: named by the caller
                raise
            jump = (f"; its sound jumps by {float(self._longest_gap):.0f} s, damaged: .mkv takes such a jump"
                    if self._longest_gap else "")
            raise UserError(f"{self.path}: the {self.path.suffix} muxer could not finish the file "
                            f"({exc.strerror or exc}){jump}") from None
        if self.frames_written:
            pad_short_ts(self.path)  # (a few TS packets long, FFmpeg took it for a program stream)
