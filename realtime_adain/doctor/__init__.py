"""What this installation can do, as typed findings a user can paste into a bug report.

Each check looks at one thing (versions, devices, engines, weights, caches, cameras, display) and
returns findings; `run_checks` runs them all and turns a check that raises into a finding of its
own, so a broken install (a library that fails to import, a damaged file) is reported, never a
crash. Probes that could hang (opening a camera or a window) run in a subprocess with a timeout.

The checks are this package's modules: `libraries` (versions), `hardware` (devices, engines),
`storage` (weights, caches, with `onnx_export` for the ONNX export's place in the engine cache)
and `probes` (cameras, display); `report` holds the findings' types.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Callable

from realtime_adain import __version__
from realtime_adain.doctor.hardware import devices, engine_support
from realtime_adain.doctor.libraries import versions
from realtime_adain.doctor.probes import cameras, display
from realtime_adain.doctor.report import Finding, Report, Section, first_line, load_fix
from realtime_adain.doctor.storage import caches, weight_files
from realtime_adain.errors import UserError, as_given, imported_library
from realtime_adain.output_paths import name_too_long


CHECKS: dict[str, Callable[[], list[Finding]]] = {
    "versions": versions,
    "devices": devices,
    "engines": engine_support,
    "weights": weight_files,
    "caches": caches,
    "cameras": cameras,
    "display": display,
}


def refused_finding(exc: OSError) -> Finding:
    """A check the file system refused, with what to do: a name too long for the system (a
    300-character $REALTIME_ADAIN_HOME) is quoted short with why, as `weights info` does, and
    asks for a shorter path, not for permissions."""
    if exc.errno == errno.ENAMETOOLONG and exc.filename:
        path = Path(exc.filename)
        return Finding("check failed", f"{as_given(path)}: {name_too_long(path) or 'file name too long'}", "problem",
                       "point the setting that names it at a shorter path")
    where = f"{exc.filename}: " if exc.filename else ""
    why = exc.strerror.lower() if exc.strerror else first_line(exc)
    return Finding("check failed", f"{where}{why}", "problem",
                   "make it readable and writable for this user, or point the setting that names it elsewhere")


def run_checks(checks: dict[str, Callable[[], list[Finding]]] | None = None) -> Report:
    """Every check; one that raises becomes a problem finding instead of ending the report."""
    sections = []
    for title, check in (CHECKS if checks is None else checks).items():
        try:
            findings = list(check())
        except UserError as exc:  # the setup, not a bug: no home folder (`docker run --user 1234`)
            findings = [Finding("check failed", str(exc), "problem", "fix the setting it names")]
        except OSError as exc:  # the file system refused (a folder this user cannot read): the setup, not a bug
            findings = [refused_finding(exc)]
        except ImportError as exc:  # a library that cannot load (OpenCV without libGL.so.1): the install, not a bug
            library = imported_library(exc)
            findings = [Finding("check failed", f"needs {library}, which cannot load: {first_line(exc)}", "problem",
                                load_fix(exc, library))]
        except Exception as exc:
            findings = [Finding("check failed", first_line(exc), "problem",
                                "this is a bug or a broken install: include this report in an issue")]
        sections.append(Section(title, findings))
    return Report(__version__, sections)
