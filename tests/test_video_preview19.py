"""A preview (`--frames`) of a file whose subtitle lines overlap: a long line that began before
a short one was held past the short one's release, went out after it, and the muxer moved it to
start where the short one ended (0.0-0.5 s became 0.3-0.8 s, said as "packet timestamps that do
not increase"). And what a preview holds of lines that outlast it is bounded."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av

from realtime_adain.video.held_packets import ShownUntil
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)
from video_corpus import FFMPEG


def srt(*cues: tuple[str, str, str]) -> str:
    """SubRip text of (start, end, line) cues."""
    return "".join(f"{n}\n{start} --> {end}\n{line}\n\n" for n, (start, end, line) in enumerate(cues, 1))


OVERLAPPING_SRT = srt(("00:00:00,000", "00:00:01,500", "Long"), ("00:00:00,100", "00:00:00,200", "Short"),
                      ("00:00:00,300", "00:00:00,400", "Third"), ("00:00:01,000", "00:00:01,200", "Later"))


def subtitled(folder: Path, lines: str) -> Path:
    """2 s of 10 fps video with SubRip `lines`, in a .mkv."""
    (folder / "lines.srt").write_text(lines)
    source = folder / "subtitled.mkv"
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=2",
                    "-i", str(folder / "lines.srt"), "-c:v", "libx264", "-c:s", "srt", str(source)], check=True)
    return source


def test_overlapping_lines_keep_their_times_in_a_preview(run_cli, weights_env, style, tmp_path):
    err = stylize(run_cli, subtitled(tmp_path, OVERLAPPING_SRT), style, tmp_path / "p.mkv", "--frames", "5")
    kept = subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-i", str(tmp_path / "p.mkv"), "-map", "0:s", "-f", "srt",
                           "-"], capture_output=True, text=True, check=True).stdout
    cues = [block.split("\n")[1:3] for block in kept.strip().split("\n\n")]
    assert cues == [["00:00:00,000 --> 00:00:00,500", "Long"], ["00:00:00,100 --> 00:00:00,200", "Short"],
                    ["00:00:00,300 --> 00:00:00,400", "Third"]]
    assert "do not increase" not in err


def test_lines_held_past_the_pictures_are_bounded(tmp_path):
    """40 lines that each last an hour, every 10 ms: at most `limit` are held; the oldest go on
    whole, in the order read, and what is left is cut to end with the last picture."""
    lines = srt(*((f"00:00:00,{n * 10:03d}", "01:00:00,000", f"line {n}") for n in range(40)))
    with av.open(str(subtitled(tmp_path, lines))) as container:  # (open while its packets are used)
        packets = [p for p in container.demux(subtitles=0) if p.size]
        shown = ShownUntil(Fraction(1, 1000), limit=8)
        out = list(shown.after(iter(packets), 400, 100))  # (a picture at 0.4 s, lasting 0.1 s)
        assert shown.count == 8
        assert [p.pts for p in out] == [n * 10 for n in range(32)]
        assert all(p.duration == 3600_000 - p.pts for p in out)
        cut = list(shown.cut(400, 100))
        assert [p.pts for p in cut] == [n * 10 for n in range(32, 40)]
        assert all(p.pts + p.duration == 500 for p in cut)
