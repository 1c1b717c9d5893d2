"""A `live` recording says how its colours are coded: it was converted with swscale's default
(BT.601) and left untagged, which players take as BT.709 for HD pictures (a red shifted as
`video`'s writer once shifted it: (230, 20, 30) shown as about (210, 0, 29))."""

from __future__ import annotations

import json
import subprocess

import numpy as np

from realtime_adain.live.recorder import Recorder
from video_corpus import FFMPEG, FFPROBE


def test_a_recording_is_bt709_and_tagged_so(tmp_path):
    path = tmp_path / "rec.mp4"
    recorder = Recorder(path, (1280, 720), fps=30, log=lambda *a, **k: None)
    for index in range(3):
        recorder.submit(np.full((720, 1280, 3), (230, 20, 30), np.uint8), index / 30)
    assert recorder.close() == path
    stream = json.loads(subprocess.run(
        [FFPROBE, "-v", "error", "-select_streams", "v", "-show_entries",
         "stream=color_space,color_transfer,color_primaries,color_range", "-of", "json", str(path)],
        capture_output=True, text=True, check=True).stdout)["streams"][0]
    assert (stream["color_space"], stream["color_primaries"], stream["color_transfer"], stream["color_range"]) == (
        "bt709", "bt709", "bt709", "tv")
    shown = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt",
                            "rgb24", "-"], capture_output=True, check=True).stdout  # (FFmpeg reads the tags)
    np.testing.assert_allclose(np.frombuffer(shown, np.uint8).reshape(720, 1280, 3)[360, 640], (230, 20, 30), atol=4)
