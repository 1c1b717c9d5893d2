"""What became of each input stream besides the video stylized (`StreamReport`, `video --json`'s
"streams"): made as the output opens from what the reader and the writer decided, then corrected
once the run ended (a stream re-encoded partway, sound none of which decoded, closed captions seen
as the pictures were decoded, a stream that got no packet)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import av

from realtime_adain.settings import VideoSettings
from realtime_adain.video.picture_notes import CAPTIONS_LEFT_OUT
from realtime_adain.video.picture_output import PictureOutput
from realtime_adain.video.reader import VideoReader
from realtime_adain.video.streams import CHAPTERS_CARRIED, TIMECODE_CARRIED, is_cover_art
from realtime_adain.video.writer import VideoWriter

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
    carried, said = ({}, writer.said) if isinstance(writer, PictureOutput) else (writer.streams, writer.said)
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
