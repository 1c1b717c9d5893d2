"""The input's streams carried over besides the video (`CopiedStreams`): each packet of its sound,
subtitles, data and cover art copied, or re-encoded (sound decoded and encoded again, text
subtitles converted) where `output_streams.py` chose so, and timed by `carried_timing.py`; what
of them was damaged, left undecoded or left empty, said.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Callable, Sequence

import av

from realtime_adain.video.carried_timing import CarriedTiming, rescale
from realtime_adain.video.closing import LatePackets
from realtime_adain.video.left_out_sound import LeftOutSound
from realtime_adain.video.output_streams import OutputStreams
from realtime_adain.video.sound_conversion import SoundConverter
from realtime_adain.video.sound_decoding import SoundDecoder, undecoded_said
from realtime_adain.video.stream_copy import ADTS_KEEPING_FORMATS
from realtime_adain.video.video_packets import DECODE_TIMED_FORMATS


class CopiedStreams:
    """The output's streams other than its video, as the writer's `OutputStreams` added them to
    `container`: packets written (`write_packet`) through the writer's `mux`, which keeps each
    output stream's latest muxed in `muxed_at`; `note` says a line of this input."""

    def __init__(self, container: av.container.OutputContainer, path: Path, outputs: OutputStreams,
                 timing: CarriedTiming, late: LatePackets, left_out: LeftOutSound, mux: Callable[..., None],
                 muxed_at: dict[int, tuple[int, Fraction, int | None]], note: Callable[[str], None]) -> None:
        self.container, self.path = container, path
        self._outputs, self._timing, self._late, self._left_out = outputs, timing, late, left_out
        self._mux, self._muxed_at, self._note = mux, muxed_at, note
        self.streams, self.transcoded = outputs.streams, outputs.transcoded
        self._converters: dict[int, SoundConverter] = {}  # input stream index -> its re-encoded sound's converter
        self._decoders: dict[int, SoundDecoder] = {}  # input stream index -> its re-encoded sound's decoder
        self._damaged: set[int] = set()  # re-encoded streams with a packet that did not decode (noted once each)
        self._covers_muxed: set[int] = set()  # input indices of cover art whose picture went to the muxer

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
            # A packet the demuxer flags corrupt (cut short, say: it would not decode); not where ADTS
            # frames are judged whole above: MPEG-TS flags every frame of a PES that lost a TS packet,
            # and the whole ones decode.
            if framing is None and packet.is_corrupt and packet.stream.type == "audio":
                self._left_out.add(index, packet, flagged=True)
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

    def partly_reencoded(self) -> dict[int, str]:
        """Input index -> why a stream copied at first was re-encoded from some point on
        (`KindChange`), for `--json`."""
        return {index: change.reason for index, change in self._outputs.kind_changes.items() if change.reason}

    def _note_damaged(self, index: int, kind: str) -> None:
        if index not in self._damaged:
            self._note(f"stream #{index}: a damaged {kind} packet was skipped (FFmpeg skips it the same way)")
        self._damaged.add(index)

    def note_silent_streams(self, within: str | None) -> None:
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

    def flush(self) -> None:
        """Flush the re-encoded sound's decoders and encoders, and the copied sound that changed kind,
        and mux what they held (as the file is finished)."""
        for index, source in self.transcoded.items():
            if source.type != "audio":
                continue
            self._encode_audio(index, self._decoded(index, source, None))
            self._encode_audio(index, None)
        for index, change in self._outputs.kind_changes.items():
            for each in change.flush():
                self._timing.mux_increasing(each, self.streams[index], index)
