"""`realtime-adain engines list|clear`: see and empty the engine cache."""

from __future__ import annotations

import argparse
import json

from realtime_adain.commands.common import JsonOnStdout, say
from realtime_adain.errors import UserError, one_line
from realtime_adain.utf8_names import names_as_utf8
from realtime_adain.writable_folders import dead_link, file_in_the_way, why_dead


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "engines", help="list or clear cached engines",
        description="Engines (TensorRT builds, ONNX exports) are cached in $REALTIME_ADAIN_ENGINES, else "
                    "$REALTIME_ADAIN_HOME/engines, else the checkout's engines/ (run from a source checkout, "
                    "pip install -e), else the per-user cache directory; `engines list` names the one in use.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="show cached engines and what they were built for")
    listing.add_argument("--json", action=JsonOnStdout, one_object="engines.json", help="print JSON instead of a table")
    listing.set_defaults(func=list_engines, prints_result=True)
    clearing = actions.add_parser("clear", help="delete every cached engine (they are rebuilt on demand)")
    clearing.set_defaults(func=clear_engines, prints_result=True)


def existing_cache():
    """The engine cache, refused when its path names a file (a mistyped variable, named): "no engines
    cached" or "removed 0 engines" would hide the mistake."""
    from realtime_adain.engines.cache import EngineCache, placing_setting  # the engines package loads torch

    cache = EngineCache()
    check = f"; check {placing_setting()}"
    blocking = file_in_the_way(cache.directory)
    if blocking == cache.directory:
        raise UserError(f"{cache.directory}: the engine cache is not a folder (a file or device is there{check})")
    if blocking is not None:
        kind = "a file" if blocking.is_file() else "a device, fifo or socket"  # ($REALTIME_ADAIN_HOME=/dev/null)
        raise UserError(f"{cache.directory}: the engine cache cannot be there ({blocking} is {kind}, not a folder{check})")
    if (link := dead_link(cache.directory)) is not None:  # a loop, or a drive no longer mounted
        raise UserError(f"{cache.directory}: the engine cache cannot be there ({why_dead(link)}{check})")
    return cache


def list_engines(args: argparse.Namespace) -> int:
    cache = existing_cache()
    entries = cache.entries()
    if args.json:
        # (the sidecar's components first: one naming "path" or "bytes" does not replace what is measured)
        rows = [{**e.components, "path": str(e.path), "bytes": e.size, "matches_build": cache.matches_build(e)}
                for e in entries]
        say(json.dumps(names_as_utf8({"directory": str(cache.directory), "engines": rows}), indent=2))
        return 0
    say(one_line(f"engine cache: {cache.directory}"))
    if not entries:
        say("no engines cached")
        return 0
    say(f"{'kind':<9} {'precision':<9} {'shape':<16} {'MB':>7}  built for")
    for entry in entries:
        c = {key: shown(value) for key, value in entry.components.items()}
        where = c.get("gpu") or "cpu"
        versions = ", ".join(f"{k} {c[k]}" for k in ("tensorrt", "torch_tensorrt", "onnx", "torch") if k in c)
        said = ", ".join(part for part in (f"weights {c.get('weights', '?')}", where, versions) if part)
        if not c:  # (its file's name, the one thing that tells such rows apart: nine damaged ones were nine "? ? ?")
            built_for = f"{shown(entry.path.name)} (no readable metadata: will be rebuilt)"
        elif not cache.matches_build(entry):  # the check `live` and `doctor` make before loading it
            built_for = f"(does not match the record of its build: will be rebuilt) {said}"
        else:
            built_for = said
        say(f"{c.get('kind', '?'):<9} {c.get('precision', '?'):<9} {c.get('shape', '?'):<16} "
              f"{entry.size / 1e6:>7.1f}  {built_for}")
    return 0


def shown(value: str, limit: int = 80) -> str:
    """A sidecar's value as one table cell: a damaged or foreign sidecar's 10 MB string, or one with
    newlines, must not bury or break the table (--json gives the values as they are)."""
    value = one_line(value)
    return value if len(value) <= limit else value[:limit - 3] + "..."


def clear_engines(args: argparse.Namespace) -> int:
    cache = existing_cache()
    count, size = cache.clear()
    done = one_line(f"removed {count} engine{'s' if count != 1 else ''} ({size / 1e6:.1f} MB) from {cache.directory}")
    say(done, after=f"; {done}")  # (they are gone all the same: `>/dev/full` said only that stdout failed)
    return 0
