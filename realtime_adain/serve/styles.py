"""The styles a server offers, by id ("s0", "s1", ...): clients never name a path.

The live style library (`live.styles.StyleLibrary`) scans the folders and caches each style's
statistics on disk; here each style gets a stable id, a JPEG thumbnail for the page, and
uploaded images (already decoded by `uploads.py`) join the library one by one, written to its
upload folder; the server's own styles stay as they were loaded (no rescan, as docs/serve.md says).
An upload is private to whoever sent it: its id is a random one ("u" and 24 hex digits) that only
the upload's answer says, and the list every client reads (`describe`) leaves it out (a photo
uploaded as a style was listed to every later visitor, its thumbnail theirs to fetch).
At most MAX_UPLOADS are held: one more drops the least recently used upload that no connected
client has chosen (one client's 64 uploads refused every later upload, from anyone, until restart).
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from realtime_adain.adain import StyleStats
from realtime_adain.imageio import read_image, write_image
from realtime_adain.live.style_names import thumbnail
from realtime_adain.live.styles import Style, StyleLibrary
from realtime_adain.picture_sizes import MAX_SIDE, over_budget, style_budget
from realtime_adain.serve.uploads import UploadRefused

THUMBNAIL_SIDE = 160  # protocol: thumbnails are at most 160 px
MAX_UPLOADS = 64  # uploaded styles held at once: each costs disk and memory


@dataclass
class ServedStyle:
    id: str
    name: str
    style: Style
    _thumbnail: bytes | None = None
    used: int = 0  # when it was last looked up (`StyleRegistry.get`): the least recent upload is dropped first

    @property
    def stats(self) -> StyleStats:
        return self.style.stats

    def describe(self) -> dict:
        """The page's entry. The thumbnail's URL names the image's bytes (its digest), not only the
        id: ids are reused from run to run (another --styles list, a file added to a folder, servers
        behind one tunnel port), and a browser showed the thumbnail it cached for another style."""
        return {"id": self.id, "name": self.name,
                "thumbnail": f"/api/styles/{self.id}/thumbnail.jpg?v={self.style.digest[:16]}"}


class StyleRegistry:
    """The library's styles under ids that never change while the server runs (an upload's until
    it is dropped to make room for another; thread-safe)."""

    def __init__(self, library: StyleLibrary, upload_dir: Path | None = None) -> None:
        self.library = library
        self.upload_dir = upload_dir
        self._lock = threading.Lock()  # held for bookkeeping only, never for reading or encoding an image
        self._adding = threading.Lock()  # one upload joins the library at a time
        self._writing = threading.Lock()  # held while an upload's file is written (`stop_adding` waits for it)
        self._stopped = False
        self._by_id: dict[str, ServedStyle] = {}
        self._choosers: set = set()  # connected clients: what their `look` names is in use (`join`)
        self._clock = itertools.count(1)
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
        """The style, marked as used now (a client's frames look their style up each frame)."""
        served = self._by_id.get(style_id) if isinstance(style_id, str) else None
        if served is not None:
            served.used = next(self._clock)
        return served

    @property
    def choosing(self) -> threading.Lock:
        """Held while a client checks and sets its choice, so no style it names is dropped between."""
        return self._lock

    def join(self, chooser) -> None:
        """A client, whose `look` (`control.Look`) names the styles it uses: none of them is dropped
        to make room for an upload until it `leave`s."""
        with self._lock:
            self._choosers.add(chooser)

    def leave(self, chooser) -> None:
        with self._lock:
            self._choosers.discard(chooser)

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

    def _to_drop(self) -> ServedStyle | None:
        """(lock held) None while there is room for one more upload; else the upload to drop for it,
        the least recently used one no connected client has chosen; UploadRefused (429) when every
        one held is chosen."""
        uploads = [s for s in self._by_id.values() if self._uploaded(s.style)]
        if len(uploads) < MAX_UPLOADS:
            return None
        chosen = {style_id for chooser in self._choosers for style_id in (chooser.look.style, chooser.look.mix_style)}
        free = [s for s in uploads if s.id not in chosen]
        if not free:
            raise UploadRefused(429, f"the server already holds its maximum of {MAX_UPLOADS} uploaded styles, each "
                                     "chosen by a connected client; try again when one is no longer in use")
        return min(free, key=lambda s: s.used)

    def check_room(self) -> None:
        """UploadRefused (429) when MAX_UPLOADS uploads are held and every one is chosen by a client."""
        with self._lock:
            self._to_drop()

    def _drop(self, style: Style) -> None:
        """An upload gone (its id no longer known: an "unknown style" to whoever chooses it): out of
        the library, and its file removed."""
        self.library.remove(style)
        with contextlib.suppress(OSError):
            style.path.unlink(missing_ok=True)

    def stop_adding(self) -> None:
        """No upload's file is written after it (one being written is waited for), so the upload
        folder can be removed whole: the upload of a stopped server, decoded on a thread nobody
        waits for, could write its file during the removal (which then failed) or after it."""
        with self._writing:
            self._stopped = True

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
        path = self.upload_dir / f"upload-{digest[:16]}.png"
        with self._adding:
            with self._lock:
                for served in self._by_id.values():
                    if served.style.path == path:
                        served.used = next(self._clock)
                        return served
                self._to_drop()  # (a 429 before the image is written)
            with self._writing:
                if self._stopped:
                    raise UploadRefused(503, "the server stopped before the style was added")
                write_image(path, image)
            style = self.library.add(path)  # (the server's own styles stay as they were loaded)
            try:
                with self._lock:  # only once written: a write that failed (a full disk) lost the one dropped too
                    dropped = self._to_drop()
                    if dropped is not None:
                        del self._by_id[dropped.id]
            except UploadRefused:  # every upload held was chosen while this one was written
                self._drop(style)
                raise
            if dropped is not None:
                self._drop(dropped.style)
            with self._lock:
                self._register_new()
                served = next(served for served in self._by_id.values() if served.style is style)
                served.used = next(self._clock)
                return served
