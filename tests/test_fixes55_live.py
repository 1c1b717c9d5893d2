"""Session 55: `live` sources. A socket given as a descriptor (pipe:N, /dev/fd/N) is read as a
pipe is; a photo whose header states a picture over the bound is refused before FFmpeg opens it,
as a picture; a looped recording URL cut at the same place each time is given up."""
import os
import socket
import struct
import threading
import zlib

import pytest

from realtime_adain.live.pyav_source import PyAVSource
from realtime_adain.live.source_opening import open_source
from realtime_adain.live.sources import SourceError
from test_fixes44_live_pipes2 import Y4M_HEADER, y4m_frame
from test_fixes53_live_sources import TIMEOUT, captured, frames_read, http_server, stalling_clip


@pytest.mark.parametrize("form", ["pipe:{}", "/dev/fd/{}"])
def test_a_socket_descriptor_is_read_as_a_pipe(form):
    """A socket-activated or socat-launched process gets a socket: `--source pipe:3` was refused as
    "/dev/fd/3: not a camera", though `ffmpeg -i pipe:3` decodes it. Now it is read to its end,
    once, named as given."""
    ours, theirs = socket.socketpair()
    name = form.format(ours.fileno())
    writer = threading.Thread(target=lambda: (theirs.sendall(Y4M_HEADER + b"".join(y4m_frame(i) for i in range(5))),
                                              theirs.close()), daemon=True)
    writer.start()
    try:
        source = open_source(name)
        try:
            assert (source.description, source.reopenable, source.loop) == (name, False, False)
            assert sum(1 for _ in source.frames()) == 5
        finally:
            source.close()
        os.fstat(ours.fileno())  # (still open: the source read and closed its own copy)
    finally:
        writer.join(5)
        ours.close()


def png_stating(width: int, height: int) -> bytes:
    """A PNG whose header states width x height (8-bit RGB) with one row of data: a few bytes that
    claim a picture FFmpeg's probing would decode."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(1 + 3 * width)))
            + chunk(b"IEND", b""))


def test_a_photo_stating_too_many_pixels_is_refused_by_its_header_as_a_picture(tmp_path):
    """A 2.6 MB PNG of 16000x16000 took FFmpeg's probing 23 s and 0.8 GB before it was refused, as
    "its video states 16000x16000 pictures". Now its header refuses it before FFmpeg opens it."""
    photo = tmp_path / "bomb.png"
    photo.write_bytes(png_stating(16000, 16000))
    with pytest.raises(SourceError) as raised:
        open_source(str(photo))
    assert str(raised.value) == (f"{photo}: a 16000x16000 picture (as its header states): at 8 bytes a pixel, more "
                                 "than the 1 GiB of samples a picture may decode to (134217728 pixels, 16384x8192)")


def test_a_looped_recording_url_cut_at_the_same_place_is_given_up(tmp_path):
    """A server that claims twice the recording's length, sends it and closes (each time): looped,
    each reconnection resumed where it was cut and brought no new frame, retried for ever, the
    picture frozen (with --no-loop it was given up). Now given up as a file failing alike is."""
    log = []
    with http_server(stalling_clip(tmp_path), "overlong") as url:
        source = PyAVSource(url, is_file=False, loop=True, timeout=TIMEOUT)
        source.open()
        capture = captured(source, log, wait=15)
    assert capture.ended, log
    ended = [fields for event, fields in log if event == "source-ended"]
    assert ended and ended[0]["reason"].startswith("3 reconnections failed the same way ("), log
    assert ended[0]["frames"] == frames_read(capture) > 0, log
    assert [event for event, _ in log].count("source-lost") == 3, log
