"""The engine cache: serialized engines under a key of everything that makes them valid.

An engine (a TensorRT program, an ONNX graph) is only valid for the exact weights, input shape,
precision, GPU and library versions it was built with. All of these go into the key; the file
name carries the key's digest and a JSON sidecar carries the components, so `engines list` can
say what each file is and a file whose sidecar does not match exactly (stale, copied from another
machine, half-written) is rebuilt instead of loaded. A second sidecar holds the file's SHA-256 and
size: a file changed after it was built (a damaged disk, a tool writing into it) can still load, but
with other weights it would stylize wrongly without a word, so it is rebuilt too (one of another
size without reading it: a 50 GB file took a minute to hash).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from realtime_adain.errors import UserError
from realtime_adain.made_folders import folder_handle, lost_during_run, make_folders
from realtime_adain.output_paths import naming
from realtime_adain.regular_files import open_regular
from realtime_adain.stale_temporaries import (ANY_AGE, PROCESS_TAG, STALE_UNKNOWN_AFTER_S, name_unjudged, of_this_space,
                                             process_tag, remove_stale)
from realtime_adain.userdirs import (HOME_ENV_VAR, cache_dir_for_run, deciding_setting, folder_setting, temporary_cache,
                                     user_dir)
from realtime_adain.writable_folders import check_writable_dir, why_not_writable

ENGINES_ENV_VAR = "REALTIME_ADAIN_ENGINES"
SIDECAR_SUFFIX = ".json"
DIGEST_SUFFIX = ".sha256"
# Only files named like this are ours: `engines clear` never deletes anything else in the folder.
ENGINE_FILE = re.compile(r"^(tensorrt|onnx)-[\w.x-]+-[0-9a-f]{20}\.(ep|onnx)$")
# A build's temporary folder, exactly as `tempfile.mkdtemp(prefix=f"{BUILD_PREFIX}{process_tag()}-")`
# names it (older versions wrote no id, or no id space), so a user's own `.build-cache` in a folder
# given as the cache is never taken for one, and `engines clear` leaves the builds of running
# processes alone.
BUILD_PREFIX = ".build-"
BUILD_DIR = re.compile(rf"^\.build-(?:{PROCESS_TAG}-)?[a-z0-9_]{{8}}$")
# Sidecars are a few hundred bytes: a larger one is not ours, and is not read into memory whole
# (a 50 GB sparse sidecar ended every run with "out of memory; lower --size").
MAX_SIDECAR_BYTES = 1 << 16
# Why a build cannot go into a folder, beyond the folder's own checks: no room, no right to write.
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


# Run from a checkout (an editable install), engines are cached in its `engines/` folder.
CHECKOUT_ENGINES = Path(__file__).resolve().parents[2] / "engines"


# The modules whose code makes the exported graph (`graph_code`): the networks (the skip-concat
# decoder and torchvision's encoder too: an export of theirs kept its key after they changed) and
# AdaIN, and the engine's own module (its export wrapper, its build options).
GRAPH_MODULES = ("adain.py", "networks.py", "decoders.py", "encoders.py", "model.py")


@functools.cache
def graph_code(engine_module: str, package: Path = Path(__file__).resolve().parents[1]) -> str:
    """A digest of the code the graph is built from (`GRAPH_MODULES` and the engine's module,
    e.g. "engines/onnx.py", in `package`), one component of an engine's key: an export made before
    the network's code changed (an edited checkout, a later release's fix) was loaded by `auto` as
    it was, its pictures 109 levels off the eager engine's."""
    digest = hashlib.sha256()
    for name in (*GRAPH_MODULES, engine_module):
        digest.update(name.encode() + b"\0" + (package / name).read_bytes())
    return digest.hexdigest()[:16]


def engines_dir(for_run: bool = False) -> Path:
    """$REALTIME_ADAIN_ENGINES, else $REALTIME_ADAIN_HOME/engines, else the checkout's `engines/`
    (git-ignored), else the per-user cache dir (an installed package); `for_run`: for a user with
    no home a temporary folder there (an engine built each run), where listing them refuses."""
    explicit = folder_setting(ENGINES_ENV_VAR)
    if explicit is not None:
        return explicit
    if os.environ.get(HOME_ENV_VAR) or not (CHECKOUT_ENGINES / "README.md").is_file():
        if for_run:
            return cache_dir_for_run("engines", "engine", "engines are built each run")
        return user_dir("engines", "cache")
    return CHECKOUT_ENGINES


def placing_setting() -> str:
    """The variable that placed the engine cache (`engines_dir`), for a message saying what to check
    ("; check $REALTIME_ADAIN_ENGINES"); for the checkout's `engines/` the one that would move it."""
    if not os.environ.get(ENGINES_ENV_VAR) and (os.environ.get(HOME_ENV_VAR) or not (CHECKOUT_ENGINES / "README.md").is_file()):
        return deciding_setting("cache")  # ($REALTIME_ADAIN_HOME, else $XDG_CACHE_HOME or $HOME)
    return f"${ENGINES_ENV_VAR}"


def cache_is_named() -> bool:
    """Whether $REALTIME_ADAIN_ENGINES or $REALTIME_ADAIN_HOME names the engine cache: a run uses
    that folder or fails, never swapping it for a temporary one (`EngineCache.for_run`, `doctor`)."""
    return bool(os.environ.get(ENGINES_ENV_VAR) or os.environ.get(HOME_ENV_VAR))


def inside_engine_cache(path: str | os.PathLike) -> bool:
    """Whether `path` is in the engine cache, whose files are inputs too (a file written there
    replaced or changed an engine or its sidecar); False where no cache folder can be had."""
    from realtime_adain.file_identity import is_inside

    try:
        cache = engines_dir()
    except UserError:
        return False
    return is_inside(path, cache)


def cache_key(components: Mapping[str, str]) -> str:
    """A digest that changes when any component changes (order-independent)."""
    text = json.dumps({k: str(v) for k, v in components.items()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Entry:
    """One cached engine: its file, sidecar and the components it was built for."""

    path: Path
    components: dict[str, str]

    @property
    def sidecar(self) -> Path:
        return self.path.with_name(self.path.name + SIDECAR_SUFFIX)

    @property
    def digest_file(self) -> Path:
        return self.path.with_name(self.path.name + DIGEST_SUFFIX)

    @property
    def size(self) -> int:
        """The bytes the entry takes in the cache: a link's own, never its target's (a link to
        /etc/passwd listed that file's size), and of a sparse file those on disk, not its length
        (a `truncate -s 50G` file named like an engine made `doctor` say 50 GB of engines)."""
        try:
            status = self.path.lstat()
        except OSError:
            return 0
        if stat.S_ISREG(status.st_mode) and hasattr(status, "st_blocks"):  # (Windows has no st_blocks)
            return min(status.st_size, status.st_blocks * 512)
        return status.st_size


class CacheUnwritable(UserError):
    """The cache folder cannot take a build: not writable, not creatable, or full."""


class EngineCache:
    """Find, build and store engines in one directory.

    `fallback`: a build that the folder cannot take (a read-only or full home) goes into a
    temporary folder for this run instead, said in one note: the engine is a speed-up of this run.
    """

    def __init__(self, directory: str | os.PathLike | None = None, fallback: bool = False) -> None:
        self.directory = Path(directory) if directory else engines_dir()
        self.fallback = fallback

    @classmethod
    def for_run(cls, fallback: bool = False) -> "EngineCache":
        """The default cache of an engine that builds and loads (see `engines_dir`); `fallback` as
        above, never for a folder $REALTIME_ADAIN_ENGINES or $REALTIME_ADAIN_HOME names (it is
        used or refused, never swapped)."""
        return cls(engines_dir(for_run=True), fallback=fallback and not cache_is_named())

    @classmethod
    def of_engine(cls, cache: "EngineCache | None" = None) -> "EngineCache":
        """The cache an engine of a run builds into: `cache`, else the default one with `fallback`.
        Its build is a speed-up: a read-only or full home costs this run the build's time (a
        temporary folder), not the run (`export` itself fills the cache: no fallback)."""
        return cache or cls.for_run(fallback=True)

    def entry(self, components: Mapping[str, str], suffix: str) -> Entry:
        """Where the engine for these components lives (whether or not it exists yet)."""
        components = {k: str(v) for k, v in components.items()}
        readable = "-".join(components.get(part, "any") for part in ("kind", "precision", "shape"))
        name = f"{readable}-{cache_key(components)}{suffix}"
        return Entry(self.directory / name, components)

    def is_valid(self, entry: Entry) -> bool:
        """True only when the file exists, its sidecar names exactly the same components and it
        holds the bytes it was built with."""
        if not entry.path.is_file():
            return False
        try:
            stored = json.loads(_small_text(entry.sidecar))
            digest, *size = _small_text(entry.digest_file).split()
            actual = entry.path.stat().st_size  # (a link's target's: a link to an engine loads it)
        except (OSError, ValueError, RecursionError, UserError):  # (JSON nested past the parser's stack)
            return False
        if stored != entry.components or size not in ([], [str(actual)]):  # (older versions: no size)
            return False
        return digest == _file_digest(entry.path)

    def matches_build(self, entry: Entry) -> bool:
        """Whether a listed entry (its components read from its sidecar) is one a run would load:
        named for those components, `is_valid` (`engines list` showed a damaged export as sound
        while `live` and `doctor` rebuilt it) and, for an ONNX export, made for them by its own
        record (one of `export -o`, or of other weights with a digest made to match, was shown
        sound and taken by 'auto', which then exported again)."""
        if entry.path.name != self.entry(entry.components, entry.path.suffix).path.name or not self.is_valid(entry):
            return False
        if entry.path.suffix == ".onnx":
            from realtime_adain.engines.onnx import export_usable

            return export_usable(entry.path, entry.components)
        return True

    def get_or_build(
        self,
        components: Mapping[str, str],
        suffix: str,
        build: Callable[[Path], None],
        load: Callable[[Path], object],
        rebuild: bool = False,
    ) -> tuple[object, bool]:
        """Load the cached engine, or build it (into a temporary file, renamed on success).

        Returns (engine, built). A file that fails to load is treated as stale and rebuilt.
        """
        entry = self.entry(components, suffix)
        if not rebuild and self.is_valid(entry):
            try:
                return load(entry.path), False
            except Exception:  # a damaged or incompatible file: rebuild it below
                pass
        entry = self.store(entry, build)
        return load(entry.path), True

    def store(self, entry: Entry, build: Callable[[Path], None]) -> Entry:
        """Run `build(tmp_path)` and move the result and its sidecar into place atomically; the
        entry where it went (with `fallback`, perhaps a temporary folder's)."""
        try:
            return self._store(entry, build)
        except CacheUnwritable as exc:
            if not self.fallback:
                raise
            reason = str(exc)
        folder = temporary_cache("engines", f"{reason}; this run builds its engine in a temporary folder")
        try:
            return EngineCache(folder)._store(Entry(folder / entry.path.name, entry.components), build)
        except CacheUnwritable as exc:
            raise UserError(f"{reason}; nor could a temporary folder take it ({exc})") from None

    def _store(self, entry: Entry, build: Callable[[Path], None]) -> Entry:
        if blocking := in_the_way(entry):  # refused before a build of minutes, not after it
            raise UserError(f"{blocking[0]}: in the engine cache but not a file we wrote (a folder, fifo or "
                            f"device); move it away")
        try:
            check_writable_dir(self.directory, "the engine cache")  # a file, a read-only place, /proc
        except UserError as exc:
            raise CacheUnwritable(str(exc)) from None
        try:
            make_folders(self.directory)  # (a command that fails then removes it where left empty)
            # builds of killed runs (never trusted, but as large as an engine), which only `engines clear`
            # removed; one of another machine or container sharing the folder, once a day untouched
            remove_stale(self.directory, folders=BUILD_DIR, after_s=STALE_UNKNOWN_AFTER_S)
            tmp_dir = Path(tempfile.mkdtemp(prefix=f"{BUILD_PREFIX}{process_tag()}-", dir=self.directory))
        except OSError as exc:
            raise CacheUnwritable(f"{self.directory}: cannot create the engine cache ({why_not_writable(exc)})") from None
        held = folder_handle(self.directory)  # (tells the cache folder from one made anew in its place)
        writing = entry.path  # the file named should this fail
        placed = False
        try:
            tmp_path = tmp_dir / entry.path.name
            build(tmp_path)
            # The sidecars are written beside the build before anything is renamed into place: a disk
            # filled by them left a 28 MB engine no run would load (no sidecar), keeping the disk full.
            length = tmp_path.stat().st_size  # (what `is_valid` compares: not `entry.size`, the bytes on disk)
            sidecars = ((entry.digest_file, f"{_file_digest(tmp_path)} {length}\n"),  # the sidecar last
                        (entry.sidecar, json.dumps(entry.components, indent=2, sort_keys=True)))
            for writing, text in sidecars:
                (tmp_dir / writing.name).write_text(text)
            writing = entry.path
            entry.sidecar.unlink(missing_ok=True)  # never leave a sidecar that vouches for an old file
            os.replace(tmp_path, entry.path)
            placed = True
            for writing, _ in sidecars:
                os.replace(tmp_dir / writing.name, writing)
        except OSError as exc:  # a full disk's ENOSPC names no file, the build's names a hidden one
            if placed:  # an engine without its sidecar is never loaded: it would only take room
                for path in (entry.path, entry.digest_file):
                    with contextlib.suppress(OSError):
                        path.unlink(missing_ok=True)
            if isinstance(exc, FileNotFoundError) and not tmp_dir.is_dir():  # (`rm -rf` of the home, `engines clear`)
                raise CacheUnwritable(str(lost_during_run(entry.path, tmp_dir, "the build's temporary folder",
                                                          self.directory, held, "the engine cache"))) from None
            if exc.filename is not None and not os.fsdecode(exc.filename).startswith(str(tmp_dir)):
                raise
            error = naming(writing, exc)
            raise (CacheUnwritable(str(error)) if exc.errno in NO_ROOM else error) from None
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            if held is not None:
                os.close(held)
        return entry

    def entries(self) -> list[Entry]:
        """Every engine file (or link, even a dangling one) in the cache with its components ({}
        when the sidecar is missing)."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.iterdir()):
            if not _removable(path) or not ENGINE_FILE.match(path.name):
                continue
            found.append(Entry(path, _components(path.with_name(path.name + SIDECAR_SUFFIX))))
        return found

    def clear(self) -> tuple[int, int]:
        """Delete our engines, their sidecars (also those whose engine is gone) and leftover builds,
        nothing else; (engines, bytes). A file that cannot go (a read-only cache) is named in a
        `UserError` with how many engines went, once every other file was tried: a sidecar's
        "Read-only file system" alone left the user guessing whether any engine was removed."""
        if not self.directory.is_dir():
            return 0, 0
        entries = self.entries()
        count, size = len(entries), sum(entry.size for entry in entries)  # (before they go)
        ours = [path for path in self.directory.iterdir() if _removable(path) and _named_ours(path.name)]
        kept: list[tuple[Path, OSError]] = []
        # (the engines first: where one cannot go, it is the file named)
        for path in sorted(ours, key=lambda path: (not ENGINE_FILE.match(path.name), path.name)):
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                kept.append((path, exc))
        remove_stale(self.directory, folders=BUILD_DIR, after_s=ANY_AGE, unknown_after_s=ANY_AGE)  # also unnamed ones
        self._name_unjudged_builds()
        if kept:
            path, exc = kept[0]
            removed = sum(not os.path.lexists(entry.path) for entry in entries)
            went = f"{removed} of {count} engine{'s' if count != 1 else ''} removed" if count else "no engines cached"
            raise UserError(f"cannot remove {path} ({exc.strerror or exc}); {went}")
        return count, size


    def _name_unjudged_builds(self) -> None:
        """Name each build `clear` left because its writer cannot be looked up (of another container or
        machine sharing the cache, perhaps building, and under a day untouched): left without a word,
        `clear` said 0.0 MB removed of a cache holding 96 MB."""
        with contextlib.suppress(OSError):
            for entry in sorted(os.scandir(self.directory), key=lambda entry: entry.name):
                match = BUILD_DIR.fullmatch(entry.name)
                if match and match["pid"] is not None and not of_this_space(match):
                    with contextlib.suppress(OSError):
                        name_unjudged(entry.path, "left: an interrupted build", "; remove it by hand if no build "
                                      "runs there (untouched a day, the next build removes it)")


def _file_digest(path: Path) -> str | None:
    from realtime_adain.weight_digests import file_sha256  # torch: engines are built and loaded with it anyway

    try:
        return file_sha256(path)
    except UserError:  # unreadable: never a match
        return None


def in_the_way(entry: Entry) -> list[Path]:
    """The files of `entry` the cache cannot replace (folders, fifos, devices), for `_store`,
    doctor and the ONNX lookup alike."""
    return [path for path in (entry.path, entry.sidecar, entry.digest_file) if not replaceable(path)]


def replaceable(path: Path) -> bool:
    """Whether `path` is absent, a regular file or a symbolic link: what the cache may replace or
    delete (a link itself, never what it points to). Public so `doctor` reports as a problem
    exactly what `EngineCache.store` would refuse, by the same test."""
    return path.is_symlink() or not path.exists() or path.is_file()


def _named_ours(name: str) -> bool:
    """Whether `name` is an engine's or one of its sidecars' (an orphan sidecar too)."""
    return any(name.endswith(end) and ENGINE_FILE.match(name[:len(name) - len(end)])
               for end in ("", SIDECAR_SUFFIX, DIGEST_SUFFIX))


def _removable(path: Path) -> bool:
    """Whether `path` is a regular file or a symbolic link (a dangling one too): what `engines
    clear` deletes (a link itself, never what it points to; a folder or fifo of that name stays)."""
    return path.is_symlink() or path.is_file()


def _small_text(path: Path) -> str:
    """A sidecar's text, read without blocking (a fifo put there) and never more than
    MAX_SIDECAR_BYTES (a huge file is refused with a ValueError, as damaged JSON is)."""
    with open_regular(path) as handle:
        data = handle.read(MAX_SIDECAR_BYTES + 1)
    if len(data) > MAX_SIDECAR_BYTES:
        raise ValueError(f"{path}: larger than any sidecar we write")
    return data.decode()


def _components(sidecar: Path) -> dict[str, str]:
    """What a sidecar says an engine was built for; {} when it is missing, unreadable or not a
    JSON object of strings, as the cache writes (a damaged or foreign file must not break `engines
    list`; `{"kind": 5, "precision": {"a": 1}}` was listed as `5  {'a': 1}`)."""
    try:
        stored = json.loads(_small_text(sidecar)) if sidecar.is_file() else {}
    except (OSError, ValueError, RecursionError, UserError):  # RecursionError: nested past the parser's stack
        return {}
    if not isinstance(stored, dict) or not all(isinstance(value, str) for value in stored.values()):
        return {}
    return stored
