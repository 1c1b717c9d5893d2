"""An AVI without its index (a recording stopped) whose last picture comes after a pause: its last
picture lasted as long as the pause before it (2.08 s), not a picture's time."""

from __future__ import annotations

from pathlib import Path

from test_video_timing19 import ffmpeg, frames_and_sound


def test_an_avi_cut_before_its_index_does_not_hold_its_last_picture_for_the_pause(tmp_path: Path):
    source = tmp_path / "paused.mkv"  # 39 pictures every other 1/25 s slot, the 40th 50 slots later
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x64:rate=25", "-frames:v", "40", "-vf",
           "setpts='if(lt(N,39),N*2,39*2+50)/25/TB'", "-fps_mode", "vfr", "-c:v", "mpeg4", "-bf", "0", "-g", "10", source)
    whole = tmp_path / "paused.avi"
    ffmpeg("-i", source, "-c", "copy", whole)
    data = whole.read_bytes()
    cut = tmp_path / "no_index.avi"
    cut.write_bytes(data[:data.rfind(b"idx1")])
    frames, _ = frames_and_sound(cut)
    assert len(frames) == 40 and [f.pts for f in frames[-2:]] == [152, 256]  # (1/50 s: 3.04 s and 5.12 s)
    # An average picture's time at most (5.24 s; FFmpeg's own output: 5.16 s); was 104 ticks, the pause.
    assert frames[-1].duration <= 6
