"""Copied ADTS AAC, MP2, MP3, AC-3 or E-AC-3 whose kind (rate, channels) changes mid-stream,
re-encoded from there as its first kind (`KindChange`, `AdtsChange`, `FrameHeaderChange`;
`kind_change` picks one for a stream), since MP4, MOV, Matroska and AVI state one kind a track.

Kept apart from `output_streams.py`, which decides what is copied, and `copied_streams.py`, which
writes it: this is the one copied sound that is decoded and encoded again, from the packet where its
frame headers (`stream_copy.py`'s ADTS ones, `sound_frame_headers.py`) say the kind changed.
"""

from __future__ import annotations

import abc
from fractions import Fraction
from typing import Callable, Sequence

import av

from realtime_adain.notes import note
from realtime_adain.video.aac_framing import ADTS_LC
from realtime_adain.video.sound_conversion import SoundConverter
from realtime_adain.video.sound_frame_headers import FRAME_HEADER_KINDS
from realtime_adain.video.stream_copy import adts_header, adts_kind, is_adts_aac


# ADTS's channel configurations (ISO 14496-3) in words; 0: the stream's own (a PCE).
ADTS_LAYOUTS = {0: "channels set in the stream", 1: "mono", 2: "stereo", 3: "3.0", 4: "4.0", 5: "5.0", 6: "5.1",
                7: "7.1"}


def _adts_said(kind: tuple[int, int, int]) -> str:
    """An ADTS kind (`adts_kind`) in words: 48000 Hz stereo."""
    return f"{kind[1]} Hz {ADTS_LAYOUTS[kind[2]]}"


class KindChange(abc.ABC):
    """Copied sound whose kind (rate, channels) changes mid-stream, into a container that states
    the kind once, in the track's header (MP4, MOV, Matroska, AVI; MPEG-TS states none): files
    joined at another rate or channel count (a 44.1 kHz clip after a 48 kHz one, a broadcast's
    2.0 then 5.1) played the later part as the first kind (44.1 kHz at 48: 9% fast and high, the
    sound ahead of the pictures), as `ffmpeg -c copy` leaves it. From the first packet of another
    kind on (read from its frame header: no decoding until then), the sound is decoded and encoded
    again in the track's first kind, as `ffmpeg` converts it; the packets before stay copied. The
    codec's own parts: `_kind`, `_keeps`, `_said`, `_encoder`, `_framed`."""

    def __init__(self, source: av.stream.Stream, out: av.stream.Stream, say: Callable[[str], None] = note) -> None:
        self.source, self.out = source, out
        self.say = say  # gives a note (the writer's: named by the input)
        self.first: tuple[int, ...] | None = None  # the kind re-encoded sound takes: the first packet's (`_kind`)
        self.copied = False  # whether a packet was copied as it is
        self.given_up = False  # the first kind could not be encoded: all copied as it is
        self.encoder: av.audio.codeccontext.AudioCodecContext | None = None
        self.converter: SoundConverter | None = None
        self.start: int | None = None  # where the re-encoded sound starts (encoder time base; the priming before
        self.next = 0  # it is dropped) and where its next frame starts
        self.reason: str | None = None  # what the note said, once re-encoding began (`--json`)

    def packets(self, packet: av.Packet) -> list[av.Packet] | None:
        """None: copy `packet` as it is; else what to mux in its place (re-encoded)."""
        if self.given_up:
            return None
        if self.encoder is None:
            kind = self._kind(bytes(memoryview(packet)[:8]))  # (the header: the packet is not copied)
            if self.first is None:
                self.first = kind
            if None in (kind, self.first) or kind == self.first or not self._keeps(self.first):
                self.copied = True
                return None
            try:
                self._open(kind)
            except (av.error.FFmpegError, ValueError) as exc:  # (an encoder that cannot make the first kind)
                self.say(f"stream #{self.source.index}: the sound changes mid-stream, and it cannot be re-encoded as its "
                     f"first kind ({exc}): copied as it is, as FFmpeg copies it")
                self.given_up, self.encoder, self.converter = True, None, None
                return None
        try:
            frames = self.source.codec_context.decode(packet)
        except av.error.FFmpegError:  # a damaged packet: skipped, as FFmpeg skips it
            return []
        return self._encoded(frames)

    def flush(self) -> list[av.Packet]:
        """What the decoder and encoder still hold, at the end."""
        if self.encoder is None:
            return []
        try:
            frames = self.source.codec_context.decode(None)
        except av.error.FFmpegError:
            frames = []
        return self._encoded([*frames, None])

    @abc.abstractmethod
    def _kind(self, header: bytes) -> tuple[int, ...] | None:
        """The kind a packet starting with `header` (its first 8 bytes) holds; None: not known."""

    @abc.abstractmethod
    def _keeps(self, first: tuple[int, ...]) -> bool:
        """Whether the track's header states the `first` kind, which the encoder is set up as."""

    @abc.abstractmethod
    def _said(self, kind: tuple[int, ...]) -> str:
        """A kind in words: 48000 Hz stereo."""

    @abc.abstractmethod
    def _encoder(self) -> av.audio.codeccontext.AudioCodecContext:
        """An encoder of the first kind, its rate and layout set (not opened)."""

    def _framed(self, encoded: av.Packet) -> av.Packet:
        """An encoded packet as the copied ones come."""
        return encoded

    def _open(self, kind: tuple[int, ...]) -> None:
        context = self.out.codec_context
        encoder = self._encoder()
        encoder.time_base = Fraction(1, context.sample_rate)
        encoder.open()
        self.encoder, self.converter = encoder, SoundConverter(encoder, self.source.index, self.say)
        self.converter.noted = True  # (said here, once)
        name, first = CODEC_WORDS[codec_name(self.source)], self._said(self.first)
        if self.copied:
            said = (f"the sound changes mid-stream ({first} to {self._said(kind)}); the output's track holds one kind: "
                    f"the {name} from there is re-encoded as the first, as FFmpeg converts it")
            self.reason = said
        else:  # (`FrameHeaderChange`: the track states a later part's kind)
            said = (f"the sound changes mid-stream, and starts as {self._said(kind)} where its track states {first} "
                    f"(a later part's kind); the output's track holds one kind: all the {name} is re-encoded as "
                    f"{first}")
            self.reason = f"its start: {said}"  # (`--json`: "copied until its start: ...")
        self.say(f"stream #{self.source.index}: {said}")

    def _encoded(self, frames: Sequence[av.AudioFrame | None]) -> list[av.Packet]:
        ready: list[av.AudioFrame | None] = []
        for frame in frames:
            if frame is None:
                ready += [*self.converter.convert(None), None]
            else:
                ready += self.converter.convert(frame)
        packets = []
        for frame in ready:
            if frame is not None:  # timed by its samples from where it starts: a joined MPEG-TS's parser
                if self.start is None:  # times the later packets at the first part's rate
                    self.start = self.next = frame.pts or 0
                frame.pts, self.next = self.next, self.next + frame.samples
            for encoded in self.encoder.encode(frame):
                # (the encoder's priming, and a packet mostly of it: AAC's 1024 samples, LAME's 1105 of 1152; AC-3's
                # first packet, 256 of 1536, is kept: a count-timed .avi's sound moves by the least either way)
                if encoded.pts is not None and encoded.pts + (encoded.duration or 0) / 2 < self.start:
                    continue
                framed = self._framed(encoded)
                framed.pts, framed.dts, framed.duration = encoded.pts, encoded.dts, encoded.duration
                framed.time_base, framed.stream = self.encoder.time_base, self.out
                packets.append(framed)
        return packets


class AdtsChange(KindChange):
    """Copied ADTS AAC (MPEG-TS's) whose kind changes mid-stream (`KindChange`): MP4, MOV and
    Matroska strip the ADTS headers and keep the first; re-encoded as AAC-LC of the first kind."""

    def _kind(self, header: bytes) -> tuple[int, ...] | None:
        return adts_kind(header[:7])

    def _keeps(self, first: tuple[int, ...]) -> bool:
        # (LC only, at the rate the stream says: HE-AAC's header gives its core's half rate)
        return first[0] == ADTS_LC and first[1] == self.out.codec_context.sample_rate

    def _said(self, kind: tuple[int, ...]) -> str:
        return _adts_said(kind)

    def _encoder(self) -> av.audio.codeccontext.AudioCodecContext:
        context = self.out.codec_context
        encoder = av.CodecContext.create("aac", "w")
        encoder.sample_rate, encoder.layout, encoder.format = context.sample_rate, context.layout, "fltp"
        encoder.bit_rate = context.bit_rate or 128_000
        return encoder

    def _framed(self, encoded: av.Packet) -> av.Packet:
        # (with the ADTS header the copied packets have: the muxer's aac_adtstoasc takes it off)
        return av.Packet(adts_header(self.first, encoded.size) + bytes(encoded))


# The codecs `KindChange` re-encodes, as the notes name them.
CODEC_WORDS = {"aac": "AAC", "mp2": "MP2", "mp3": "MP3", "ac3": "AC-3", "eac3": "E-AC-3"}


def codec_name(stream: av.stream.Stream) -> str:
    """A stream's codec, not its decoder (mp3, not mp3float)."""
    return stream.codec_context.codec.canonical_name


def _channels_said(count: int) -> str:
    return {1: "mono", 2: "stereo"}.get(count, f"{count} channels")


class FrameHeaderChange(KindChange):
    """Copied MP2, MP3, AC-3 or E-AC-3 whose rate or channels change mid-stream (`KindChange`):
    re-encoded with the same codec at the stream's bit rate, in the kind its track states. That is
    the first packet's, or where FFmpeg read a later part's (joined MPEG-TS: MP3 that starts at
    44.1 kHz under a 48 kHz track), all of it."""

    def __init__(self, source: av.stream.Stream, out: av.stream.Stream, say: Callable[[str], None] = note) -> None:
        super().__init__(source, out, say)
        if codec_name(source) != "eac3":  # (E-AC-3's header counts its independent substream's channels: 6 of 7.1's 8)
            self.first = (out.codec_context.sample_rate, out.codec_context.layout.nb_channels)

    def _kind(self, header: bytes) -> tuple[int, ...] | None:
        return FRAME_HEADER_KINDS[codec_name(self.source)](header)

    def _keeps(self, first: tuple[int, ...]) -> bool:
        try:
            rates = av.Codec(codec_name(self.source), "w").audio_rates  # (E-AC-3's half rates: none takes them)
        except av.codec.codec.UnknownCodecError:  # (an FFmpeg built without that encoder: LAME's)
            return False
        return rates is None or first[0] in rates

    def _said(self, kind: tuple[int, ...]) -> str:
        return f"{kind[0]} Hz {_channels_said(kind[1])}"

    def _encoder(self) -> av.audio.codeccontext.AudioCodecContext:
        context = self.out.codec_context
        encoder = av.CodecContext.create(codec_name(self.source), "w")
        encoder.sample_rate, encoder.layout = context.sample_rate, context.layout
        encoder.format = encoder.codec.audio_formats[0]
        if context.bit_rate:
            encoder.bit_rate = context.bit_rate
        return encoder


def kind_change(source: av.stream.Stream, out: av.stream.Stream, say: Callable[[str], None] = note) -> KindChange | None:
    """What re-encodes copied `source` sound from where its kind changes (`KindChange`), for the
    codecs whose headers tell it (ADTS AAC, `FRAME_HEADER_KINDS`); None for the others."""
    if is_adts_aac(source):
        return AdtsChange(source, out, say)
    return FrameHeaderChange(source, out, say) if codec_name(source) in FRAME_HEADER_KINDS else None
