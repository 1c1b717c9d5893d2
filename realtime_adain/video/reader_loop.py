"""The video reader's loop (`ReaderLoop`, a part of `VideoReader`): every packet demuxed with its
times repaired, the video decoded, deinterlaced, retimed and put in order, each frame given as RGB
with the other streams' packets that play under it, cut at a preview's or a segment's end; then,
once the file is read to its end, its damage, reordered timestamps and an early end said."""

from __future__ import annotations

import math
from typing import Iterator

import av

from realtime_adain.errors import UserError
from realtime_adain.times import format_time
from realtime_adain.video.deinterlace import deinterlaced
from realtime_adain.notes import note
from realtime_adain.video.held_packets import HeldPackets, ShownUntil
from realtime_adain.video.packets import Timeline, as_run, edit_list_ends
from realtime_adain.video.pictures import Colour, frame_to_rgb
from realtime_adain.video.picture_extras import has_captions, see_through
from realtime_adain.video.picture_orientation import Orientation, orientation
from realtime_adain.video.picture_shape import codec_aspect
from realtime_adain.video.picture_notes import (note_aspect_change, note_captions_left_out, note_colour_change,
                                                note_odd_turn, note_transparency_left_out, note_turn_change)
from realtime_adain.video.probing import error_reason, no_pictures, threads_refused, threads_refused_error
from realtime_adain.video.demuxing import HELD_BYTES, demuxed, stored_later
from realtime_adain.video.frames import Frame
from realtime_adain.video.frame_times import after_last, from_zero, retimed
from realtime_adain.video.seeking import SeekMissed
from realtime_adain.video.stream_end import ends_early, tagged_end

# Decoded frames held back to put their timestamps in order. The decoder returns pictures in
# display order, but some files attach decode-order timestamps to them (packed B-frames in AVI,
# some MP4s): 1, 2, 3, 5, 4, ... Real files are off by at most a few frames; 8 YUV frames is small.
REORDER_WINDOW = 8


class ReaderLoop:
    """`VideoReader`'s reading loop: its frames and runs of packets, in file order, and what it
    says of the file once read to its end."""

    def _demux(self) -> Iterator[Frame | list[av.Packet]]:
        """Frames and runs of packets (`runs`)."""
        index = 0
        timeline = Timeline(REORDER_WINDOW, self._decoding.last_end)
        # Sound travels with the picture it plays under: a packet leaves after the first frame that
        # ends after it starts. Read as they come, the packets ran about half a second ahead (the
        # decoder's delay and the reorder window), which a preview (--frames) or a Ctrl-C file
        # kept as sound past the last picture.
        ticks = self.stream.time_base  # the frames' as read; `segment.moved` gives them in `time_base`
        held = HeldPackets(ticks, limit=0 if self.max_frames else HELD_BYTES)
        # (decoded; at a preview's or segment's end, read on by `stored_later`)
        source = self._timed(demuxed(self.container, self.stream, self.passthrough, self.sequence, self.path.name))
        segment = self.segment
        ends = self.max_frames or segment.end is not None  # a preview or a segment: subtitles cut at its end
        shown = ShownUntil(segment.frame_time_base) if ends else None
        last: tuple[int | None, int] = (None, 0)  # the latest frame given, on the segment's timeline
        first_aspect = codec_aspect(self.stream)  # before decoding: the decoder runs ahead of the frames given
        turned: Orientation | None = None  # the first frame's (its picture's EXIF: `picture_facts`), for every frame
        first_turn: Orientation | None = None  # the first frame's own, to tell a change by
        codec = self._converter.codec
        turn_noted = colour_noted = False
        try:
            decoding = self._decoding.decode(source)
            pictures = deinterlaced(decoding, self.deinterlace, self.path.name, rate=self.frame_rate)
            times = (self.container, self.sequence, self.path.name, self.frame_rate, self.stream.time_base)
            for item in timeline.order(retimed(pictures, *times)):
                if isinstance(item, list):
                    if not segment.whole:
                        item = [packet for packet in item if not segment.ended(packet)]
                    yield from as_run(segment.packets(held.extend(item)))
                    continue
                decoded, pts, duration = item
                if self.cover_art:  # (no timestamp) shown from the start to the end of the sound
                    pts, duration = segment.shift_ticks, max(1, self.cover_duration() - segment.shift_ticks)
                elif pts is not None and pts < 0:
                    pts, duration = from_zero(self.path.name, self.stream.time_base, pts, duration)
                if self.seeked and self.seen_end is None and (pts is None or pts * ticks > segment.start):
                    raise SeekMissed  # the seek went past the start: frames would be missing
                if self.seeked and index == 0 and self.cluster_times is not None and self.cluster_times.stretches:
                    raise SeekMissed  # a Matroska cluster's time went back after the seek: its index misplaced it
                if pts is None:  # (PES headers without timestamps in an MPEG-TS): after the one before
                    pts, duration = after_last(self.seen_end, duration, self.frame_rate, self.stream.time_base)
                self.seen_end = (pts + (duration or 0)) * ticks
                if segment.ends_before(pts, duration):  # (not converted to RGB: most of a late start's frames)
                    self._dropped += 1
                    released = segment.packets(held.before(pts, duration))
                    # (one that shows past the segment's start is held, as if before its first picture)
                    yield from as_run(shown.after(released, 0, 0) if shown else released)
                    continue
                if segment.is_after(pts):
                    if not index:
                        self.after_segment = pts * ticks
                    end = math.ceil(segment.end / ticks)
                    later = stored_later(source, self.stream, self.passthrough, self.shift, held, segment, end)
                    yield from as_run(shown.after(later, *last))
                    released = segment.packets(held.before(end, 0))
                    yield from as_run(shown.after(released, *last))
                    yield from as_run(shown.cut(*last))
                    self._decoding.note_unshown(segment.start)  # (the file is not read to its end)
                    return
                released = segment.packets(held.before(pts, duration))
                pts, duration = segment.moved(pts, duration)
                if index == 0:
                    self.rotation, self.colour = decoded.rotation, Colour.of(decoded, codec)
                    first_turn = orientation(decoded, codec)
                    turned = self._converter.facts.turned or first_turn
                    note_odd_turn(self.path.name, first_turn)
                    if see_through(decoded, self._converter):
                        note_transparency_left_out(self.path.name, shown_over_white=True)
                elif not colour_noted and Colour.of(decoded, codec) != self.colour:
                    note_colour_change(self.path.name, self.colour, Colour.of(decoded, codec))
                    colour_noted = True
                if index and not turn_noted and orientation(decoded, codec) != first_turn:
                    note_turn_change(self.path.name, first_turn, orientation(decoded, codec))
                    turn_noted = True
                if not self.captions and has_captions(decoded, codec):
                    self.captions = True
                    note_captions_left_out(self.path.name)
                if first_aspect is not None and codec_aspect(self.stream) != first_aspect:
                    note_aspect_change(self.path.name, first_aspect, codec_aspect(self.stream))
                    first_aspect = None  # said once
                yield Frame(frame_to_rgb(decoded, self._converter, self.pixel_aspect, turned), pts, duration, index)
                index += 1
                last = (pts, duration)
                yield from as_run(shown.after(released, pts, duration) if shown else released)
                if index == self._frame_limit:
                    if shown:
                        end = segment.as_read(pts + (duration or 0))  # (on the file's timeline, as held)
                        later = stored_later(source, self.stream, self.passthrough, self.shift, held, segment, end)
                        yield from as_run(shown.after(later, pts, duration))
                        yield from as_run(shown.after(segment.packets(held.before(end, 0)), pts, duration))
                        yield from as_run(shown.cut(pts, duration))
                    self._decoding.note_unshown(segment.start)  # (the file is not read to its end)
                    return
            # The sound after the last picture (a preview's or a segment's too, if the file ended)
            yield from as_run(segment.packets(held.before(None, 0)))
            if shown:
                yield from as_run(shown.after([], None, 0))
        except av.error.FFmpegError as exc:  # the frames still held for reordering did decode
            if threads_refused(exc):
                raise threads_refused_error(self.path, exc) from None
            good = index + len(timeline.frames)
            raise UserError(f"{self.path}: corrupt video data after {good} frames ({error_reason(exc)})") from None
        if not index and self._landed_wrong():
            # (before the notes on what was read: the file is read again from its start, which says
            # its own; a Matroska whose later clusters all say 0 said its reordering twice)
            raise SeekMissed
        self.finished = True
        if index or self.skipped:  # (none decoded: the error says why, in one line)
            self._decoding.note_damage(self.segment.start)
        self.shift.note_jumps()
        if self.cluster_times is not None:
            self.cluster_times.note_repairs()
        if timeline.reordered and self.slot_times is None:  # (timed by their slots: FFmpeg's order, see SlotTimes)
            count = timeline.reordered
            note(f"{self.path.name}: {count} frame timestamp{'s were' if count > 1 else ' was'} out of order; "
                 "put back in order (the timing is kept)")
        declared = self.declared_frames
        if 0 < index + self.skipped < declared and ends_early(self.stream, self.shift, self.frame_rate, timeline.end,
                                                              self.seeked or self.passed_over > 0):
            # (said, not refused: FFmpeg plays what decodes; a half-downloaded MP4 was stylized to its end, then lost)
            note(f"{self.path.name}: only {index + self.skipped} of the {declared} frames its index states decode: "
                 "the file looks cut short or damaged (what decodes is stylized, as FFmpeg plays it)")
        tagged = (tagged_end(self.container, self.stream, self.shift, self.cluster_times)
                  if not declared and timeline.end is not None else None)
        if tagged is not None and timeline.end + self._one_frame < tagged:  # (a tag, not an index: said, not refused)
            note(f"{self.path.name}: its pictures end at {format_time(timeline.end * self.stream.time_base)} of the "
                 f"{format_time(tagged * self.stream.time_base)} its video track states: the file looks cut short "
                 "(what decodes is stylized)")

    def _none_decoded(self) -> str:
        """Why a video gave no frames (`no_pictures`), after "no frames"; nothing where the file
        was not read to its end (a segment's start past it says so itself)."""
        return f": {no_pictures(self.stream, self._decoding.video_packets, self.damaged)}" if self.finished else ""

    @property
    def damaged(self) -> int:
        """The video packets the decoder rejected (skipped): `VideoDecoding.damaged`."""
        return self._decoding.damaged

    def _timed(self, packets: Iterator[av.Packet]) -> Iterator[av.Packet]:
        """`packets` with the times repaired that the file stores wrong or not at all, before
        `TimestampShift`: an AVI's reordered pictures (`SlotTimes`), pictures at one time (`StuckClock`), a Matroska cluster's time gone back (`ClusterTimes`),
        sound without times or at one time (`SoundClock`); an MP4's sound cut where its edit list ends
        it (`edit_list_ends`)."""
        packets = edit_list_ends(self.container, self.passthrough, packets)
        if self.slot_times is not None:
            packets = self.slot_times.packets(packets)
        if self.stuck_clock is not None:
            packets = self.stuck_clock.packets(packets, seeked=self.seeked)
        if self.cluster_times is not None:
            packets = self.cluster_times.packets(packets)
        return self.sound_clock.packets(packets, seeked=self.seeked)
