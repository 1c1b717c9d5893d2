"""The layering docs/architecture.md promises: library code never sees the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "realtime_adain"
CLI_LAYER = ("commands", "benchmarks", "cli.py", "__main__.py")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_library_modules_import_no_argparse_and_no_commands():
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in CLI_LAYER:
            continue
        bad = {name for name in imported_modules(path)
               if name == "argparse" or name.startswith("realtime_adain.commands")}
        if bad:
            offenders[str(relative)] = sorted(bad)
    assert offenders == {}


def test_every_module_is_in_the_who_owns_what_table():
    """docs/architecture.md names each module, by its path or by its folder's row (`live/*`)."""
    table = [line for line in (PACKAGE.parent / "docs" / "architecture.md").read_text().splitlines()
             if line.startswith("| `")]
    named = {name for line in table for name in line.split("|")[1].replace("`", "").replace(",", " ").split()}
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        folder = relative.parts[0]
        if path.name == "__init__.py" or str(relative) == "__main__.py":
            continue
        if not ({str(relative), f"{folder}/*", f"{folder}/"} & named):
            missing.append(str(relative))
    assert missing == []
