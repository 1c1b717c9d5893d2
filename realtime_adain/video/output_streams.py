"""The output's streams for the input's carried ones (`streams.passthrough_streams`): each copied,
re-encoded or dropped as the container allows, with the note to give (`OutputStreams`). Audio and
subtitle packets are copied byte for byte when the output container accepts their codec; audio it
does not accept is re-encoded, losslessly where the container holds a lossless codec, else to its
default audio codec (`reencoded_audio`; decoding and converting the sound for it:
`sound_decoding.py`, `sound_conversion.py`); text subtitles are converted to its default subtitle
codec, and other subtitles it does not accept are dropped with a note, as is audio where it holds
none (GIF; see docs/video.md). Attached files (fonts for ASS subtitles) are copied into Matroska,
the one container that holds them. Cover art beside the video goes into MP4 as its cover and into
Matroska as an attached picture; data tracks where the container holds them as what they are
(`_add_data`); elsewhere both are dropped with a note. The writer muxes their packets.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Sequence

import av

from realtime_adain.notes import note
from realtime_adain.video.aac_framing import RawAacFraming
from realtime_adain.video.audio_encoding import (ORDER_STATING_FORMATS, audio_opens, encodable_layout, encodable_rate,
                                                 reencoded_audio)
from realtime_adain.video.stream_copy import (ADTS_KEEPING_FORMATS, ATTACHING_FORMATS, adpcm_block_bytes,
                                              copied_into_encoder_stream, dropped_roles, dropped_tags, holds_copy,
                                              is_adts_aac, muxer_accepts, unframed_in_avi)
from realtime_adain.video.sound_decoding import decoder_layout, reorder_channels
from realtime_adain.video.sound_kinds import KindChange, kind_change
from realtime_adain.video.streams import (COVER_MAX_PIXELS, TS_DATA_CODECS, attached_pictures, data_label,
                                          is_gopro_telemetry, oversized_cover)

# The rate sound of no known format is encoded at (`OutputStreams._add_passthrough`): a broadcast
# recording's track whose sound starts late or never; what it decodes to is resampled to it.
UNKNOWN_SOUND_RATE = 48000
# Cover art's picture codecs, with the MIME type and file extension a Matroska attachment is named
# by (FFmpeg's Matroska demuxer reads JPEG and PNG ones back as cover art). MP4 holds JPEG and PNG
# (its muxer lists BMP, then refuses it); FFmpeg's MOV muxer writes no cover (`ffmpeg -c copy` to
# .mov drops it), nor does any other container written here.
COVER_PICTURES = {"mjpeg": ("image/jpeg", "jpg"), "png": ("image/png", "png"), "bmp": ("image/bmp", "bmp"),
                  "webp": ("image/webp", "webp"), "gif": ("image/gif", "gif"), "tiff": ("image/tiff", "tif")}
MP4_COVER_PICTURES = frozenset({"mjpeg", "png"})
# The containers that hold GoPro telemetry (`is_gopro_telemetry`) as its `gpmd` track.
TELEMETRY_FORMATS = frozenset({"mp4", "mov"})

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


class OutputStreams:
    """The output's streams for the input's carried `passthrough` streams in a file at `path`, added to
    the container each time it is opened (`start`, `add_all`): input stream index -> output stream
    (`streams`), those re-encoded or converted (`transcoded`), what is said of each (`said`)."""

    def __init__(self, path: Path, passthrough: Sequence[av.stream.Stream], say: Callable[[str], None] = note) -> None:
        self.path = path
        self.say = say  # gives a note of the sound as it is copied (`kind_change`; the writer's: named by the input)
        # Input audio stream index -> its decoder's native layout and channel order (`decoder_layout`:
        # set once, before the decoder opens; the header may be tried twice).
        self._decoded_layouts: dict[int, tuple[av.AudioLayout, list[int] | None]] = {}
        self._pictures: dict[int, bytes] | None = None  # input index -> cover art's picture that decodes (read once)
        self._covers = [stream for stream in passthrough if stream.type == "video"]  # (`_add_cover`)

    def start(self, container: av.container.OutputContainer) -> None:
        """Begin adding the streams to `container`, the file opened (again)."""
        self.container = container
        self.streams: dict[int, av.stream.Stream] = {}  # input stream index -> output stream
        self.in_header: set[int] = set()  # input indices of cover art stored with the header (Matroska)
        self.transcoded: dict[int, av.stream.Stream] = {}  # input index -> input stream, re-encoded
        self.kind_changes: dict[int, KindChange] = {}  # input index -> copied sound that may change kind
        self.raw_aac: dict[int, RawAacFraming] = {}  # input index -> copied AAC that may need ADTS headers

    def add_all(self, passthrough: Sequence[av.stream.Stream], reencode: set[int]) -> dict[int, str]:
        """Add the output stream of each of `passthrough`, re-encoding the audio streams in `reencode`
        (input indices) even where the container lists their codec: what is said of each (`said`)."""
        # Input index -> what is said of it (re-encoded, converted, left out and why): `stream_reports.stream_reports`.
        self.said = {stream.index: line for stream in passthrough
                     if (line := self._add_passthrough(stream, stream.index not in reencode))}
        return self.said

    def note_dropped_labels(self, stream: av.stream.Stream) -> None:
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
                self.raw_aac[stream.index] = RawAacFraming(stream)
            # (MPEG-TS states no kind of its own: players read each frame's header)
            if stream.type == "audio" and self.container.format.name not in ADTS_KEEPING_FORMATS:
                if (change := kind_change(stream, out, self.say)) is not None:
                    self.kind_changes[stream.index] = change
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

    def in_native_order(self, index: int, frames: list[av.AudioFrame]) -> list[av.AudioFrame]:
        """Decoded `frames` of input stream `index` with their channels in native order."""
        layout, order = self._decoded_layouts.get(index, (None, None))
        if order is None:
            return frames
        return [reorder_channels(frame, order, layout) for frame in frames]
