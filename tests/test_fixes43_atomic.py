"""Session 43: one loop claims the first free name, for outputs and for killed live recordings."""
import os

from realtime_adain.atomic import PendingOutput
from realtime_adain.output_paths import link_first_free


def test_the_first_name_no_file_has_is_linked(tmp_path):
    """A file, and a dangling link, both hold their names; the file keeps its own name too."""
    source = tmp_path / "source"
    source.write_bytes(b"frames")
    (tmp_path / "a").write_bytes(b"mine")
    os.symlink(tmp_path / "missing", tmp_path / "b")
    names = [tmp_path / name for name in "abc"]
    assert link_first_free(source, names) == (tmp_path / "c", True)
    assert (tmp_path / "c").read_bytes() == b"frames" and source.exists()
    assert (tmp_path / "a").read_bytes() == b"mine" and os.path.islink(tmp_path / "b")
    assert link_first_free(source, names) == (None, False)


def test_a_partial_result_never_replaces_a_file(tmp_path):
    final = tmp_path / "out.mp4"
    (tmp_path / "out.partial.mp4").write_bytes(b"earlier")
    pending = PendingOutput(final)
    pending.path.write_bytes(b"frames")
    kept = pending.publish_partial()
    assert kept == tmp_path / "out.partial-1.mp4" and kept.read_bytes() == b"frames"
    assert (tmp_path / "out.partial.mp4").read_bytes() == b"earlier"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out.partial-1.mp4", "out.partial.mp4"]
