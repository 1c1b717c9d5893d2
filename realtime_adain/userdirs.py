"""Where the tool keeps per-user files: downloaded weights, cached engines, style statistics.

One rule for all of them: $REALTIME_ADAIN_HOME/<name> when that variable is set (tests, portable
installs), else the platform's per-user data or cache directory (platformdirs).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

HOME_ENV_VAR = "REALTIME_ADAIN_HOME"
APP_NAME = "realtime-adain"


def user_dir(name: str, kind: Literal["data", "cache"], home_name: str | None = None) -> Path:
    """`name` under $REALTIME_ADAIN_HOME (as `home_name` there, when it differs), else under the
    per-user data directory (kept: weights) or cache directory (rebuilt on demand)."""
    home = os.environ.get(HOME_ENV_VAR)
    if home:
        return Path(home).expanduser() / (home_name or name)
    import platformdirs

    base = platformdirs.user_data_dir if kind == "data" else platformdirs.user_cache_dir
    path = Path(base(APP_NAME, appauthor=False))
    if not path.is_absolute():  # a relative $XDG_DATA_HOME/$XDG_CACHE_HOME, which the XDG spec says to ignore
        path = Path.home() / (".local/share" if kind == "data" else ".cache") / APP_NAME
    return path / name


def weights_dir() -> Path:
    """The per-user directory the downloader fills (REALTIME_ADAIN_HOME overrides it)."""
    return user_dir("weights", "data")
