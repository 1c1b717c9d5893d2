"""The timing of the streams carried beside the video (copied or re-encoded): decode times kept
increasing where the muxer would refuse them (`keep_increasing`), gaps in the sound filled with
silence where the container counts samples or plays sound from the file's start (`fill_gap`,
`fill_coded_gap`, `silence_before`), and re-encoded sound's packets timed where the encoder gives
no time (`continue_timing`). `rescale`: timestamps between time bases as FFmpeg's muxing rounds them.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Callable, Iterator

import av
import numpy as np

from realtime_adain.video.stream_copy import (LONGEST_FILLED_GAP, SHORTEST_GAP, SILENCE_CHUNK_S, adpcm_block_bytes,
                                              fills_gaps, pcm_sample_bytes, sound_from_zero)


def rescale(value: int, source: Fraction, target: Fraction) -> int:
    """`value` ticks of `source` in ticks of `target`, rounded half away from zero as FFmpeg's
    muxing rescale does (av_rescale_q_rnd with AV_ROUND_NEAR_INF); in whole numbers (three
    Fractions a packet were seconds of copying a million packets of telemetry)."""
    num = value * source.numerator * target.denominator
    den = source.denominator * target.numerator
    whole, left = divmod(abs(num), den)
    whole += 2 * left >= den
    return whole if num >= 0 else -whole


class CarriedTiming:
    """The timing of the carried streams' packets muxed into `container` (`mux`: hand one to the muxer;
    `note`: say a line of this input), stream by stream (input indices)."""

    def __init__(self, container: av.container.OutputContainer, note: Callable[[str], None],
                 mux: Callable[[av.Packet], None]) -> None:
        self.container = container
        self._note, self._mux = note, mux
        self._last_dts: dict[int, int] = {}  # input stream index -> last copied packet's dts
        self._pcm_end: dict[int, Fraction] = {}  # input stream index -> where its latest PCM packet ends (s)
        self.longest_gap: Fraction | None = None  # the longest gap in the sound left unfilled (`_fills`)
        self._coded_end: dict[int, Fraction] = {}  # input stream index -> where its copied compressed sound ends (s)
        self._sound_end: dict[int, Fraction] = {}  # input stream index -> where its re-encoded sound ends (s)
        # Input stream index -> its latest re-encoded packet's (pts, end, time base).
        self._encoded_end: dict[int, tuple[int, int, Fraction]] = {}
        self._moved: set[int] = set()  # copied streams whose timestamps were moved (noted once each)

    def fill_gap(self, packet: av.Packet, out: av.stream.Stream, index: int) -> None:
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
            self.mux_increasing(silence, out, index)

    def from_zero(self, packet: av.Packet, out: av.stream.Stream, index: int) -> av.Packet | None:
        """A copied (or encoded) audio `packet` of input stream `index` that starts before zero (a
        `--start` segment's first, an MP4's AAC priming, an encoder's delay), as it plays where the
        container plays sound from the file's start (`sound_from_zero`: AVI), which would play it
        from zero, all of the sound after it late by that much (0.25 s of a 0.5 s PCM packet). PCM is cut to the sample;
        a compressed packet is kept (late by the part before zero) or dropped (the sound then early
        by the part after) whichever is less, said where that is over a video frame. None: dropped."""
        pts, duration, time_base = packet.pts, packet.duration, packet.time_base
        if out.type != "audio" or pts is None or pts >= 0 or not duration or not time_base \
                or not sound_from_zero(self.container.format.name):
            return packet
        before, length = -pts * Fraction(time_base), duration * Fraction(time_base)
        context = out.codec_context
        width, rate = pcm_sample_bytes(context.name), context.sample_rate
        if width and rate and context.channels:
            sample_bytes = width * context.channels
            cut = min(round(before * rate), packet.size // sample_bytes)
            if cut * sample_bytes >= packet.size:
                return None
            left = av.Packet(bytes(packet)[cut * sample_bytes:])
            left.time_base, left.pts, left.dts = Fraction(1, rate), 0, 0
            left.duration, left.stream = left.size // sample_bytes, out
            return left
        kept = 2 * before <= length
        error = before if kept else length - before
        frame = self._video_frame()
        if error > frame:
            self._note(f"stream #{index}: its first packet starts {float(before):.3f} s before the pictures and "
                       f"cannot be cut; {self.container.format.name.upper()} plays sound from the file's start, so "
                       f"the sound is {float(error):.3f} s {'late' if kept else 'early'}")
        return packet if kept else None

    def frame_from_zero(self, frame: av.AudioFrame) -> av.AudioFrame | None:
        """Decoded `frame` (to re-encode) cut to start at zero where it starts before, where the
        container plays sound from the file's start (`sound_from_zero`: AVI would play it from zero,
        late by the part before). None: it ends by zero."""
        if frame.pts is None or frame.pts >= 0 or not frame.time_base or not frame.sample_rate \
                or not sound_from_zero(self.container.format.name):
            return frame
        cut = round(-frame.pts * Fraction(frame.time_base) * frame.sample_rate)
        if cut >= frame.samples:
            return None
        samples = frame.to_ndarray()
        left = samples[:, cut:] if frame.format.is_planar else samples[:, cut * frame.layout.nb_channels:]
        cut_frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(left), format=frame.format.name,
                                               layout=frame.layout.name)
        cut_frame.sample_rate, cut_frame.time_base, cut_frame.pts = frame.sample_rate, frame.time_base, 0
        return cut_frame

    def _video_frame(self) -> Fraction:
        """A video frame's time (s) of the output: its stream's time base, where it counts frames
        (AVI; else a 25 fps frame's)."""
        video = self.container.streams.video
        frame = Fraction(video[0].time_base) if video and video[0].time_base else Fraction(0)
        return frame if Fraction(1, 200) <= frame <= Fraction(1, 2) else Fraction(1, 25)

    def _fills(self, index: int, gap: Fraction) -> bool:
        """Whether a `gap` (s) in input stream `index`'s sound is filled with silence: from
        SHORTEST_GAP to LONGEST_FILLED_GAP; a longer one is said (once a stream) and left."""
        if gap > LONGEST_FILLED_GAP:
            if self.longest_gap is None:
                self._note(f"stream #{index}: a gap of {float(gap):.0f} s in its sound is left as it is, not filled "
                           f"with silence (longer than {float(LONGEST_FILLED_GAP):.0f} s: damaged timestamps?)")
            self.longest_gap = max(gap, self.longest_gap or gap)
            return False
        return gap >= SHORTEST_GAP

    def fill_coded_gap(self, packet: av.Packet, out: av.stream.Stream, index: int) -> None:
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
            self.mux_increasing(silent, out, index)

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

    def silence_before(self, index: int, frame: av.AudioFrame | None) -> Iterator[av.AudioFrame]:
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

    def continue_timing(self, packet: av.Packet, index: int) -> None:
        """Time an encoded audio packet that comes without a timestamp, or one before the previous
        packet's, where the previous one ends. PyAV's resampler gives the samples it held at the end
        without a timestamp; the FLAC encoder times its closing packet (the header's final
        checksum) from that frame's, from nothing: at -2**63 + 1536, which Matroska refused."""
        before = self._encoded_end.get(index)
        if before is not None and (packet.pts is None or packet.pts < before[0]):
            end = rescale(before[1], before[2], packet.time_base) if packet.time_base else before[1]
            packet.pts = packet.dts = end
        if packet.pts is not None and packet.time_base:
            self._encoded_end[index] = (packet.pts, packet.pts + (packet.duration or 0), packet.time_base)

    def mux_increasing(self, packet: av.Packet, out: av.stream.Stream, index: int) -> None:
        """Mux a copied or re-encoded packet of input stream `index`, its decode time kept increasing."""
        self.keep_increasing(packet, out, index)
        self._mux(packet)

    def keep_increasing(self, packet: av.Packet, out: av.stream.Stream, index: int) -> None:
        """Move a copied packet whose decode time does not increase one tick after the previous
        one (as FFmpeg does: "Non-monotonic DTS ... changing to"); the muxer would refuse it.
        Muxers that take a repeated decode time (Matroska, FLV: FFmpeg's AVFMT_TS_NONSTRICT) get
        it, as `ffmpeg` gives it: a Blu-ray's TrueHD comes 1200 packets a second, and each moved
        one millisecond on put a .mkv's sound 20% late by its end. One that goes back is moved a
        tick after the previous one there too: moved onto its time, the first sound packet after
        a `cat` join of two .ts files shared the last one's, and `ffmpeg -i out.mkv` said "non
        monotonically increasing dts".

        Compared in the output stream's time base, which the muxer rescales to: two input ticks
        apart can be one output tick (MPEG-TS 1/90000 into an MP4's 1/48000 audio). A moved packet
        is given in the output's time base."""
        dts = packet.dts
        if dts is None:
            return
        tb_in, tb_out = packet.time_base, out.time_base
        scaled = rescale(dts, tb_in, tb_out) if tb_in and tb_out else dts
        last = self._last_dts.get(index)
        repeats = bool(self.container.format.flags & av.format.Flags.ts_nonstrict.value)
        if last is not None and (scaled < last or (scaled == last and not repeats)):
            if index not in self._moved:
                self._note(f"stream #{index}: packet timestamps that do not increase (at {dts}); moving them on")
            self._moved.add(index)
            scaled = last + 1
            if tb_in and tb_out and tb_in != tb_out:
                pts = rescale(packet.pts, tb_in, tb_out) if packet.pts is not None else None
                duration = rescale(packet.duration, tb_in, tb_out) if packet.duration else packet.duration
                packet.time_base = tb_out
                packet.pts, packet.duration = pts, duration
            packet.dts = scaled
            if packet.pts is not None and packet.pts < scaled:
                packet.pts = scaled
        self._last_dts[index] = scaled
