"""Sound the output cannot carry as it is, made into sound it can: decoded in FFmpeg's native
channel order (`decoder_layout`, `reorder_channels`), converted to the encoder's sample format,
layout and rate even where the input's changes mid-stream (`SoundConverter`), copied ADTS AAC
that changes kind mid-stream re-encoded from there as its first kind (`AdtsChange`), and copied
AAC that states its kind nowhere given ADTS headers that state it (`RawAacFraming`).

Kept apart from `writer.py`, which decides what is copied, re-encoded or dropped and muxes it:
this is the audio-only part of re-encoding, stream by stream, with no muxing of its own.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction
from typing import Sequence

import av
from av.audio.plane import AudioPlane
import numpy as np

from realtime_adain.video.formats import ADTS_RATES, adts_header, adts_kind
from realtime_adain.video.notes import note


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

    def __init__(self, context: av.audio.codeccontext.AudioCodecContext, index: int) -> None:
        self.target = (context.format.name, context.layout.name, context.sample_rate)
        self.index = index
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
            note(f"stream #{self.index}: the sound changes mid-stream ({was[2]} Hz {was[1]} {was[0]} to "
                 f"{kind[2]} Hz {kind[1]} {kind[0]}); all of it is encoded as {target[2]} Hz {target[1]}, "
                 "as FFmpeg converts it")
        self.noted = True


# ADTS's channel configurations (ISO 14496-3) in words; 0: the stream's own (a PCE).
ADTS_LAYOUTS = {0: "channels set in the stream", 1: "mono", 2: "stereo", 3: "3.0", 4: "4.0", 5: "5.0", 6: "5.1",
                7: "7.1"}


def _adts_said(kind: tuple[int, int, int]) -> str:
    """An ADTS kind (`adts_kind`) in words: 48000 Hz stereo."""
    return f"{kind[1]} Hz {ADTS_LAYOUTS[kind[2]]}"


class AdtsChange:
    """Copied ADTS AAC (MPEG-TS's) whose kind changes mid-stream, into a container that states
    the kind once, in the track's header (MP4, MOV and Matroska strip the ADTS headers): files
    joined at another rate or channel count (a 44.1 kHz clip after a 48 kHz one, a broadcast's
    2.0 then 5.1) played the later part as the first kind (44.1 kHz at 48: 9% fast and high, the
    sound ahead of the pictures), as `ffmpeg -c copy` leaves it. From the first packet of another
    kind on, the sound is decoded and encoded again as the track's first kind (AAC-LC, its rate
    and channels), as `ffmpeg` converts it; the packets before stay copied."""

    def __init__(self, source: av.stream.Stream, out: av.stream.Stream) -> None:
        self.source, self.out = source, out
        self.first: tuple[int, int, int] | None = None  # (profile, rate, channels) of the first packet
        self.encoder: av.audio.codeccontext.AudioCodecContext | None = None
        self.converter: SoundConverter | None = None
        self.start: int | None = None  # where the re-encoded sound starts (encoder time base; the priming before
        self.next = 0  # it is dropped) and where its next frame starts
        self.reason: str | None = None  # what the note said, once re-encoding began (`--json`)

    def packets(self, packet: av.Packet) -> list[av.Packet] | None:
        """None: copy `packet` as it is; else what to mux in its place (re-encoded)."""
        if self.encoder is None:
            kind = adts_kind(bytes(memoryview(packet)[:7]))  # (the header: the packet is not copied)
            if self.first is None:
                self.first = kind
                return None
            # (LC only, at the rate the stream says: HE-AAC's header gives its core's half rate)
            first = self.first
            if kind is None or kind == first or first[0] != 1 or first[1] != self.out.codec_context.sample_rate:
                return None
            self._open(kind)
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

    def _open(self, kind: tuple[int, int, int]) -> None:
        context = self.out.codec_context
        encoder = av.CodecContext.create("aac", "w")
        encoder.sample_rate, encoder.layout, encoder.format = context.sample_rate, context.layout, "fltp"
        encoder.time_base = Fraction(1, context.sample_rate)
        encoder.bit_rate = context.bit_rate or 128_000
        encoder.open()
        self.encoder, self.converter = encoder, SoundConverter(encoder, self.source.index)
        self.converter.noted = True  # (said here, once)
        self.reason = (f"the sound changes mid-stream ({_adts_said(self.first)} to {_adts_said(kind)}); the output's "
                       "track holds one kind: the AAC from there is re-encoded as the first, as FFmpeg converts it")
        note(f"stream #{self.source.index}: {self.reason}")

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
                if encoded.pts is not None and encoded.pts < self.start:  # (the encoder's priming)
                    continue
                # (with the ADTS header the copied packets have: the muxer's aac_adtstoasc takes it off)
                framed = av.Packet(adts_header(self.first, encoded.size) + bytes(encoded))
                framed.pts, framed.dts, framed.duration = encoded.pts, encoded.dts, encoded.duration
                framed.time_base, framed.stream = self.encoder.time_base, self.out
                packets.append(framed)
        return packets


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

    def framed(self, packet: av.Packet) -> av.Packet:
        """`packet`, with the ADTS header where the stream's packets have none."""
        if self.frames is None:
            self.frames = self.kind is not None and adts_kind(bytes(memoryview(packet)[:7])) is None
        if not self.frames or not packet.size:
            return packet
        framed = av.Packet(adts_header(self.kind, packet.size) + bytes(packet))
        framed.pts, framed.dts, framed.duration = packet.pts, packet.dts, packet.duration
        framed.time_base, framed.stream, framed.is_keyframe = packet.time_base, packet.stream, packet.is_keyframe
        return framed
