"""The style library: style images found in files and folders, their statistics cached on disk.

A style image that cannot be used (empty, damaged, too large, a video under an image's name) is
left out with a note, at start-up and on a rescan (said once per file and content); only a
library with no usable style at all is the user's error. The scans' notes reach a session's log
file too (`live: style-skip`, `live: style-note`; a rescan's unusable files `live: rescan-skip`).
What decoding said of a picture is kept with its cached statistics and said again when they are
read: a warm start used a cut-short picture and said nothing of it.

The statistics' cache on disk is `style_cache.py`'s (`StyleCache`); how a style is shown,
`style_names.py`'s; the style in use, `active_style.py`'s.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
from tqdm import tqdm

from realtime_adain.progress_bars import bar_off
from realtime_adain.checked_inputs import ChangedSinceChecked, file_changed, file_digest
from realtime_adain.clib import c_library
from realtime_adain.adain import StyleStats
from realtime_adain.input_paths import expand_images
from realtime_adain.errors import UserError, out_of_memory_as_user_error
from realtime_adain.imageio import MAX_FILE_BYTES, check_style, decode_image, read_image, read_image_bytes
from realtime_adain.live.style_cache import StyleCache
from realtime_adain.live.style_names import display_names, printable_log, printable_name, thumbnail
from realtime_adain.native_stderr import capturing_here
from realtime_adain.picture_sizes import fit_short_side
from realtime_adain.pillow_stills import first_frame_only_note
from realtime_adain.regular_files import open_regular
from realtime_adain.notes import collected, note
from realtime_adain.stylizer import Stylizer
from realtime_adain.weight_digests import file_sha256

# A cold start encodes every style (tens of ms each at --style-size 64, seconds at 512 on a CPU):
# 3000 images took 84 s. More than this are cut, with a note, so start-up stays bounded.
MAX_STYLES = 1000
# An unusable file takes no style's place, but at most this many times MAX_STYLES files are tried
# (each is hashed, most decoded): a folder of 100 000 empty files would be read whole.
MAX_TRIED_PER_STYLE = 2
# The files left unread past the limit named in its note; the rest counted.
NAMED_LEFT_OUT = 3


@dataclass
class Style:
    path: Path
    digest: str  # SHA-256 of the file's bytes
    stats: StyleStats
    thumbnail: np.ndarray  # THUMBNAIL_SIDE square, BGR for drawing with OpenCV
    size: int | None = None  # the file's bytes when loaded (None: unknown): one of another size changed

    @property
    def name(self) -> str:
        return printable_name(self.path.stem)


def release_freed_memory() -> None:
    """Give the C heap's freed pages back after encoding a style (glibc only; elsewhere nothing).

    Each encoding frees megabytes of feature maps, and the few bytes kept of it (statistics, a
    thumbnail) land among them: the heap could not shrink, and 3000 tiny styles held 11 GB at
    start-up. malloc_trim returns those pages (about 1 ms a style)."""
    libc = c_library()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


class StyleLibrary(StyleCache):
    """Styles in a stable order (as given, folders sorted), each with cached statistics."""

    def __init__(
        self,
        sources: Sequence[str | os.PathLike],
        stylizer: Stylizer,
        style_size: int | None,
        cache_dir: Path,
        log: Callable[..., None] = lambda *args, **kwargs: None,
        max_pixels: int | None = None,
    ) -> None:
        self.sources = [Path(s) for s in sources]
        self.stylizer = stylizer
        self.style_size = style_size or 0
        self.max_pixels = max_pixels  # raises the style budget as `image --max-pixels` does (`check_style`)
        self.cache_dir = Path(cache_dir)
        self.log = printable_log(log)
        # What stderr says as a note, for the log file alone (`EventLog.to_file_only`, where `log` has it).
        self.log_file = printable_log(getattr(log, "to_file_only", log))
        self._said: set[str] = set()  # the scans' notes said (each once)
        self.styles: list[Style] = []
        self.computed = 0  # encoder runs, for the session log and the tests
        self.reused = 0
        self._cache_failed = False  # said once: every style would fail the same way
        self._rejected: set[tuple[Path, str]] = set()  # (path, digest) of images said to be unusable
        self.uncached: set[Path] = set()  # folders whose styles are not kept in the cache (a server's uploads)
        self.kept = False  # the last rescan found no usable image and kept the styles there were

    def load(self) -> "StyleLibrary":
        """The first scan: a missing path is the user's error, an unusable image is left out with
        a note, and a library with no usable image at all is the user's error."""
        reasons: list[str] = []
        self._rejected.clear()  # each is said again: this is a new start
        self._said.clear()
        with self._notes_said("style-skip", "reason"):  # (the listing's: a fifo or a link loop left out)
            paths = list(dict.fromkeys(expand_images(self.sources, "style")))
        with self._notes_said("style-note", "note"):  # (the decoders': transparency read over white, ...)
            with tqdm(paths, desc="style statistics", unit="style", disable=bar_off()) as bar:
                self.styles, tried = self._first_usable(bar, lambda path: self._usable(path, reasons.append))
        self._say_left_out(paths, tried, len(self.styles))
        if not self.styles:  # (one line: each reason said as a note too read as two errors)
            raise UserError(f"no usable style image ({reasons[0]})" if len(reasons) == 1 else
                            f"none of the {len(reasons)} style images is usable (the first: {reasons[0]})")
        for reason in reasons:
            self._say(f"{reason}; style left out", "style-skip", reason=reason)
        for style in self.styles:  # an animated style gives its first picture, as in `image` and `video`
            if text := first_frame_only_note(style.path):
                self._say(text, "style-note", note=text)
        return self

    def _say(self, text: str, event: str, **fields: str) -> None:
        """A note of the scans, once, also in the log file as `event`: a --log file had none of the
        styles left out, nor an animation's first frame only, nor transparency read over white."""
        if text in self._said:
            return
        self._said.add(text)
        note(text, once=True)
        self.log_file(event, **fields)

    @contextlib.contextmanager
    def _notes_said(self, event: str, field: str) -> Iterator[None]:
        """This thread's notes within it (`expand_images`'s, the decoders'), said by `_say` as
        `event` with `field` = the note, once it has run."""
        try:
            with collected() as notes:
                yield
        finally:
            for text in notes:
                self._say(text, event, **{field: text})

    @staticmethod
    def _first_usable(paths: Iterable[Path], style_of: Callable[[Path], Style | None],
                      stopped: Callable[[], bool] = lambda: False) -> tuple[list[Style], int] | None:
        """The styles of `paths` (`style_of` each; None: unusable), in order, at most MAX_STYLES
        of them, and how many files were tried: an unusable file takes no style's place (1000
        empty PNGs sorted first left the good styles after them out), yet at most
        MAX_TRIED_PER_STYLE x MAX_STYLES files are tried. None once `stopped()`."""
        styles: list[Style] = []
        tried = 0
        for path in paths:
            if len(styles) == MAX_STYLES or tried == MAX_TRIED_PER_STYLE * MAX_STYLES:
                break
            if stopped():
                return None
            tried += 1
            style = style_of(path)
            if style is not None:
                styles.append(style)
        return styles, tried

    def _say_left_out(self, paths: Sequence[Path], tried: int, used: int) -> None:
        """The note (`style-skip`) on the files past the limit, which were not read, if any: the
        first few named, the rest counted (the unusable ones tried have notes of their own)."""
        rest = paths[tried:]
        if not rest:
            return
        named = ", ".join(str(path) for path in rest[:NAMED_LEFT_OUT])
        more = f" and {len(rest) - NAMED_LEFT_OUT} more" if len(rest) > NAMED_LEFT_OUT else ""
        used_text = (f"the first {used} usable ones are used" if used == MAX_STYLES else
                     f"only the first {tried} are tried, {used} of them usable")
        text = f"{len(paths)} style images found; {used_text}; not read: {named}{more}"
        self._say(text, "style-skip", reason=text)

    def _usable(self, path: Path, skip: Callable[[str], None], digest: str | None = None) -> Style | None:
        """The style of `path`, or None when it cannot be used: `skip` is told why, once per
        file and content (a rescan does not decode a known bad file again)."""
        try:
            digest = digest or file_sha256(path)
            if (path, digest) in self._rejected:
                return None
            return self._style(path, digest)
        except (UserError, OSError) as exc:  # OSError: replaced or removed since it was listed
            if digest and not isinstance(exc, ChangedSinceChecked):  # (a race, not the picture's fault: tried again)
                self._rejected.add((path, digest))
            skip(str(exc) if isinstance(exc, UserError) else f"{path}: {exc.strerror or exc}")
            return None

    def add(self, path: Path) -> Style:
        """One more image joins the styles (a server's upload), the others not scanned again: a
        rescan hashed every style file anew and took in what had changed in the server's own
        folders. A UserError says why it cannot be used."""
        reasons: list[str] = []
        style = self._usable(path, reasons.append)
        if style is None:
            raise UserError(reasons[0] if reasons else f"{path}: not usable as a style")
        self.styles.append(style)
        return style

    def remove(self, style: Style) -> None:
        """One style leaves (a server's upload dropped for a newer one): the list is replaced
        whole, not changed in place, as other threads read it meanwhile."""
        self.styles = [kept for kept in self.styles if kept is not style]

    def rescan(self, stopped: Callable[[], bool] = lambda: False) -> list[str]:
        """Pick up images added or changed since the last scan; returns the (display) names of new
        ones (those edited are said in the log, `rescan-changed`: they were said as added).
        Once `stopped()`, no further style is encoded and the styles there were are kept.

        A folder that became empty or a file that vanished is reported and skipped, not fatal; when
        nothing usable is left, the styles there were are kept (and the log says so; `kept`).
        """
        known = {(s.path, s.digest): s for s in self.styles}
        known_files = {s.path for s in self.styles}
        found: list[Path] = []
        with collected() as listing:  # (a fifo, a device or a link loop left out: a start-up's note was said)
            for source in self.sources:
                try:
                    found += expand_images([source], "style")
                except UserError as exc:
                    self.log("rescan-skip", reason=str(exc))
        skip: Callable[[str], None] = lambda reason: self.log("rescan-skip", reason=reason)
        for text in listing:
            if text not in self._said:  # (once, as the start's notes)
                self._said.add(text)
                skip(text)

        def style_of(path: Path) -> Style | None:
            try:
                digest = file_sha256(path)
            except (UserError, OSError) as exc:
                skip(str(exc))
                return None
            return known.get((path, digest)) or self._usable(path, skip, digest)

        paths = list(dict.fromkeys(found))
        with self._notes_said("style-note", "note"):
            first = self._first_usable(paths, style_of, stopped)
        if first is None:
            return []
        styles, tried = first
        self._say_left_out(paths, tried, len(styles))
        added, changed = [], []
        for index, style in enumerate(styles):
            if (style.path, style.digest) not in known:
                (changed if style.path in known_files else added).append(index)
        self.kept = not styles
        if styles:
            self.styles = styles
        else:
            self.log("rescan-kept", styles=len(self.styles), reason="no usable style image found")
        names = display_names(styles)  # (two files of one stem were both said as "trial")
        if changed:
            self.log("rescan-changed", names=",".join(names[index] for index in changed))
        return [names[index] for index in added]

    @property
    def names(self) -> list[str]:
        return display_names(self.styles)

    @property
    def files(self) -> list[Path]:
        """Each style's file, in the order of `names`: what a rescan keeps selected."""
        return [style.path for style in self.styles]

    def by_name(self, name: str) -> int | None:
        names = self.names
        return names.index(name) if name in names else None

    def __len__(self) -> int:
        return len(self.styles)

    def __getitem__(self, index: int) -> Style:
        return self.styles[index]

    def image(self, index: int) -> np.ndarray:
        return self.style_image(self.styles[index])

    def style_image(self, style: Style) -> np.ndarray:
        """The style image as it is encoded (shorter side at the style size), for recolouring:
        only from the bytes the style was loaded from (`_loaded_bytes`), and within the budget
        before the resize. Decoded in the capture the scans use: on `live`'s inference thread,
        libjpeg's own lines reached the terminal instead of the scans' note."""
        with capturing_here():
            image = self._read(style.path, self._loaded_bytes(style))
        return fit_short_side(image, self.style_size)

    @staticmethod
    def _loaded_bytes(style: Style) -> bytes:
        """The file's bytes, read once and refused (one line) unless they hash to `style.digest`:
        a file replaced by another picture since was encoded as this style, under its name,
        beside its old statistics and thumbnail. One larger than any image read is not it."""
        changed = UserError(f"{style.path}: the file changed since it was loaded (its own colours are kept until "
                            "the styles are loaded again: `l` in `live`)")
        try:
            with open_regular(style.path, "a device, fifo or socket, not an image file") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size != (style.size if style.size is not None else size) or size > MAX_FILE_BYTES:
                    raise changed  # (not read: a 3 GB file in its place was read whole on the frame thread)
                data = handle.read(size + 1)  # (+1: one grown meanwhile differs)
        except OSError as exc:
            raise UserError(f"{style.path}: cannot read it ({exc.strerror or exc})") from None
        if file_digest(data) != style.digest:
            raise changed
        return data

    @staticmethod
    @contextlib.contextmanager
    def _notes_passed_on() -> Iterator[list[str]]:
        """This thread's notes within it, in the list it gives, then said as they were (`note`,
        once): what decoding a picture said of it, also for its cache entry."""
        try:
            with collected() as said:
                yield said
        finally:
            for text in said:
                note(text, once=True)

    def _read(self, path: Path, data: bytes | None = None) -> np.ndarray:
        """A style image as stored (the file, or `data` read from it), refused (one line) where it
        would be over the style budget at the style size (`check_style`): a 1x200 strip is 23 GB,
        then the OOM killer."""
        image = read_image(path) if data is None else decode_image(data, str(path))
        check_style(path, image, self.style_size, self.max_pixels)
        return image

    def _style(self, path: Path, digest: str | None = None) -> Style:
        """The style of `path` (hashed to `digest` by the caller, if given). On a cache miss the
        picture is decoded from bytes hashed again: a file replaced after the first hash had its
        statistics stored under the old file's digest, and every later run used them."""
        digest = digest or file_sha256(path)
        cached = self._cached_entry(digest)
        named = f"{path}: "  # how the decoders' notes on the picture start (stored without it)
        if cached is None:  # only now is the image decoded: a warm start reads just the cache
            with self._notes_passed_on() as said:
                data = read_image_bytes(path)
                if file_digest(data) != digest:
                    raise file_changed(path)
                image = self._read(path, data)
                with out_of_memory_as_user_error(str(path), "lower --style-size"):
                    stats = self.stylizer.style_stats(image, self.style_size)
            thumb = thumbnail(image)
            del image
            release_freed_memory()
            self.computed += 1
            if path.parent not in self.uncached:
                self._store(digest, stats, thumb, printable_name(path.name),
                            [text[len(named):] for text in said if text.startswith(named)])
        else:
            stats, thumb, notes = cached
            for text in notes:  # (said as the decoder said it)
                note(named + text, once=True)
            self.reused += 1
        try:
            size = os.stat(path).st_size
        except OSError:
            size = None
        return Style(path, digest, stats, thumb, size)
