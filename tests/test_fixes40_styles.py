"""Session 40: the style library's statistics belong to the bytes they are stored under."""

from __future__ import annotations

import hashlib

import pytest

from realtime_adain.errors import UserError


def test_a_style_replaced_after_its_hash_is_not_cached_under_the_old_digest(stylizer, data_dir, tmp_path):
    """`_style` hashed a file, then decoded it again from disk on a cache miss: a file replaced in
    between had its statistics stored under the first file's digest, and every later run (any
    folder holding the first file) was given the other picture's colours."""
    from realtime_adain.live.styles import StyleLibrary

    style = tmp_path / "style.jpg"
    style.write_bytes((data_dir / "style" / "mondrian.jpg").read_bytes())
    first_digest = hashlib.sha256((data_dir / "style" / "trial.jpg").read_bytes()).hexdigest()  # (hashed, then replaced)
    library = StyleLibrary([style], stylizer, 64, tmp_path / "cache")
    with pytest.raises(UserError, match="the file changed since the run checked it"):
        library._style(style, first_digest)
    assert not library.cache_path(first_digest).exists()
    assert library._style(style).digest == hashlib.sha256(style.read_bytes()).hexdigest()


def test_a_style_that_changed_while_read_is_tried_again_at_the_next_rescan(stylizer, data_dir, tmp_path):
    """The race is not the picture's fault: its (path, digest) was kept as rejected, so the file,
    once it held that picture again, was left out of every later rescan without a word (h8)."""
    from realtime_adain.live.styles import StyleLibrary

    folder = tmp_path / "styles"
    folder.mkdir()
    style = folder / "style.jpg"
    style.write_bytes((data_dir / "style" / "trial.jpg").read_bytes())
    skipped: list[str] = []
    library = StyleLibrary([folder], stylizer, 64, tmp_path / "cache")
    digest = hashlib.sha256(style.read_bytes()).hexdigest()
    style.write_bytes((data_dir / "style" / "mondrian.jpg").read_bytes())  # (replaced after the hash)
    assert library._usable(style, skipped.append, digest) is None and "changed since" in skipped[0]
    style.write_bytes((data_dir / "style" / "trial.jpg").read_bytes())  # (and back)
    assert library._usable(style, skipped.append, digest).digest == digest
