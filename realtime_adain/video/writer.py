"""Encoding stylized RGB frames with PyAV, and carrying the input's audio and subtitles over.

Video frames keep the input's time base and timestamps (so variable frame rate survives) and its
colour tags. `VideoWriter` times the frames and muxes every packet; the encoder is opened and fed
by `encoding.py`, the carried streams are chosen (copied, re-encoded, converted or dropped: see
there) by `output_streams.py` and timed by `carried_timing.py`, and what is muxed or written as
the file is finished (held subtitle cues and data, chapters) is `closing.py`'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import av
import numpy as np

from realtime_adain.errors import UserError
from realtime_adain.notes import note
from realtime_adain.video.carried_timing import CarriedTiming, rescale
from realtime_adain.video.closing import LatePackets, write_chapters
from realtime_adain.video.encoding import VideoEncoder, another_codec
from realtime_adain.video.containers import (GIF_LONGEST_DELAY, GIF_MOST_REPEATS, GIF_SHORTEST_SHOWN, MUXER_OPTIONS,
                                             container_format, pad_short_ts)
from realtime_adain.video.encoder_settings import EncodeSettings
from realtime_adain.video.stream_copy import ADTS_KEEPING_FORMATS, EMPTY_TRACKS_LEFT_OUT, language_for, muxer_accepts
from realtime_adain.video.output_streams import OutputStreams, merged_notes
from realtime_adain.video.pictures import Colour
from realtime_adain.video.sequence import ffmpeg_name
from realtime_adain.video.sound import LeftOutSound, SoundConverter, SoundDecoder, undecoded_said
from realtime_adain.video.video_packets import DECODE_TIMED_FORMATS, VideoPackets

# The muxers that keep chapters, and those that keep a timecode (MP4 and MOV write a tmcd track from
# the video's tag, Matroska a tag, AVI the file's tag as its ISMP chunk): MPEG-TS and GIF drop both,
# AVI its chapters, without a word.
CHAPTER_FORMATS = frozenset({"mp4", "mov", "matroska", "webm"})
TIMECODE_FORMATS = CHAPTER_FORMATS | {"avi"}
# The one disposition of the input's video the output's takes: whether it plays by default. The
# others say what the input's picture was (cover art, a layer of a multilayer video: an MV-HEVC
# track's `multilayer` made the MP4 muxer write an lhvC box for libx265's one layer, a file FFmpeg
# 8 cannot open) or roles WebM drops; the stylized video is none of them.
VIDEO_DISPOSITIONS = av.stream.Disposition.default
# The most empty frames FFmpeg's AVI muxer fills one pause with ("Too large number of skipped frames").
AVI_MAX_SKIPPED = 60000


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


# MP4 and MOV muxers: what writes tags named as QuickTime metadata keys (reverse DNS).
KEYED_TAGS_OPTIONS = {"movflags": "use_metadata_tags"}
# Every muxer: each packet's bytes handed to the file as it is muxed. FFmpeg's file protocol holds
# up to 256 KiB of a seekable output before writing any (not AVIO's usual 32 KiB): a small or slow
# output (a 160 KB video, stylized for minutes) wrote nothing until the file was finished, so a full
# disk was found only then, after all the work. The bytes written are the same.
WRITE_AS_MUXED = {"flush_packets": "1"}


def muxer_options(fmt: str, tags: dict[str, str]) -> dict[str, str]:
    """The options `fmt`'s muxer opens with. A phone's location, make, model, capture date and
    slow-motion rate are QuickTime metadata keys (`com.apple.quicktime.location.ISO6709`,
    `com.android.capture.fps`), which FFmpeg's MP4/MOV muxer writes only with `use_metadata_tags`:
    without it they were dropped from .mp4 and .mov (and kept in .mkv). With it every tag, the
    title too, is written as such a key instead of a classic atom, so only where there are some.
    Each packet is written as it is muxed (`WRITE_AS_MUXED`): a full disk stops the run then."""
    options = {**MUXER_OPTIONS.get(fmt, {}), **WRITE_AS_MUXED}
    if fmt in ("mp4", "mov") and any("." in key for key in content_tags(tags)):
        options.update(KEYED_TAGS_OPTIONS)
    return options


def content_tags(tags: dict[str, str]) -> dict[str, str]:
    """`tags` without those that describe the input's encoding (FFmpeg drops them the same way)."""
    return {key: value for key, value in tags.items()
            if key.lower() not in WRITER_TAGS and not key.lower().startswith("_statistics")}


class VideoWriter:
    """An output file being written: one encoded video stream plus the copied streams."""

    def __init__(
        self, path: Path, settings: EncodeSettings, video: VideoFormatOut, passthrough: Sequence[av.stream.Stream],
        source: str | None = None,
    ) -> None:
        self.path = path
        self.source = source  # the input's name, which the notes start with (a folder run's notes said no file)
        settings = settings.for_container(container_format(path))  # no --codec: the container's default
        self._converters: dict[int, SoundConverter] = {}  # input stream index -> its re-encoded sound's converter
        self._decoders: dict[int, SoundDecoder] = {}  # input stream index -> its re-encoded sound's decoder
        self._outputs = OutputStreams(path, passthrough, self._note)  # (the same for each opening: `_open`)
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
        self._timing = CarriedTiming(self.container, self._note, self._mux)  # (the carried streams')
        self._damaged: set[int] = set()  # re-encoded streams with a packet that did not decode (noted once each)
        self._left_out = LeftOutSound()  # copied sound packets left out (said once a stream, at the end)
        self._first_pts: int | None = None  # the first frame's timestamp (encoder time base)
        self._first_input_pts: int | None = None  # ... in the input's time base (`_in_slots`)
        self._packets = VideoPackets(self.container, self._mux)  # the encoder's, as the muxer needs them
        self._late = LatePackets(self._mux)  # subtitle cues and data packets muxed later than they come
        # Output stream index -> its latest muxed (pts, time base, duration), and its first.
        self._muxed_at: dict[int, tuple[int, Fraction, int | None]] = {}
        # Output stream index -> where its packets muxed end, the latest of them (seconds): cues are muxed
        # in the order they start, so the last one muxed can end before a longer one (`closing.content_end`).
        self._muxed_end: dict[int, Fraction] = {}
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
            self._encoder = VideoEncoder(self.container, settings, video, self.path)
            self.video, self.input_time_base = self._encoder.stream, video.time_base
            video_context = self.video.codec_context
            self._outputs.start(self.container)
            # Input index -> output stream, input stream re-encoded, what is said of it: `stream_reports.stream_reports`.
            self.streams, self.transcoded = self._outputs.streams, self._outputs.transcoded
            self.said = self._outputs.add_all(passthrough, reencode)
            lost = self._label(video, passthrough)
            self.container.start_encoding()
            return [*([self._encoder.framing.said] if self._encoder.framing else []), *lost, *self.said.values()]
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
        return {index: change.reason for index, change in self._outputs.kind_changes.items() if change.reason}

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
                    self._outputs.note_dropped_labels(stream)
        self._chapters = video.chapters  # given to the muxer as the file is finished (`closing.write_chapters`)
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

    def write_frame(self, image: np.ndarray, pts: int | None, duration: int) -> None:
        """Encode one (H, W, 3) uint8 RGB frame at `pts` (input time base)."""
        image = np.ascontiguousarray(self._encoder.framing.fit(image) if self._encoder.framing else image)
        frame = self._encoder.in_pix_fmt(av.VideoFrame.from_ndarray(image, format="rgb24"))
        encoder_tb = self.video.codec_context.time_base
        if encoder_tb != self.input_time_base:  # an encoder that takes only some time bases (MPEG-2)
            pts = self._in_slots(pts, encoder_tb) if pts is not None else None
            duration = max(1, rescale(duration, self.input_time_base, encoder_tb)) if duration else duration
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
        if self._late.held_cues:
            self._late.mux_cues(self._pictures_end())
        if self._first_pts is None:
            self._first_pts = pts
        self._packets.durations[pts] = duration
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
        return rescale(first, self.input_time_base, encoder_tb) + rescale(pts - first, self.input_time_base,
                                                                           encoder_tb)

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
        for out in self._encoder.palette.convert(frame) if self._encoder.palette else [frame]:
            self._held = out if self._encoder.palette else None
            self._packets.mux(self._encoder.encoded(out), self._first_pts, self._last_pts)

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
            self._packets.durations[pts] = min(until - pts, GIF_LONGEST_DELAY)
            self._packets.mux(self._encoder.encoded(self._held), self._first_pts, self._last_pts)
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

    def _mux(self, packet: av.Packet, hold_cue: bool = True, sparable: int | None = None) -> None:
        """Hand a packet to the muxer; what it refuses is one line, not a traceback. A subtitle cue
        (`hold_cue`) waits until the pictures written reach its end (`LatePackets.mux_cues`). A
        copied ADTS AAC packet of input stream `sparable` that the header-stripping filter refuses
        as invalid or unsupported is left out (`LeftOutSound`) once others of its stream went in:
        its neighbours play; refused first, the stream may hold nothing the muxer takes."""
        stream, at = packet.stream, (packet.pts, packet.time_base, packet.duration)
        if hold_cue and stream.type == "subtitle" and packet.pts is not None and packet.duration and packet.time_base:
            self._late.held_cues.append(packet)
            return
        try:
            self.container.mux(packet)
        except av.error.FFmpegError as exc:
            if isinstance(exc, (OSError, MemoryError)):  # a full disk: named by the caller
                raise
            if sparable is not None and stream.index in self._muxed_at and \
                    isinstance(exc, (av.error.InvalidDataError, av.error.PatchWelcomeError)):
                self._left_out.add(sparable, packet, refused=exc.strerror or str(exc))
                return
            raise UserError(f"{self.path}: the {self.path.suffix} muxer refused a packet "
                            f"({exc.strerror or exc}){self._jump_hint(stream, at)}") from None
        if at[0] is not None:
            self._first_muxed.setdefault(stream.index, at)
            self._muxed_at[stream.index] = at
            if at[1]:
                end = (at[0] + (at[2] or 0)) * Fraction(at[1])
                self._muxed_end[stream.index] = max(end, self._muxed_end.get(stream.index, end))

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
            stripped = (framing := self._outputs.raw_aac.get(index)) is not None and \
                self.container.format.name not in ADTS_KEEPING_FORMATS  # (by FFmpeg's aac_adtstoasc)
            if framing is not None:
                packet = framing.framed(packet)
                if stripped and framing.damaged(packet):
                    self._left_out.add(index, packet)
                    return
            change = self._outputs.kind_changes.get(index)
            if change is not None and (encoded := change.packets(packet)) is not None:
                for each in encoded:
                    self._timing.mux_increasing(each, out, index)
                return
            if out.type == "audio":
                packet = self._timing.from_zero(packet, out, index)
                if packet is None:
                    return
                self._timing.fill_gap(packet, out, index)
                self._timing.fill_coded_gap(packet, out, index)
            self._timing.keep_increasing(packet, out, index)
            self._time_picture_subtitle(packet)
            packet.stream = out
            if out.type == "data" and self.container.format.name in DECODE_TIMED_FORMATS:
                packet, self._late.last_data[index] = self._late.last_data.get(index), packet  # (`LatePackets`)
                if packet is None:
                    return
            self._mux(packet, sparable=index if stripped else None)
            return
        if source.type == "subtitle":
            self._convert_subtitle(packet, source, out)
            return
        self._encode_audio(index, self._decoded(index, source, packet))

    def _copies_picture_or_data(self, packet: av.Packet) -> bool:
        """Whether a packet of cover art or of a data track is muxed: cover art's one picture
        (not one stored with the header, an empty one, or a second); a data packet that starts
        before the output does (a segment's: `Segment.packets` moves it before zero) is shown from
        zero, for what is left of it, as a subtitle is; one over by then (telemetry recorded before
        the first picture; KLV in MPEG-TS, of no duration, as `Segment.ended` drops it) is not
        (squeezed in at zero a tick apart, the track's times were moved on)."""
        index = packet.stream.index
        if packet.stream.type == "video":
            if index in self._outputs.in_header or index in self._covers_muxed or not packet.size:
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
        encoded.duration = rescale(shown, Fraction(1, 1000), encoded.time_base) if shown > 0 else packet.duration
        encoded.stream = out
        self._timing.mux_increasing(encoded, out, packet.stream.index)

    def _decoded(self, index: int, source: av.stream.Stream, packet: av.Packet | None) -> list[av.AudioFrame]:
        """The sound of re-encoded `packet` of input stream `index` (None: what its decoder still
        holds) in FFmpeg's channel order; none from a damaged packet, skipped as FFmpeg's tools skip
        it (noted once), or from one of a stream none of which decodes (`undecoded_sound`)."""
        decoder = self._decoders.get(index)
        if decoder is None:
            decoder = self._decoders[index] = SoundDecoder(source)
        try:
            frames = decoder.decode(packet)
        except MemoryError:
            raise
        except av.error.FFmpegError:
            frames = []
        if decoder.damaged:
            self._note_damaged(index, "audio")
        return self._outputs.in_native_order(index, frames)

    def undecoded_sound(self) -> dict[int, str]:
        """Input index -> why none of a re-encoded audio stream decoded (the decoder's reason): the
        output has no sound of it, for `--json` (it was listed as re-encoded)."""
        return {index: undecoded_said(decoder, self.path.suffix) for index, decoder in self._decoders.items()
                if decoder.failed and not decoder.decoded}

    def _encode_audio(self, index: int, frames: Sequence[av.AudioFrame] | None) -> None:
        """Re-encode decoded `frames` of input stream `index` (None: flush the encoder) and mux them."""
        out = self.streams[index]
        converter = self._converters.get(index)
        if converter is None:
            converter = self._converters[index] = SoundConverter(out.codec_context, index, self._note)
        if frames is None:
            ready: list[av.AudioFrame | None] = [*converter.convert(None), None]
        else:
            cut = [each for each in map(self._timing.frame_from_zero, frames) if each is not None]
            ready = [converted for frame in cut for converted in converter.convert(frame)]
        for frame in ready:
            for encoded in [packet for silence in self._timing.silence_before(index, frame)
                            for packet in out.encode(silence)]:
                self._timing.mux_increasing(encoded, out, index)
            for encoded in out.encode(frame):
                self._timing.continue_timing(encoded, index)
                if (encoded := self._timing.from_zero(encoded, out, index)) is None:
                    continue
                self._timing.fill_gap(encoded, out, index)
                self._timing.mux_increasing(encoded, out, index)  # joined segments' sound may overlap

    def _note(self, line: str) -> None:
        """Say `line` of this input, named where known (`source`)."""
        note(f"{self.source}: {line}" if self.source else line)

    def _note_damaged(self, index: int, kind: str) -> None:
        if index not in self._damaged:
            self._note(f"stream #{index}: a damaged {kind} packet was skipped (FFmpeg skips it the same way)")
        self._damaged.add(index)

    def _note_silent_streams(self, within: str | None) -> None:
        """Say which audio streams held no sound at all (`within` the part of the input kept: none
        of it there; "holds no sound" read as if the input's track were empty), data tracks no
        packet, cover art no picture: a muxer writes such a track empty, or leaves it out (MP4),
        and the output had one track fewer without a word; sound none of which decoded, why."""
        undecoded = self.undecoded_sound()
        for index, out in self.streams.items():
            if out.index in self._muxed_at or index in self._covers_muxed or index in self._outputs.in_header:
                continue
            if out.type == "audio" and index in undecoded:
                self._note(f"audio stream #{index}: {undecoded[index]}")
            elif out.type == "audio":
                said = f": none of its sound falls within {within}" if within else " holds no sound (no packets)"
                self._note(f"audio stream #{index}{said}; {self.path.suffix} gets an empty track or none")
            elif out.type == "data":  # (MPEG-TS lists each stream in its program table, packets or none)
                gets = "an empty stream" if self.container.format.name == "mpegts" else "no track for it"
                self._note(f"data stream #{index}: none of its packets fall within the output; {self.path.suffix} "
                           f"gets {gets}")
            elif out.type == "video":
                self._note(f"cover art #{index} holds no picture (damaged?); {self.path.suffix} gets none")

    def _pictures_end(self) -> Fraction | None:
        """Where the pictures written so far stop showing (seconds; None: none written)."""
        if self._last_pts is None:
            return None
        return (self._last_pts + self._last_duration) * Fraction(self.video.codec_context.time_base)

    def close(self, whole: bool = True, within: str | None = None) -> None:
        """Flush the encoders and finish the file (it is complete and playable afterwards);
        `whole`: the input was read to its end (else a partial file: what it lacks is not noted);
        `within`: the part of the input the output holds, where not all of it (`--start`, ...)."""
        try:
            if self._encoder.palette:
                self._encode_video(None)
            if self._last_pts is not None:
                self._hold_gif_frame(self._last_pts + self._last_duration)
            self._packets.mux(self._encoder.encoded(None), self._first_pts, self._last_pts, last=True)
            for index, source in self.transcoded.items():
                if source.type != "audio":
                    continue
                self._encode_audio(index, self._decoded(index, source, None))
                self._encode_audio(index, None)
            for index, change in self._outputs.kind_changes.items():
                for each in change.flush():
                    self._timing.mux_increasing(each, self.streams[index], index)
            self._late.mux_last_data(cut=not whole, end=self._packets.video_end,
                                     end_time_base=self._packets.video_end_time_base)
            self._late.mux_cues(None if whole else self._pictures_end(), cut=not whole)
            write_chapters(self.container, self._chapters, self._first_muxed, self._muxed_end, self._pictures_end())
            for line in self._left_out.notes(self.path.suffix):
                self._note(line)
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
            jump = (f"; its sound jumps by {float(self._timing.longest_gap):.0f} s, damaged: .mkv takes such a jump"
                    if self._timing.longest_gap else "")
            raise UserError(f"{self.path}: the {self.path.suffix} muxer could not finish the file "
                            f"({exc.strerror or exc}){jump}") from None
        if self.frames_written:
            pad_short_ts(self.path)  # (a few TS packets long, FFmpeg took it for a program stream)
