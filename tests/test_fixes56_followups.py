"""Follow-ups to session 56's fixes: a video folder's notes, live's out-of-memory line, a start
time too large or too small for a float."""

from __future__ import annotations

from fractions import Fraction

import pytest

import realtime_adain as ra
from realtime_adain import available_memory
from realtime_adain.errors import environment_failure
from realtime_adain.input_paths import expand_inputs
from realtime_adain.notes import collected
from realtime_adain.stylizer import OutOfMemory
from realtime_adain.times import shown_seconds
from realtime_adain.video.probing import is_video_path


def test_a_video_folder_says_nothing_of_the_image_formats_it_leaves_out(tmp_path):
    """A video folder's README, a.jxl and notes.pdf were named with image advice ("convert it to
    PNG or JPEG to include it"): converting includes nothing in a folder read for videos."""
    folder = tmp_path / "vd"
    folder.mkdir()
    for name in ("clip.mp4", "notes.pdf", "README", "a.jxl", "m.png"):
        (folder / name).write_bytes(b"x")
    with collected() as notes:
        assert expand_inputs([folder], "input", is_video_path, "video files", True) == [folder / "clip.mp4"]
    assert notes == []


def test_live_refused_by_the_memory_check_says_the_shortfall_and_what_to_lower(
        weights_env, run_cli, data_dir, tmp_path, monkeypatch):
    """`live` said 'out of memory; free some memory or raise the limit (`ulimit -v`)' where the check
    before the work had found the shortfall, as image and video say it ('needs about ..., and ...
    is available; lower --size'); the ulimit advice is for an allocation that failed."""
    monkeypatch.setattr(available_memory, "free_memory", lambda device: 2**20)
    code, out, err = run_cli("live", "--source", data_dir / "videos" / "cutBunny.mp4", "-s",
                             data_dir / "style" / "mondrian.jpg", "--style-size", "64", "--size", "256",
                             "--no-window", "-o", tmp_path / "lv.mp4", "--max-frames", "2", "--device", "cpu")
    reason = [line for line in out.splitlines() + err.splitlines() if "error reason=" in line]
    assert len(reason) == 1 and "(needs about " in reason[0] and "1 MiB is available); lower --size" in reason[0], (out, err)
    assert "ulimit" not in reason[0]


def test_an_allocation_that_failed_keeps_the_ulimit_advice():
    assert "ulimit -v" in environment_failure(MemoryError(), "lower --size")
    checked = OutOfMemory("frame: out of memory (needs about 1 GiB, and 1 MiB is available); pass a smaller frame")
    checked.shortfall = " (needs about 1 GiB, and 1 MiB is available)"
    assert environment_failure(checked, "lower --size") == \
        "out of memory (needs about 1 GiB, and 1 MiB is available); lower --size"


@pytest.mark.parametrize("start, shown", [
    (-10**400, "-1e+400"),
    (Fraction(-10**400), "-1e+400"),
    (Fraction(-1, 10**400), "-1e-400"),
    (-10**5000, "-1e+5000"),
    (Fraction(-1, 3 * 10**400), "-3.33333e-401"),
], ids=["int", "fraction", "tiny", "huge", "third"])
def test_a_negative_start_beyond_a_floats_range_is_refused_as_negative(start, shown, tmp_path):
    """-10**400 and Fraction(-10**400) were OverflowErrors ("int too large to convert to float",
    from math.isfinite), Fraction(-1, 10**400) said "start -0.0 must be at least 0 seconds"."""
    with pytest.raises(ra.UserError) as refused:
        ra.stylize_video(tmp_path / "in.mp4", tmp_path / "o.mp4", style="s.jpg", size=32, start=start)
    assert str(refused.value) == f"start {shown} must be at least 0 seconds"


def test_a_time_said_back_is_as_before_within_a_floats_range():
    assert [shown_seconds(value) for value in (-2, Fraction(-1, 2), -1.0, 1e20, -10**17, Fraction(7, 4))] == \
        ["-2", "-0.5", "-1.0", "1e+20", "-100000000000000000", "1.75"]
