"""Packets of the other streams through the reader: in runs, counted, and what `--json` says of
a stream none of whose packets the output got."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest

from test_video_realworld_inputs import ffmpeg, style  # noqa: F401  (a fixture)
from test_video_tsjoin18 import gopro_clip
from realtime_adain.video.demuxing import RUN_PACKETS
from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader

SRT = "1\n00:00:00,000 --> 00:00:01,000\nonly at the start\n"


def demuxed(path: Path) -> list[tuple[int, int | None, bytes]]:
    """Every packet of a stream other than the first video, (stream, pts, bytes), in file order."""
    with av.open(str(path)) as container:
        return [(p.stream.index, p.pts, bytes(p)) for p in container.demux() if p.size and p.stream.index != 0]


def test_telemetry_leaves_the_reader_in_runs(tmp_path):
    """A GoPro's telemetry (here 500 packets a picture) went through six generators a packet, one
    step each, most of a run over a million of them: the reader gives packets read one after
    another as one list (`runs`), each packet once, its stream noted (`streams_given`)."""
    source = tmp_path / "GX010007.MP4"
    gopro_clip(source, 500, frames=10)
    with VideoReader(source) as reader:
        items = [[(p.stream.index, bytes(p)) for p in item] if isinstance(item, list) else item
                 for item in reader.runs()]
        given = reader.streams_given
    runs = [item for item in items if isinstance(item, list)]
    assert sum(isinstance(item, Frame) for item in items) == 10
    packets = [packet for run in runs for packet in run]
    assert len(runs) <= len(packets) // RUN_PACKETS + 3 * 10, len(runs)
    sent = [(index, data) for index, _, data in demuxed(source)]
    for index in (1, 2):  # each stream's packets once, in the order stored
        assert [p for p in packets if p[0] == index] == [p for p in sent if p[0] == index]
    assert given == {1, 2} and sum(i == 2 for i, _ in sent) == 5000

def test_items_are_the_runs_one_by_one(tmp_path):
    """`items` (frames and single packets) gives what `runs` gives, in the same order."""
    source = tmp_path / "GX010008.MP4"
    gopro_clip(source, 40, frames=6)
    with VideoReader(source) as reader:
        ran = [("frame", item.pts) if isinstance(item, Frame) else ("packet", p.stream.index, p.pts)
               for item in reader.runs() for p in (item if isinstance(item, list) else [None])]
    with VideoReader(source) as reader:
        one_by_one = [("frame", item.pts) if isinstance(item, Frame) else ("packet", item.stream.index, item.pts)
                      for item in reader.items()]
    assert ran == one_by_one


@pytest.fixture
def st3(tmp_path) -> Path:
    """3 s of video with sound and one subtitle cue, at 0-1 s."""
    (tmp_path / "s.srt").write_text(SRT)
    source = tmp_path / "st3.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=3", "-f", "lavfi", "-i",
           "sine=duration=3", "-i", tmp_path / "s.srt", "-map", "0", "-map", "1", "-map", "2", "-c:v", "libx264",
           "-c:a", "aac", "-c:s", "srt", source)
    return source


def video_json(run_cli, source: Path, style: Path, out: Path, *extra: str) -> dict:
    code, stdout, err = run_cli("video", source, "-s", style, "--size", "32", "--style-size", "64", "--threads",
                                "1", "--stabilize", "off", *extra, "--json", "-o", out)
    assert code == 0 and "Traceback" not in err, err
    return json.loads(stdout)


def test_a_subtitle_only_before_the_start_is_reported_left_out(run_cli, weights_env, style, st3, tmp_path):
    """`--start 2` past the only cue: the output's subtitle track got no packet, and `--json` said
    "copied" (decided as the output opened); it says what happened: left out, and why."""
    report = video_json(run_cli, st3, style, tmp_path / "out.mkv", "--start", "2")
    streams = {s["index"]: s for s in report["streams"]}
    assert streams[1]["action"] == "copied"
    assert streams[2] == {"index": 2, "kind": "subtitle", "codec": "subrip", "action": "left out",
                          "output_codec": None, "reason": "none of its packets fall within --start/--duration"}
    with av.open(str(tmp_path / "out.mkv")) as container:
        assert not [p for p in container.demux(subtitles=0) if p.size] if container.streams.subtitles else True


def test_a_subtitle_within_the_segment_is_still_copied(run_cli, weights_env, style, st3, tmp_path):
    report = video_json(run_cli, st3, style, tmp_path / "out.mkv", "--start", "0.5", "--duration", "1")
    assert [s["action"] for s in report["streams"]] == ["copied", "copied"]
