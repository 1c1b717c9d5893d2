"""Encoding stylized RGB frames with PyAV, and carrying the input's audio and subtitles over.

Video frames keep the input's time base and timestamps (so variable frame rate survives) and its
colour tags. `VideoWriter` opens and labels the file and muxes every packet; the encoder is opened
and fed by `encoding.py`, the frames timed for it by `frame_timing.py`, the muxer's options and
the tags kept by `container_options.py`; the carried streams are chosen (copied, re-encoded,
converted or dropped: see there) by `output_streams.py`, written by `copied_streams.py` and timed by
`carried_timing.py`, and what is muxed or written as the file is finished (held subtitle cues and
data, chapters) is `closing.py`'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import av
import numpy as np

from realtime_adain.errors import UserError
from realtime_adain.notes import note
from realtime_adain.video.carried_timing import CarriedTiming
from realtime_adain.video.closing import LatePackets, write_chapters
from realtime_adain.video.container_options import (CHAPTER_FORMATS, TIMECODE_FORMATS, content_tags, jump_hint,
                                                    muxer_options)
from realtime_adain.video.containers import container_format, pad_short_ts
from realtime_adain.video.copied_streams import CopiedStreams
from realtime_adain.video.encoding import VideoEncoder, another_codec, movie_timescale
from realtime_adain.video.encoder_settings import EncodeSettings
from realtime_adain.video.frame_timing import FrameTiming
from realtime_adain.video.left_out_sound import LeftOutSound
from realtime_adain.video.stream_copy import EMPTY_TRACKS_LEFT_OUT, language_for, muxer_accepts, titled
from realtime_adain.video.output_streams import OutputStreams, merged_notes
from realtime_adain.video.pictures import Colour
from realtime_adain.video.sequence import ffmpeg_name
from realtime_adain.video.video_packets import VideoPackets

# The one disposition of the input's video the output's takes: whether it plays by default. The
# others say what the input's picture was (cover art, a layer of a multilayer video: an MV-HEVC
# track's `multilayer` made the MP4 muxer write an lhvC box for libx265's one layer, a file FFmpeg
# 8 cannot open) or roles WebM drops; the stylized video is none of them.
VIDEO_DISPOSITIONS = av.stream.Disposition.default


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


class VideoWriter:
    """An output file being written: one encoded video stream plus the copied streams."""

    def __init__(
        self, path: Path, settings: EncodeSettings, video: VideoFormatOut, passthrough: Sequence[av.stream.Stream],
        source: str | None = None,
    ) -> None:
        self.path = path
        self.source = source  # the input's name, which the notes start with (a folder run's notes said no file)
        settings = settings.for_container(container_format(path))  # no --codec: the container's default
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
        self._timing = CarriedTiming(self.container, self._note, self._mux)  # (the carried streams')
        self._left_out = LeftOutSound()  # copied sound packets left out (said once a stream, at the end)
        self._packets = VideoPackets(self.container, self._mux)  # the encoder's, as the muxer needs them
        self._late = LatePackets(self._mux)  # subtitle cues and data packets muxed later than they come
        # Output stream index -> its latest muxed (pts, time base, duration), and its first.
        self._muxed_at: dict[int, tuple[int, Fraction, int | None]] = {}
        # Output stream index -> where its packets muxed end, the latest of them (seconds): cues are muxed
        # in the order they start, so the last one muxed can end before a longer one (`closing.content_end`).
        self._muxed_end: dict[int, Fraction] = {}
        self._first_muxed: dict[int, tuple[int, Fraction, int | None]] = {}
        self._frames = FrameTiming(self.container, self._encoder, self.input_time_base, self._packets, self._late,
                                   self._note)  # the video's frames, timed for the encoder
        self._copied = CopiedStreams(self.container, path, self._outputs, self._timing, self._late, self._left_out,
                                     self._mux, self._muxed_at, self._note)  # the other streams' packets

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
            if self.container.format.name in ("mp4", "mov"):  # (once every track is there: `movie_timescale`)
                others = [s for s in self.container.streams if s.index != self.video.index]
                self.container.options["movie_timescale"] = str(movie_timescale(self.video.time_base, others))
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

    def _label(self, video: VideoFormatOut, passthrough: Sequence[av.stream.Stream]) -> list[str]:
        """Carry over what the input says about itself, as `ffmpeg` does: the file's tags (title,
        date), each stream's (language, title: `language_for`, `titled`) and dispositions (which video and
        audio track plays by default), and the chapters. The note to give where the output holds
        no chapters or timecode the input has."""
        fmt = self.container.format.name
        self.container.metadata.update(content_tags(video.tags))
        self.video.metadata.update(language_for(fmt, titled(content_tags(video.video_tags))))
        # (Matroska's muxer writes a track without the default flag as not to be played by default)
        self.video.disposition = video.disposition & VIDEO_DISPOSITIONS
        for stream in passthrough:
            out = self.streams.get(stream.index)
            if out is not None:
                out.metadata.update(language_for(fmt, titled(content_tags(stream.metadata))))
                if out.type == stream.type:  # (cover art as a Matroska attachment: a file, with no disposition)
                    out.disposition = stream.disposition
                    self._outputs.note_dropped_labels(stream)
        self._chapters = video.chapters  # given to the muxer as the file is finished (`closing.write_chapters`)
        # (the video's tag; Matroska's TIMECODE is the file's: dropped from .ts and .gif without a note)
        timecode = next((value for tags in (video.video_tags, video.tags) for key, value in tags.items()
                         if key.lower() == "timecode"), None)
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

    @property
    def frames_written(self) -> int:
        """The frames encoded so far (`FrameTiming`)."""
        return self._frames.frames_written

    def write_frame(self, image: np.ndarray, pts: int | None, duration: int) -> None:
        """Encode one (H, W, 3) uint8 RGB frame at `pts` (input time base): `FrameTiming.write_frame`."""
        self._frames.write_frame(image, pts, duration)

    def write_packet(self, packet: av.Packet) -> None:
        """Copy (or re-encode) one packet of an audio/subtitle stream of the input (`CopiedStreams`)."""
        self._copied.write_packet(packet)

    def partly_reencoded(self) -> dict[int, str]:
        """Input index -> why a stream copied at first was re-encoded from some point on, for `--json`."""
        return self._copied.partly_reencoded()

    def undecoded_sound(self) -> dict[int, str]:
        """Input index -> why none of a re-encoded audio stream decoded, for `--json`."""
        return self._copied.undecoded_sound()

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
                            f"({exc.strerror or exc})"
                            f"{jump_hint(stream, at, self._muxed_at, self.container.format.name)}") from None
        if at[0] is not None:
            self._first_muxed.setdefault(stream.index, at)
            self._muxed_at[stream.index] = at
            if at[1]:
                end = (at[0] + (at[2] or 0)) * Fraction(at[1])
                self._muxed_end[stream.index] = max(end, self._muxed_end.get(stream.index, end))

    def _note(self, line: str) -> None:
        """Say `line` of this input, named where known (`source`)."""
        note(f"{self.source}: {line}" if self.source else line)

    def close(self, whole: bool = True, within: str | None = None) -> None:
        """Flush the encoders and finish the file (it is complete and playable afterwards);
        `whole`: the input was read to its end (else a partial file: what it lacks is not noted);
        `within`: the part of the input the output holds, where not all of it (`--start`, ...)."""
        try:
            self._frames.finish()
            self._copied.flush()
            self._late.mux_last_data(cut=not whole, end=self._packets.video_end,
                                     end_time_base=self._packets.video_end_time_base)
            self._late.mux_cues(None if whole else self._frames.pictures_end(), cut=not whole)
            write_chapters(self.container, self._chapters, self._first_muxed, self._muxed_end,
                           self._frames.pictures_end())
            for line in self._left_out.notes(self.path.suffix):
                self._note(line)
            if whole:
                self._copied.note_silent_streams(within)
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
