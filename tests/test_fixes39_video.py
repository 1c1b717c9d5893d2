"""Session 39: what `video` counts of an image sequence's damaged pictures at its end. The frame
threads lose the pictures they still hold when one of them fails as the decoder drains; those
after the last frame given were decoded again, but only from the latest keyframe, i.e. the last
picture: two damaged last pictures were noted as "1 damaged video packet"."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader

LEVELS = [20 * k + 10 for k in range(12)]  # picture k's grey level: which pictures came is read back from them


def grey_sequence(folder: Path, damaged: tuple[int, ...]) -> str:
    """Twelve 64x48 PNGs of distinct greys, f0001.png ..., those numbered in `damaged` cut short."""
    folder.mkdir()
    for number, level in enumerate(LEVELS, 1):
        picture = folder / f"f{number:04d}.png"
        cv2.imwrite(str(picture), np.full((48, 64, 3), level, np.uint8))
        if number in damaged:
            picture.write_bytes(picture.read_bytes()[:60])
    return str(folder / "f%04d.png")


@pytest.mark.parametrize("damaged", [(12,), (11, 12), (10, 11, 12), (3, 11, 12), (8, 9, 10, 11, 12), (1, 2, 12)])
def test_each_damaged_picture_at_a_sequences_end_is_counted(tmp_path, capsys, damaged):
    with VideoReader(grey_sequence(tmp_path / "seq", damaged)) as reader:
        frames = [item for item in reader.items() if isinstance(item, Frame)]
        counted = reader.damaged
    assert [int(round(frame.image.mean())) for frame in frames] == [
        level for number, level in enumerate(LEVELS, 1) if number not in damaged]
    assert counted == len(damaged)
    plural = "s" if len(damaged) > 1 else ""
    assert f"{len(damaged)} damaged video packet{plural} skipped" in capsys.readouterr().err
