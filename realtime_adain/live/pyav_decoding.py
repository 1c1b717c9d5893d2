"""One pass over a live PyAV source's opened video stream, decoded (`DecodingPass`): a packet the
decoder rejects as damaged is skipped and said once a picture comes (`Damaged`), and the last
pictures frame threads lost there decoded again, as `video` decodes them; an image sequence's
pictures are named as they fail. `FrameConversion._decoded`
(live/pyav_conversion.py) makes one a pass."""

from __future__ import annotations

from collections import deque
from fractions import Fraction
from typing import Callable, Iterable, Iterator, NamedTuple

import av

from realtime_adain.notes import note
from realtime_adain.video.packets import TailPackets, within_run
from realtime_adain.video.picture_extras import alpha_decoder
from realtime_adain.video.picture_shape import bound_decoder
from realtime_adain.video.decoding import TAIL_BYTES, UNALIGNED, decoded_again, decoded_or_damage, decoder_threads
from realtime_adain.video.probing import error_reason
from realtime_adain.video.sequence import Sequence


class Damaged(NamedTuple):
    """A packet the decoder rejected (`decoded_or_damage`), skipped, and the note that says so."""

    error: av.FFmpegError
    said: str


class DecodingPass:
    """The decoded frames of one pass over `stream` of an opened `container` (a source's
    `description` and its image `sequence`, if it is one, name what is said; `aspect`: the stream's
    pixel aspect, bounding the decoders; `live`: decoded with no frame held back, as a live feed
    is, or a stream that is not paced; `open_again`: the file opened anew, where its last pictures
    may be decoded again)."""

    def __init__(
        self,
        container: av.container.InputContainer,
        stream: av.video.stream.VideoStream,
        aspect: Fraction,
        description: str,
        sequence: Sequence | None,
        live: bool,
        open_again: Callable[[], av.container.InputContainer] | None = None,
    ) -> None:
        self._container, self._stream, self._aspect = container, stream, aspect
        self.description, self.sequence, self.live = description, sequence, live
        self._open_again = open_again

    def pictures(self) -> Iterator[av.VideoFrame]:
        """The decoded frames. A packet the decoder rejects as damaged is skipped, as `video` skips
        it: the source was lost there and opened again at its start, so it never got past it (and
        a sequence played once never ended). It is said once a picture comes: a pass that gives
        none fails with its error (what arrives is no video it can decode: a URL serving text)."""
        failure, given, unsaid = None, False, {}
        for frames in self._sequence_decoded() if self.sequence is not None else self._video_decoded():
            if isinstance(frames, Damaged):
                failure, unsaid[frames.said] = frames.error, None
                frames = []
            given = given or bool(frames)
            if given and unsaid:
                for said in unsaid:
                    note(said, once=True)
                unsaid.clear()
            yield from frames
        if failure is not None and not given:
            raise failure

    def _video_decoded(self) -> Iterator[list[av.VideoFrame] | Damaged]:
        """Each video packet's frames, or `Damaged`; then the last frames, where frame threads
        lost them as they drained past a damaged packet (`decoded_again`, as `video` gives them):
        a file whose last packet was cut short played 39 of the 41 pictures FFmpeg and `video` read."""
        decoder = alpha_decoder(self._stream)  # WebM's VP8/VP9 alpha, as `video` reads it; new each pass
        if decoder is not None:
            decoder_threads(decoder, live=self.live)
            decoder.flags |= UNALIGNED
            bound_decoder(decoder, self._aspect)
        decode = (decoder or self._stream.codec_context).decode
        # (slice threads alone, a live feed's, lose none)
        tail = TailPackets(TAIL_BYTES) if self._open_again is not None and not self.live else None
        last = None  # the highest timestamp of a frame given so far
        for packet in self._container.demux(self._stream):
            if tail is not None:
                tail.add(packet)
            frames = decoded_or_damage(decode, packet)
            if isinstance(frames, av.FFmpegError):
                if tail is not None:
                    tail.damaged += 1
                yield self._packet_damaged(frames)
                continue
            stamps = [frame.pts for frame in frames if frame.pts is not None]
            last = max([*stamps, last] if last is not None else stamps, default=None)
            yield frames
        if tail is not None and tail.lost_after(last):
            for item in decoded_again(self._open_again, self._stream.index, tail.packets, last, self._aspect):
                yield self._packet_damaged(item[1]) if isinstance(item, tuple) else [item]

    def _packet_damaged(self, error: av.FFmpegError) -> Damaged:
        return Damaged(error, f"{self.description}: damaged video packets are skipped (FFmpeg conceals them the "
                              "same way)")

    def _sequence_decoded(self) -> Iterator[list[av.VideoFrame] | Damaged]:
        """An image sequence's pictures up to its first gap (FFmpeg fails on the gap, which ended
        the session as a lost source), as `video` plays it, or `Damaged` naming a picture. The
        decoder's frame threads give a picture, or its error, a few packets after it, in order:
        `held` (the packets sent whose pictures have not come back) says which one failed. As the
        decoder drains at the end, an error loses the pictures it still held (PyAV stops there),
        and a damaged last picture is dropped unsaid: those held are decoded again."""
        decode, held = self._stream.codec_context.decode, deque()
        for packet in within_run(self._container.demux(self._stream), self._stream, self.sequence.run):
            held.extend([packet] if packet.size else [])
            frames = decoded_or_damage(decode, packet)
            if isinstance(frames, av.FFmpegError) and not packet.size:
                break
            if isinstance(frames, av.FFmpegError):
                yield self._damaged(held.popleft(), frames)
                continue
            for frame in frames:  # (its packet, and any whose picture was lost before it)
                while held and frame.pts is not None and (held[0].pts or 0) <= frame.pts:
                    held.popleft()
            yield frames
        if held:
            yield from self._held_again(held)

    def _held_again(self, held: Iterable[av.Packet]) -> Iterator[list[av.VideoFrame] | Damaged]:
        """`held`'s pictures (each packet a whole picture) decoded by a decoder without threads,
        which gives each picture, or its error, at its own packet."""
        context = av.CodecContext.create(self._stream.codec_context.name, "r")
        context.thread_count = 1
        bound_decoder(context, self._aspect)
        for packet in [*held, None]:
            frames = decoded_or_damage(context.decode, packet)
            if not isinstance(frames, av.FFmpegError):
                yield frames
            elif packet is not None:  # (a decoder without threads holds nothing as it drains)
                yield self._damaged(packet, frames)

    def _damaged(self, packet: av.Packet, error: av.FFmpegError) -> Damaged:
        """A sequence's picture that does not decode, named (image2 times each by its place)."""
        name = self.sequence.file(self.sequence.start + (packet.pts or 0)).name
        return Damaged(error, f"{self.sequence.pattern}: {name} does not decode ({error_reason(error)}): it is "
                              "skipped, as `video` skips it")

