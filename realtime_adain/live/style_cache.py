"""The style library's statistics cached on disk (`StyleCache`, which `StyleLibrary` is), and
where that cache is.

A style's statistics depend only on the image's bytes, the encoder weights and the size it is
encoded at, so the cache file is named by SHA-256 of the bytes + `stylizer.encoder_id` + that
size: a second start reads 2 x 512 floats per style instead of running VGG, and an edited image
gets a new name (recomputed). Files are safetensors; one that does not read back exactly as
written (float32 statistics, a uint8 thumbnail, nothing else) is recomputed, never trusted.
An entry keeps what decoding the picture said of it too (`notes`: cut short, transparency read
over white): a warm start decodes nothing, and said nothing of a damaged picture it still used.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from safetensors.torch import load, save

from realtime_adain.adain import StyleStats, check_stats
from realtime_adain.atomic import atomic_write_bytes
from realtime_adain.errors import UserError
from realtime_adain.live.style_names import THUMBNAIL_SIDE
from realtime_adain.notes import note
from realtime_adain.regular_files import open_regular
from realtime_adain.userdirs import cache_dir_for_run, user_dir
from realtime_adain.weight_files import safetensors_metadata

CHANNELS = 512  # relu4_1's, the statistics' length
MAX_CACHE_BYTES = 1 << 20  # a cache file is about 17 KB: a larger one is not ours and is not read
MAX_NOTES = 8  # kept with an entry: decoding a picture says one or two; an entry holding more is not ours


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


class StyleCache:
    """A `StyleLibrary`'s entries in `cache_dir`, one a style (for its `stylizer`'s encoder and its
    `style_size`): read back only when they are exactly as written (`_cached`), written atomically
    (`_store`; an unwritable cache said once in its `log`, `_cache_failed`)."""

    def cache_path(self, digest: str) -> Path:
        return self.cache_dir / f"{digest}-{self.stylizer.encoder_id}-{self.style_size}.safetensors"

    def _checksum(self, digest: str, tensors: dict[str, torch.Tensor], notes: str = "") -> str:
        """What an entry holds, for the style it is named for at this encoder and style size: a
        file edited, renamed or copied under another style's name (a link to one too) no longer
        matches, and is rebuilt rather than used (its checks of shapes and values passed). Its
        `notes` (as stored) count only where there are any: an entry written without them reads."""
        hasher = hashlib.sha256(f"{digest}-{self.stylizer.encoder_id}-{self.style_size}".encode())
        for name in ("mean", "std", "thumbnail"):
            hasher.update(tensors[name].detach().cpu().contiguous().numpy().tobytes())
        if notes:
            hasher.update(notes.encode())
        return hasher.hexdigest()

    def _cached(self, digest: str) -> tuple[StyleStats, np.ndarray] | None:
        """The statistics and thumbnail cached for `digest` (`_cached_entry` without its notes)."""
        entry = self._cached_entry(digest)
        return None if entry is None else entry[:2]

    def _cached_entry(self, digest: str) -> tuple[StyleStats, np.ndarray, list[str]] | None:
        """The statistics, thumbnail and notes (as `_store` was given them) cached for `digest`,
        or None where there is no entry or it is not exactly as written (rebuilt, logged)."""
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
            if metadata["checksum"] != self._checksum(digest, tensors, metadata.get("notes", "")):
                raise ValueError("edited, or another style's")
            notes = json.loads(metadata.get("notes", "[]"))
            if not isinstance(notes, list) or not all(isinstance(text, str) for text in notes):
                raise ValueError("unexpected notes")
            if len(notes) > MAX_NOTES:  # (a forged entry's 60 000 notes were said on every start and rescan)
                raise ValueError(f"{len(notes)} notes (at most {MAX_NOTES})")
        except Exception as exc:  # any unreadable cache file is rebuilt, never trusted
            self.log("style-cache-rebuild", file=path.name, reason=type(exc).__name__ if not isinstance(exc, ValueError)
                     else str(exc))
            return None
        return StyleStats(mean, std), thumb.numpy(), notes

    def _store(self, digest: str, stats: StyleStats, thumb: np.ndarray, source_name: str,
               notes: Sequence[str] = ()) -> None:
        """The entry for `digest`; `notes` (what decoding the picture said, without its file's
        name: the same bytes may be another file) are said again when it is read."""
        tensors = {"mean": stats.mean.contiguous(), "std": stats.std.contiguous(), "thumbnail": torch.from_numpy(thumb)}
        metadata = {"source": source_name, "encoder": self.stylizer.encoder_id, "style_size": str(self.style_size)}
        if notes:  # (JSON's ASCII escapes: a name's undecodable byte in a note cannot break the header)
            metadata["notes"] = json.dumps(list(notes)[:MAX_NOTES])
        metadata["checksum"] = self._checksum(digest, tensors, metadata.get("notes", ""))
        data = save(tensors, metadata=metadata)
        path = self.cache_path(digest)
        try:
            if path.is_symlink():  # our entry's name linked elsewhere (to /dev/zero): the link goes, not its target
                path.unlink()
            atomic_write_bytes(path, data)
        except (UserError, OSError) as exc:  # an unwritable cache costs speed on the next start, nothing else
            if not self._cache_failed:
                self.log("style-cache-unwritable", reason=str(exc))
            self._cache_failed = True
