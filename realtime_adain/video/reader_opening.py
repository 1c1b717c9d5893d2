"""The video reader's opening (`ReaderOpening`, a part of `VideoReader`): the file or image
sequence opened, its video stream and the streams carried chosen, the clocks that repair its times
set up, the segment sought, and read up to its first frame, where a file that is not a video, or
gives no frame, is refused."""

from __future__ import annotations

from fractions import Fraction

import av

from realtime_adain.errors import UserError
from realtime_adain.times import format_time
from realtime_adain.video.frames import Frame
from realtime_adain.video.opening import open_input
from realtime_adain.video.packets import BeforeStart
from realtime_adain.video.pictures import PictureConverter
from realtime_adain.video.picture_extras import alpha_decoder
from realtime_adain.video.picture_shape import bound_decoder, check_picture_size, pixel_aspect
from realtime_adain.video.picture_notes import note_transparency_left_out
from realtime_adain.video.probing import (VIDEO_EXTENSIONS, cut_inside_header, error_reason, is_picture_format,
                                          mp4_without_index, pictures_read_with)
from realtime_adain.video.decoding import DECODER_FLAGS, TAIL_BYTES, VideoDecoding, decoder_threads
from realtime_adain.video.seeking import SeekMissed, seek_to_segment
from realtime_adain.video.sequence import DEFAULT_FRAMERATE, check_framerate, ffmpeg_name
from realtime_adain.video.streams import (is_cover_art, main_video_stream, note_left_out, passthrough_streams,
                                          same_program, undecodable_picture)
from realtime_adain.video.cluster_times import ClusterTimes, ClustersAtOneTime
from realtime_adain.video.slot_times import SlotTimes
from realtime_adain.video.sound_clock import SoundClock
from realtime_adain.video.stuck_clock import StuckClock
from realtime_adain.video.segment import Segment
from realtime_adain.video.timestamps import TimestampShift


class ReaderOpening:
    """`VideoReader`'s opening: the file opened, its streams chosen, read up to its first frame."""

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
            # (a picture nothing here reads, JPEG XL, SVG, PDF, said as where FFmpeg opens it but has no decoder)
            said = undecodable_picture(self.path) or f"not a readable video ({error_reason(exc)})"
            raise UserError(f"{self.path}: {said}") from None
        max_frames = self.max_frames
        try:
            # One picture is an image; pictures one after another (a raw MJPEG stream, .mjpeg) are a
            # clip, as FFmpeg plays them: told apart by a second frame. A numbered pattern is a clip
            # asked for, one picture long too (`ffmpeg -i 'f_%04d.png' x.mp4` makes one frame).
            picture = is_picture_format(self.container.format.name)
            first = self.sequence.file(self.sequence.start) if self.sequence else None
            self.stream = main_video_stream(self.container, self.path.name, first)
            self.decoder = alpha_decoder(self.stream) or self.stream.codec_context  # (`VideoDecoding` uses it)
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
            self.slot_times = SlotTimes.of(self.container, self.stream, self._opened_name)  # (an AVI's H.264, B-frames)
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
            if picture and len(frames) == 1 and not self.skipped and self.sequence is None:
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
