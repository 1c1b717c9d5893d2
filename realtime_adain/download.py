"""Fetching the published AdaIN weights into the per-user weights directory.

Downloads go to `NAME.part` beside the target: a broken transfer is resumed from there with an
HTTP Range request (automatically a few times, and again on the next run; a server that ignores
Range, cut short each time, has its `.part` deleted: it would start over again), and only a file that
passed verification (size and SHA-256 where known, then structure and shapes through the real
loaders) is renamed into place. A body with neither a length nor chunks ends where the connection
closes: short of the pinned size, it was cut only if the server then sends the rest (a 206 from
there); else it was all of a shorter file, which the size check rejects. Nothing says which
URL a kept `.part` came from, so a file built on one that fails verification is fetched once
more from byte 0 before it counts as the server's fault. Anything that fails verification is
deleted, so the cache never holds a partial or wrong file; a failed run also removes the
directories it created that are still empty (a `.part` worth resuming keeps its directory).

The parts: the weights' URLs as text, checked and shown without their secrets
(download_urls.py); one request and its failures in words (download_http.py); the transfer into
the `.part`, resumed and bounded in size and pace (download_transfer.py); the folder made and held
(download_folder.py).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import urlsplit

from tqdm import tqdm

from realtime_adain import weight_digests, weights
from realtime_adain.download_folder import check_room, held_folder
from realtime_adain.download_transfer import MinRate, SizeLimit, fetch
from realtime_adain.download_urls import (file_url_problem, joined, netloc_host, shown, unsendable, unslashed_file_url,
                                          valid_port)
from realtime_adain.errors import UserError, one_line
from realtime_adain.made_folders import lost_during_run
from realtime_adain.output_paths import naming
from realtime_adain.release import BASE_URL_ENV_VAR, DEFAULT_BASE_URL, PUBLISHED, PublishedFile  # noqa: F401 (part of this module's interface)


KINDS = tuple(PUBLISHED)  # ("vgg", "decoder")
MAX_DOWNLOAD_BYTES = 1 << 30  # the bound where the size is not known (--no-checksum): 12x the VGG file


LOADERS: dict[str, Callable[[Path], object]] = {
    "vgg": weights.load_encoder,
    "decoder": weights.load_decoder,
}


# Where weights may come from: the web, or a local mirror folder (no ftp://, data:, ...).
URL_SCHEMES = ("https", "http", "file")


def file_urls(
    base_url: str | None = None, vgg_url: str | None = None, decoder_url: str | None = None
) -> dict[str, str]:
    """Where each file comes from: per-file URL, else base URL (flag, then env var, then default)."""
    from_env = os.environ.get(BASE_URL_ENV_VAR)
    for name, given in (("--base-url", base_url), ("--vgg-url", vgg_url), ("--decoder-url", decoder_url),
                        (f"${BASE_URL_ENV_VAR}", from_env if from_env else None)):  # (set empty: the default)
        if given is not None and not given.strip():
            raise UserError(f"{name} is empty: give a URL")
        if given and (problem := unsendable(given) or unslashed_file_url(given)):
            raise UserError(f"{shown(given)} (from {name}): {problem}")
    base = base_url or from_env or DEFAULT_BASE_URL
    explicit = {"vgg": vgg_url, "decoder": decoder_url}
    sources = url_sources(base_url, vgg_url, decoder_url)
    urls = {}
    for kind in KINDS:
        named = f" (from {sources[kind]})" if sources[kind] else ""  # (a bad URL from the environment named no variable)
        try:
            url = explicit[kind] or joined(base, PUBLISHED[kind].filename)
            parts = urlsplit(url)
            scheme, host = parts.scheme.lower(), parts.hostname
        except ValueError as exc:  # e.g. "http://[::1/x": Invalid IPv6 URL
            raise UserError(f"{shown(explicit[kind] or base)}{named}: {exc}") from None
        if scheme not in URL_SCHEMES:
            raise UserError(f"{shown(url)}{named}: not an {', '.join(URL_SCHEMES[:-1])} or {URL_SCHEMES[-1]} URL")
        if scheme == "file" and (problem := file_url_problem(parts)):  # ("file://tmp/w": "No such file or directory")
            raise UserError(f"{shown(url)}{named}: {problem}")
        if scheme != "file" and not host:  # ("http:///x" said "cannot reach  (no host given)")
            raise UserError(f"{shown(url)}{named}: no host in the URL ({scheme}://HOST/...)")
        if scheme != "file" and not valid_port(parts):  # (":99999" said "cannot reach ... (Connection refused)")
            port = netloc_host(parts.netloc).rpartition(":")[2]
            raise UserError(f"{shown(url)}{named}: the URL's port {one_line(port)[:20]!r} is not valid (a number from 1 to 65535)")
        urls[kind] = url
    return urls


def url_sources(base_url: str | None = None, vgg_url: str | None = None,
                decoder_url: str | None = None) -> dict[str, str | None]:
    """Where each file's URL came from (`file_urls`' arguments): "--vgg-url", "--base-url",
    "$REALTIME_ADAIN_WEIGHTS_URL", None for the default."""
    base_source = "--base-url" if base_url else f"${BASE_URL_ENV_VAR}" if os.environ.get(BASE_URL_ENV_VAR) else None
    return {kind: f"--{kind}-url" if given else base_source for kind, given in (("vgg", vgg_url), ("decoder", decoder_url))}


def verify(path: Path, kind: str, check_checksum: bool = True, load: bool = True) -> None:
    """Raise UserError unless `path` is a sound `kind` weights file (the published one if pinned).

    `load=False` skips the structure check when the digest is pinned: a file with the published
    SHA-256 is the published file, which loads (checked when it was downloaded).
    """
    spec = PUBLISHED[kind]
    if check_checksum and spec.size is not None:
        size = path.stat().st_size
        if size != spec.size:
            raise UserError(f"{path}: {size} bytes, expected {spec.size} ({spec.filename} of the release)")
    if check_checksum and spec.sha256 is not None:
        digest = weight_digests.weights_sha256(path)  # (remembered: the room check hashed it already)
        if digest != spec.sha256:
            raise UserError(f"{path}: SHA-256 {digest} does not match the published {spec.sha256}")
        if not load:
            return
    LOADERS[kind](path)


def is_valid(path: Path, kind: str, check_checksum: bool = True) -> bool:
    """Whether a file already in the cache can stay (cheap when its digest is pinned)."""
    try:
        verify(path, kind, check_checksum, load=False)
    except UserError:
        return False
    return True


def size_limit(spec: PublishedFile, check_checksum: bool) -> SizeLimit:
    if check_checksum and spec.size is not None:
        return SizeLimit(spec.size, f"{spec.filename} of the release", exact=True)
    return SizeLimit(MAX_DOWNLOAD_BYTES, "the most for a file of unknown size")


def check_destination(kind: str, directory: Path) -> tuple[Path, Path]:
    """The `kind` file's place in `directory` and its `.part`, refused where something that is no
    file of ours is in the way (a folder, fifo, device; a symbolic or hard link as the `.part`)."""
    filename = PUBLISHED[kind].filename
    target, part = directory / filename, directory / (filename + ".part")
    for path, goes in ((target, "the weights file"), (part, f"the partial download of {filename}")):
        if path.is_dir():
            raise UserError(f"{path}: a folder is where {goes} goes; move it away or use --dir")
        if path.exists() and not path.is_file():  # reading or appending to a fifo would hang
            raise UserError(f"{path}: a device, fifo or socket is where {goes} goes; move it away or use --dir")
    if part.is_symlink():  # resuming would append to whatever file it points to
        raise UserError(f"{part}: a symbolic link where the partial download goes; remove it")
    if part.is_file() and part.stat().st_nlink > 1:  # the same: the file under its other names got the bytes
        raise UserError(f"{part}: a file with other names too (hard links) where the partial download goes; "
                        "downloading would write into it through them; remove it")
    return target, part


def download_file(
    kind: str, url: str, directory: Path, force: bool = False, check_checksum: bool = True,
    min_rate: MinRate = MinRate(),
) -> tuple[Path, str]:
    """Fetch one weights file into `directory`; returns its path and what happened."""
    target, part = check_destination(kind, directory)
    if target.exists() and not force:
        if is_valid(target, kind, check_checksum):
            return target, "already present"
        tqdm.write(f"{target}: present but not valid; downloading it again")
    with held_folder(directory) as held:
        if force and part.exists():
            part.unlink()
        rejected = _fetch_and_verify(kind, url, target, part, check_checksum, min_rate, held)
        if rejected is not None and rejected.on_kept:  # (the kept bytes may be another source's)
            tqdm.write(one_line(f"{target}: the partial download kept in {part.name} by an earlier run did not fit "
                                f"what {shown(url)} sends ({rejected.reason}); deleted it, downloading again from the start"))
            rejected = _fetch_and_verify(kind, url, target, part, check_checksum, min_rate, held)
        if rejected is not None:
            raise UserError(f"{shown(url)}: rejected the download (deleted it): {rejected.reason}")
        try:
            os.replace(part, target)
        except OSError as exc:
            raise naming(target, exc) from None
    return target, "downloaded"


@dataclass(frozen=True)
class _Rejected:
    """A download that failed verification: why, and whether it was built on a kept `.part`."""

    reason: str
    on_kept: bool


def _fetch_and_verify(kind: str, url: str, target: Path, part: Path, check_checksum: bool,
                      min_rate: MinRate, held: int | None) -> _Rejected | None:
    """Fetch `url` into `part` (resuming what it holds) and verify it; None when it passed, else
    why not (`part` deleted). `held`: the handle on the download folder (`held_folder`)."""
    spec = PUBLISHED[kind]
    try:
        on_kept = fetch(url, part, spec.filename, limit=size_limit(spec, check_checksum), min_rate=min_rate)
    except OSError as exc:  # writing the .part: a full disk, a read-only folder
        part.unlink(missing_ok=True)
        raise naming(target, exc) from None
    if not part.exists():  # (was "rejected the download (deleted it): no such weights file", blaming the server)
        raise lost_during_run(target, part, "the partial download", part.parent, held)
    try:
        verify(part, kind, check_checksum)
    except UserError as exc:
        part.unlink(missing_ok=True)
        return _Rejected(str(exc).removeprefix(f"{part}: "), on_kept)
    return None


def _bytes_to_fetch(kind: str, directory: Path, force: bool) -> tuple[int, int]:
    """(bytes a download of the published `kind` file still writes into `directory`, bytes it frees
    when it is renamed over the file there): nothing where its size is not known or a sound file is
    already there (kept unless --force; `is_valid`, as `download_file` judges it: a damaged one of
    the published size was counted as nothing to fetch, then fetched beside itself onto a full
    disk), else its size less what a kept `.part` holds. The file it replaces stays until the
    rename (the `.part` sits beside it), and frees its bytes then only where they are this disk's
    alone (`_freed_by_replacing`)."""
    size = PUBLISHED[kind].size
    target, part = directory / PUBLISHED[kind].filename, directory / (PUBLISHED[kind].filename + ".part")
    if size is None or (not force and target.is_file() and is_valid(target, kind)):
        return 0, 0
    kept = part.stat().st_size if part.is_file() else 0  # (deleted by --force, which frees as much)
    return max(0, size - kept), _freed_by_replacing(target)


def _freed_by_replacing(target: Path) -> int:
    """The bytes renaming a download over `target` frees on the download's disk: its size where it
    is a regular file on the folder's own device with no other names, else none (a symbolic link's
    file, on another disk or not, and a hard link's stay; they were counted as freed)."""
    try:
        status, folder = target.lstat(), target.parent.stat()
    except OSError:  # (none there)
        return 0
    if stat.S_ISREG(status.st_mode) and status.st_dev == folder.st_dev and status.st_nlink == 1:
        return status.st_size
    return 0


def room_needed(directory: Path, force: bool) -> tuple[list[str], int]:
    """The files to fetch and the most free space their download takes at once, fetched one after
    the other, each renamed over the file it replaces (which frees its bytes): with --force over
    both files in place, the larger new file, not both (a disk that held them was refused)."""
    names, peak, held = [], 0, 0
    for kind in KINDS:
        fetched, freed = _bytes_to_fetch(kind, directory, force)
        if fetched:
            names.append(PUBLISHED[kind].filename)
            peak, held = max(peak, held + fetched), held + fetched - freed
    return names, peak


def download_all(
    urls: dict[str, str], directory: Path, force: bool = False, check_checksum: bool = True,
    landed: Callable[[Path, str], None] = lambda path, outcome: None, sources: Mapping[str, str] | None = None,
) -> list[tuple[Path, str]]:
    """Both published files into `directory` (normally `weight_paths.weights_dir()`). Both places are
    checked before anything is fetched, and `landed(path, outcome)` is called as each file is in
    place: a folder where the decoder goes was refused only after the 80 MB VGG had landed, and
    the error alone did not say it had. So is the room for both, where their sizes are known.
    `sources` (`url_sources`): where a URL came from, said in an error about it."""
    for kind in KINDS:
        check_destination(kind, directory)
    if check_checksum:
        check_room(directory, *room_needed(directory, force))
    results = []
    for kind in KINDS:
        try:
            results.append(download_file(kind, urls[kind], directory, force, check_checksum))
        except UserError as exc:  # ("file:///w/vgg_normalised.pth: No such file or directory": set where?)
            said, url = str(exc), shown(urls[kind])
            if sources and sources.get(kind) and said.startswith(f"{url}: "):
                exc.args = (f"{url} (from {sources[kind]}){said.removeprefix(url)}",)
            raise
        landed(*results[-1])
    return results
