"""Encoding stylized RGB frames with PyAV, and carrying the input's audio and subtitles over.

Video frames keep the input's time base and timestamps (so variable frame rate survives) and its
colour tags. Audio and subtitle packets are copied byte for byte when the output container
accepts their codec; audio it does not accept is re-encoded to the container's default audio
codec, and subtitles it does not accept are dropped with a note (see docs/video.md).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import av
from av.video.reformatter import VideoReformatter
import numpy as np

from realtime_adain.errors import UserError
from realtime_adain.video.formats import (EncodeSettings, choose_pix_fmt, container_format, encodable_rate,
                                          encoder_time_base, holds_copy, is_adts_aac, muxer_accepts)
from realtime_adain.video.notes import note
from realtime_adain.video.reader import Colour

# FFmpeg's AVColorSpace and AVColorRange values (frame.colorspace, frame.color_range).
RGB_MATRIX, BT709_MATRIX, LIMITED_RANGE = 0, 1, 1
# Channel layouts by channel count, for re-encoded audio (other counts are mixed down to stereo).
LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def _rescale(value: int, source: Fraction, target: Fraction) -> int:
    """`value` ticks of `source` in ticks of `target`, rounded half away from zero as FFmpeg's
    muxing rescale does (av_rescale_q_rnd with AV_ROUND_NEAR_INF)."""
    exact = Fraction(value) * Fraction(source) / Fraction(target)
    return math.floor(exact + Fraction(1, 2)) if exact >= 0 else -math.floor(-exact + Fraction(1, 2))


def yuv_colour(colour: Colour) -> Colour:
    """How YUV output is converted and tagged for an input of `colour`: the input's own, except
    that RGB-coded input (PNG, APNG, libx264rgb: the "RGB" matrix) gets BT.709 at limited range,
    as a YUV stream cannot carry the RGB matrix (tagged so, players and zscale refuse or misread it)."""
    if colour.colorspace != RGB_MATRIX:
        return colour
    return dataclasses.replace(colour, colorspace=BT709_MATRIX, color_range=LIMITED_RANGE)


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


# Tags that describe how a file was written, not what it holds: the muxer writes its own.
WRITER_TAGS = frozenset({"encoder", "duration", "number_of_frames", "number_of_bytes", "major_brand",
                         "minor_version", "compatible_brands"})


def content_tags(tags: dict[str, str]) -> dict[str, str]:
    """`tags` without those that describe the input's encoding (FFmpeg drops them the same way)."""
    return {key: value for key, value in tags.items()
            if key.lower() not in WRITER_TAGS and not key.lower().startswith("_statistics")}


class VideoWriter:
    """An output file being written: one encoded video stream plus the copied streams."""

    def __init__(
        self, path: Path, settings: EncodeSettings, video: VideoFormatOut, passthrough: Sequence[av.stream.Stream]
    ) -> None:
        self.path = path
        self._reformatter = VideoReformatter()  # one RGB -> YUV converter for the stream, not one per frame
        # The muxer's list of codecs it holds is not the last word: MOV lists Opus and FLAC, yet
        # refuses them when the header is written (MP4 only), MP4 TrueHD as experimental. Then the
        # audio is re-encoded, as `ffmpeg -i in out.mov` does.
        notes = self._open(settings, video, passthrough, set())
        if notes is None:  # re-encode the audio the muxer refuses alone; if none does alone, all of it
            audio = [s for s in passthrough if s.type == "audio"]
            refused = {s.index for s in audio if not muxer_accepts(container_format(path), s)}
            notes = self._open(settings, video, passthrough, refused or {s.index for s in audio}, last=True)
        for line in notes:
            note(line)
        self.frames_written = 0
        self._last_pts: int | None = None
        self._shifted = False  # a timestamp was moved to keep them increasing (noted once)
        self._last_dts: dict[int, int] = {}  # input stream index -> last copied packet's dts
        self._moved: set[int] = set()  # copied streams whose timestamps were moved (noted once each)
        self._damaged: set[int] = set()  # re-encoded streams with a packet that did not decode (noted once each)
        self._durations: dict[int, int] = {}  # pts -> duration of the frames inside the encoder

    def _open(self, settings: EncodeSettings, video: VideoFormatOut, passthrough: Sequence[av.stream.Stream],
              reencode: set[int], last: bool = False) -> list[str] | None:
        """Open the file with its streams and write the header, re-encoding the audio streams in
        `reencode` (input indices) even where the container lists their codec: the notes to give,
        or None when the muxer refused the header with audio copied (unless `last`)."""
        try:
            self.container = av.open(str(self.path), "w", format=container_format(self.path))
        except av.error.FFmpegError as exc:
            raise UserError(f"{self.path}: cannot write here ({exc.strerror or exc})") from None
        try:
            self.video = self._add_video(settings, video)
            self.streams: dict[int, av.stream.Stream] = {}  # input stream index -> output stream
            self.transcoded: dict[int, av.stream.Stream] = {}  # input index -> input stream, re-encoded
            notes = [line for stream in passthrough if (line := self._add_passthrough(stream, stream.index not in reencode))]
            self._label(video, passthrough)
            self.container.start_encoding()
            return notes
        except av.error.FFmpegError as exc:
            self.container.close()
            copied_audio = any(s.type == "audio" and s.index not in self.transcoded for s in passthrough
                               if s.index in self.streams)
            if copied_audio and not last:
                return None
            raise UserError(f"{self.path}: cannot start encoding ({exc.strerror or exc})") from None
        except BaseException:
            self.container.close()
            raise

    def _label(self, video: VideoFormatOut, passthrough: Sequence[av.stream.Stream]) -> None:
        """Carry over what the input says about itself, as `ffmpeg` does: the file's tags (title,
        date), each stream's (language, title) and dispositions (which audio track plays by
        default), and the chapters."""
        self.container.metadata.update(content_tags(video.tags))
        self.video.metadata.update(content_tags(video.video_tags))
        for stream in passthrough:
            out = self.streams.get(stream.index)
            if out is not None:
                out.metadata.update(content_tags(stream.metadata))
                out.disposition = stream.disposition
        if video.chapters:
            self.container.set_chapters(video.chapters)

    def _add_video(self, settings: EncodeSettings, spec: VideoFormatOut) -> av.video.stream.VideoStream:
        stream = self.container.add_stream(settings.codec, rate=spec.frame_rate)
        stream.width, stream.height = spec.width, spec.height
        stream.pix_fmt = choose_pix_fmt(settings, spec.width, spec.height)
        encoder_tb = encoder_time_base(settings.codec, spec.time_base, spec.frame_rate, self.container.format.name,
                                       spec.base_rate)
        stream.time_base = encoder_tb if self.container.format.name == "avi" else spec.time_base
        self.input_time_base = spec.time_base
        stream.codec_context.time_base = encoder_tb
        stream.options = settings.codec_options()
        if settings.bitrate:
            stream.bit_rate = settings.bitrate
        self.rgb_output = av.VideoFormat(stream.pix_fmt).is_rgb
        self.colour = yuv_colour(spec.colour) if spec.colour and not self.rgb_output else None
        if self.colour:
            ctx = stream.codec_context
            ctx.colorspace, ctx.color_range = self.colour.colorspace, self.colour.color_range
            ctx.color_primaries, ctx.color_trc = self.colour.color_primaries, self.colour.color_trc
        return stream

    def _add_passthrough(self, stream: av.stream.Stream, copy_audio: bool = True) -> str | None:
        """Add the output stream for an input audio/subtitle stream: copied, re-encoded or dropped
        (the note to give for the last two)."""
        name = "ADTS aac" if is_adts_aac(stream) else stream.codec_context.name
        copies = holds_copy(self.container.format.name, stream, self.container.supported_codecs)
        if copies and (copy_audio or stream.type != "audio"):
            self.streams[stream.index] = self.container.add_stream_from_template(stream)
        elif stream.type == "audio":
            codec = self.container.default_audio_codec
            # By channel count: a layout of unknown channel order (e.g. from PCM in Matroska) won't open.
            layout = av.AudioLayout(LAYOUTS.get(stream.codec_context.channels, "stereo"))
            rate = encodable_rate(codec, stream.codec_context.sample_rate)
            out = self.container.add_stream(codec, rate=rate, layout=layout)
            self.streams[stream.index] = out
            self.transcoded[stream.index] = stream
            refused = " (its muxer refuses it)" if copies else ""
            return f"{self.path.suffix} cannot hold {name} audio{refused}; re-encoding it to {codec}"
        else:
            hint = "" if self.container.format.name == "matroska" else " (use .mkv to keep it)"
            return f"dropping {stream.type} stream #{stream.index} ({name}): {self.path.suffix} cannot hold it{hint}"
        return None

    def write_frame(self, image: np.ndarray, pts: int | None, duration: int) -> None:
        """Encode one (H, W, 3) uint8 RGB frame at `pts` (input time base)."""
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        if self.colour:
            frame = self._reformatter.reformat(frame, format=self.video.pix_fmt, dst_colorspace=self.colour.colorspace,
                                               dst_color_range=self.colour.color_range)
        elif self.video.pix_fmt != "rgb24":
            frame = self._reformatter.reformat(frame, format=self.video.pix_fmt)
        encoder_tb = self.video.codec_context.time_base
        if encoder_tb != self.input_time_base:  # an encoder that takes only some time bases (MPEG-2)
            pts = _rescale(pts, self.input_time_base, encoder_tb) if pts is not None else None
            duration = max(1, _rescale(duration, self.input_time_base, encoder_tb)) if duration else duration
        if pts is None:  # some AVI files carry no timestamps: continue from the previous frame
            pts = 0 if self._last_pts is None else self._last_pts + max(duration, 1)
        elif self._last_pts is not None and pts <= self._last_pts:  # the muxer refuses it (EINVAL)
            if not self._shifted:
                note(f"frame timestamps that do not increase (at {pts}); moving them one tick later")
            self._shifted = True
            pts = self._last_pts + 1
        # In the encoder's time base (the input's where it takes it); the muxer may use another
        # (Matroska: 1 ms).
        frame.pts, frame.duration, frame.time_base = pts, duration, encoder_tb
        self._last_pts = pts
        self._durations[pts] = duration
        self._mux_video(self.video.encode(frame))
        self.frames_written += 1

    def _mux_video(self, packets: list[av.Packet]) -> None:
        # Encoders with look-ahead drop frame durations; put them back, so the last frame of a
        # variable-frame-rate video lasts as long as it did in the input.
        for packet in packets:
            duration = self._durations.pop(packet.pts, None)
            if duration:
                packet.duration = duration
            self._mux(packet)

    def _mux(self, packet: av.Packet) -> None:
        """Hand a packet to the muxer; what it refuses is one line, not a traceback."""
        try:
            self.container.mux(packet)
        except av.error.FFmpegError as exc:
            if isinstance(exc, (OSError, MemoryError)):  # a full disk: named by the caller
                raise
            raise UserError(f"{self.path}: the {self.path.suffix} muxer refused a packet "
                            f"({exc.strerror or exc})") from None

    def write_packet(self, packet: av.Packet) -> None:
        """Copy (or re-encode) one packet of an audio/subtitle stream of the input."""
        out = self.streams.get(packet.stream.index)
        if out is None:
            return
        index = packet.stream.index
        source = self.transcoded.get(index)
        if source is None:
            self._keep_increasing(packet, out, index)
            packet.stream = out
            self._mux(packet)
            return
        try:
            frames = source.codec_context.decode(packet)
        except MemoryError:
            raise
        except av.error.FFmpegError:  # a damaged packet: FFmpeg's tools skip it and play on
            self._note_damaged(index)
            return
        self._encode_audio(index, frames)

    def _encode_audio(self, index: int, frames: Sequence[av.AudioFrame] | None) -> None:
        """Re-encode decoded `frames` of input stream `index` (None: flush the encoder) and mux them."""
        out = self.streams[index]
        for frame in (frames if frames is not None else [None]):
            for encoded in out.encode(frame):
                self._keep_increasing(encoded, out, index)  # joined segments' sound may overlap
                self._mux(encoded)

    def _note_damaged(self, index: int) -> None:
        if index not in self._damaged:
            note(f"stream #{index}: a damaged audio packet was skipped (FFmpeg skips it the same way)")
        self._damaged.add(index)

    def _keep_increasing(self, packet: av.Packet, out: av.stream.Stream, index: int) -> None:
        """Move a copied packet whose decode time does not increase one tick after the previous
        one (as FFmpeg does: "Non-monotonic DTS ... changing to"); the muxer would refuse it.

        Compared in the output stream's time base, which the muxer rescales to: two input ticks
        apart can be one output tick (MPEG-TS 1/90000 into an MP4's 1/48000 audio). A moved packet
        is given in the output's time base."""
        dts = packet.dts
        if dts is None:
            return
        tb_in, tb_out = packet.time_base, out.time_base
        scaled = _rescale(dts, tb_in, tb_out) if tb_in and tb_out else dts
        last = self._last_dts.get(index)
        if last is not None and scaled <= last:
            if index not in self._moved:
                note(f"stream #{index}: packet timestamps that do not increase (at {dts}); moving them on")
            self._moved.add(index)
            scaled = last + 1
            if tb_in and tb_out and tb_in != tb_out:
                pts = _rescale(packet.pts, tb_in, tb_out) if packet.pts is not None else None
                duration = _rescale(packet.duration, tb_in, tb_out) if packet.duration else packet.duration
                packet.time_base = tb_out
                packet.pts, packet.duration = pts, duration
            packet.dts = scaled
            if packet.pts is not None and packet.pts < scaled:
                packet.pts = scaled
        self._last_dts[index] = scaled

    def close(self) -> None:
        """Flush the encoders and finish the file (it is complete and playable afterwards)."""
        try:
            self._mux_video(self.video.encode(None))
            for index, source in self.transcoded.items():
                try:
                    frames = source.codec_context.decode(None)
                except av.error.FFmpegError:  # what the decoder held was damaged: there is nothing more
                    frames = []
                self._encode_audio(index, frames)
                self._encode_audio(index, None)
        finally:
            self.container.close()
