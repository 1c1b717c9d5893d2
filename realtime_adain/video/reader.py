"""Decoding a video file into upright RGB frames, in presentation order, with their timestamps.

The reader demuxes every stream in one pass and yields, in file order, either a `Frame` (a decoded
video frame as uint8 RGB, rotated as the display matrix says it is shown) or an `av.Packet` of
another stream (audio, subtitles) for the writer to copy. Keeping one ordered stream of items
keeps the output interleaved like the input. Turning a frame into such RGB is pictures.py's work;
holding, ordering and cutting packets as they are demuxed, packets.py's and (the other streams')
held_packets.py's; telling damage from skipped pictures, damage.py's; what an input is before
it is read, probing.py's; reading its packets, demuxing.py's; decoding them, decoding.py's;
seeking to a segment, seeking.py's; frames' times made or repaired, frame_times.py's; where the
stream says it ends, stream_end.py's; what is said of the pictures, picture_notes.py's.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av

from realtime_adain.errors import UserError
from realtime_adain.times import format_time
from realtime_adain.video.deinterlace import check_mode as check_deinterlace, deinterlaced
from realtime_adain.video.frames import Frame
from realtime_adain.video.hdr import SRGB, sdr_colour
from realtime_adain.notes import note
from realtime_adain.video.opening import open_input
from realtime_adain.video.held_packets import HeldPackets, ShownUntil
from realtime_adain.video.packets import BeforeStart, Timeline, as_run, edit_list_ends
from realtime_adain.video.pictures import Colour, PictureConverter, frame_to_rgb
from realtime_adain.video.picture_extras import alpha_decoder, has_captions, see_through
from realtime_adain.video.picture_orientation import Orientation, orientation
from realtime_adain.video.picture_shape import bound_decoder, check_picture_size, codec_aspect, pixel_aspect
from realtime_adain.video.picture_notes import (note_aspect_change, note_captions_left_out, note_colour_change,
                                                note_odd_turn, note_transparency_left_out, note_turn_change)
from realtime_adain.video.probing import (VIDEO_EXTENSIONS, cut_inside_header, error_reason, has_no_timestamps,
                                          is_picture_format, mp4_without_index, no_pictures, pictures_read_with,
                                          plausible_rate, refuse_animated_webp, threads_refused, threads_refused_error)
from realtime_adain.video.decoding import DECODER_FLAGS, TAIL_BYTES, VideoDecoding, decoder_threads
from realtime_adain.video.demuxing import HELD_BYTES, demuxed, stored_later
from realtime_adain.video.frame_times import after_last, from_zero, one_frame, retimed
from realtime_adain.video.seeking import SEEK_MARGIN, SeekMissed, seek_to_segment
from realtime_adain.video.sequence import DEFAULT_FRAMERATE, check_framerate, ffmpeg_name, find_sequence
from realtime_adain.video.streams import (is_cover_art, main_video_stream, note_left_out, passthrough_streams,
                                          same_program)
from realtime_adain.video.clocks import SeekedIntoStill
from realtime_adain.video.cluster_times import ClusterTimes, ClustersAtOneTime
from realtime_adain.video.slot_times import SlotTimes
from realtime_adain.video.sound_clock import SoundClock
from realtime_adain.video.stuck_clock import StuckClock
from realtime_adain.video.stream_end import ends_early, tagged_end
from realtime_adain.video.segment import Segment
from realtime_adain.video.timestamps import TimestampShift

# Decoded frames held back to put their timestamps in order. The decoder returns pictures in
# display order, but some files attach decode-order timestamps to them (packed B-frames in AVI,
# some MP4s): 1, 2, 3, 5, 4, ... Real files are off by at most a few frames; 8 YUV frames is small.
REORDER_WINDOW = 8
# A declared frame count is believed only up to this many times what the declared duration holds
# at the average rate: a header written before the frames were (an AVI written to a pipe) carries
# a placeholder (2**30).
PLAUSIBLE_FRAMES = 2


class VideoReader:
    """An opened input: its video stream, the streams to pass through, and its first frame.

    Opening decodes up to the first video frame, so a file that is not a video, or has no
    decodable frame, fails here with a `UserError` before anything is written.
    """

    def __init__(self, path: str | os.PathLike, max_frames: int = 0, deinterlace: str = "auto",
                 framerate: Fraction | None = None, start: Fraction = Fraction(0),
                 duration: Fraction | None = None) -> None:
        """`max_frames` > 0 stops after that many frames (a preview of the start); `deinterlace`:
        which frames are deinterlaced (video/deinterlace.py: auto, on, off, film); `framerate`: an image
        sequence's (`render/%04d.png`, video/sequence.py; None: 25, as FFmpeg); `start` and
        `duration` (seconds): only that segment, moved to start at zero (`Segment`; `max_frames`
        counts from its start)."""
        self.path = Path(path)
        self.max_frames = max_frames
        self.deinterlace = check_deinterlace(deinterlace)
        self.sequence = find_sequence(self.path)
        if self.sequence is not None:
            self.sequence.note_gap()
        if self.sequence is None and not self.path.is_file():
            raise UserError(f"{self.path}: no such file")
        if self.sequence is None and self.path.stat().st_size == 0:
            raise UserError(f"{self.path}: the file is empty")
        if self.sequence is None:
            refuse_animated_webp(self.path)
        try:
            self._open(framerate, start, duration, seek=True)
        except (SeekMissed, SeekedIntoStill):  # (the container is closed)
            self._open(framerate, start, duration, seek=False)
        self.first_frame: Frame = self._first
        self.height, self.width = self.first_frame.image.shape[:2]  # as displayed (after rotation)

    def _open(self, framerate: Fraction | None, start: Fraction, duration: Fraction | None, seek: bool) -> None:
        """Open the file and decode up to its (segment's) first frame; `seek`: to the keyframe
        before the segment's start where the file can be trusted to seek (`seek_to_segment`)."""
        try:
            # Latin-1 tags: FFmpeg plays them
            self._options = self._sequence_options(framerate)  # (again for `VideoDecoding._lost_at_end`)
            self.container = open_input(self._opened_name, **self._options)
        except (av.error.FFmpegError, UnicodeDecodeError) as exc:
            if mp4_without_index(self.path):
                raise UserError(f"{self.path}: an MP4/MOV without its index (no moov box): a recording that was not "
                                "finished, or a file cut short; nothing can read its frames (recorders that write "
                                "fragmented MP4, .mkv or .ts leave a playable file when stopped abruptly)") from None
            # (FFmpeg says only "End of file", or "Invalid data found": a fragment's header cut, say)
            if isinstance(exc, av.error.EOFError) or cut_inside_header(self.path):
                raise UserError(f"{self.path}: not a readable video: the file ends inside its header (a file cut "
                                "short, or a recording still being written: try again when it is finished)") from None
            raise UserError(f"{self.path}: not a readable video ({error_reason(exc)})") from None
        max_frames = self.max_frames
        try:
            # One picture is an image; pictures one after another (a raw MJPEG stream, .mjpeg) are a
            # clip, as FFmpeg plays them: told apart by a second frame.
            picture = is_picture_format(self.container.format.name)
            self.stream = main_video_stream(self.container, self.path.name)
            self.decoder = alpha_decoder(self.stream) or self.stream.codec_context  # (`VideoDecoding` uses it)
            first = self.sequence.file(self.sequence.start) if self.sequence else None
            self._converter = PictureConverter(self.path.name, self.decoder.name,
                                               *pictures_read_with(self.container.format.name, self.path, first))
            decoder_threads(self.decoder)
            self.decoder.flags |= DECODER_FLAGS  # damaged frames are concealed, not dropped; crops applied whole
            carried, unknown = passthrough_streams(self.container, self.stream, self.path.name)
            self.passthrough = same_program(self.container, self.stream, carried, self.path.name)
            # Input index -> why no output carries it (`stream_reports.stream_reports`), as the notes say.
            kept = {s.index for s in self.passthrough}
            self.left_out: dict[int, str] = {
                **unknown, **note_left_out(self.container, self.stream, self.path.name),
                **{s.index: "another program's (a broadcast channel's, or a playlist variant's)"
                   for s in carried if s.index not in kept},
                **{s.index: f"another video stream (#{self.stream.index} is the one stylized)"
                   for s in self.container.streams.video
                   if s.index != self.stream.index and s.index not in kept and not is_cover_art(s)}}
            if (self.stream.metadata.get("alpha_mode") == "1" and self.decoder is self.stream.codec_context
                    and self.stream.codec_context.name in ("vp8", "vp9")):  # (Matroska tags any codec's alpha so)
                note_transparency_left_out(self.path.name)  # WebM's alpha, which this FFmpeg (no libvpx) cannot read
            self.cover_art = is_cover_art(self.stream)
            self.rotation, self.colour = 0, None  # set from the first decoded frame
            self.captions = False  # whether a decoded picture carried closed captions (`note_captions_left_out`)
            self.pixel_aspect = pixel_aspect(self.stream, self.path.name)  # frames are resampled to square pixels
            check_picture_size(self.stream, self.pixel_aspect, self.path)
            bound_decoder(self.decoder, self.pixel_aspect)
            self.shift = TimestampShift(self.container, self.path.name)  # timestamps from zero, across splices
            self.sound_clock = SoundClock(self.container, self.passthrough, self.path.name)  # (before the shift)
            # (before it too, on the file's own times: pictures all at one time, a Matroska cluster's damaged time)
            self.stuck_clock = StuckClock(self.stream, self.path) if self._stores_times else None
            self.slot_times = SlotTimes.of(self.container, self.stream)  # (an AVI's reordered pictures)
            matroska = self.container.format.name.startswith("matroska")
            self.cluster_times = ((ClustersAtOneTime.of(self.path, self.stream) or ClusterTimes(self.path.name))
                                  if matroska else None)
            self.segment = Segment(self.stream.time_base, start, duration)
            self._dropped = 0  # frames decoded before the segment's start (after the seek, if any)
            self._before = BeforeStart(self._decode_from(), TAIL_BYTES)  # packets before it, not decoded
            # (the packets read and rejected, where the pictures end: `damaged`)
            self._decoding = VideoDecoding(self.decoder, self.stream, self.shift, self._before, self.path,
                                           self.sequence, self._opened_name, self._options, self.pixel_aspect,
                                           self.container.format.name)
            self.seen_end: Fraction | None = None  # where the latest decoded picture stops showing (s)
            # Where the first picture after the segment's end starts (s), where none was in it: a segment
            # before a late-starting video ended there, not "at or past the end" of it.
            self.after_segment: Fraction | None = None
            self.finished = False  # whether the file was read to its end (not stopped at a preview's or segment's)
            self.streams_given: set[int] = set()  # the pass-through streams a packet was given of (`runs`)
            self.seeked = seek and seek_to_segment(self)
            self._frame_limit = max(max_frames, 2) if picture and max_frames else max_frames
            self._items = self._demux()
            self._lookahead: list[Frame | av.Packet] = []
            wanted = 2 if picture else 1
            for item in self._items:
                self._lookahead.append(item)
                if isinstance(item, Frame) and (wanted := wanted - 1) == 0:
                    break
            frames = [item for item in self._lookahead if isinstance(item, Frame)]
            if not frames and self._landed_wrong():
                raise SeekMissed
            if not frames and self.after_segment is not None:
                # (skipped: the picture shown at --start showed too little of its time there, `Segment.ends_before`)
                which = "next picture starts" if self.skipped else "video's first picture"
                raise UserError(f"{self.path}: {self._segment_options()} ends before the {which} "
                                f"(at {format_time(self.after_segment)})")
            if not frames and self.segment.start and self.seen_end is not None:
                given = f"{float(self.segment.start):.9f}".rstrip("0").rstrip(".")  # (as typed: not 3 s for 2.9999)
                if self.seen_end > self.segment.start:  # the last picture skipped (`Segment.ends_before`)
                    left = self.seen_end - self.segment.start  # (`shown_too_briefly`: under half, or 1 ms)
                    left_text = f"only {format_time(left)}" if left >= Fraction(1, 1000) else "under 1 ms"
                    half = ", under half its time" if left >= Fraction(1, 1000) else ""
                    raise UserError(f"{self.path}: --start {given} s leaves {left_text} of the last picture (the "
                                    f"video lasts {format_time(self.seen_end)}){half}: too little to keep; give an "
                                    "earlier --start")
                raise UserError(f"{self.path}: --start {given} s is at or past the end of the video, which lasts "
                                f"{format_time(self.seen_end)}")
            if not frames:
                raise UserError(f"{self.path}: the video has no frames" + self._none_decoded())
            if picture and len(frames) == 1 and not self.skipped:
                raise UserError(f"{self.path}: this is an image, not a video (use `realtime-adain image`)")
            if picture and max_frames == 1:  # the second picture was only looked at (pipes hold no sound)
                self._lookahead, self._items = [frames[0]], iter(())
        except BaseException:
            self.container.close()
            raise
        self._first = frames[0]

    @property
    def _opened_name(self) -> str:
        """What FFmpeg opens: the file, or an image sequence's pattern as image2 reads it."""
        return ffmpeg_name(self.sequence.ffmpeg_pattern if self.sequence is not None else self.path)

    def _sequence_options(self, framerate: Fraction | None) -> dict:
        """How FFmpeg opens an image sequence (nothing for a file): from its first number, at `framerate`."""
        if self.sequence is None:
            return {}
        if self.path.suffix.lower() in VIDEO_EXTENSIONS:
            raise UserError(f"{self.path}: a numbered pattern reads pictures (PNG, JPEG, TIFF, ...) as one clip, "
                            "not video files: give the videos themselves, or their folder")
        return self.sequence.open_arguments(DEFAULT_FRAMERATE if framerate is None else check_framerate(framerate))

    @property
    def output_colour(self) -> Colour | None:
        """How the output's pictures are converted and tagged: as the first picture is, or SDR
        BT.709 where it is HDR (tone-mapped as read); pictures read on their stated curve
        (`PictureConverter.stated_for`) on the sRGB curve, as `image` reads them."""
        colour = self.colour
        if colour is not None:
            colour = dataclasses.replace(colour, color_primaries=self._converter.primaries_for(colour.color_primaries))
        if colour is not None and self._converter.stated_for(colour.color_trc, colour.color_primaries):
            colour = dataclasses.replace(colour, color_trc=SRGB)
        return sdr_colour(colour)

    @property
    def time_base(self) -> Fraction:
        """The time base of the frames given (`Frame.pts`): the stream's, or a segment's finer one
        that holds its start (`Segment.frame_time_base`); the reader works in the stream's."""
        return self.segment.frame_time_base

    @property
    def frame_rate(self) -> Fraction | None:
        """None for cover art: its stream's only rate is its time base's (90000 fps)."""
        return None if self.cover_art else plausible_rate(self.stream)

    @property
    def expected_frames(self) -> int:
        """Frames to come, from the container's index (0 when the format does not store it, or
        states an implausible count: `declared_frames`), within the segment at the frame rate."""
        declared = self.segment.frames(self.declared_frames, self.frame_rate)
        if self.deinterlace == "film" and not self.max_frames:
            return 0  # inverse telecine gives fewer than the index counts: as many as decimate finds
        return min(declared, self.max_frames) if self.max_frames else declared

    @property
    def declared_frames(self) -> int:
        """The stream's frame count as the container states it, 0 when it does not or when the
        count is implausible: more than `PLAUSIBLE_FRAMES` times what the stream's (else the
        file's) duration holds at the average rate, or no duration at all to weigh it against. An
        AVI written to a pipe states 2**30 frames (its header's placeholder), and a whole file
        was refused as "truncated: only 24 of 1073741824 frames decode"."""
        declared = self.stream.frames or 0
        if self.stream.duration:
            seconds = self.stream.duration * self.stream.time_base
        elif self.container.duration:
            seconds = Fraction(self.container.duration, 1_000_000)
        else:
            return 0
        rate = self.frame_rate
        if not declared or not rate or declared > PLAUSIBLE_FRAMES * seconds * rate + 1:
            return 0
        return declared

    def cover_duration(self) -> int:
        """How long cover art shows, in the stream's time base: the file's duration (at least one tick)."""
        seconds = Fraction(self.container.duration or 0, 1_000_000)
        return max(1, round(seconds / self.stream.time_base))

    def chapters(self) -> list[dict]:
        """The file's chapters, on the timeline from zero (`TimestampShift`), within the segment
        and moved with it, as PyAV gives them."""
        shifted = []
        for chapter in self.container.chapters():
            shift = self.shift.start_ticks(Fraction(chapter["time_base"]))
            shifted.append({**chapter, "start": max(0, chapter["start"] + shift), "end": max(0, chapter["end"] + shift)})
        return self.segment.chapters(shifted)

    def items(self) -> Iterator[Frame | av.Packet]:
        """Every frame and pass-through packet, in file order; raises UserError on corrupt data."""
        for item in self.runs():
            if isinstance(item, list):
                yield from item
            else:
                yield item

    def runs(self) -> Iterator[Frame | list[av.Packet]]:
        """`items`, with packets that come one after another as lists (`RUN_PACKETS`), and
        their streams noted in `streams_given`."""
        given = self.streams_given
        lookahead, self._lookahead = self._lookahead, []
        for item in itertools.chain(lookahead, self._items):
            if isinstance(item, list):
                given.update(packet.stream.index for packet in item)
            yield item

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
            self._decoding.note_damage()
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

    def _landed_wrong(self) -> bool:
        """Whether a seek that gave no frame landed where the file cannot be read from: nothing
        at all after it, or a Matroska that lasts past the start, whose index led to damaged
        cluster times."""
        if not self.seeked:
            return False
        return self.seen_end is None or (self.cluster_times is not None and bool(self.container.duration)
                                         and Fraction(self.container.duration, 1_000_000) > self.segment.start)

    def _segment_options(self) -> str:
        """The segment as its options gave it (`--start 0.5 s --duration 1 s`), for a message."""
        start = f"--start {format_time(self.segment.start)} " if self.segment.start else ""
        return f"{start}--duration {format_time(self.segment.end - self.segment.start)}"

    def _none_decoded(self) -> str:
        """Why a video gave no frames (`no_pictures`), after "no frames"; nothing where the file
        was not read to its end (a segment's start past it says so itself)."""
        return f": {no_pictures(self.stream, self._decoding.video_packets, self.damaged)}" if self.finished else ""

    @property
    def damaged(self) -> int:
        """The video packets the decoder rejected (skipped): `VideoDecoding.damaged`."""
        return self._decoding.damaged

    @property
    def _one_frame(self) -> int:
        """One frame's duration at the stream's rate (25 fps if it has none), in video ticks."""
        return one_frame(self.frame_rate, self.stream.time_base)

    @property
    def passed_over(self) -> int:
        """The video packets before the segment's start never decoded (`BeforeStart`)."""
        return self._before.passed

    @property
    def skipped(self) -> int:
        """The pictures before the segment's start: decoded and dropped, or never decoded (a
        packet each)."""
        return self._dropped + self.passed_over

    def _decode_from(self) -> Fraction | None:
        """From when (seconds on the timeline, a video packet's decode time) the video is decoded:
        `SEEK_MARGIN` before the segment's start, where the frames' times come from their
        timestamps (an image sequence's: its picture numbers, `retimed`); None (from the beginning) for
        a bare stream (timed by its decoded frames' durations: pulldown, fields), a GIF (by its
        delays), cover art, and inverse telecine (its cadence is read from every frame)."""
        if (not self.segment.start or (has_no_timestamps(self.container) and self.sequence is None)
                or self.container.format.name == "gif" or self.cover_art or self.deinterlace == "film"):
            return None
        return self.segment.start - SEEK_MARGIN

    @property
    def _stores_times(self) -> bool:
        """Whether the pictures' times are the file's own (not made up: a bare stream's, an image
        sequence's numbers, cover art's none)."""
        return not (has_no_timestamps(self.container) or self.sequence is not None or self.cover_art)

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

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
