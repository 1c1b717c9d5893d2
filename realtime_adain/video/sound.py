"""Sound the output cannot carry as it is, made into sound it can: decoded in FFmpeg's native
channel order (`decoder_layout`, `reorder_channels`), converted to the encoder's sample format,
layout and rate even where the input's changes mid-stream (`SoundConverter`), copied ADTS AAC,
MP2, MP3, AC-3 or E-AC-3 that changes kind mid-stream re-encoded from there as its first kind
(`KindChange`), and copied AAC that states its kind nowhere given ADTS headers that state it
(`RawAacFraming`).

Kept apart from `output_streams.py`, which decides what is copied, re-encoded or dropped, and
`writer.py`, which muxes it: this is the audio-only part of re-encoding, stream by stream, with
no muxing of its own.
"""

from __future__ import annotations

import abc
import functools
import math
from fractions import Fraction
from typing import Callable, Sequence

import av
import av.logging
from av.audio.plane import AudioPlane
import numpy as np

from realtime_adain.video.stream_copy import ADTS_RATES, adts_frame_whole, adts_header, adts_kind, is_adts_aac
from realtime_adain.notes import note


@functools.cache
def _native_places() -> dict[str, int]:
    """FFmpeg's channel names (FL, FR, FC, LFE, BL...) -> their place in its native order."""
    places = {}
    for place in range(64):
        name = av.AudioLayout(hex(1 << place)).channels[0].name
        if not name.startswith("USR"):  # (unassigned)
            places[name] = place
    return places


# Layouts for channels of an unspecified order where FFmpeg's default for the count is a poor
# guess: for 3 it is 2.1, making the third channel (a centre: L R C) a subwoofer, which a downmix
# drops (3-channel PCM in .mkv into .webm: silence) and AAC cuts to its lowest tones.
UNNAMED_LAYOUTS = {3: "3.0"}


def decoder_layout(stream: av.stream.Stream) -> tuple[av.AudioLayout, list[int] | None]:
    """Give an input audio stream's decoder, before it opens, its channel layout in FFmpeg's native
    order; returns that layout and, for a PCM stream whose samples come in another order, where
    each of its channels is in them (None: as they come).

    A MOV `chan` atom may list the channels in an order of its own (7.1 as FL FR FC LFE SL SR BL
    BR, as `ffmpeg` writes it from PCM): FFmpeg 8 reads that as a custom-order layout, which PyAV
    mishandles: each layout object it makes of one (a frame's, `codec_context.channels`) shares
    the channel map and frees it when dropped, so reading its name raised UnicodeDecodeError and
    the heap was corrupt ("corrupted size vs. prev_size", exit 134). Here the map is read once,
    while the decoder still owns it; then the decoder gets the native layout of those channels,
    and the one object made of the old layout, its only owner now, frees it once. A PCM decoder
    hands out samples in the container's order, so the caller puts them in native order (as
    FFmpeg's resampler does: `ffmpeg -i 7.1.mov out.mp4` writes 7.1 AAC)."""
    context = stream.codec_context
    held = context.layout  # shares the decoder's channel map: kept until the decoder has another layout
    names = [channel.name for channel in held.channels]
    count, places = len(names), _native_places()
    if not count:
        return av.AudioLayout("stereo"), None  # the decoder finds out (the encoder gets stereo)
    order = None
    if len(set(names)) == count and all(name in places for name in names):
        layout = av.AudioLayout(hex(sum(1 << places[name] for name in names)))
        native = [channel.name for channel in layout.channels]
        if native != names and context.codec.name.startswith("pcm_"):  # other decoders order their own output
            order = [names.index(name) for name in native]
    else:  # channels FFmpeg does not name (an unspecified order): FFmpeg's default for the count
        layout = av.AudioLayout(UNNAMED_LAYOUTS.get(count, f"{count}c"))
    context.layout = layout
    del held  # frees a custom layout's map (a native or unspecified one has none)
    return layout, order


def reorder_channels(frame: av.AudioFrame, order: list[int], layout: av.AudioLayout) -> av.AudioFrame:
    """`frame`'s samples with channel i taken from channel `order[i]`, labelled `layout`. Copied
    plane by plane as bytes: PyAV's `planes`, `to_ndarray` and `from_ndarray` count a frame's
    planes up to a null pointer, which 8 planar channels do not have (a segfault)."""
    channels, width = len(order), frame.format.bytes
    if frame.format.is_planar and channels > 8:  # PyAV's own frames hold 8 planes at most: left as they are
        return frame
    out = av.AudioFrame(format=frame.format.name, layout=layout, samples=frame.samples)
    if frame.format.is_planar:
        for target, source in enumerate(order):
            data = np.frombuffer(AudioPlane(frame, source), np.uint8, count=frame.samples * width)
            AudioPlane(out, target).update(data.tobytes())
    else:  # interleaved: samples x channels x bytes
        data = np.frombuffer(AudioPlane(frame, 0), np.uint8, count=frame.samples * channels * width)
        AudioPlane(out, 0).update(data.reshape(frame.samples, channels, width)[:, order].tobytes())
    out.sample_rate, out.pts, out.time_base = frame.sample_rate, frame.pts, frame.time_base
    return out


class SoundDecoder:
    """Decodes the packets of one input audio stream that is re-encoded, telling a packet that
    does not decode (damage: skipped, as FFmpeg skips it) from a stream none of which decodes:
    FFmpeg 8's TrueHD decoder fails on every packet of 5.1 TrueHD that FFmpeg 5's encoder wrote,
    which was said as "a damaged packet", then "no packets", the track silently lost. Until a
    packet decodes, the decoder's own reason (which it logs; the error says only "Invalid data
    found") is kept for the note."""

    def __init__(self, stream: av.stream.Stream) -> None:
        self.stream = stream
        self.decoded = False  # whether a packet gave sound
        self.failed = False  # whether a packet did not decode
        self.reason: str | None = None  # the decoder's reason for the first that did not, before any gave sound

    @property
    def damaged(self) -> bool:
        """Whether some packets did not decode where others did (skipped: damage)."""
        return self.decoded and self.failed

    def decode(self, packet: av.Packet | None) -> list[av.AudioFrame]:
        """The frames of `packet` (None: what the decoder still holds); raises FFmpeg's error."""
        if self.decoded:
            try:
                return self.stream.codec_context.decode(packet)
            except av.error.FFmpegError:
                self.failed = self.failed or packet is not None  # (what a decoder held at the end: nothing more)
                raise
        level = av.logging.get_level()
        av.logging.set_level(av.logging.ERROR)
        try:
            with av.logging.Capture() as logged:  # (this thread's lines alone)
                frames = self.stream.codec_context.decode(packet)
        except av.error.FFmpegError as exc:
            self.failed = self.failed or packet is not None
            if self.reason is None:
                said = logged[0][2] if logged else exc.strerror or str(exc)
                self.reason = said.strip().splitlines()[0][:160].rstrip(".") if said.strip() else type(exc).__name__
            raise
        finally:
            av.logging.set_level(level)
        self.decoded = bool(frames)
        return frames


def undecoded_said(decoder: SoundDecoder, suffix: str) -> str:
    """Why the output has no sound of a stream none of which decoded (`SoundDecoder`), in words."""
    hint = "" if suffix == ".mkv" else " (.mkv copies it as it is)"
    return (f"none of it decodes (FFmpeg's {decoder.stream.codec_context.codec.name} decoder: {decoder.reason}): "
            f"{suffix} gets no sound of it{hint}")


def _sound_format(frame: av.AudioFrame) -> tuple[str, str, int]:
    return frame.format.name, frame.layout.name, frame.sample_rate


class SoundConverter:
    """Decoded frames of one input audio stream in its encoder's sample format, layout and rate.

    Broadcast captures and joined files change these mid-stream (48 kHz to 44.1 kHz, 2.0 to 5.1 for
    an ad break, 16 to 24 bits). The encoder's own resampler (PyAV's) is set up by the first frame:
    a later frame of another kind raised "Frame does not match AudioResampler setup" (a traceback),
    or, where it passes frames through (PCM, FLAC), was written as if of the first kind (half speed,
    noise). Here a resampler is made for each run of frames alike, the one before emptied first;
    the encoder keeps the first kind, as `ffmpeg` keeps its output's (noted once)."""

    def __init__(self, context: av.audio.codeccontext.AudioCodecContext, index: int,
                 say: Callable[[str], None] = note) -> None:
        self.target = (context.format.name, context.layout.name, context.sample_rate)
        self.index = index
        self.say = say  # gives a note (the writer's: named by the input)
        self.source: tuple[str, str, int] | None = None  # the kind of frames the resampler takes
        self.resampler: av.AudioResampler | None = None
        self.noted = False
        self.next_pts: tuple[int, int] | None = None  # (sample rate, where the latest frame ends in its samples)

    def convert(self, frame: av.AudioFrame | None) -> list[av.AudioFrame]:
        """`frame` in the encoder's kind (None: what the resampler still holds, at the end)."""
        if frame is None:
            return self.resampler.resample(None) if self.resampler else []
        self._time_in_samples(frame)
        kind, done = _sound_format(frame), []
        if self.resampler is not None and kind != self.source:
            done = self.resampler.resample(None)
            self._note_change(kind)
            self.resampler = None
        if self.resampler is None:
            fmt, layout, rate = self.target
            self.resampler, self.source = av.AudioResampler(format=fmt, layout=layout, rate=rate), kind
        return done + self.resampler.resample(frame)

    def _time_in_samples(self, frame: av.AudioFrame) -> None:
        """Time `frame` in its samples (1/rate), where the last one ended if that is within one
        tick of its own time, as `ffmpeg` times decoded sound. An AVI times ADPCM by its blocks, MP3
        by its frames, a .mkv in milliseconds: the encoder's frames (1152 samples of MP2, 1024 of
        AAC) were each given the time of the input frame they began in, rounded to its ticks: two
        MP2 frames at one time, AAC frames 1152 and 576 or 1008 and 1056 samples apart."""
        rate, time_base = frame.sample_rate, frame.time_base
        if frame.pts is None or not rate or not time_base:
            return
        tick = Fraction(time_base) * rate  # one tick of the input's time base, in samples
        pts = math.floor(frame.pts * tick + Fraction(1, 2))
        if self.next_pts is not None and self.next_pts[0] == rate and abs(pts - self.next_pts[1]) <= max(1, tick):
            pts = self.next_pts[1]
        frame.pts, frame.time_base = pts, Fraction(1, rate)
        self.next_pts = (rate, pts + frame.samples)

    def _note_change(self, kind: tuple[str, str, int]) -> None:
        if not self.noted:
            was, target = self.source, self.target
            self.say(f"stream #{self.index}: the sound changes mid-stream ({was[2]} Hz {was[1]} {was[0]} to "
                 f"{kind[2]} Hz {kind[1]} {kind[0]}); all of it is encoded as {target[2]} Hz {target[1]}, "
                 "as FFmpeg converts it")
        self.noted = True


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


# MPEG audio's sampling frequency index -> Hz (MPEG-1; MPEG-2 halves them, MPEG-2.5 quarters them).
MPEG_AUDIO_RATES = (44100, 48000, 32000)
MPEG_AUDIO_DIVISORS = {3: 1, 2: 2, 0: 4}  # version field -> divisor (1: reserved)
# AC-3's fscod -> Hz (E-AC-3's fscod 3: its fscod2 gives half these), and acmod -> full-range channels.
AC3_RATES = (48000, 44100, 32000)
AC3_CHANNELS = (2, 1, 2, 3, 3, 4, 4, 5)
# bsid values of E-AC-3 (AC-3's are up to 10).
EAC3_BSIDS = range(11, 17)


def mpeg_audio_kind(header: bytes) -> tuple[int, int] | None:
    """(sample rate, channels) an MPEG audio frame header (MP2, MP3) gives; None where `header`
    does not start with one."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    divisor, rate = MPEG_AUDIO_DIVISORS.get(header[1] >> 3 & 3), header[2] >> 2 & 3
    if divisor is None or rate == 3 or not header[1] >> 1 & 3:
        return None
    return MPEG_AUDIO_RATES[rate] // divisor, 1 if header[3] >> 6 == 3 else 2


def ac3_kind(header: bytes) -> tuple[int, int] | None:
    """(sample rate, channels with the LFE) an AC-3 or E-AC-3 frame header gives (E-AC-3: its
    independent substream's); None where `header` does not start with one."""
    if len(header) < 8 or header[:2] != b"\x0b\x77":
        return None
    if header[5] >> 3 in EAC3_BSIDS:
        fscod, acmod, lfe = header[4] >> 6, header[4] >> 1 & 7, header[4] & 1
        if fscod == 3:
            half = header[4] >> 4 & 3
            return None if half == 3 else (AC3_RATES[half] // 2, AC3_CHANNELS[acmod] + lfe)
        return AC3_RATES[fscod], AC3_CHANNELS[acmod] + lfe
    if header[4] >> 6 == 3 or header[5] >> 3 > 10:
        return None
    bits = int.from_bytes(header[6:8], "big")  # acmod (3 bits), the mix levels it has, lfeon
    acmod, left = bits >> 13, 13
    left -= 2 * ((acmod & 1 and acmod != 1) + bool(acmod & 4) + (acmod == 2))
    return AC3_RATES[header[4] >> 6], AC3_CHANNELS[acmod] + (bits >> left - 1 & 1)


# Codecs whose every frame header states its rate and channels -> that header's reader.
FRAME_HEADER_KINDS = {"mp2": mpeg_audio_kind, "mp3": mpeg_audio_kind, "ac3": ac3_kind, "eac3": ac3_kind}
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


# Channel counts -> the ADTS channel configuration FFmpeg's AAC decoder assumes for them where a
# stream states none (7 channels is configuration 11, which ADTS's 3 bits cannot hold).
ADTS_CHANNEL_CONFIGS = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 8: 7}
ADTS_LC = 1  # an ADTS header's profile field for AAC-LC (its audio object type less one)


def assumed_adts_kind(stream: av.stream.Stream) -> tuple[int, int, int] | None:
    """The kind (`adts_kind`) FFmpeg's AAC decoder plays a stream with no decoder configuration as:
    AAC-LC at the rate and channel count the container states (SBR, if any, found as it plays);
    None where ADTS cannot state it (a rate outside its table, 7 or over 8 channels) or the
    decoder found HE-AAC (whose stated rate may be the doubled one)."""
    context = stream.codec_context
    config = ADTS_CHANNEL_CONFIGS.get(context.channels)
    if context.sample_rate not in ADTS_RATES or config is None or (context.profile or "LC") != "LC":
        return None
    return ADTS_LC, context.sample_rate, config


class RawAacFraming:
    """Copied AAC with no decoder configuration (AudioSpecificConfig) anywhere: no extradata, and
    no ADTS header on its packets (MOV, MP4 or NUT written without the esds's config). FFmpeg plays
    it (`assumed_adts_kind`), but muxers cannot carry it: Matroska refused its first packet (the
    run failed, as `ffmpeg -c copy` does), MPEG-TS wrote sound no player decodes. Each packet is
    given the ADTS header of that kind, as MPEG-TS carries AAC: MPEG-TS keeps it, and the other
    muxers build the track's configuration from it (FFmpeg's aac_adtstoasc) and take it off.
    Copied as it is: no sound is lost. A stream whose packets have ADTS headers is left alone."""

    def __init__(self, stream: av.stream.Stream) -> None:
        self.kind = assumed_adts_kind(stream)
        self.frames: bool | None = None  # whether packets are framed (None: decided by the first)
        self.headed = False  # whether the stream's packets have ADTS headers (one had, or all are given one)

    def framed(self, packet: av.Packet) -> av.Packet:
        """`packet`, with the ADTS header where the stream's packets have none."""
        has_header = adts_kind(bytes(memoryview(packet)[:7])) is not None
        if self.frames is None:
            self.frames = self.kind is not None and not has_header
        self.headed = self.headed or self.frames or has_header
        # (one that has a header is left as it is: a stream whose first packet lost its header (a TS
        # packet lost there) was taken for unframed AAC, and every later packet got a second header)
        if not self.frames or not packet.size or has_header:
            return packet
        framed = av.Packet(adts_header(self.kind, packet.size) + bytes(packet))
        framed.pts, framed.dts, framed.duration = packet.pts, packet.dts, packet.duration
        framed.time_base, framed.stream, framed.is_keyframe = packet.time_base, packet.stream, packet.is_keyframe
        return framed

    def damaged(self, packet: av.Packet) -> bool:
        """Whether a `framed` packet of a stream with ADTS headers is not one whole ADTS frame
        (`adts_frame_whole`): a TS packet lost mid-frame. FFmpeg's aac_adtstoasc (MP4, MOV,
        Matroska) refused it and ended the run, as `ffmpeg -c copy` fails; FFmpeg plays the
        input, skipping that frame. Not said of a stream none of whose packets has a header."""
        return self.headed and bool(packet.size) and not adts_frame_whole(bytes(packet))


class LeftOutSound:
    """Copied sound packets left out of an output (`RawAacFraming.damaged`, or one the muxer
    refused after others of its stream went in): the rest stays copied byte for byte, each packet
    at its own time (MP4, MOV and Matroska time every packet: a hole, no shift). Said once a
    stream, at the file's end (`notes`), with where the first few were."""

    SHOWN = 5  # the times a note lists

    def __init__(self) -> None:
        self.damaged: dict[int, list[Fraction | None]] = {}  # input index -> times (s) of damaged ones
        self.refused: dict[int, tuple[str, list[Fraction | None]]] = {}  # ... -> the muxer's reason, times

    def add(self, index: int, packet: av.Packet, refused: str | None = None) -> None:
        """Count `packet` of input stream `index` as left out: damaged, or `refused` (the muxer's reason)."""
        at = packet.pts * Fraction(packet.time_base) if packet.pts is not None and packet.time_base else None
        if refused is None:
            self.damaged.setdefault(index, []).append(at)
        else:
            self.refused.setdefault(index, (refused, []))[1].append(at)

    def notes(self, suffix: str) -> list[str]:
        """One line a stream for what was left out (none where nothing was)."""
        lines = []
        for index, times in self.damaged.items():
            frames, them = ("not a whole ADTS frame", "it") if len(times) == 1 else ("not whole ADTS frames", "them")
            lines.append(f"stream #{index}: {_packets_said(len(times), 'damaged sound packet')} left out "
                         f"({_times_said(times)}): {frames}, which {suffix} cannot hold (FFmpeg skips {them} as it "
                         "plays the input)")
        lines += [f"stream #{index}: {_packets_said(len(times), 'sound packet')} the {suffix} muxer refused left out "
                  f"({_times_said(times)}: {reason})" for index, (reason, times) in self.refused.items()]
        return lines


def _packets_said(count: int, what: str) -> str:
    return f"{count} {what}{'s' if count > 1 else ''}"


def _times_said(times: Sequence[Fraction | None]) -> str:
    known = [f"{float(at):.2f} s" for at in times if at is not None]
    if not known:
        return "at unknown times"
    return "at " + ", ".join(known[:LeftOutSound.SHOWN]) + (", ..." if len(known) > LeftOutSound.SHOWN else "")
