"""The session's event log: one parseable line per event, for people and for tests."""

from __future__ import annotations

import json
import os
import sys
import threading


class EventLog:
    """One parseable line per event, `live: EVENT key=value ...`, to stderr and optionally a file."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self._lock = threading.Lock()
        self.path = path
        self._file = open(path, "a", encoding="utf-8") if path else None

    @staticmethod
    def _value(value: object) -> str:
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        quoted = not text or any(c in text for c in ' "=\n')
        return json.dumps(text, ensure_ascii=False) if quoted else text  # "été.mp4", not "\u00e9t\u00e9.mp4"

    def __call__(self, event: str, **fields: object) -> None:
        line = " ".join([f"live: {event}"] + [f"{k}={self._value(v)}" for k, v in fields.items()])
        with self._lock:
            print(line, file=sys.stderr, flush=True)
            if self._file:
                try:
                    self._file.write(line + "\n")
                    self._file.flush()
                except OSError as exc:  # a full disk's ENOSPC names no file: name the log
                    raise OSError(exc.errno, exc.strerror, os.fspath(self.path)) from None

    def close(self) -> None:
        if self._file:
            self._file.close()
