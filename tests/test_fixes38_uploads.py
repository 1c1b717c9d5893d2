"""Uploads to `serve` and JPEG scans: a scan bomb (a small progressive JPEG of thousands of scans)
is refused before any decoder reads it, by every picture read; an upload's native library lines
(libtiff's, libjpeg's) stay off the server's log; and a hurried stop does not wait for an upload's
decode."""

from __future__ import annotations

import asyncio
import io
import struct
import threading
import time

import aiohttp
import numpy as np
import pytest
from PIL import Image, TiffImagePlugin

from realtime_adain.errors import UserError
from realtime_adain.imageio import decode_image, read_image
from realtime_adain.live.styles import StyleLibrary
from realtime_adain.serve import app as serve_app
from realtime_adain.serve import process as serve_process
from realtime_adain.serve import uploads
from realtime_adain.serve.settings import ServeSettings
from realtime_adain.serve.styles import StyleRegistry
from realtime_adain.settings import ModelSettings
from realtime_adain.jpeg_headers import MAX_JPEG_SCANS

NATIVE = ("TIFFReadDirectory", "Corrupt JPEG", "WARN:", "premature end")


def progressive(side: int, mode: str = "L") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (side, side), 128).save(out, "JPEG", progressive=True, quality=90)
    return out.getvalue()


def scans_of(data: bytes) -> list[bytes]:
    """Each scan of a JPEG: its SOS segment and its entropy-coded data."""
    at, found = 2, []
    while data[at + 1] != 0xD9:
        end = at + 2 + struct.unpack(">H", data[at + 2:at + 4])[0]
        if data[at + 1] == 0xDA:  # (its data runs to the next 0xFF that is neither stuffed nor a restart)
            end = data.index(b"\xff", end)
            while data[end + 1] == 0 or 0xD0 <= data[end + 1] <= 0xD7:
                end = data.index(b"\xff", end + 2)
            found.append(data[at:end])
        at = end
    return found


def with_scans(data: bytes, total: int, between: bytes = b"") -> bytes:
    """`data` with its second scan repeated until it holds `total` scans, `between` before each added."""
    extra = scans_of(data)[1]
    return data[:-2] + (between + extra) * (total - len(scans_of(data))) + b"\xff\xd9"


def tiff_of_unknown_tags(count: int) -> bytes:
    ifd = TiffImagePlugin.ImageFileDirectory_v2()
    for tag in range(40000, 40000 + count):
        ifd[tag] = b"x"
        ifd.tagtype[tag] = 1
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (90, 120, 150)).save(out, "TIFF", tiffinfo=ifd)
    return out.getvalue()


def test_a_scan_bomb_is_refused_before_decoding_by_every_read(tmp_path):
    """12 000 scans in a few hundred KB: refused in one line, at once, from memory (uploads) and
    from a file (the CLI's `image`); up to the limit it decodes, and neither garbage before a
    marker (libjpeg skips it, so must the count) nor a metadata segment holding SOS bytes (an
    EXIF thumbnail's) is miscounted."""
    base = progressive(64)
    bomb = with_scans(base, 12000)
    started = time.process_time()  # (CPU time, not a loaded machine's wait)
    with pytest.raises(UserError, match=rf"^bomb: a JPEG of more than {MAX_JPEG_SCANS} scans .*: refused$"):
        decode_image(bomb, "bomb")
    assert time.process_time() - started < 1.0
    path = tmp_path / "bomb.jpg"
    path.write_bytes(with_scans(base, MAX_JPEG_SCANS + 1, between=b"junk"))
    with pytest.raises(UserError, match="more than 100 scans"):
        read_image(path)
    assert decode_image(with_scans(base, MAX_JPEG_SCANS), "fine").shape == (64, 64, 3)
    thumbnail = b"\xff\xe1" + struct.pack(">H", 2 + 4 * 300) + b"\xff\xda\x00\x00" * 300
    assert decode_image(base[:2] + thumbnail + base[2:], "exif").shape == (64, 64, 3)
    with pytest.raises(uploads.UploadRefused, match="more than 100 scans") as refused:
        uploads.decode(bomb, 1 << 20, 1 << 20)
    assert refused.value.status == 400


def cut_jpeg() -> bytes:
    """A 64x64 baseline JPEG of noise, its last third missing (libjpeg: "premature end of data segment")."""
    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), np.uint8)).save(out, "JPEG", quality=90)
    return out.getvalue()[:out.tell() * 2 // 3]


def test_an_upload_decoded_off_the_main_thread_leaves_no_native_lines(capfd):
    """libtiff's warnings for unknown tags (300 lines an upload) and libjpeg's for a file cut
    short went straight to the server's stderr from its decoding thread."""
    tiff = tiff_of_unknown_tags(300)
    cut = cut_jpeg()
    results = []
    worker = threading.Thread(target=lambda: results.extend(uploads.decode(d, 1 << 20, 1 << 20)[0].shape
                                                            for d in (tiff, cut)))
    worker.start()
    worker.join()
    assert results == [(32, 32, 3), (64, 64, 3)]
    err = capfd.readouterr().err
    assert not any(word in err for word in NATIVE), err


@pytest.fixture(scope="module")
def registry(stylizer, data_dir, tmp_path_factory) -> StyleRegistry:
    library = StyleLibrary([data_dir / "style" / "mondrian.jpg"], stylizer, 64, tmp_path_factory.mktemp("cache")).load()
    return StyleRegistry(library, tmp_path_factory.mktemp("uploads"))


def form(data: bytes) -> aiohttp.FormData:
    body = aiohttp.FormData()
    body.add_field("image", data, filename="style.bin", content_type="application/octet-stream")
    return body


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_the_server_answers_uploads_quietly_and_a_hurried_stop_leaves_a_decode(stylizer, registry, capfd):
    """Through the server: the TIFF and the cut JPEG are added without a native line in the log, the
    scan bomb is a 400 at once; then a stop hurried (a second Ctrl-C: the serving task cancelled)
    while an upload decodes (100 scans of 6144x6144, a second or more) ends without waiting for it:
    on asyncio's executor, `asyncio.run` waited for the decode to end."""
    settings = ServeSettings(styles=("unused",), model=ModelSettings(device="cpu"), port=0, size=0, stabilize="off",
                             allow_uploads=True, max_upload_pixels=6144 * 6144)
    server = serve_app.Server(settings, stylizer, registry, side=0)
    slow = with_scans(progressive(6144), MAX_JPEG_SCANS)
    answers: list[tuple[int, dict]] = []

    async def post(http: aiohttp.ClientSession, url: str, data: bytes) -> None:
        async with http.post(f"{url}/api/styles", data=form(data)) as response:
            answers.append((response.status, await response.json()))

    async def main() -> float:
        stop, ports = asyncio.Event(), []
        serving = asyncio.ensure_future(serve_process.serve_until_stopped(server, settings, stop, ports.append))
        while not ports:
            await asyncio.sleep(0.02)
        url = f"http://127.0.0.1:{ports[0]}"
        async with aiohttp.ClientSession() as http:
            for data in (tiff_of_unknown_tags(300), cut_jpeg(), with_scans(progressive(64), 12000)):
                await post(http, url, data)
            while any(thread.is_alive() for thread in server.decoders):  # (the bomb's, ending)
                await asyncio.sleep(0.01)
            pending = asyncio.ensure_future(post(http, url, slow))
            while not any(thread.is_alive() for thread in server.decoders):
                await asyncio.sleep(0.01)
            stop.set()  # (the first Ctrl-C: the clients closed, then requests get SHUTDOWN_S)
            await asyncio.sleep(0.3)
            serving.cancel()  # (the second)
            hurried = time.monotonic()
            await asyncio.gather(serving, return_exceptions=True)
            pending.cancel()  # (its handler: cancelled as `asyncio.run` ends)
        return hurried

    hurried = asyncio.run(main())
    stopped = time.monotonic() - hurried
    still_decoding = any(thread.is_alive() for thread in server.decoders)
    for thread in server.decoders:  # (its capture of fd 2 ended before capfd's)
        thread.join()
    assert [status for status, _ in answers[:3]] == [200, 200, 400], answers
    assert "more than 100 scans" in answers[2][1]["error"]
    assert still_decoding and stopped < 0.5, (stopped, answers)
    err = capfd.readouterr().err
    assert not any(word in err for word in NATIVE), err


def test_a_server_line_is_held_while_a_decode_catches_stderr(capfd):
    """An upload decoding on its thread catches fd 2 (holding STDERR_LOCK): a server line written
    meanwhile went into the catch, lost, or the detail of that upload's error (another client's
    address in a stranger's answer). It is held, and said once stderr is free."""
    import threading

    from realtime_adain.serve import log as serve_log
    from realtime_adain.notes import STDERR_LOCK

    taken, release = threading.Event(), threading.Event()

    def decode_holding_stderr():
        with STDERR_LOCK:
            taken.set()
            release.wait(5)

    holder = threading.Thread(target=decode_holding_stderr)
    holder.start()
    taken.wait(5)
    serve_log.log("client abc connecting from 192.0.2.7")
    assert "192.0.2.7" not in capfd.readouterr().err
    release.set()
    holder.join()
    serve_log.say_held_lines()
    assert capfd.readouterr().err == "serve: client abc connecting from 192.0.2.7\n"
