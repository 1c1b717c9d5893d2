"""Follow-ups to session 56's fixes: a video folder's notes, live's out-of-memory line, a start
time too large or too small for a float."""

from __future__ import annotations

from realtime_adain.input_paths import expand_inputs
from realtime_adain.notes import collected
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
