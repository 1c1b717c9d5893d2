"""`live`'s rescans, a slow URL's reason, a colour reference no longer wanted and `--fps`'s top
(task f6, session 48: tester h2's findings)."""

from __future__ import annotations

import io
import os
import shutil
import socket
import threading

import av
import numpy as np
import pytest
import torch

from live_support import copy_styles
from realtime_adain.live.controller import Controller
from realtime_adain.live.pyav_source import PyAVSource
from realtime_adain.live.sources import SourceError, SourceLost
from realtime_adain.live.active_style import ActiveStyle
from realtime_adain.live.styles import StyleLibrary

SIZE = 32


def events_library(stylizer, folder, tmp_path) -> tuple[StyleLibrary, list[tuple[str, dict]]]:
    events: list[tuple[str, dict]] = []
    lib = StyleLibrary([folder], stylizer, SIZE, tmp_path / "cache", lambda event, **f: events.append((event, f)))
    return lib.load(), events


def test_a_fifo_found_by_a_rescan_is_a_rescan_skip(stylizer, data_dir, tmp_path, one_thread, capsys):
    """A fifo added to the folder, then `l`: a start-up's `note:` and `style-skip`, not the
    `live: rescan-skip` line the docs give a rescan's unusable files. Said once."""
    folder = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    lib, events = events_library(stylizer, folder, tmp_path)
    os.mkfifo(folder / "zfifo.jpg")
    capsys.readouterr()
    for _ in range(2):
        assert lib.rescan() == []
    assert [event for event, _ in events] == ["rescan-skip"], events
    assert "zfifo.jpg" in events[0][1]["reason"] and "fifo" in events[0][1]["reason"]
    assert "note:" not in capsys.readouterr().err


def test_an_edited_style_is_said_changed_not_added(stylizer, data_dir, tmp_path, one_thread):
    """A style file overwritten with another picture, then `l`: `rescan ... added=trial`."""
    folder = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg", "brushstrokes.jpg"))
    lib, events = events_library(stylizer, folder, tmp_path)
    shutil.copy(data_dir / "style" / "en_campo_gris.jpg", folder / "trial.jpg")
    shutil.copy(data_dir / "style" / "en_campo_gris.jpg", folder / "new.jpg")
    assert lib.rescan() == ["new"]
    assert events == [("rescan-changed", {"names": "trial"})]
    assert lib.names == ["brushstrokes", "new", "trial"]


def noise_mpegts(frames: int = 6) -> bytes:
    """An MPEG-TS of noise pictures, each tens of KB: a trickle of bytes completes none for seconds."""
    out = io.BytesIO()
    with av.open(out, "w", format="mpegts") as container:
        stream = container.add_stream("mpeg2video", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.bit_rate = 40_000_000
        stream.codec_context.gop_size = 1
        rng = np.random.default_rng(0)
        for _ in range(frames):
            picture = av.VideoFrame.from_ndarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), format="rgb24")
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    return out.getvalue()


@pytest.fixture
def trickling_server():
    """`serve(data, fast)`: an HTTP server sending `data[:fast]` at once, then 188 bytes every 0.2 s."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve(data: bytes, fast: int) -> str:
        def answer() -> None:
            while not stop.is_set():
                try:
                    connection = server.accept()[0]
                except OSError:
                    return
                held.append(connection)
                try:
                    connection.recv(4096)
                    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\n\r\n" + data[:fast])
                    for at in range(fast, len(data), 188):
                        if stop.wait(0.2):
                            break
                        connection.sendall(data[at:at + 188])
                except OSError:
                    pass

        threading.Thread(target=answer, daemon=True).start()
        return f"http://127.0.0.1:{server.getsockname()[1]}/live.ts"

    yield serve
    stop.set()
    server.close()
    for connection in held:
        connection.close()


def test_a_url_trickling_bytes_is_not_said_to_send_nothing(trickling_server):
    """188 bytes every 0.2 s, no picture whole: the source lost was "nothing received for 5 s"
    while bytes came; the timeout is on pictures (a packet read), and says so."""
    data = noise_mpegts()
    source = PyAVSource(trickling_server(data, len(data) // 2), is_file=False, timeout=1.0)
    source.open()
    try:
        with pytest.raises(SourceLost) as lost:
            for _ in source.frames():
                pass
    finally:
        source.close()
    assert lost.value.reason == "no picture decoded for 1 s"


@pytest.mark.slow  # (waits out the 1 s timeout; the default run's test_live_streams15 checks these words)
def test_a_url_too_slow_to_open_is_not_said_to_send_nothing(trickling_server):
    """The same trickle from the first byte: "cannot open (nothing received for 1 s)" while it came."""
    url = trickling_server(noise_mpegts(2), 0)
    with pytest.raises(SourceError) as refused:
        PyAVSource(url, is_file=False, timeout=1.0).open()
    assert str(refused.value) == f"{url}: cannot open (no stream recognised within 1 s)"


def colour_states(names: list[str]):
    """The controller's states: colour on (its reference asked for), then off again (`c` twice)."""
    controller = Controller(names)
    controller.apply("color")
    asked = controller.state
    controller.apply("color")
    return controller, asked


def test_a_colour_reference_no_longer_wanted_is_not_encoded(stylizer, data_dir, tmp_path, one_thread, monkeypatch):
    """`c` twice quickly: the inference thread, holding the first state, encoded its reference
    (6 s at --style-size 512 on a CPU, the picture frozen) for colours already turned off."""
    folder = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    lib, events = events_library(stylizer, folder, tmp_path)
    controller, asked = colour_states(lib.names)
    encoded = []
    real = stylizer.style_stats
    monkeypatch.setattr(stylizer, "style_stats", lambda *args, **kwargs: encoded.append(args) or real(*args, **kwargs))
    active = ActiveStyle(lib, lambda event, **f: events.append((event, f)), current=lambda: controller.state)
    frame = np.full((24, 24, 3), 200, np.uint8)
    assert active.stats(asked, frame) is lib[0].stats  # (the style's own colours, as now wanted)
    assert (encoded, events) == ([], [])
    assert active.stats(controller.state, frame) is lib[0].stats


def test_a_colour_reference_superseded_while_encoding_is_not_waited_for(stylizer, data_dir, tmp_path, one_thread):
    """`c` pressed again while the reference encodes: the frame goes on in the colours now
    wanted; the next reference, wanted, is encoded (after the one left running) and used."""
    folder = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    lib, events = events_library(stylizer, folder, tmp_path)
    controller, asked = colour_states(lib.names)
    wanted = [asked]  # the state wanted when the encode starts; the controller's from its first wait on

    active = ActiveStyle(lib, lambda event, **f: events.append((event, f)),
                         current=lambda: wanted.pop() if wanted else controller.state)
    frame = np.full((24, 24, 3), 200, np.uint8)
    assert active.stats(asked, frame) is lib[0].stats
    assert events == []
    controller.apply("color")  # on again: a new reference, wanted this time
    recoloured = active.stats(controller.state, frame)
    assert [event for event, _ in events] == ["color-reference"]
    direct = stylizer.style_stats(lib.image(0), color_reference=frame)
    assert torch.allclose(recoloured.mean, direct.mean) and torch.allclose(recoloured.std, direct.std)
    assert not any(thread.name == "colour-reference" for thread in threading.enumerate())


def test_fps_above_1000_by_a_hair_is_refused(run_cli):
    """The help says "at most 1000": 1000.0000000001 was taken (rounded to 1000 first)."""
    code, _, err = run_cli("live", "--fps", "1000.0000000001", "--styles", "s.jpg")
    assert code == 2
    assert ("argument --fps: '1000.0000000001': give more than 1/2002 frames per second (a frame every 2002 s), "
            "at most 1000") in err
    from realtime_adain.commands.argtypes import frames_per_second

    assert frames_per_second("1000") == 1000.0 and frames_per_second("30000/1001") == 30000 / 1001
