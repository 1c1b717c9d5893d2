"""Decoding with no usable temporary folder (session 42): each image decode made a temporary
file to collect libpng/libjpeg lines, so in a container with a read-only root and one writable
output volume `image` and `video` stopped with "No usable temporary directory found". The lines
are now collected in memory."""

from __future__ import annotations

import tempfile

from realtime_adain.imageio import read_image


def test_an_image_decodes_with_no_usable_temporary_folder(data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-folder"))
    image = read_image(data_dir / "content" / "lenna.jpg")
    assert image.ndim == 3 and image.shape[2] == 3
