"""Session 38: what `video` says of a file's timestamps."""
from fractions import Fraction

import av
import numpy as np
import pytest

from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader


def mjpeg_mkv(path, stamps_ms):
    """MJPEG pictures in Matroska, each packet at its given millisecond (Matroska keeps the pts
    only; the dts, which the muxer wants increasing, is the packet's number)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=24)
        stream.width, stream.height, stream.pix_fmt = 32, 16, "yuvj420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for index, pts in enumerate(stamps_ms):
            frame = av.VideoFrame.from_ndarray(np.full((16, 32, 3), 20 * index, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                packet.pts, packet.dts = pts, index
                packet.time_base = Fraction(1, 1000)
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


@pytest.mark.parametrize("stamps, said", [
    ([0, 42, 42, 84, 84, 84, 126, 168], None),  # repeated only: no timestamp goes back
    ([0, 42, 84, 63, 126, 168], "1 frame timestamp was out of order; put back in order"),
    ([0, 84, 42, 63, 126, 168], "2 frame timestamps were out of order; put back in order"),
])
def test_only_timestamps_that_go_back_are_called_out_of_order(tmp_path, capsys, stamps, said):
    """A file whose timestamps only repeat was said to have "1 frame timestamps" out of order."""
    with VideoReader(mjpeg_mkv(tmp_path / "clip.mkv", stamps)) as reader:
        frames = [item for item in reader.items() if isinstance(item, Frame)]
    assert len(frames) == len(stamps)
    err = capsys.readouterr().err
    if said is None:
        assert "out of order" not in err, err
    else:
        assert said in err, err
