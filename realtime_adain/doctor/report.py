"""The doctor's report: typed findings (`Finding`) in titled sections (`Section`) of a `Report`
(as text or JSON by `commands/doctor.py`); a library's probe made a finding (`guarded`), an
exception said in one line (`first_line`) and what makes a library that fails to import load
(`load_fix`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Literal

from realtime_adain.errors import imported_library, missing_system_library

Level = Literal["ok", "note", "problem"]


@dataclass(frozen=True)
class Finding:
    """One line of the report: `level` 'note' is a limitation, 'problem' needs action (`fix`)."""

    name: str
    value: str
    level: Level = "ok"
    fix: str | None = None


@dataclass(frozen=True)
class Section:
    title: str
    findings: list[Finding] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    version: str
    sections: list[Section]

    def problems(self) -> list[tuple[str, Finding]]:
        return [(s.title, f) for s in self.sections for f in s.findings if f.level == "problem"]

    def to_json(self) -> dict:
        return {
            "realtime_adain": self.version,
            "sections": {s.title: [asdict(f) for f in s.findings] for s in self.sections},
            "problems": [{"section": title, **asdict(f)} for title, f in self.problems()],
        }


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__


def guarded(name: str, probe: Callable[[], str | None], absent: str = "not installed") -> Finding:
    """`probe()` as a finding: None means not installed, an exception is reported as such."""
    try:
        value = probe()
    except Exception as exc:
        return Finding(name, f"installed but broken: {first_line(exc)}", "problem", load_fix(exc, name))
    return Finding(name, absent, "note") if value is None else Finding(name, value)


def load_fix(exc: BaseException, name: str) -> str:
    """How to make a library that fails to import load: install the system library it lacks (the
    package's files are all there), else reinstall it."""
    missing = isinstance(exc, ImportError) and missing_system_library(imported_library(exc), str(exc))
    return missing or f"reinstall {name} in this environment"
