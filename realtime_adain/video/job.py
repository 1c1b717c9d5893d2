"""One video file stylized into another: reader -> pipeline -> writer, published only when whole.

Library code for the `video` command, the benchmarks and the Python API: it takes typed settings
(`VideoSettings`, `EncodeSettings`), never the CLI's namespace. Ctrl-C or SIGTERM keeps the frames
finished so far as a playable NAME.partial.EXT; any other failure leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Literal, Mapping, Sequence

import av
import numpy as np
import torch
from tqdm import tqdm

from realtime_adain import interrupts
from realtime_adain.adain import StyleStats
from realtime_adain.atomic import PendingOutput, partial_path
from realtime_adain.temporal.device_blend import DeviceBlend, wanted as wants_device_blend
from realtime_adain.errors import (UserError, mark_said, not_all_written, one_line, out_of_memory_as_user_error,
                                   refuse_inputs, stopped_at)
from realtime_adain.output_checks import refuse_overwriting_inputs
from realtime_adain.picture_sizes import MAX_SIDE, check_pixel_budget, fit_short_side, resize
from realtime_adain.settings import STATS_MODES, STATS_NEED_EAGER, VideoSettings
from realtime_adain.styles import StyleSet
from realtime_adain.stylizer import Stylizer
from realtime_adain.temporal import ContentStatsSmoother, Stabilizer
from realtime_adain.temporal.two_pass import TwoPassStabilizer, forward_pass
from realtime_adain.engines.base import frames_within
from realtime_adain.video.pipeline import Pipeline
from realtime_adain.video.picture_notes import CAPTIONS_LEFT_OUT
from realtime_adain.video.reader import Frame, VideoReader
from realtime_adain.video.streams import CHAPTERS_CARRIED, TIMECODE_CARRIED, is_cover_art
from realtime_adain.video.deinterlace import film_rate
from realtime_adain.video.encoder_check import check_encoder
from realtime_adain.video.encoder_settings import EncodeSettings, framed_picture
from realtime_adain.notes import note, write_line
from realtime_adain.video.picture_output import PictureOutput, is_picture_pattern
from realtime_adain.video.timecode import cut_tags, pictures_before
from realtime_adain.video.writer import VideoFormatOut, VideoWriter

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
    (`video --json`) was lost to a signal while it was being finished."""
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
        spec = output_format(reader, width, height)
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
                            disable=None if keep_interrupted else True)
            stabilizer, smoother, device_blend = hook_temporal_stages(settings, stylizer, source, first.shape[:2],
                                                                      reader.expected_frames or 0)

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
                        if keep_interrupted:
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


def output_format(reader: VideoReader, width: int, height: int) -> VideoFormatOut:
    """What the output's video stream carries over from the input: its clock, colour, tags,
    chapters and roles, the timecodes moved to the cut's start (a timecode names the video's
    first picture; the output's is the one shown at the cut's start)."""
    video_start = Fraction(reader.stream.start_time or 0) * reader.stream.time_base + reader.shift.start_offset
    # (the exact start, as `Segment.ends_before` judges the first picture by: its shift, rounded down
    # to a tick, was half a 12 fps frame before a frame's end, and the timecode named the one skipped)
    cut = max(Fraction(0), reader.segment.start - video_start) if not reader.segment.whole else Fraction(0)
    return VideoFormatOut(width, height, reader.time_base, reader.frame_rate, reader.output_colour,
                          cut_tags(reader.container.metadata, cut, reader.frame_rate),
                          cut_tags(reader.stream.metadata, cut, reader.frame_rate), reader.chapters(),
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


def refuse_partial_over_inputs(outputs: Sequence[Path], inputs: Sequence[Path]) -> None:
    """Before any work: what an interrupted run keeps, NAME.partial.EXT (numbered pictures: their
    pattern's), is an output too, and may replace no input: `-o out.mp4` over an input named
    out.partial.mp4, or `-o 'g_%04d.png'` over g_0001.partial.png, had replaced it on Ctrl-C."""
    for output in outputs:
        partial = partial_path(output)
        try:
            refuse_overwriting_inputs([partial], inputs)
        except UserError as exc:
            reason = str(exc).removeprefix(f"{partial}: ")
            raise UserError(f"{output}: an interrupted run keeps its frames as {partial} ({reason}); give another "
                            "output name") from None


def picture_output(output: Path, reader: VideoReader, settings: VideoSettings) -> PictureOutput:
    """Numbered pictures numbered as the input's: an image sequence's by their timestamps (a
    segment's first is the number of the picture the cut begins with, `pictures_before`; a damaged
    picture's number is kept), given as `picture_numbering` counts them, except where inverse
    telecine drops frames on purpose (numbered one after another, to be played at the film's rate:
    `film_rate`); a video file's from 1."""
    if settings.deinterlace == "film":
        start = 1 if reader.sequence is None else reader.sequence.start + reader.skipped
        return PictureOutput(output, start, film_rate(reader.frame_rate))
    if reader.sequence is None:
        return PictureOutput(output, 1, reader.frame_rate)
    first = reader.sequence.start + pictures_before(reader.segment.start, reader.frame_rate)
    return PictureOutput(output, first, reader.frame_rate, 1 / reader.frame_rate)  # (a tick a picture)


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


def stat_or_none(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except OSError:
        return None


def size_change(path: Path, opened: os.stat_result | None) -> tuple[int, int] | None:
    """(bytes when opened, bytes now) where `path` is still the file opened (`opened`, its stat
    then) and another size: a recording still being written, or a file cut short under the run.
    None where it is the same size, or was replaced or removed (the file opened stays readable
    as it was: the run read all of it)."""
    now = stat_or_none(path)
    if opened is None or now is None or (now.st_dev, now.st_ino) != (opened.st_dev, opened.st_ino):
        return None
    return (opened.st_size, now.st_size) if now.st_size != opened.st_size else None


def note_changed(source: Path, opened: os.stat_result | None, frames: int) -> None:
    """Say that `source` changed size while it was read to its end: the reader, as FFmpeg, reads a
    file still being written up to where it ends at that moment, and the output lacked the
    recording's end without a word."""
    change = size_change(source, opened)
    if change is None:
        return
    before, now = change
    if now > before:
        note(f"{source.name}: the file grew while it was read ({before} to {now} bytes: a recording still being "
             f"written?); the output holds the {frames} frames there were when the reading reached its end")
    else:
        note(f"{source.name}: the file shrank while it was read ({before} to {now} bytes); the output holds "
             f"the {frames} frames read")


def said_changed(exc: BaseException, source: Path, opened: os.stat_result | None) -> BaseException:
    """`exc`, a failure reading `source`, saying so when the file changed size under the run: the
    reader's "truncated or corrupt" blamed a file that was whole when the run began."""
    change = size_change(source, opened)
    if change is None or not isinstance(exc, UserError) or not str(exc).startswith(f"{source}:"):
        return exc
    return UserError(f"{exc} (the file changed while it was read: {change[0]} bytes when opened, {change[1]} now)")


def changed_shape(size: tuple[int, int], first: tuple[int, int]) -> bool:
    """Whether a frame of `size` (height, width, at the processing size) shows another shape than
    the first frame's, `first` (the same scaling rule, so a frame like it comes out the same):
    more than 2% apart in aspect beyond what rounding each side to a pixel explains (at --size 8,
    320x240 is 11x8, 3% wider than 4:3, and no change of shape)."""
    if size == first:
        return False
    (h, w), (h0, w0) = size, first
    rounding = 0.5 / h + 0.5 / w + 0.5 / h0 + 0.5 / w0
    return abs((w / h) / (w0 / h0) - 1) > 0.02 + rounding


def temporal_stages(settings: VideoSettings, device: torch.device | None = None
                    ) -> tuple[Stabilizer | TwoPassStabilizer | None, ContentStatsSmoother | None]:
    """The flow stabiliser (runs after the network) and the statistics smoother (inside it) that
    `settings.stabilize` asks for; each None when off. Offline, the stabiliser keeps its state in
    float32 (`precise`): it costs little beside the network and avoids 8-bit rounding stalls.
    `device`: where the blends run when not on the CPU (two passes: the backward one too)."""
    stabilizer: Stabilizer | TwoPassStabilizer | None = None
    if settings.has_flow:
        stabilizer = (TwoPassStabilizer(settings.strength, device=device) if settings.passes == 2
                      else Stabilizer(settings.strength, "flow", precise=True))
    smoother = ContentStatsSmoother() if settings.stabilize in STATS_MODES else None
    return stabilizer, smoother


def size_window(stabilizer: TwoPassStabilizer, source: Path, size: tuple[int, int], frames: int = 0) -> None:
    """Hold the two-pass window to what frames of `size` (height, width) need, so the pipeline's
    frame budget grows by that much only; say when such frames cannot look far enough ahead, unless
    the clip's `frames` (0: not known) fit in one window (a 2-frame clip was told of a cut-off it
    never has), and --size as a remedy only where the frames' size is what shortens the look ahead."""
    window = stabilizer.window_frames(size)
    stabilizer.hold_at_most(window)
    ahead = stabilizer.lookahead_at(size)
    if not (stabilizer.strength > 0 and stabilizer.strength ** ahead > 1 / 512) or 0 < frames <= window:
        return  # (at 0 nothing is blended)
    smaller = ", a smaller --size" if ahead < stabilizer.lookahead else ""
    note(f"{source.name}: two passes at {size[1]}x{size[0]} and strength {stabilizer.strength:g} look {ahead} "
         f"frames ahead, so what the backward pass cuts off every {window - ahead} frames weighs up to "
         f"{stabilizer.strength ** ahead:.1%} (a lower --stabilize-strength{smaller} or --stabilize-passes 1 avoids it)")


def hook_temporal_stages(settings: VideoSettings, stylizer: Stylizer, source: Path, size: tuple[int, int],
                         frames: int) -> tuple[Stabilizer | TwoPassStabilizer | None, ContentStatsSmoother | None,
                                            DeviceBlend | None]:
    """This clip's fresh stabiliser and statistics smoother, hooked into the stylizer's engine
    (`content_stats`, and `after_step` where the blend runs on the network's device); the caller
    unhooks them when the clip ends, however it ends."""
    on_device = blends_on_device(stylizer)
    stabilizer, smoother = temporal_stages(settings, stylizer.device if on_device else None)
    if smoother is not None and stylizer.engine.name != "eager":
        raise UserError(f"--stabilize {settings.stabilize} {STATS_NEED_EAGER} (this stylizer runs "
                        f"{stylizer.engine.name})")
    stylizer.engine.content_stats = smoother
    if isinstance(stabilizer, TwoPassStabilizer):
        size_window(stabilizer, source, size, frames)
    device_blend = DeviceBlend(forward_pass(stabilizer)) if stabilizer is not None and on_device else None
    stylizer.engine.after_step = device_blend
    return stabilizer, smoother, device_blend


def blends_on_device(stylizer: Stylizer) -> bool:
    """Whether the stabiliser warps and blends on the stylizer's device (`device_blend.wanted`)."""
    return wants_device_blend(stylizer.device)


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


def keep_partial(writer: VideoWriter | PictureOutput, pending: PendingOutput | PictureOutput,
                 interrupt: KeyboardInterrupt) -> None:
    """Finish the file with the frames encoded so far and name it as partial (none: remove it),
    said in the signal's word (`terminated:` after SIGTERM): the stop's one line, so the CLI adds
    no `terminated` of its own after it (`errors.mark_said`)."""
    try:
        writer.close(whole=False)
    except BaseException as exc:  # (a full disk: said of the output, as without a signal, not its hidden name)
        pending.discard()
        raise pending.failed(exc) from None
    if writer.frames_written:
        kept = pending.publish_partial()
        count = writer.frames_written
        write_line(f"{interrupts.message(interrupt)}: {count} frame{'s' if count != 1 else ''} kept in {kept}")
        mark_said(interrupt)
    else:
        pending.discard()


def discard(writer: VideoWriter | PictureOutput, pending: PendingOutput | PictureOutput) -> None:
    try:
        writer.close(whole=False)
    except Exception:  # the original error is the one to report
        pass
    pending.discard()


VideoJob = tuple[Path, Sequence[Path], Path]  # (input, the styles it gets, output)

StreamAction = Literal["copied", "re-encoded", "converted", "left out"]


@dataclass(frozen=True)
class StreamReport:
    """What became of one input stream besides the video stylized, for a script batching runs
    (`video --json`'s "streams"): the notes say it once per run, in words, merged."""

    index: int  # the input's stream number (ffprobe's #0:N)
    kind: str  # audio, subtitle, cover art, attachment, data, video (another moving one), closed captions
    codec: str | None  # the input's codec (FFmpeg's name), None where FFmpeg knows none
    action: StreamAction
    output_codec: str | None = None  # what the output holds it as (copied: the same)
    reason: str | None = None  # why it was re-encoded, converted or left out (copied: what it lost), as the notes say

    def as_json(self) -> dict:
        return {"index": self.index, "kind": self.kind, "codec": self.codec, "action": self.action,
                "output_codec": self.output_codec, "reason": self.reason}


def stream_reports(reader: VideoReader, writer: VideoWriter | PictureOutput) -> list[StreamReport]:
    """Every input stream but the video stylized, in the input's order, with what the reader
    (`VideoReader.left_out`) and the writer (`VideoWriter.streams`, `.transcoded`, `.said`)
    decided for it; numbered pictures hold none of them."""
    carried, said = ({}, {}) if isinstance(writer, PictureOutput) else (writer.streams, writer.said)
    reports = []
    for stream in reader.container.streams:
        if stream.index == reader.stream.index:
            continue
        kind = "cover art" if stream.type == "video" and is_cover_art(stream) else stream.type
        codec = codec_name(stream)
        out = carried.get(stream.index)
        if out is None:
            reason = (reader.left_out.get(stream.index) or said.get(stream.index)
                      or "numbered pictures hold the pictures alone")
            what = {TIMECODE_CARRIED: "timecode", CHAPTERS_CARRIED: "chapters"}.get(reason)
            if what and not getattr(writer, f"holds_{what}", False):
                reason = f"{writer.path.suffix} holds no {what}: dropped" if isinstance(writer, VideoWriter) else \
                    f"numbered pictures hold no {what}: dropped"
            reports.append(StreamReport(stream.index, kind, codec, "left out", None, reason))
        elif stream.index in writer.transcoded:
            action: StreamAction = "converted" if stream.type == "subtitle" else "re-encoded"
            reports.append(StreamReport(stream.index, kind, codec, action, codec_name(out), said.get(stream.index)))
        else:
            reports.append(StreamReport(stream.index, kind, codec, "copied", codec, said.get(stream.index)))
    return reports


def partly_reencoded(reports: list[StreamReport], reasons: dict[int, str]) -> list[StreamReport]:
    """`reports` once the run ended, with a stream copied at first and re-encoded from where its
    kind changed (`reasons`, by index) said so: it was listed as copied, the note alone said more."""
    return [dataclasses.replace(report, action="re-encoded", reason=f"copied until {reasons[report.index]}")
            if report.index in reasons and report.action == "copied" else report for report in reports]


def undecoded(reports: list[StreamReport], reasons: dict[int, str]) -> list[StreamReport]:
    """`reports` with a re-encoded sound none of which decoded (`reasons`, by index) said left out:
    the output holds none of it (5.1 TrueHD from FFmpeg 5 in a .mp4 was listed as re-encoded)."""
    return [dataclasses.replace(report, action="left out", output_codec=None, reason=reasons[report.index])
            if report.index in reasons else report for report in reports]


def with_captions(reports: list[StreamReport], reader: VideoReader) -> list[StreamReport]:
    """`reports` with the closed captions the pictures carried (seen as they were decoded), left
    out (`picture_notes.note_captions_left_out`), in the input's order: listed as the video's stream."""
    if not reader.captions:
        return reports
    captions = StreamReport(reader.stream.index, "closed captions", "eia_608", "left out", None, CAPTIONS_LEFT_OUT)
    return sorted([*reports, captions], key=lambda report: report.index)


# The kinds of stream whose packets are copied as the file is read (an attachment is in the header,
# cover art's one picture may be too): one of them that got none holds nothing in the output.
PACKET_KINDS = frozenset({"audio", "subtitle", "data"})


def part_kept(settings: VideoSettings) -> str | None:
    """The part of the input an output holds, in the options' words; None: all of it."""
    if settings.start or settings.duration is not None:
        return "--start/--duration"
    if settings.frames:
        return f"the first {settings.frames} frames (--frames)"
    return None


def without_packets(reports: list[StreamReport], given: set[int], settings: VideoSettings,
                    empty_in: str | None = None) -> list[StreamReport]:
    """`reports` (made as the output opened) once the run ended: a stream kept that got no
    packet (`given`: the streams the reader passed a packet on of) is `left out`. A subtitle shown
    only before --start was listed as copied, its track empty (or none). `empty_in`: the output's
    extension where its muxer writes such a track, empty (`VideoWriter.keeps_empty_tracks`), said
    of a stream that holds no packets at all: "left out" alone read as if the output had no track."""
    part = part_kept(settings)
    why = (f"none of its packets fall within {part}" if part else
           f"it holds no packets ({empty_in} gets an empty track)" if empty_in else "it holds no packets")
    return [StreamReport(report.index, report.kind, report.codec, "left out", None, why)
            if report.kind in PACKET_KINDS and report.action != "left out" and report.index not in given
            else report for report in reports]


# The attachment MIME types FFmpeg's Matroska reader gives a codec (`ff_mkv_mime_tags`; ffprobe
# says "unknown" for others, font/ttf among them): PyAV names an attachment stream by its file
# name, which "codec" said.
ATTACHMENT_CODECS = {"application/x-truetype-font": "ttf", "application/x-font": "ttf",
                     "application/vnd.ms-opentype": "otf", "binary": "bin_data"}


def codec_name(stream: av.stream.Stream) -> str | None:
    """A stream's codec as FFmpeg (ffprobe) names it, not its decoder: mp3, not mp3float; subrip,
    ass and dvd_subtitle, not srt, ssa and dvdsub. None where FFmpeg knows none."""
    if stream.type == "attachment":
        return ATTACHMENT_CODECS.get(stream.mimetype or "")
    context = stream.codec_context
    # (data: no context; PyAV names its stream by the codec's descriptor. A codec FFmpeg does not know: neither.)
    name = context.codec.canonical_name if context is not None else getattr(stream, "name", None)
    return None if name in (None, "none") else name


@dataclass(frozen=True)
class VideoDone:
    """A finished output, for reports (`video --json`)."""

    source: Path
    styles: list[Path]
    output: Path
    size: tuple[int, int]  # (width, height)
    frames: int
    seconds: float
    streams: list[StreamReport]  # the input's other streams: kept, converted or left out


# The largest picture any level of H.264, HEVC or AV1 defines (level 6.x: 139264 macroblocks of
# 16x16, 8192x4352; 8K UHD and DCI 8K fit): the most --keep-size scales frames up to, or --max-pixels
# where higher. Each side under MAX_SIDE was not enough: a 600-byte GIF whose screen said 16000x16000
# was stylized at --size 64 and encoded at 16000x16000 (9.6 GB, minutes), playable nowhere.
KEEP_SIZE_MAX_PIXELS = 139264 * 16 * 16


def check_opened(source: Path, reader: VideoReader, settings: VideoSettings,
                 encode: EncodeSettings | None = None, outputs: Sequence[Path] = (),
                 tried: set[tuple] | None = None) -> None:
    """Refuse an opened input whose first frame is over the pixel budget at the processing size,
    or whose output (at the display size, with --keep-size) is too long a side or too large to
    encode (`KEEP_SIZE_MAX_PIXELS`), or is a size the chosen encoder crashes on
    (`check_picture_size`), or a rate it holds none of (DV). With its `outputs`, the encoder of
    each is opened at that size and rate (`check_encoder`: a size it opens for none of, a
    --pix-fmt that cannot hold it), once for each such output `tried` holds none of yet."""
    check_pixel_budget(source, *reader.first_frame.image.shape[:2], settings.size, settings.max_pixels, "--size")
    if settings.keep_size and max(reader.width, reader.height) > MAX_SIDE:  # encoders stop there
        raise UserError(f"{source}: shown at {reader.width}x{reader.height}, longer than {MAX_SIDE} "
                        "pixels on a side to encode (use --no-keep-size)")
    most = max(KEEP_SIZE_MAX_PIXELS, settings.max_pixels)
    if settings.keep_size and reader.width * reader.height > most:
        raise UserError(f"{source}: shown at {reader.width}x{reader.height}, over {most} pixels to encode "
                        "(use --no-keep-size, or raise --max-pixels)")
    videos = {out.suffix.lower(): out for out in outputs if not is_picture_pattern(out)}  # (one per container)
    if encode is None or not (encode.codec or videos):
        return
    height, width = ((reader.height, reader.width) if settings.keep_size
                     else fit_short_side(reader.first_frame.image, settings.size).shape[:2])
    timing = (reader.frame_rate, reader.time_base, reader.stream.base_rate)
    tried = set() if tried is None else tried
    try:
        if not videos:  # (DV: a rate it holds, a --pix-fmt it takes)
            framed_picture(encode, width, height, reader.frame_rate)
        for suffix, output in videos.items():
            if (suffix, width, height, *timing) not in tried:
                check_encoder(encode, output, width, height, *timing)
                tried.add((suffix, width, height, *timing))
    except UserError as exc:
        raise UserError(f"{source}: {exc}") from None


def check_inputs(sources: Sequence[Path], settings: VideoSettings, encode: EncodeSettings | None = None,
                 problems: list[str] | None = None, outputs: Mapping[Path, Sequence[Path]] | None = None) -> None:
    """`check_opened` for every input before any work (the model loads), so a folder run is not
    refused halfway by a file that could be told apart at once; raises one `UserError` naming
    each bad file (with `problems`, adds them there instead: a run refused already names them
    all). `outputs`: each input's, whose encoder is opened at its size, once per size and rate.
    (Damage further into a file shows only when it is read.)"""
    found = []
    tried: set[tuple] = set()
    for source in dict.fromkeys(sources):
        try:
            with VideoReader(source, 1, settings.deinterlace, settings.framerate, settings.start,
                             settings.duration) as reader:
                check_opened(source, reader, settings, encode, (outputs or {}).get(source, ()), tried)
        except UserError as exc:
            found.append(str(exc))
    if problems is None:
        refuse_inputs(found)
    else:
        problems += found


def stylize_videos(
    jobs: Sequence[VideoJob], stylizer: Stylizer, style_images: Mapping[Path, np.ndarray],
    settings: VideoSettings, encode: EncodeSettings, report: Callable[[VideoDone], None] = lambda _: None,
) -> None:
    """Every job with one loaded network; style statistics are computed once per style (with
    colour preservation, once per video: recoloured to its first frame, one palette per video).
    `style_images` is looked up as each is encoded (the CLI's reads the file again then).
    `report` gets each finished output with its figures. An input that fails as it is read
    (`fails_alone`) costs its own outputs only: a note says so at once, the others are made, then
    one `UserError` names each such input (a folder run stopped at the first damaged file, the
    later ones never named). A run stopped otherwise (a signal, a full disk) names them too: its
    last words were of the stop alone, and the failures before were lost."""
    style = settings.style
    style_set = StyleSet(stylizer, style_images, style.style_size, style.preserve_color)
    threads_before = torch.get_num_threads()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    failed: dict[Path, str] = {}  # input -> why it failed
    not_written = written = index = 0
    try:
        for index, (source, used, output) in enumerate(jobs):
            if source in failed:  # (read again for another style, it fails the same way, after as much work)
                not_written += 1
                continue

            def style_of(first_frame: np.ndarray, used=used) -> StyleStats:
                return style_set.combined(used, first_frame, style.mix)

            def done(frames: int, size: tuple[int, int], streams: list[StreamReport], source=source, used=used,
                     output=output, started=time.monotonic()) -> None:
                nonlocal written
                written += 1  # (published: a report that fails to be written leaves it made)
                report(VideoDone(source, list(used), output, size, frames, time.monotonic() - started, streams))

            try:
                stylize_file(source, output, stylizer, style_of, settings, encode, on_done=done)
            except UserError as exc:
                if len(jobs) == 1 or not fails_alone(exc, source):
                    raise
                failed[source] = str(exc)
                not_written += 1
                going_on = any(other != source for other, _, _ in jobs[index + 1:])
                note(f"not written: {exc}{'; going on with the other inputs' if going_on else ''}")
    except UserError as exc:  # (a full disk stays full: what was made and what was never tried said)
        raise stopped_at(exc, written, len(jobs) - index - 1, list(failed.values()), len(jobs), "outputs") from None
    except KeyboardInterrupt as exc:
        if failed:  # (the line before the signal's own, said last even where a partial file's line said it)
            note(f"also not written: {problems(failed)}")
            mark_said(exc, False)
        raise
    finally:
        torch.set_num_threads(threads_before)
    if failed:
        raise not_all_written(failed.values(), not_written, len(jobs), "outputs")


def problems(failed: Mapping[Path, str]) -> str:
    """Why each input that failed did, in one line."""
    return "; ".join(failed.values())


def fails_alone(exc: UserError, source: Path) -> bool:
    """Whether `exc` is `source`'s own failure, which leaves the other inputs of a run to be made:
    one that names it (damage found as it is read, a frame over --max-pixels, the file changed
    since it was checked). One that names an output (a full disk, its folder gone), a style or
    standard output concerns every job, and stops the run."""
    return str(exc).startswith(f"{source}: ")
