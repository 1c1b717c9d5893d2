"""The style library: style images found in files and folders, their statistics cached on disk.

A style's statistics depend only on the image's bytes, the encoder weights and the size it is
encoded at, so the cache file is named by SHA-256 of the bytes + `stylizer.encoder_id` + that
size: a second start reads 2 x 512 floats per style instead of running VGG, and an edited image
gets a new name (recomputed). Files are safetensors; one that does not read back exactly as
written (float32 statistics, a uint8 thumbnail, nothing else) is recomputed, never trusted.

A style image that cannot be used (empty, damaged, too large, a video under an image's name) is
left out with a note, at start-up and on a rescan (said once per file and content); only a
library with no usable style at all is the user's error. The scans' notes reach a session's log
file too (`live: style-skip`, `live: style-note`; a rescan's unusable files `live: rescan-skip`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import cv2
import numpy as np
import torch
from safetensors.torch import load, save
from tqdm import tqdm

from realtime_adain.checked_inputs import ChangedSinceChecked, file_changed, file_digest
from realtime_adain.clib import c_library
from realtime_adain.adain import StyleStats, check_stats
from realtime_adain.input_paths import expand_images
from realtime_adain.errors import UserError, out_of_memory_as_user_error
from realtime_adain.atomic import atomic_write_bytes
from realtime_adain.imageio import MAX_FILE_BYTES, check_style, decode_image, read_image, read_image_bytes
from realtime_adain.native_stderr import capturing_here
from realtime_adain.picture_sizes import fit_short_side
from realtime_adain.pillow_stills import first_frame_only_note
from realtime_adain.regular_files import open_regular
from realtime_adain.notes import collected, note
from realtime_adain.stylizer import Stylizer
from realtime_adain.userdirs import cache_dir_for_run, user_dir
from realtime_adain.weights import file_sha256, safetensors_metadata

THUMBNAIL_SIDE = 64
CHANNELS = 512  # relu4_1's, the statistics' length
# A cold start encodes every style (tens of ms each at --style-size 64, seconds at 512 on a CPU):
# 3000 images took 84 s. More than this are cut, with a note, so start-up stays bounded.
MAX_STYLES = 1000
MAX_CACHE_BYTES = 1 << 20  # a cache file is about 17 KB: a larger one is not ours and is not read


def default_cache_dir() -> Path:
    """Beside the weights: REALTIME_ADAIN_HOME/cache/styles, else the per-user cache directory."""
    return user_dir("styles", "cache", home_name="cache/styles")


def run_cache_dir() -> Path:
    """The style cache `live` and `serve` use: `default_cache_dir`, or for a user with no home a
    temporary folder (the cache saves start-up time, nothing else)."""
    return cache_dir_for_run("styles", "style", "styles are encoded each run", home_name="cache/styles")


def note_unwritable_style_cache(event: str, **fields: str) -> None:
    """A `StyleLibrary` log for a command with no session log (a sheet, `serve`): an unwritable
    style cache as one note (the library says it once), its other events left to its own notes.
    Said only by `live`: every later run encoded the styles again, nobody told why."""
    if event == "style-cache-unwritable":
        note(f"the style cache cannot be written: {fields['reason']}; the styles are encoded again next run")


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


def printable_name(name: str) -> str:
    """A file name's undecodable bytes as \\xNN: a name that is not UTF-8 could not be written to
    the cache's metadata (a UnicodeEncodeError ended `live` at start-up) nor to a UTF-8 log."""
    try:
        return os.fsencode(name).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no file system gives (only \\udc80-\\udcff escape bytes)
        return name.encode("utf-8", "backslashreplace").decode("utf-8")


def printable_log(log: Callable[..., None]) -> Callable[..., None]:
    """`log` given the text fields as `printable_name` writes them: a reason naming a file that
    is not UTF-8, written to the session's --log file, raised in the inference thread and ended
    the session."""
    return lambda event, **fields: log(event, **{key: printable_name(value) if isinstance(value, str) else value
                                                 for key, value in fields.items()})


def thumbnail(image: np.ndarray, side: int = THUMBNAIL_SIDE) -> np.ndarray:
    """A centred square crop of an RGB image, as BGR."""
    h, w = image.shape[:2]
    crop = min(h, w)
    top, left = (h - crop) // 2, (w - crop) // 2
    square = cv2.resize(image[top:top + crop, left:left + crop], (side, side), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(square, cv2.COLOR_RGB2BGR)


def display_names(styles: Sequence[Style]) -> list[str]:
    """Unique display names: the file's stem, numbered when two folders share one."""
    names: list[str] = []
    for style in styles:
        name, n = style.name, 1
        while name in names:
            n += 1
            name = f"{style.name}~{n}"
        names.append(name)
    return names


class StyleLibrary:
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
            paths = self._bounded(expand_images(self.sources, "style"))
        with self._notes_said("style-note", "note"):  # (the decoders': transparency read over white, ...)
            found = (self._usable(p, reasons.append)
                     for p in tqdm(paths, desc="style statistics", unit="style", disable=None))
            self.styles = [style for style in found if style is not None]
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
    def _bounded(paths: Sequence[Path]) -> list[Path]:
        """The files found, each once, at most MAX_STYLES of them (the rest said in a note)."""
        paths = list(dict.fromkeys(paths))
        if len(paths) > MAX_STYLES:
            note(f"{len(paths)} style images found; the first {MAX_STYLES} are used", once=True)
        return paths[:MAX_STYLES]

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
        with self._notes_said("style-skip", "reason"):
            paths = self._bounded(found)
        styles, added, changed = [], [], []
        with self._notes_said("style-note", "note"):
            for path in paths:
                if stopped():
                    return []
                try:
                    digest = file_sha256(path)
                except (UserError, OSError) as exc:
                    skip(str(exc))
                    continue
                style = known.get((path, digest)) or self._usable(path, skip, digest)
                if style is None:
                    continue
                if (path, digest) not in known:
                    (changed if path in known_files else added).append(len(styles))
                styles.append(style)
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

    def _read(self, path: Path, data: bytes | None = None) -> np.ndarray:
        """A style image as stored (the file, or `data` read from it), refused (one line) where it
        would be over the style budget at the style size (`check_style`): a 1x200 strip is 23 GB,
        then the OOM killer."""
        image = read_image(path) if data is None else decode_image(data, str(path))
        check_style(path, image, self.style_size, self.max_pixels)
        return image

    def cache_path(self, digest: str) -> Path:
        return self.cache_dir / f"{digest}-{self.stylizer.encoder_id}-{self.style_size}.safetensors"

    def _style(self, path: Path, digest: str | None = None) -> Style:
        """The style of `path` (hashed to `digest` by the caller, if given). On a cache miss the
        picture is decoded from bytes hashed again: a file replaced after the first hash had its
        statistics stored under the old file's digest, and every later run used them."""
        digest = digest or file_sha256(path)
        cached = self._cached(digest)
        if cached is None:  # only now is the image decoded: a warm start reads just the cache
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
                self._store(digest, stats, thumb, printable_name(path.name))
        else:
            stats, thumb = cached
            self.reused += 1
        try:
            size = os.stat(path).st_size
        except OSError:
            size = None
        return Style(path, digest, stats, thumb, size)

    def _checksum(self, digest: str, tensors: dict[str, torch.Tensor]) -> str:
        """What an entry holds, for the style it is named for at this encoder and style size: a
        file edited, renamed or copied under another style's name (a link to one too) no longer
        matches, and is rebuilt rather than used (its checks of shapes and values passed)."""
        hasher = hashlib.sha256(f"{digest}-{self.stylizer.encoder_id}-{self.style_size}".encode())
        for name in ("mean", "std", "thumbnail"):
            hasher.update(tensors[name].detach().cpu().contiguous().numpy().tobytes())
        return hasher.hexdigest()

    def _cached(self, digest: str) -> tuple[StyleStats, np.ndarray] | None:
        path = self.cache_path(digest)
        if not path.is_file():  # (a link to a device or fifo is never opened)
            return None
        try:
            if path.is_symlink():  # another entry (another style's statistics) or any file: not ours
                raise ValueError("a link")
            with open_regular(path) as handle:  # read once: safe_open opened the file twice by name, and an
                data = handle.read(MAX_CACHE_BYTES + 1)  # entry replaced meanwhile paired one's header with another's data
            if len(data) > MAX_CACHE_BYTES:
                raise ValueError("too large")
            tensors, metadata = load(data), safetensors_metadata(data)
            if set(tensors) != {"mean", "std", "thumbnail"}:
                raise ValueError("unexpected tensors")
            mean, std, thumb = tensors["mean"], tensors["std"], tensors["thumbnail"]
            if any(t.dtype != torch.float32 or tuple(t.shape) != (CHANNELS,) for t in (mean, std)):
                raise ValueError("unexpected statistics")  # written as float32: another type is not ours
            check_stats(StyleStats(mean, std), "cached style")  # finite means, stds >= 0
            if thumb.dtype != torch.uint8 or tuple(thumb.shape) != (THUMBNAIL_SIDE, THUMBNAIL_SIDE, 3):
                raise ValueError("unexpected thumbnail")
            if "checksum" not in metadata:
                raise ValueError("no checksum (written by an older version)")
            if metadata["checksum"] != self._checksum(digest, tensors):
                raise ValueError("edited, or another style's")
        except Exception as exc:  # any unreadable cache file is rebuilt, never trusted
            self.log("style-cache-rebuild", file=path.name, reason=type(exc).__name__ if not isinstance(exc, ValueError)
                     else str(exc))
            return None
        return StyleStats(mean, std), thumb.numpy()

    def _store(self, digest: str, stats: StyleStats, thumb: np.ndarray, source_name: str) -> None:
        tensors = {"mean": stats.mean.contiguous(), "std": stats.std.contiguous(), "thumbnail": torch.from_numpy(thumb)}
        data = save(tensors,
                    metadata={"source": source_name, "encoder": self.stylizer.encoder_id,
                              "style_size": str(self.style_size), "checksum": self._checksum(digest, tensors)})
        path = self.cache_path(digest)
        try:
            if path.is_symlink():  # our entry's name linked elsewhere (to /dev/zero): the link goes, not its target
                path.unlink()
            atomic_write_bytes(path, data)
        except (UserError, OSError) as exc:  # an unwritable cache costs speed on the next start, nothing else
            if not self._cache_failed:
                self.log("style-cache-unwritable", reason=str(exc))
            self._cache_failed = True


class NoLongerWanted(Exception):
    """A colour reference's state was superseded (`ActiveStyle(current=...)`) before its encode ended."""


class _Encode(threading.Thread):
    """One style's encode in a colour reference's colours, off the thread that waits for it, so
    that the wait can end when its state is no longer wanted. Not a daemon: one left running
    is finished before the interpreter's teardown (torch aborted the process under a thread)."""

    def __init__(self, work: Callable[[], StyleStats]) -> None:
        super().__init__(name="colour-reference")
        self.work = work
        self.stats: StyleStats | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.stats = self.work()
        except BaseException as exc:  # raised again by the waiting thread, as if it had encoded
            self.error = exc

    def outcome(self) -> StyleStats:
        if self.error is not None:
            raise self.error
        return self.stats


WAIT_POLL_S = 0.05  # how often a colour reference's wait asks whether its state is still wanted


class ActiveStyle:
    """The statistics the next frame uses, recomputed only when the choice of style changes.

    Switching and mixing are free (cached statistics, and a mix of statistics is a weighted sum).
    Colour preservation needs the style recoloured to the content, which means encoding it again:
    that happens once, with the frame at hand as the colour reference, when it is switched on or
    the style changes while it is on (key `c` twice takes a new reference), never per frame.
    Given `current` (the state the session wants now), a reference whose state was superseded
    meanwhile (`c` pressed again) is not encoded, nor waited for: `c` twice quickly froze the
    picture for the seconds of an encode no frame would use.
    The choice is looked up again only when the state changes (a key, or a rescan, after which
    the controller always has a new state), and includes the files' digests, so a style edited
    on disk and rescanned is used from the next frame on (`look`: and starts the stabiliser afresh).
    """

    def __init__(self, library: StyleLibrary, log: Callable[..., None] = lambda *args, **kwargs: None,
                 stopped: Callable[[], bool] = lambda: False, current: Callable[[], object] | None = None) -> None:
        """`stopped()`: the session is ending; a colour reference then encodes no further style.
        `current()`: the state wanted now (the controller's); without it, every state asked for is
        wanted and its reference is encoded on the calling thread."""
        self.library = library
        self.log = printable_log(log)
        self.stopped = stopped
        self.current = current
        self._last_encode: _Encode | None = None  # the last colour reference's encode (one left running: at most one)
        self.encoding = False  # a colour reference is being encoded (the exit does not wait for it)
        # (state, `choice(state)`) as one value: `look` is also asked on the window's thread (`s` while paused)
        self._chosen: tuple[object, tuple[list[Style], tuple]] = (None, ([], ()))
        self._key: tuple | None = None
        self._stats: StyleStats | None = None

    def stats(self, state, frame: np.ndarray) -> StyleStats:
        """`state` is the controller's `LiveState`; `frame` (RGB) is the colour reference if needed."""
        chosen, key = self._choice_of(state)
        if key != self._key or self._stats is None:
            try:
                self._stats = self._compute(chosen, state.mix, frame if state.preserve_color else None, key)
            except NoLongerWanted:  # (this frame, already superseded, in the styles' own colours; nothing kept)
                return self._compute(chosen, state.mix, None, key)
            self._key = key
        return self._stats

    def look(self, state) -> tuple:
        """What the picture depends on: `state.look` and the files of the styles it chooses (their
        digests). A style edited on disk and rescanned keeps its name but not its look: the
        stabiliser starts afresh and a paused frame is stylized again, as after a key."""
        return state.look + (self._choice_of(state)[1][0],)

    def _choice_of(self, state) -> tuple[list[Style], tuple]:
        """`choice(state)`, looked up once per state (an immutable value) for `stats` and `look` alike."""
        chosen_for, chosen = self._chosen
        if state is not chosen_for:
            chosen = self.choice(state)
            self._chosen = (state, chosen)
        return chosen

    def choice(self, state) -> tuple[list[Style], tuple]:
        """The styles `state` names (the first style for a name gone) and the key of their
        statistics: the same key, the same statistics (`serve` compares keys on its worker while
        a colour reference is encoded on another thread; this reads nothing that encoding changes)."""
        styles = self.library.styles  # one list: a rescan replaces it whole, meanwhile too
        names = display_names(styles)
        wanted = [state.style_name] + ([state.style_names[state.next_style]] if state.mix else [])
        chosen = [styles[names.index(name)] if name in names else styles[0] for name in wanted]
        key = (tuple(style.digest for style in chosen), state.mix, state.preserve_color,
               state.color_epoch if state.preserve_color else 0)
        return chosen, key

    def _compute(self, chosen: list[Style], mix: float, reference: np.ndarray | None, key: tuple) -> StyleStats:
        stats = [style.stats for style in chosen]
        if reference is not None:
            stats = self._recoloured(chosen, reference, key) or stats
        return stats[0] if len(stats) == 1 else StyleStats.mix(stats, [1.0 - mix, mix])

    def _recoloured(self, chosen: list[Style], reference: np.ndarray, key: tuple) -> list[StyleStats] | None:
        """The styles encoded in the reference's colours; None (the cached statistics are used,
        and the log says why) when an image is no longer usable: deleted or replaced on disk
        while running, which must not end the session (nor, in `serve`, lose other clients' frames).
        ValueError: `Stylizer.style_stats` refusing the image it was given. Once `stopped()`, no
        further style is encoded (None): each takes seconds at a large --style-size on a CPU.
        NoLongerWanted: `key` is not the current state's (nothing said: no reference was taken)."""
        started, stats = time.monotonic(), []
        self.encoding = True
        try:
            for style in chosen:
                if self.stopped():
                    return None
                if not self._wanted(key):
                    raise NoLongerWanted
                stats.append(self._encoded(style, reference, key))
        except (UserError, OSError, ValueError) as exc:
            self.log("color-reference-failed", reason=str(exc), using="the style's colours")
            return None
        finally:
            self.encoding = False
        self.log("color-reference", styles=len(chosen), ms=round(1000 * (time.monotonic() - started)))
        return stats

    def _wanted(self, key: tuple) -> bool:
        """Whether the state wanted now still chooses statistics of `key` (always, without `current`)."""
        return self.current is None or self._choice_of(self.current())[1] == key

    def _encoded(self, style: Style, reference: np.ndarray, key: tuple) -> StyleStats:
        """`style` encoded in the reference's colours: here without `current`; else on its own
        thread (`_Encode`, after one left running before it: never two at once), waited for while
        `key` is wanted (NoLongerWanted once it is not; the encode then ends unwatched). While the
        session stops it is waited for, as an encode here would be (the exit does not wait for it)."""
        def encode() -> StyleStats:
            return self.library.stylizer.style_stats(self.library.style_image(style), color_reference=reference)

        if self.current is None:
            return encode()
        if self._last_encode is not None:
            self._waited(self._last_encode, key)
        self._last_encode = _Encode(encode)
        self._last_encode.start()
        return self._waited(self._last_encode, key).outcome()

    def _waited(self, work: _Encode, key: tuple) -> _Encode:
        """`work` once it has ended, asking meanwhile whether `key` is still wanted (once at least)."""
        while True:
            if not self.stopped() and not self._wanted(key):
                raise NoLongerWanted
            work.join(WAIT_POLL_S)
            if not work.is_alive():
                return work
