"""Image sequences as `video` input (session 56): a numbered pattern that matches one picture is
a one-frame clip, as `ffmpeg -i 'f_%04d.png' x.mp4` makes it; a plain picture file stays refused."""

from __future__ import annotations

import pytest

from cli_support import one_error_line
from test_video_realworld_inputs import stylize, style  # noqa: F401  (a fixture)
from test_video_sequences import pictures, timing


@pytest.mark.parametrize("output", ["x.mp4", "g_%04d.png"])
def test_a_pattern_of_one_picture_is_a_one_frame_clip(run_cli, weights_env, style, tmp_path, output):
    """Before: "error: seq1/f_%04d.png: this is an image, not a video (use `realtime-adain image`)",
    rc 2, though the pattern names an image sequence, not a picture (a 12-picture sequence with
    --frames 1, and a one-frame .mp4, were stylized)."""
    pattern = pictures(tmp_path / "seq1", "f_%04d.png", 1)
    out = tmp_path / "out" / output
    out.parent.mkdir()
    stylize(run_cli, pattern, style, out)
    if output.endswith(".mp4"):
        assert timing(out) == (1, [0])
    else:
        assert sorted(p.name for p in out.parent.iterdir()) == ["g_0001.png"]


def test_a_single_picture_file_is_still_refused(run_cli, weights_env, style, tmp_path):
    """A photo given by its own name is an image, as docs/video.md says (use `realtime-adain image`)."""
    photo = pictures(tmp_path, "f_%04d.png", 1).with_name("f_0001.png")
    out = tmp_path / "out.mp4"
    code, _, err = run_cli("video", photo, "-s", style, "--size", "32", "--style-size", "64", "-o", out)
    assert one_error_line(err, code) == f"error: {photo}: this is an image, not a video (use `realtime-adain image`)"
    assert not out.exists()
