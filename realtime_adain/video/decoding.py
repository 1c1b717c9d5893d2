"""The video reader's decoding: the decoder's flags and threads, video packets to frames with
damaged ones skipped as FFmpeg's tools conceal them and play on (`decoded_or_damage`, `video` and
`live` alike), the last frames frame threads lost decoded again, and where the last picture stops
showing (`VideoDecoding`: what was read, rejected, concealed, lost and left undecoded, said at the
end in one note)."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import av

from realtime_adain import limits
from realtime_adain.errors import UserError
from realtime_adain.notes import note
from realtime_adain.video.demuxing import RUN_PACKETS
from realtime_adain.video.opening import open_input
from realtime_adain.video.damage import Damage, Recovery, Skips
from realtime_adain.video.packets import BeforeStart, CutSound, TailPackets
from realtime_adain.video.picture_extras import alpha_decoder
from realtime_adain.video.picture_shape import bound_decoder
from realtime_adain.video.probing import threads_refused, threads_refused_error
from realtime_adain.video.sequence import Sequence
from realtime_adain.video.streams import is_cover_art
from realtime_adain.video.stream_end import stated_end
from realtime_adain.video.timestamps import TimestampShift

# Video packets held since the latest keyframe, at most this many bytes, to decode the last frames
# again without frame threads where those threads lost them (`VideoDecoding._lost_at_end`).
TAIL_BYTES = 64 << 20
# FFmpeg's AV_CODEC_FLAG_OUTPUT_CORRUPT: the decoder gives the frames it concealed (see `Recovery`).
OUTPUT_CORRUPT = int(av.codec.context.Flags.output_corrupt)
# FFmpeg's AV_CODEC_FLAG_UNALIGNED: a crop the stream states (an H.264 SPS's) is applied whole;
# without it FFmpeg applies only as much of a left crop as keeps the planes aligned (16 columns
# cropped away were shown: 128x80 came out 144x80).
UNALIGNED = int(av.codec.context.Flags.unaligned)
DECODER_FLAGS = OUTPUT_CORRUPT | UNALIGNED
# Seconds of video packets after the last picture that decodes, said apart from damage
# (`VideoDecoding.note_damage`): another codec's pictures joined on, not a few flipped bytes.
UNDECODED_END_SECONDS = Fraction(1, 4)


def decoder_threads(decoder: av.video.stream.VideoStream | av.codec.context.CodecContext, live: bool = False) -> None:
    """Frame and slice threads in the decoder (slice threads alone for a `live` feed: each frame
    thread holds a frame back, 15 frames, 0.6 s, on 16 cores, unseen in the HUD's latency), or one
    thread where `ulimit -u` leaves no room for them (`limits.pools_reduced`): FFmpeg's threads
    took what room there was, and `live`'s source was lost, or a good file was said to have no frames."""
    decoder.thread_type = "SLICE" if live else "AUTO"
    if limits.pools_reduced:
        decoder.thread_count = 1


def decoded_or_damage(decode: Callable[[av.Packet | None], list[av.VideoFrame]],
                      packet: av.Packet | None) -> list[av.VideoFrame] | av.FFmpegError:
    """The frames `decode` gives for `packet`, or the error where the decoder rejects it as damaged,
    for the caller to skip it (FFmpeg's tools conceal it and play on): `video` and `live` alike.
    Threads FFmpeg could not start (`threads_refused`) are no damage: raised."""
    try:
        return decode(packet)
    except MemoryError:  # (PyAV's ENOMEM is an FFmpegError too)
        raise
    except av.FFmpegError as exc:
        if threads_refused(exc):
            raise
        return exc


def decoded_again(open_again: Callable[[], av.container.InputContainer], index: int, packets: list[av.Packet],
                  last: int, pixel_aspect: Fraction) -> Iterator[av.VideoFrame | tuple[av.Packet, av.FFmpegError]]:
    """`packets` (held since a keyframe: `TailPackets`) decoded again without frame threads, by
    stream `index`'s decoder in the file opened again (`open_again`): the frames after `last` (a
    timestamp) that `Recovery` shows, and each packet rejected, with its error, for the caller to
    count or say (`video` and `live` alike). At the end of a file the decoder reports a damaged
    packet among the last ones (one per thread) as it drains, and PyAV stops draining there: the
    frames the other threads held were lost (up to one per CPU core), where `ffmpeg` keeps them;
    a decoder without frame threads reports the damage at its packet. A file that cannot be opened
    again (`live`'s opening says so as a UserError), or reads differently, gives nothing more."""
    try:
        with open_again() as again:
            stream = again.streams[index]
            context = alpha_decoder(stream) or stream.codec_context  # (the decoder the first reading used)
            decoder_threads(context, live=True)
            bound_decoder(context, pixel_aspect)
            context.flags |= DECODER_FLAGS
            recovery, flush = Recovery(), av.Packet()
            flush.time_base = stream.time_base
            for packet in [*packets, flush]:
                frames = decoded_or_damage(context.decode, packet)
                if isinstance(frames, av.FFmpegError):
                    yield packet, frames
                    continue
                for frame in frames:
                    if recovery.keep(frame) and frame.pts is not None and frame.pts > last:
                        last = frame.pts
                        yield frame
    except (av.FFmpegError, OSError, IndexError, UserError):
        return


class VideoDecoding:
    """An opened video stream's packets decoded to frames for the reader (its `decoder`, `stream`,
    timestamps moved by `shift`, packets before a segment's start held by `before`), with what
    that tells: the video packets read (`video_packets`) and rejected as damaged (`damaged`), the
    pictures concealed and lost beside damage (`damage`), where the pictures stop short of the
    packets (`undecoded`), where the last one stops showing (`last_end`)."""

    def __init__(self, decoder: av.codec.context.CodecContext, stream: av.video.stream.VideoStream,
                 shift: TimestampShift, before: BeforeStart, path: Path, sequence: Sequence | None,
                 opened_name: str, options: dict, pixel_aspect: Fraction, format_name: str) -> None:
        """`path`, `sequence`, `opened_name` and `options`: the input as the reader opened it (to
        decode the last packets again: `_lost_at_end`); `format_name`: its demuxer's."""
        self.decoder, self.stream, self.shift, self._before = decoder, stream, shift, before
        self.path, self.sequence, self.pixel_aspect, self.format_name = path, sequence, pixel_aspect, format_name
        self._opened_name, self._options = opened_name, options
        self.damaged = 0  # video packets the decoder rejected (skipped)
        self.damage = Damage()  # pictures decoded with errors concealed, pictures the file lost
        self.video_packets = 0  # video packets read (with data): none decoding to a picture is said apart
        self.undecoded: tuple[Fraction, Fraction] | None = None  # (last picture, last packet) where they differ (s)
        self._tail_end: int | None = None  # where the video's packets stop showing (`TailPackets.end`)
        self._same_picture_end: int | None = None  # where the latest empty video packet stops showing (`_decoded`)

    def decode(self, source: Iterator[av.Packet]) -> Iterator[av.VideoFrame | list[av.Packet]]:
        """Decoded video frames and runs of the pass-through streams' packets (lists of up to
        `RUN_PACKETS`, read one after another), in file order: a run goes on before the next
        video packet is decoded, so none is left inside when a frame is given. A video packet the
        decoder rejects as damaged is skipped, as FFmpeg's tools conceal it and play on (counted
        in `damaged`, noted at the end)."""
        recovery, tail, cut = Recovery(), TailPackets(TAIL_BYTES, self.sequence is not None), CutSound()
        last = None  # the highest timestamp of a frame given so far
        run: list[av.Packet] = []
        apply, video = self.shift.apply, self.stream
        placed = self.damage.placed if self.format_name.startswith("matroska") else None
        for packet in source:
            apply(packet)
            if placed:
                placed(packet)
            if packet.stream is not video:
                # (the flush packet at the end carries nothing; cover art has no timestamps, only its picture)
                if packet.dts is not None or (packet.size and is_cover_art(packet.stream)):
                    cut.keep(packet, run)
                    if len(run) >= RUN_PACKETS:
                        yield run
                        run = []
                continue
            if run:
                yield run
                run = []
            tail.add(packet)
            if packet.size:
                self.video_packets += 1
                self.damage.packet(packet, self.shift.version)
            for frame in self._decoded(self._before.ready(packet), recovery, tail):
                if frame.pts is not None:
                    last = frame.pts if last is None else max(last, frame.pts)
                tail.given()
                yield frame
        if run:
            yield run
        for frame in self._decoded(self._before.rest(), recovery, tail):  # (a file ended without its flush)
            if frame.pts is not None:
                last = frame.pts if last is None else max(last, frame.pts)
            tail.given()
            yield frame
        for frame in self._lost_at_end(tail, last):
            last = frame.pts
            yield frame
        self.damage.pictures_end()
        if last is not None and tail.top is not None and tail.top > last:
            self.undecoded = last * self.stream.time_base, tail.top * self.stream.time_base
        self._tail_end = tail.end

    def _decoded(self, packets: list[av.Packet], recovery: "Recovery", tail: "TailPackets") -> Iterator[av.VideoFrame]:
        """The frames `packets` (video) decode to, those `recovery` shows; a damaged packet is counted.
        An empty packet with a timestamp is left out, not sent: libtheora's "same picture as before",
        which the decoder refuses (EINVAL), and a still stretch was noted as damage. The held
        picture lasts until the next one shows (`Timeline`), or the last empty packet ends
        (`last_end`). (The flush, which has none, is sent.)"""
        for packet in packets:
            if not packet.size and packet.dts is not None:
                if packet.pts is not None:
                    self._same_picture_end = packet.pts + (packet.duration or 0)
                continue
            try:
                frames = decoded_or_damage(self.decoder.decode, packet)
            except av.error.FFmpegError as exc:  # (the one it passes on: threads FFmpeg could not start)
                raise threads_refused_error(self.path, exc) from None
            if isinstance(frames, av.error.FFmpegError):  # InvalidData mostly; DV's partial last frame: EPERM
                self.damaged += 1
                tail.damaged += 1
                tail.damaged_since_frame += 1
                self.damage.damage_at(packet.dts if packet.dts is not None else packet.pts)
                continue
            self.damage.decoded(packet)
            for frame in frames:
                if recovery.keep(frame):
                    self.damage.shown(frame)
                    yield frame

    def _lost_at_end(self, tail: "TailPackets", last: int | None) -> Iterator[av.VideoFrame]:
        """The last frames, where frame threads lost them (`decoded_again`). An image sequence's
        pictures each decode alone: those after the last frame given are decoded again, and the
        damage counted since that frame was theirs (two damaged last pictures were noted as one)."""
        if not tail.lost_after(last):
            return
        packets, counted, damaged = tail.packets, tail.damaged, 0
        if self.sequence is not None:
            packets = [packet for packet in packets if packet.pts is None or packet.pts > last]
            counted = tail.damaged_since_frame
        for item in decoded_again(lambda: open_input(self._opened_name, **self._options), self.stream.index,
                                  packets, last, self.pixel_aspect):
            if isinstance(item, tuple):
                damaged += 1
                if damaged > counted:  # one the frame threads did not report before they stopped
                    packet = item[0]
                    self.damaged += 1
                    self.damage.damage_at(packet.dts if packet.dts is not None else packet.pts)
                continue
            self.damage.shown(item)
            yield item

    def last_end(self, pts: int, step: int | None) -> int | None:
        """Where the last picture stops showing at least (`_stored_last_end`), or where the latest
        empty "same picture" packet stops (`_decoded`), whichever is later: a still stretch at
        the end of an Ogg Theora clip is empty packets only, and the clip ended 40 ms early."""
        ends = [end for end in (self._stored_last_end(pts, step), self._same_picture_end) if end is not None]
        return max(ends, default=None)

    def _stored_last_end(self, pts: int, step: int | None) -> int | None:
        """Where the last picture (at `pts`, `step` after the one before it; None: the only one)
        stops showing at least, where the file says (stream time base, on the timeline from zero),
        once every packet decoded; None elsewhere.
        An MP4's or MOV's last video sample (in decode order) ends at its pts plus its duration.
        That duration is all that holds a variable-rate clip's closing still, and with B-frames
        that sample is not the last picture shown, which the decoder gives its own sample's
        duration (a GIF's 2 s hold made into an MP4 read back as 0.04 s). FFmpeg's MP4 muxer ends
        the edit list there too. The other samples' durations are the steps between decode times
        (one before a pause spans it); a file cut short ends where its pictures do.
        An AVI's packet lasts one slot, but the slots after a picture may be empty (`ffmpeg -c
        copy` of variable-rate video into AVI puts a picture every other slot: the output lasted
        1.98 s of 2 s). Its last picture lasts to the stream's stated end where that is after it
        and within an average picture's time (the stated duration over the pictures), else the
        step between the pictures before, as in FFmpeg's output (a file cut short states an end
        FFmpeg guessed from its bytes, before its last picture, which kept one slot), at most an
        average picture's time: the step into a variable-rate clip's last picture may be a pause
        (an AVI without its index held its last picture 2 s)."""
        if self.format_name == "avi" and self.undecoded is None:
            stated = stated_end(self.stream, self.shift)
            average = math.ceil(self.stream.duration / self.video_packets) if self.stream.duration else None
            if stated is not None and 0 < stated - pts <= average:
                return stated
            return None if step is None else pts + min(step, average or step)
        if not self.format_name.startswith("mov,") or self.undecoded is not None:
            return None
        return self._tail_end

    def note_damage(self, start: Fraction = Fraction(0)) -> None:
        """Say in one note what damage cost: the pictures before the first one that do not decode
        (from `start`, a segment's, seconds on the timeline), video packets skipped (rejected by the
        decoder), pictures the file lost beside damage and pictures decoded with errors concealed
        (`Damage`); nothing on a clean file. Packets timed well past the last picture are said apart: not
        damage FFmpeg conceals, but pictures it cannot decode at all (MPEG-TS segments joined with
        another codec on the same stream: H.264, then MPEG-2, whose keyframe the H.264 decoder
        made a green last frame of)."""
        if self.undecoded is not None and self.undecoded[1] - self.undecoded[0] > UNDECODED_END_SECONDS:
            shown, packets = self.undecoded
            rejected = f", {self.damaged} rejected" if self.damaged else ""
            note(f"{self.path.name}: the pictures stop at {float(shown):.2f} s but the video's packets go on to "
                 f"{float(packets):.2f} s{rejected}: they do not decode as {self.stream.codec_context.name} (another "
                 "codec joined on, or damage); the output ends there, as FFmpeg's does")
            return
        damage = self.damage
        said = [unshown] if (unshown := self._unshown(start)) else []
        if self.damaged:
            said.append(f"{plural(self.damaged, 'damaged video packet')} skipped")
        # the pictures missing where the display jumps, beyond the packets rejected and lost: pictures
        # the decoder gave nothing for (the ones after a lost keyframe, which refer to it)
        undecoded = max(0, damage.pictures.pictures - self.damaged - damage.lost)
        if damage.lost or undecoded:
            why = []
            if damage.lost:
                why.append(f"the video's packets break off {self._stretches(damage.packets, 'for ')}")
            if undecoded:
                which = f"{undecoded} more" if damage.lost else plural(undecoded, "packet")
                why.append(f"{which} give{'s' if undecoded == 1 else ''} no picture: "
                           f"the pictures jump {self._stretches(damage.pictures)}")
            said.append(f"{plural(damage.lost + undecoded, 'picture')} lost ({', and '.join(why)})")
        if damage.concealed:
            said.append(f"{plural(damage.concealed, 'picture')} decoded with errors concealed")
        if said:
            note(f"{self.path.name}: {', '.join(said)} (what decodes is stylized, as FFmpeg plays it)")

    def note_unshown(self, start: Fraction) -> None:
        """Say where the first packets decode to no picture (`Damage.unshown`, from `start`), where
        the rest of the file is not read (a segment's or preview's end): known at the first picture."""
        if unshown := self._unshown(start):
            note(f"{self.path.name}: {unshown} (what decodes is stylized, as FFmpeg plays it)")

    def _unshown(self, start: Fraction) -> str:
        """"the first 11 video packets decode to no picture: the video starts at 0.50 s" (those
        timed from `start`, a segment's, seconds on the timeline), or nothing."""
        unshown = sum(1 for at in self.damage.unshown if at * self.stream.time_base >= start)
        if not unshown:
            return ""
        starts = float(self.damage.first * self.stream.time_base - start)
        return f"the first {plural(unshown, 'video packet')} decode{'s' if unshown == 1 else ''} to no picture: " \
               f"the video starts at {starts:.2f} s"

    def _stretches(self, skips: Skips, single: str = "") -> str:
        """Where `skips` counted, in seconds: "0.42 s at 1.48 s" (after `single`), "2 times, 0.84 s in all"."""
        seconds = float(skips.ticks * self.stream.time_base)
        if skips.stretches == 1:
            return f"{single}{seconds:.2f} s at {float(skips.at * self.stream.time_base):.2f} s"
        return f"{skips.stretches} times, {seconds:.2f} s in all"


def plural(count: int, thing: str) -> str:
    """`count` things, "1 picture", "2 pictures"."""
    return f"{count} {thing}{'s' if count != 1 else ''}"
