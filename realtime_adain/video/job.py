"""One video file stylized into another: reader -> pipeline -> writer, published only when whole.

Library code for the `video` command, the benchmarks and the Python API: it takes typed settings
(`VideoSettings`, `EncodeSettings`), never the CLI's namespace. Ctrl-C or SIGTERM keeps the frames
finished so far as a playable NAME.partial.EXT; any other failure leaves nothing behind. Every job
of a run, one after another: `many_files.stylize_videos`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from tqdm import tqdm

from realtime_adain import interrupts
from realtime_adain.progress_bars import bar_off
from realtime_adain.adain import StyleStats
from realtime_adain.atomic import PendingOutput
from realtime_adain.errors import UserError, one_line, out_of_memory_as_user_error
from realtime_adain.picture_sizes import check_pixel_budget, fit_short_side, resize
from realtime_adain.settings import VideoSettings
from realtime_adain.stylizer import Stylizer
from realtime_adain.engines.base import frames_within
from realtime_adain.video.pipeline import Pipeline
from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from realtime_adain.video.deinterlace import film_rate
from realtime_adain.video.container_options import TIMECODE_FORMATS
from realtime_adain.video.containers import container_format
from realtime_adain.video.encoder_settings import EncodeSettings
from realtime_adain.notes import note, write_line
from realtime_adain.video.picture_output import PictureOutput, is_picture_pattern
from realtime_adain.video.timecode import cut_tags, pictures_before
from realtime_adain.video.writer import VideoFormatOut, VideoWriter
from realtime_adain.video.input_checks import check_opened
from realtime_adain.video.partial_outputs import discard, keep_partial, refuse_partial_over_inputs
from realtime_adain.video.source_changes import changed_shape, note_changed, said_changed, stat_or_none
from realtime_adain.video.stream_reports import (StreamReport, part_kept, partly_reencoded, stream_reports, undecoded,
                                                 with_captions, without_packets)
from realtime_adain.video.temporal_stages import hook_temporal_stages

StyleOf = Callable[[np.ndarray], StyleStats]  # the first frame (at processing size) -> its style


def default_batch(stylizer: Stylizer) -> int:
    """Batches keep a GPU busy; on a CPU a batch does the same work per frame, with more memory."""
    return 4 if stylizer.device.type == "cuda" else 1


def stylize_file(
    source: Path, output: Path, stylizer: Stylizer, style_of: StyleOf, settings: VideoSettings, encode: EncodeSettings,
    keep_interrupted: bool = True,
    on_done: Callable[[int, tuple[int, int], list[StreamReport]], None] | None = None,
) -> tuple[int, tuple[int, int]]:
    """One input to one output, through a temporary file renamed on success; returns the frames
    written and the output's (width, height). Interrupted, it keeps what was done as a partial
    file, unless `keep_interrupted` is False (a benchmark's scratch output, deleted anyway); a
    signal once every frame was written finishes the output under its own name, then stops.
    `on_done` gets the frames, the size and what became of the input's other streams once the
    output is published, before a signal held meanwhile stops the run: a report of it
    (`video --json`) was lost to a signal while it was being finished. Another call of this
    process writing `output` meanwhile is refused (`output_claimed`)."""
    with output_claimed(output):
        return _stylize_claimed(source, output, stylizer, style_of, settings, encode, keep_interrupted, on_done)


_outputs_being_written: dict[str, object] = {}  # resolved output path -> the call writing it
_outputs_lock = threading.Lock()


@contextlib.contextmanager
def output_claimed(output: Path) -> Iterator[None]:
    """`output` held for one call while it is written; a second call of this process meanwhile
    is refused, as `-o` refuses one name given twice. Two API calls on threads writing one file
    both returned it, and the file held the result of whichever was renamed last. In-process
    only: another process is not seen."""
    key, mine = os.path.realpath(output), object()  # (a link or `./` to the same file is the same file)
    try:
        with _outputs_lock:
            if key in _outputs_being_written:
                raise UserError(f"{output}: another call of this process is writing it; wait for it to finish "
                                "or give another output")
            _outputs_being_written[key] = mine
        yield
    finally:  # (only its own claim: a call refused above leaves the writer's alone)
        with _outputs_lock:
            if _outputs_being_written.get(key) is mine:
                del _outputs_being_written[key]


def _stylize_claimed(
    source: Path, output: Path, stylizer: Stylizer, style_of: StyleOf, settings: VideoSettings, encode: EncodeSettings,
    keep_interrupted: bool, on_done: Callable[[int, tuple[int, int], list[StreamReport]], None] | None,
) -> tuple[int, tuple[int, int]]:
    """`stylize_file` once `output` is this call's."""
    if keep_interrupted:
        refuse_partial_over_inputs([output], [source])
    opened = stat_or_none(source)
    # --batch above 1 (the default is no argument of the API's): 16 at 360p ran out, saying 'lower --size'
    batched = (settings.batch or 1) > 1
    with (VideoReader(source, settings.frames, settings.deinterlace, settings.framerate, settings.start,
                      settings.duration) as reader,
          out_of_memory_as_user_error(str(source), "lower --batch or --size" if batched else "lower --size")):
        check_opened(source, reader, settings)

        decoded_size: dict[tuple[int, int], tuple[int, int]] = {}  # processing size -> a decoded frame's size

        def prepare(image: np.ndarray) -> np.ndarray:
            """A frame at the processing size, within the pixel budget (checked for every frame: a
            stream may change resolution)."""
            check_pixel_budget(source, *image.shape[:2], settings.size, settings.max_pixels, "--size")
            prepared = fit_short_side(image, settings.size)
            decoded_size.setdefault(prepared.shape[:2], image.shape[:2])
            return prepared

        first = prepare(reader.first_frame.image)
        style = style_of(first)
        batch_size = run_batch_size(settings, stylizer, reader, first.shape)
        stylizer.prepare(batch_size, *first.shape[:2], say=lambda text: tqdm.write(text, file=sys.stderr))
        height, width = (reader.height, reader.width) if settings.keep_size else first.shape[:2]
        spec = output_format(reader, width, height, output)
        # Until the run below is under way, a failure or a signal (a Ctrl-C as the output opened)
        # removes what was opened: the hidden temporary file was left behind.
        writer = pending = progress = None
        try:
            with interrupts.SignalGuard(None, hold=True):  # (a signal while it opens acts once it is bound)
                writer, pending = open_output(output, reader, settings, encode, spec)
            reports = stream_reports(reader, writer)
            # A benchmark's scratch run (keep_interrupted False) prints its own timings: no bar per repeat.
            # (the name escaped: an escape sequence in it drove the terminal)
            progress = tqdm(total=reader.expected_frames or None, desc=one_line(source.name), unit="frame",
                            disable=bar_off() if keep_interrupted else True)
            # (a numbered sequence states no count, but holds at most its run: 8 pictures were told of
            # a two-pass cut-off every 64 frames they never have)
            at_most = reader.expected_frames or (reader.sequence.run if reader.sequence is not None else 0)
            stabilizer, smoother, device_blend = hook_temporal_stages(settings, stylizer, source, first.shape[:2], at_most)

            numbering = picture_numbering(reader) if isinstance(writer, PictureOutput) else None

            def write_frame(frame: Frame) -> None:
                pts = frame.pts if numbering is None else numbering(frame.pts)
                writer.write_frame(frame.image, pts, frame.duration)

            reshaped = False

            def finish(image: np.ndarray) -> np.ndarray:
                """Back to the output's size; a picture whose shape changed mid-stream is scaled to it
                too (as FFmpeg's tools do: one stream, one size), said once."""
                nonlocal reshaped
                if not reshaped and changed_shape(image.shape[:2], first.shape[:2]):
                    reshaped = True
                    h, w = decoded_size.get(image.shape[:2], image.shape[:2])  # (named as decoded, as the video is)
                    h0, w0 = reader.first_frame.image.shape[:2]
                    note(f"{source.name}: the picture changes shape mid-stream (a {w}x{h} frame in a {w0}x{h0} "
                         f"video); such frames are scaled to {width}x{height}, as FFmpeg scales them")
                return resize(image, (width, height))

            pipeline = Pipeline(
                reader.runs(),
                stylize_stream=lambda batches: stylizer.stylize_stream(batches, style, settings.style.alpha),
                write_frame=write_frame,
                write_packet=writer.write_packet,
                prepare=prepare,
                finish=finish,
                batch_size=batch_size,
                batch_pixels=settings.max_pixels,
                stabilizer=stabilizer,
                device_blend=device_blend,
                fill_short_batches=smoother is None,  # copies would advance the smoothed statistics
                # Frames count as done when stylized, the slow part: with two passes they are written
                # in windows, and the bar would stall and jump (each stylized frame is written, Ctrl-C too).
                on_stylized=progress.update,
            )
        except BaseException as exc:
            stylizer.engine.content_stats = stylizer.engine.after_step = None  # (hooked, maybe: a caller's stylizer lives on)
            if progress is not None:
                progress.close()
            if pending is None:  # (nothing was opened)
                raise
            discard(writer, pending)
            raise pending.failed(exc) from None
        stopped = None  # a signal that came once every frame was written: the output is whole
        try:
            # The first Ctrl-C/SIGTERM stops stylizing; any later one waits for the file to be finished.
            with interrupts.SignalGuard(str(output)) as guard:
                try:
                    run_failure_first(pipeline)
                except KeyboardInterrupt as exc:
                    if not (keep_interrupted and pipeline.written_whole):
                        progress.close()
                        if keep_interrupted:  # (said of the file being finished: OUTPUT itself never appears)
                            guard.what = f"the partial file of {output}"
                            keep_partial(writer, pending, exc)
                        else:
                            discard(writer, pending)
                        raise
                    stopped = exc
                except BaseException as exc:
                    progress.close()
                    discard(writer, pending)
                    raise pending.failed(said_changed(exc, source, opened)) from None
                guard.hold()
                progress.close()
                try:
                    writer.close(within=part_kept(settings))
                except BaseException as exc:
                    pending.discard()
                    raise pending.failed(exc) from None
                pending.publish()
                if reader.finished:  # read up to the file's end
                    note_changed(source, opened, writer.frames_written)
                if on_done is not None:  # (signals still held: reported before one stops the run)
                    if isinstance(writer, VideoWriter):
                        reports = partly_reencoded(reports, writer.partly_reencoded())
                        reports = undecoded(reports, writer.undecoded_sound())
                    reports = with_captions(reports, reader)
                    empty_in = writer.path.suffix if getattr(writer, "keeps_empty_tracks", False) else None
                    on_done(writer.frames_written, (width, height),
                            without_packets(reports, reader.streams_given, settings, empty_in))
        finally:
            stylizer.engine.content_stats = stylizer.engine.after_step = None
        if stopped is not None:  # (as SignalGuard says it of a signal held while finishing)
            write_line(f"finished {output}; stopping there")
            raise stopped
        return writer.frames_written, (width, height)


def run_batch_size(settings: VideoSettings, stylizer: Stylizer, reader: VideoReader, shape: tuple[int, ...]) -> int:
    """The frames per engine call: --batch (else the device's default), no more than the clip
    holds, and within --max-pixels (the network's memory grows with a batch's pixels), said
    where that lowers the --batch asked for."""
    batch_size = settings.batch or default_batch(stylizer)
    if reader.expected_frames:  # a clip shorter than the batch is one batch of its own size
        batch_size = min(batch_size, reader.expected_frames)
    fitting = frames_within(batch_size, shape, settings.max_pixels)
    if settings.batch and fitting < batch_size:
        note(f"--batch {settings.batch} lowered to {fitting}: a batch holds at most --max-pixels "
             f"({settings.max_pixels}) pixels, and a frame is {shape[1]}x{shape[0]}")
    return fitting


def output_format(reader: VideoReader, width: int, height: int, output: Path | None = None) -> VideoFormatOut:
    """What the output's video stream carries over from the input: its clock, colour, tags,
    chapters and roles, the timecodes moved to the cut's start (a timecode names the video's
    first picture; the output's is the one shown at the cut's start). One that cannot be moved
    is said only where `output` holds a timecode (.ts, .gif and numbered pictures drop it, said
    as they open)."""
    kept = output is None or (not is_picture_pattern(output) and container_format(output) in TIMECODE_FORMATS)
    video_start = Fraction(reader.stream.start_time or 0) * reader.stream.time_base + reader.shift.start_offset
    # (the exact start, as `Segment.ends_before` judges the first picture by: its shift, rounded down
    # to a tick, was half a 12 fps frame before a frame's end, and the timecode named the one skipped)
    cut = max(Fraction(0), reader.segment.start - video_start) if not reader.segment.whole else Fraction(0)
    return VideoFormatOut(width, height, reader.time_base, reader.frame_rate, reader.output_colour,
                          cut_tags(reader.container.metadata, cut, reader.frame_rate, reader.path.name, kept),
                          cut_tags(reader.stream.metadata, cut, reader.frame_rate, reader.path.name, kept), reader.chapters(),
                          reader.stream.base_rate, reader.stream.disposition)


def open_output(output: Path, reader: VideoReader, settings: VideoSettings, encode: EncodeSettings,
                spec: VideoFormatOut) -> tuple[VideoWriter | PictureOutput, PendingOutput | PictureOutput]:
    """The writer of `output` and its pending file (numbered pictures: one object for both); a
    failure to open it leaves nothing behind."""
    if is_picture_pattern(output):  # both ends in one (video/picture_output.py)
        pictures = picture_output(output, reader, settings)
        return pictures, pictures
    pending = PendingOutput(output)
    try:
        return VideoWriter(pending.path, encode, spec, reader.passthrough, reader.path.name), pending
    except BaseException as exc:
        pending.discard()
        raise pending.failed(exc) from None


def picture_output(output: Path, reader: VideoReader, settings: VideoSettings) -> PictureOutput:
    """Numbered pictures numbered as the input's: an image sequence's by their timestamps (a
    segment's first is the number of the picture the cut begins with, `pictures_before`; a damaged
    picture's number is kept), given as `picture_numbering` counts them, except where inverse
    telecine drops frames on purpose (numbered one after another, to be played at the film's rate:
    `film_rate`); a video file's from 1."""
    if settings.deinterlace == "film":
        start = 1 if reader.sequence is None else reader.sequence.start + reader.skipped
        return PictureOutput(output, start, film_rate(reader.frame_rate), passthrough=reader.passthrough)
    if reader.sequence is None:
        return PictureOutput(output, 1, reader.frame_rate, passthrough=reader.passthrough)
    first = reader.sequence.start + pictures_before(reader.segment.start, reader.frame_rate)
    return PictureOutput(output, first, reader.frame_rate, 1 / reader.frame_rate,  # (a tick a picture)
                         reader.passthrough)


def picture_numbering(reader: VideoReader) -> Callable[[int | None], int | None]:
    """What numbers a frame as a picture (`picture_output`): from an image sequence, the pictures
    between the one a cut begins with and the frame at `pts` (as given), by the time the frame
    was read (`Segment.as_read_exactly`). Its time on the segment's timeline does not tell: the
    first frame is moved to zero and the others lie off the pictures' grid by the cut's offset,
    which at 1000 fps (`shown_too_briefly`'s millisecond) is over half a picture: a cut 0.45 ms
    before picture 4 named it 3, and the next 5, with a false damaged picture between. Elsewhere
    `pts` as given (frames numbered one after another)."""
    if reader.sequence is None:
        return lambda pts: pts
    segment, per_tick = reader.segment, reader.stream.time_base * reader.frame_rate
    cut = pictures_before(segment.start, reader.frame_rate)

    def pictures_since_cut(pts: int | None) -> int | None:
        read = segment.as_read_exactly(pts)
        return None if read is None else round(read * per_tick) - cut
    return pictures_since_cut


def run_failure_first(pipeline: Pipeline) -> None:
    """Run `pipeline`; where a signal came after writing had failed (a full disk), raise that
    failure: the file cannot be finished, and the run says so as it would without the signal (a
    partial file's finishing failed in turn, its error naming the hidden temporary file)."""
    try:
        pipeline.run()
    except KeyboardInterrupt:
        if isinstance(pipeline.downstream_error, Exception):
            raise pipeline.downstream_error from None
        raise
