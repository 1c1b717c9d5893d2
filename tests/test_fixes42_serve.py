"""Serve's thumbnails (session 42): their URL was keyed by the style id alone, reused from run to
run, and sent with max-age=3600, so after a restart with other styles (or another server behind
the same tunnel port) the browser showed the cached thumbnail of another style under the new
name. The URL now names the image's bytes."""

from __future__ import annotations

import asyncio

import aiohttp

from realtime_adain.live.styles import StyleLibrary
from realtime_adain.serve.styles import StyleRegistry
from test_serve import registry, served  # noqa: F401  (fixture)


def test_the_same_id_of_another_image_has_another_thumbnail_url(stylizer, data_dir, tmp_path):
    first, second = (StyleRegistry(StyleLibrary([data_dir / "style" / name], stylizer, 64, tmp_path / "cache").load(),
                                   tmp_path / name) for name in ("mondrian.jpg", "brushstrokes.jpg"))
    before, after = first.get("s0").describe(), second.get("s0").describe()
    assert before["id"] == after["id"] == "s0"
    assert before["thumbnail"] != after["thumbnail"]
    assert after == second.get("s0").describe()  # (stable within a run: the browser's cache still serves it)


def test_the_listed_thumbnail_url_is_served(stylizer, data_dir, tmp_path):
    one_style = StyleRegistry(StyleLibrary([data_dir / "style" / "mondrian.jpg"], stylizer, 64, tmp_path / "cache").load(),
                              tmp_path / "uploads")

    async def main():
        async with served(stylizer, one_style) as (_server, url):
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{url}/api/config") as response:
                    listed = (await response.json())["styles"][0]["thumbnail"]
                async with http.get(f"{url}{listed}") as response:
                    return listed, response.status, response.content_type

    listed, status, kind = asyncio.run(main())
    assert "?v=" in listed and (status, kind) == (200, "image/jpeg")


def test_the_page_and_its_script_are_asked_again_each_time(stylizer, registry):
    """They carried no Cache-Control, so a browser could go on with its cached page or script after
    an upgrade: now `no-cache` (revalidated by their ETag, a 304 when unchanged)."""
    async def main():
        async with served(stylizer, registry) as (_server, url):
            async with aiohttp.ClientSession() as http:
                answers = {}
                for path in ("/", "/static/app.js"):
                    async with http.get(f"{url}{path}") as response:
                        answers[path] = response.status, response.headers.get("Cache-Control")
                return answers

    assert asyncio.run(main()) == {"/": (200, "no-cache"), "/static/app.js": (200, "no-cache")}
