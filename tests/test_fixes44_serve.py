"""`serve` as tester h8 found it: one client toggling colour preservation froze every other
client (each switch-on encoded the style again on the shared worker, 4.5 s at --style-size 512 on
a CPU); the page's key help offered stabiliser modes the server does not (the live window's
`t` row); a missing file under /static/ was an empty octet-stream 404, unlike the other 404s."""

from __future__ import annotations

import asyncio
import threading
import time

import aiohttp
import numpy as np
import pytest

from realtime_adain.live.styles import StyleLibrary
from realtime_adain.serve.batcher import Batcher, Delivery, Pipeline, _Job
from realtime_adain.serve.control import Look
from realtime_adain.serve.styles import StyleRegistry
from realtime_adain.stylizer import Stylizer
from test_serve import registry, served  # noqa: F401  (fixture)

W, H = 64, 48


class HeldLibrary(StyleLibrary):
    """Its style images, read again for colour preservation, wait for `release`: an encode that
    lasts as long as the test wants. `reads` counts them."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.release, self.reads = threading.Event(), 0

    def style_image(self, style):
        self.reads += 1
        self.release.wait(30)
        return super().style_image(style)


@pytest.fixture
def library(stylizer, data_dir, tmp_path) -> HeldLibrary:
    styles = [data_dir / "style" / "mondrian.jpg", data_dir / "style" / "asheville.jpg"]
    held = HeldLibrary(styles, stylizer, 64, tmp_path / "cache").load()
    yield held
    held.release.set()


def frame() -> np.ndarray:
    image = np.zeros((H, W, 3), np.uint8)
    image[:, :, 0], image[:, W // 2:, 2] = 200, 90
    return image


def processed(batcher: Batcher, *pipelines: Pipeline) -> None:
    """One batch of a frame per pipeline, on a thread of its own: it must end within seconds."""
    worker = threading.Thread(target=batcher._process, args=([_Job(p, frame(), 0.0) for p in pipelines],))
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "the worker waited for a client's colour reference"


def recoloured(pipeline: Pipeline) -> None:
    """Waits until the pipeline's colour-preserving statistics are encoded."""
    deadline = time.monotonic() + 60
    while pipeline.recolouring.stats(pipeline.live_state(pipeline.look), frame()) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_colour_reference_being_encoded_holds_no_other_clients_frame(stylizer, library, one_thread):
    """Client A switches colour preservation on while its encode is held: B's frames are stylized
    meanwhile, and A's too, with its current statistics; once encoded, A's frames have them."""
    batcher = Batcher(stylizer, 0, (1280, 720))
    got: dict[str, list[Delivery]] = {"a": [], "b": []}
    a = Pipeline(StyleRegistry(library), stylizer, Look("s0", stabilize="off"), got["a"].append, 0.7)
    b = Pipeline(StyleRegistry(library), stylizer, Look("s1", stabilize="off"), got["b"].append, 0.7)
    try:
        processed(batcher, a, b)
        a.look = Look("s0", preserve_color=True, color_epoch=1, stabilize="off")
        processed(batcher, a, b)
        processed(batcher, b)
        assert library.reads == 1 and len(got["b"]) == 3 and len(got["a"]) == 2
        assert np.array_equal(got["a"][1].image, got["a"][0].image)  # its statistics as before
        library.release.set()
        recoloured(a)
        processed(batcher, a, b)
        assert len(got["a"]) == 3 and not np.array_equal(got["a"][2].image, got["a"][0].image)
    finally:
        library.release.set()
        for pipeline in (a, b):
            batcher.discard(pipeline)


def test_a_client_toggling_colour_runs_one_encode_at_a_time_the_newest_next(stylizer, library, one_thread):
    """Five switch-ons while one encode is held: no queue of five, one more encode (the newest
    reference's), and the statistics then used are the newest's."""
    batcher = Batcher(stylizer, 0, (1280, 720))
    got: list[Delivery] = []
    a = Pipeline(StyleRegistry(library), stylizer, Look("s0", stabilize="off"), got.append, 0.7)
    try:
        for epoch in range(1, 6):
            a.look = Look("s0", preserve_color=True, color_epoch=epoch, stabilize="off")
            processed(batcher, a)
        assert library.reads == 1 and len(got) == 5
        library.release.set()
        recoloured(a)
        assert library.reads == 2
        processed(batcher, a)
        assert not np.array_equal(got[-1].image, got[0].image)
    finally:
        library.release.set()
        batcher.discard(a)


def test_the_key_help_names_the_stabiliser_modes_offered(published_weights, registry):
    """On an engine other than eager the `t` row said "off, flow, stats, both"; it names what
    /api/config's stabilize_modes offers (the engine is only named here, never built)."""
    compiled = Stylizer.load(*published_weights, device="cpu", engine="compile")

    async def main():
        async with served(compiled, registry) as (_server, url):
            async with aiohttp.ClientSession() as http, http.get(f"{url}/api/config") as response:
                return await response.json()

    config = asyncio.run(main())
    row = next(row for row in config["keys"] if row["action"] == "stabilize")
    assert config["stabilize_modes"] == ["off", "flow"]
    assert row["description"] == "temporal stabiliser: off, flow"


def test_a_missing_static_file_is_the_same_404_as_any_other(stylizer, registry):
    async def main():
        answers = {}
        async with served(stylizer, registry) as (_server, url):
            async with aiohttp.ClientSession() as http:
                for path in ("/nope", "/static/nope.js", "/static/app.js"):
                    async with http.get(f"{url}{path}") as response:
                        answers[path] = response.status, response.content_type, await response.text()
        return answers

    answers = asyncio.run(main())
    assert answers["/static/nope.js"] == answers["/nope"] == (404, "text/plain", "404: Not Found")
    assert answers["/static/app.js"][0] == 200
