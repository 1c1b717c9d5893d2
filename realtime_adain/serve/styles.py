"""The styles a server offers, by id ("s0", "s1", ...): clients never name a path.

The live style library (`live.styles.StyleLibrary`) scans the folders and caches each style's
statistics on disk; here each style gets a stable id, a JPEG thumbnail for the page, and
uploaded images (already decoded by `uploads.py`) join the library one by one, written to its
upload folder; the server's own styles stay as they were loaded (no rescan, as docs/serve.md says).
An upload is private to whoever sent it: its id is a random one ("u" and 24 hex digits) that only
the upload's answer says, and the list every client reads (`describe`) leaves it out (a photo
uploaded as a style was listed to every later visitor, its thumbnail theirs to fetch).
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from realtime_adain.adain import StyleStats
from realtime_adain.imageio import MAX_SIDE, over_budget, read_image, style_budget, write_image
from realtime_adain.live.styles import Style, StyleLibrary, thumbnail
from realtime_adain.serve.uploads import UploadRefused

THUMBNAIL_SIDE = 160  # protocol: thumbnails are at most 160 px
MAX_UPLOADS = 64  # uploaded styles kept while the server runs: each costs disk, memory and a rescan


@dataclass
class ServedStyle:
    id: str
    name: str
    style: Style
    _thumbnail: bytes | None = None

    @property
    def stats(self) -> StyleStats:
        return self.style.stats

    def describe(self) -> dict:
        return {"id": self.id, "name": self.name, "thumbnail": f"/api/styles/{self.id}/thumbnail.jpg"}


class StyleRegistry:
    """The library's styles under ids that never change while the server runs (thread-safe)."""

    def __init__(self, library: StyleLibrary, upload_dir: Path | None = None) -> None:
        self.library = library
        self.upload_dir = upload_dir
        self._lock = threading.Lock()
        self._by_id: dict[str, ServedStyle] = {}
        self._register_new()
        if upload_dir is not None:  # uploads join the library one by one (`add_upload`)
            library.uncached.add(upload_dir)  # (clients' images in the user's cache, for good: 64 more each run)

    def _register_new(self) -> list[ServedStyle]:
        known = {(s.style.path, s.style.digest) for s in self._by_id.values()}
        added = []
        for style, name in zip(self.library.styles, self.library.names):
            if (style.path, style.digest) not in known:
                # (a server style's number counts server styles only: it says nothing of the uploads)
                served_here = sum(not self._uploaded(known.style) for known in self._by_id.values())
                style_id = f"u{secrets.token_hex(12)}" if self._uploaded(style) else f"s{served_here}"
                served = ServedStyle(style_id, name, style)
                self._by_id[served.id] = served
                added.append(served)
        return added

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, style_id: object) -> ServedStyle | None:
        return self._by_id.get(style_id) if isinstance(style_id, str) else None

    @property
    def first(self) -> ServedStyle:
        return self._by_id["s0"]

    def describe(self) -> list[dict]:
        """The server's own styles, for every client (uploads are not listed: see the module's docstring)."""
        with self._lock:
            return [s.describe() for s in self._by_id.values() if not self._uploaded(s.style)]

    def _uploaded(self, style: Style) -> bool:
        return self.upload_dir is not None and style.path.parent == self.upload_dir

    def thumbnail(self, served: ServedStyle) -> bytes:
        """A centred square JPEG of the style image (read again once, then kept in memory)."""
        if served._thumbnail is None:
            square = thumbnail(read_image(served.style.path), THUMBNAIL_SIDE)  # BGR, as imencode wants
            ok, data = cv2.imencode(".jpg", square, [cv2.IMWRITE_JPEG_QUALITY, 85])
            served._thumbnail = data.tobytes() if ok else b""
        return served._thumbnail

    def image(self, served: ServedStyle) -> np.ndarray:
        """The style image at the library's style size: what colour preservation recolours."""
        return self.library.image(self.library.styles.index(served.style))

    def _uploads(self) -> int:
        return sum(self._uploaded(s.style) for s in self._by_id.values())

    def check_room(self) -> None:
        """UploadRefused (429) once MAX_UPLOADS styles were uploaded."""
        if self.upload_dir is not None and self._uploads() >= MAX_UPLOADS:
            raise UploadRefused(429, f"the server already holds its maximum of {MAX_UPLOADS} uploaded styles")

    def check_encodable(self, image: np.ndarray) -> None:
        """Refuse an upload too large at the server's style size: one 2000x1 (within the upload's
        pixels) would be encoded at 1024000x512 (tens of GB: the OOM killer ended the server)."""
        height, width = image.shape[:2]
        size, most = self.library.style_size, style_budget()
        if (found := over_budget(height, width, size, most)) is not None:
            raise UploadRefused(413, f"the image is {width}x{height}: at this server's style size ({size}) it would be "
                                     f"{found[0]}x{found[1]}, more than {MAX_SIDE} pixels a side or {most} in all")

    def add_upload(self, image: np.ndarray, digest: str) -> ServedStyle:
        """An uploaded (decoded, checked) RGB image as a new style; the same image twice is one style."""
        if self.upload_dir is None:
            raise RuntimeError("uploads are off")
        self.check_encodable(image)
        with self._lock:
            path = self.upload_dir / f"upload-{digest[:16]}.png"
            for served in self._by_id.values():
                if served.style.path == path:
                    return served
            self.check_room()
            write_image(path, image)
            style = self.library.add(path)  # (the server's own styles stay as they were loaded)
            self._register_new()
            return next(served for served in self._by_id.values() if served.style is style)
