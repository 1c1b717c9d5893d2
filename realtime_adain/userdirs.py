"""Where the tool keeps per-user files: downloaded weights, cached engines, style statistics.

One rule for all of them: $REALTIME_ADAIN_HOME/<name> when that variable is set (tests, portable
installs), else the platform's per-user data or cache directory (platformdirs).
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Literal

from realtime_adain.errors import UserError

HOME_ENV_VAR = "REALTIME_ADAIN_HOME"
APP_NAME = "realtime-adain"


def user_dir(name: str, kind: Literal["data", "cache"], home_name: str | None = None) -> Path:
    """`name` under $REALTIME_ADAIN_HOME (as `home_name` there, when it differs), else under the
    per-user data directory (kept: weights) or cache directory (rebuilt on demand)."""
    home = folder_setting(HOME_ENV_VAR)
    if home is not None:
        return home / (home_name or name)
    try:
        import platformdirs

        base = platformdirs.user_data_dir if kind == "data" else platformdirs.user_cache_dir
        path = Path(base(APP_NAME, appauthor=False))
        if not path.is_absolute():  # a relative $XDG_DATA_HOME/$XDG_CACHE_HOME, which the XDG spec says to ignore
            path = Path.home() / (".local/share" if kind == "data" else ".cache") / APP_NAME
    except (RuntimeError, KeyError):  # no $HOME and no home in the password database (`docker run --user 1234`)
        path = Path("~")
    if not path.is_absolute():  # (a relative $HOME: a folder named by where the command ran)
        raise UserError(f"no home folder to keep the {name} in: $HOME is unset or relative and this user has no "
                        f"home in the password database; set $HOME, or ${HOME_ENV_VAR} to a folder")
    return path / name


def folder_setting(variable: str) -> Path | None:
    """The folder the environment `variable` names (None: unset or empty), which must be absolute:
    a relative one was taken from where each command ran, so downloads and engines one command
    made were not found by the next."""
    value = os.environ.get(variable)
    if not value:
        return None
    path = expand_home(value, f" (from ${variable})")
    if not path.is_absolute():
        raise UserError(f"${variable} {value}: give an absolute path")
    return path


def cache_dir_for_run(name: str, what: str, without: str, home_name: str | None = None) -> Path:
    """The `name` cache folder, or for a user with no home (`docker run --user 1234`) a temporary
    one removed at exit, said in one note: a cache is a speed-up, and `live`, `serve` and an
    engine stopped for want of one. `without` says what the run costs then. A folder given by
    $REALTIME_ADAIN_HOME is used or refused, never replaced by a temporary one."""
    try:
        return user_dir(name, "cache", home_name)
    except UserError:
        if os.environ.get(HOME_ENV_VAR):
            raise
        return temporary_cache(name, f"no home folder for the {what} cache ($HOME unset): {without}")


@functools.cache  # one folder (and one note) a process
def temporary_cache(name: str, why: str) -> Path:
    """A `name` cache folder for this run only, removed at exit, and `why` said in one note: for
    a cache that cannot be where it belongs (no home; a home that is read-only or full)."""
    from realtime_adain.notes import note
    from realtime_adain.stale_temporaries import process_tag

    note(why)
    remove_stale_temporary_caches(name)
    path = Path(tempfile.mkdtemp(prefix=f"realtime-adain-{name}-{process_tag()}-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def remove_stale_temporary_caches(name: str) -> None:
    """Remove the `name` temporary caches of runs killed too hard to remove their own (SIGKILL, the
    OOM killer): this user's, their process gone and the folder untouched for `STALE_AFTER_S` (an
    ONNX export is tens of MB, often on a /tmp in memory); of another container's, a day untouched."""
    from realtime_adain.stale_temporaries import PROCESS_TAG, remove_stale

    pattern = re.compile(rf"realtime-adain-{re.escape(name)}-{PROCESS_TAG}-[a-z0-9_]{{8}}")
    remove_stale(Path(tempfile.gettempdir()), folders=pattern, mine_only=True)


def expand_home(text: str | os.PathLike, source: str = "") -> Path:
    """`text` as a path, a leading `~` or `~USER` made that home folder; `source` says where the
    path came from (" (from $REALTIME_ADAIN_ENGINES)"). A `~` that names no folder is one line:
    Path.expanduser raised RuntimeError for `~nosuchuser/x`, a traceback."""
    path = Path(text)
    try:
        return path.expanduser()
    except RuntimeError:
        head = path.parts[0]
        why = (f"there is no user {head[1:]!r}" if head != "~" else
               "$HOME is unset and this user has no home in the password database")
        raise UserError(f"{path}{source}: {head} names no home folder ({why}); write the path out in full") from None


def deciding_setting(kind: Literal["data", "cache"]) -> str:
    """The variable that placed the `kind` folders, for a message saying what to fix: a file at
    $XDG_DATA_HOME was blamed on $REALTIME_ADAIN_HOME, which was not set."""
    if os.environ.get(HOME_ENV_VAR):
        return f"${HOME_ENV_VAR}"
    xdg = "XDG_DATA_HOME" if kind == "data" else "XDG_CACHE_HOME"
    return f"${xdg}" if os.path.isabs(os.environ.get(xdg, "")) else "$HOME"


def weights_dir() -> Path:
    """The per-user directory the downloader fills (REALTIME_ADAIN_HOME overrides it)."""
    return user_dir("weights", "data")


def weights_dir_for_help() -> str:
    """The weights folder as argparse help text: `%` doubled (a $HOME holding "100%d" made
    `--help` a TypeError), and where no folder can be named, why (building the parser must not
    stop every command)."""
    try:
        text = str(weights_dir())
    except UserError as exc:
        text = f"none: {exc}"
    return text.replace("%", "%%")
