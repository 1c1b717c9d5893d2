"""The docs as a new user reads them: every command they show parses, every link resolves, every
extra they name exists, and their Python runs (docs/api.md's blocks run in tests/test_api.py)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from realtime_adain.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
RUN_PYTHON = [REPO / "README.md", REPO / "docs" / "engines.md", REPO / "docs" / "temporal.md"]  # api.md: tests/test_api.py


def placeholders(page: Path) -> dict:
    """The names a page's blocks take as given (temporal.md's frames, stylizer and writer)."""
    if page.name != "temporal.md":
        return {}
    import numpy as np
    import torch

    import realtime_adain as ra

    rng = np.random.default_rng(0)
    contents = [np.roll(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), 2 * t, axis=1) for t in range(4)]
    stylized_frames = [255 - content for content in contents]
    return {"frames_in_display_order": list(zip(contents, stylized_frames)), "contents": contents,
            "stylized_frames": stylized_frames, "write": lambda frame: None,
            "stylizer": ra.Stylizer.load(device="cpu"), "images": torch.rand(2, 3, 32, 48)}


def blocks(page: Path, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", page.read_text(encoding="utf-8"), re.S | re.M)


def commands(page: Path) -> list[tuple[str, list[str]]]:
    """(program, argv) of each `realtime-adain`, tools/train.py and tools/evaluate.py line in the
    page's bash blocks (continuations joined, comments dropped, an ssh's quoted command opened)."""
    found = []
    for block in blocks(page, "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            words = [w for word in words for w in (shlex.split(word) if " " in word else [word])]
            for command in re.split(r"\x00(?:&&|\|\||;|\|)\x00", "\x00".join(["", *words, ""])):
                parts = [w for w in command.split("\x00") if w]
                for program in ("realtime-adain", "tools/train.py", "tools/evaluate.py"):
                    if program in parts:
                        found.append((program, parts[parts.index(program) + 1:]))
    return found


def tool_parser(name: str):
    spec = importlib.util.spec_from_file_location(f"docs_{name}", REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_parser()


DOC_COMMANDS = [(page.name, program, argv) for page in PAGES for program, argv in commands(page)]


def test_the_docs_show_commands():
    assert len(DOC_COMMANDS) > 60
    assert {program for _, program, _ in DOC_COMMANDS} == {"realtime-adain", "tools/train.py", "tools/evaluate.py"}


@pytest.mark.parametrize("page, program, argv", DOC_COMMANDS, ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_documented_command_parses(page, program, argv, capsys):
    """Every option a page shows exists with that spelling and accepts the value shown."""
    parser = build_parser(argv) if program == "realtime-adain" else tool_parser(Path(program).stem)
    try:
        parser.parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"{page}: `{program} {shlex.join(argv)}` is refused: {capsys.readouterr().err.strip()} (exit {exc.code})")


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as dashes."""
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#+\s+(.*)$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        seen[slug] = seen.get(slug, -1) + 1
        if seen[slug]:
            seen[f"{slug}-{seen[slug]}"] = 0
    return set(seen)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_resolve(page):
    broken = []
    for link in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", link):
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path) if path else page
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in anchors(target):
            broken.append(f"{link}: no such heading")
    assert not broken, f"{page.name}: {broken}"


def test_named_extras_exist():
    extras = set(importlib.metadata.metadata("realtime-adain").get_all("Provides-Extra"))
    named = {name for page in PAGES for name in re.findall(r"(?:\.|realtime-adain)\[([a-z-]+)\]", page.read_text(encoding="utf-8"))}
    assert named and named <= extras, f"extras the docs name but pyproject.toml lacks: {named - extras}"


@pytest.mark.parametrize("page", RUN_PYTHON, ids=lambda p: p.name)
@pytest.mark.slow_cases('engines.md')  # (default run's time: README.md and temporal.md stay)
def test_python_blocks_run(page, weights_env, docs_pictures, tmp_path, monkeypatch, one_thread):
    """Each page's `python` blocks, in order, in a folder holding the files they name."""
    monkeypatch.chdir(tmp_path)
    code = blocks(page, "python")
    assert code, f"{page.name} has no python block"
    namespace: dict = placeholders(page)
    for block in code:
        exec(compile(block, str(page), "exec"), namespace)
