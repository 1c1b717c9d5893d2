"""Session 41's fixes to the Python API and `video --keep-size`, found by testers: `stylize_video`
takes keep_size (its errors said --no-keep-size), `StyleStats.to` checks dtype, `TwoPassStabilizer`
names itself for options it does not take, and a kept size is bounded in area, not only by side."""

from __future__ import annotations

import struct
import subprocess
import time

import numpy as np
import pytest
import torch

import realtime_adain as ra
from realtime_adain.api_words import in_api_words
from realtime_adain.settings import VideoSettings
from realtime_adain.temporal.two_pass import TwoPassStabilizer
from realtime_adain.video.input_checks import KEEP_SIZE_MAX_PIXELS, check_opened
from realtime_adain.video.reader import VideoReader
from video_samples import probe


@pytest.fixture(scope="module")
def style(stylizer):
    return stylizer.style(np.full((16, 16, 3), 90, np.uint8), size=16)


def gif_whose_screen_says(path, width: int, height: int):
    """A 16x16 GIF whose logical screen (bytes 6-9) says `width` x `height`: its frames decode at that size."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=16x16:rate=5:duration=0.4",
                    str(path)], check=True)
    data = bytearray(path.read_bytes())
    data[6:10] = struct.pack("<HH", width, height)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.slow  # (default run's time: 4 s)
def test_stylize_video_takes_keep_size_and_its_errors_say_so(stylizer, style, tmp_path):
    """4200x16 at 4:1 pixels shows as 16800x16, too long a side to keep: the error told a Python
    caller "(use --no-keep-size)", and stylize_video had no argument for it."""
    source = tmp_path / "wide.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "color=c=red:size=4200x16:rate=10",
                    "-t", "0.2", "-vf", "setsar=4", "-pix_fmt", "yuv420p", str(source)], check=True)
    with pytest.raises(ra.UserError) as refused:
        ra.stylize_video(source, tmp_path / "a.mp4", style=style, stylizer=stylizer, size=8)
    assert str(refused.value) == (f"{source}: shown at 16800x16, longer than 16384 pixels on a side to encode "
                                  "(use keep_size=False)")
    out = ra.stylize_video(source, tmp_path / "b.mp4", style=style, stylizer=stylizer, size=8, keep_size=False)
    assert (probe(out).width, probe(out).height) == (8400, 8)
    with pytest.raises(TypeError, match="keep_size must be bool, got str"):
        ra.stylize_video(source, tmp_path / "c.mp4", style=style, stylizer=stylizer, keep_size="no")
    # (the GIF encoder's advice too: "use --size with --no-keep-size")
    assert in_api_words("use --size with --no-keep-size, or --keep-size") == "use size with keep_size=False, or keep_size"


def test_style_stats_to_checks_dtype():
    """A dtype by name ('float16') was torch's TypeError of several lines."""
    stats = ra.StyleStats(torch.zeros(512), torch.ones(512))
    with pytest.raises(TypeError) as refused:
        stats.to("cpu", "float16")
    assert str(refused.value) == "dtype must be a torch.dtype or None, got str"
    assert stats.to("cpu", torch.float64).mean.dtype == torch.float64


@pytest.mark.parametrize("option", [{"mode": "stats"}, {"precise": False}, {"lookahead": 3}])
def test_two_pass_stabilizer_names_itself_for_options_it_does_not_take(option):
    """They reached `Stabilizer`: "Stabilizer.__init__() got multiple values for argument 'mode'"."""
    with pytest.raises(TypeError) as refused:
        TwoPassStabilizer(**option)
    assert str(refused.value) == (f"TwoPassStabilizer got an unexpected keyword argument {next(iter(option))!r}: it "
                                  "takes strength, preset, flow_width, window_bytes, device and cut_fraction, "
                                  "photometric, soft_edge")
    assert TwoPassStabilizer(cut_fraction=0.3).backward.cut_fraction == 0.3


@pytest.mark.slow  # (default run's time: a large picture)
def test_a_kept_size_is_bounded_in_area(run_cli, weights_env, data_dir, tmp_path):
    """A GIF of about 1 KB whose screen says 6000x6000 (each side under 16384) was accepted at
    --size 64 and encoded at 6000x6000 (16000x16000: 9.6 GB and minutes); now refused before the
    model loads. 8K UHD still keeps its size, and --max-pixels raises the bound."""
    gif = gif_whose_screen_says(tmp_path / "screen.gif", 6000, 6000)
    started = time.monotonic()
    code, _, err = run_cli("video", gif, "-s", data_dir / "style" / "brushstrokes.jpg", "--size", "64",
                           "-o", tmp_path / "out.mp4")
    assert (code, err) == (2, f"error: {gif}: shown at 6000x6000, over {KEEP_SIZE_MAX_PIXELS} pixels to encode "
                              "(use --no-keep-size, or raise --max-pixels)\n")
    assert time.monotonic() - started < 60
    assert sorted(p.name for p in tmp_path.iterdir()) == ["screen.gif"]
    with VideoReader(gif, 1) as reader:
        check_opened(gif, reader, VideoSettings(size=64, keep_size=False))
        check_opened(gif, reader, VideoSettings(size=64, max_pixels=6000 * 6000))
    eight_k = gif_whose_screen_says(tmp_path / "8k.gif", 7680, 4320)
    with VideoReader(eight_k, 1) as reader:
        check_opened(eight_k, reader, VideoSettings(size=64))


def test_a_kept_size_too_large_names_the_api_arguments(stylizer, style, tmp_path):
    gif = gif_whose_screen_says(tmp_path / "screen.gif", 6000, 6000)
    with pytest.raises(ra.UserError) as refused:
        ra.stylize_video(gif, tmp_path / "out.mp4", style=style, stylizer=stylizer, size=64)
    assert str(refused.value) == (f"{gif}: shown at 6000x6000, over {KEEP_SIZE_MAX_PIXELS} pixels to encode "
                                  "(use keep_size=False, or raise max_pixels)")
