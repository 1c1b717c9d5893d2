"""Output checks made before any compute: what `-o` names (one file or a folder), `--ext`, and
outputs refused where they would overwrite an input, an earlier result or each other."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Sequence

from realtime_adain.errors import UserError, one_line, quoted
from realtime_adain.file_identity import entry_key, file_identity, folded, real_path, same_entry
from realtime_adain.imageio import WRITABLE_EXTENSIONS
from realtime_adain.output_paths import writable_target
from realtime_adain.video.sequence import files_of, names_a_picture, pattern_directive


def numbered_pictures_hint(suffix: str) -> str:
    """For a video output named with a picture's extension (`-o x.png`): the form that writes the
    frames as numbered pictures, which neither "unknown format" line named."""
    return f"; numbered pictures: -o 'NAME_%04d{suffix}'" if suffix.lower() in WRITABLE_EXTENSIONS else ""


def output_is_one_file(output: str, known_format: Callable[[Path], bool], results: int, what: str,
                       formats: Sequence[str] = ()) -> bool:
    """Whether `-o` names one file (a known format) rather than a directory of results.

    `-o out.gif` is a mistyped format far more often than a new folder with a dot in its name,
    so an unknown extension is an error (listing the `formats` written) unless the path ends with a slash
    (or '/.': `folder_ending`); so is a name that is only a known extension (`-o .png`) or ends with a
    dot (`-o out.`). An existing device or open descriptor is refused as what it is, not taken for a folder.
    """
    out = Path(output)
    folder = folder_ending(output)
    if folder and out.exists() and not out.is_dir():
        kind = "a file" if out.is_file() else "a device, fifo or socket"  # (`-o /dev/null/`: not "a file")
        raise UserError(f"{output}: ends with {folder} (a folder), but {out} is {kind}")
    if not folder and out.exists() and not out.is_dir():  # (a device, an open descriptor: not a folder either)
        writable_target(out)  # refused as what it is: `-o /dev/stdout` was "not writable (it is a file, not a folder)"
    if known_format(out) and not out.is_dir() and not folder:
        if results > 1:
            raise UserError(f"{out}: {results} results to write; give a directory as -o")
        return True
    if out.is_dir() or folder:
        return False
    written = f"written: {' '.join(formats)}{numbered_pictures_hint(out.suffix) if what == 'video' else ''}; " \
        if formats else ""
    if out.suffix:
        raise UserError(f"{out}: unknown {what} format '{out.suffix}' ({written}to make a folder of that name, "
                        "end it with /)")
    # (Path.suffix is '' for these: `-o .png` and `-o out.` quietly made folders)
    if known_format(Path(f"out{out.name}")):
        raise UserError(f"{out}: a name that is only an extension; name the file (e.g. out{out.name}), or to make a "
                        "folder of that name, end it with /")
    if out.name.endswith(".") and out.name != "..":
        raise UserError(f"{out}: ends with '.', no format after it ({written}to make a folder of that name, "
                        "end it with /)")
    return False


def folder_ending(output: str) -> str:
    """How `-o` says it names a folder ('/', '/.' or '/..'), or '' where it does not: a slash, or
    '.' or '..' as its last name, always means a folder (Path drops a trailing '/' and '/.', so
    `-o out.png/` and `-o out.png/.` wrote a file out.png)."""
    if output.endswith(("/", os.sep)):
        return "/"
    last = os.path.basename(output)
    return f"/{last}" if last in (os.curdir, os.pardir) else ""


def output_extension(text: str, formats: Sequence[str] = (".png", ".jpg")) -> str:
    """'--ext png' or '.png' -> '.png'; an empty name or one with a folder in it is refused
    (naming the first of `formats`, the extensions written, as examples)."""
    name = text.strip().lstrip(".")
    if not name or not all(c.isalnum() or c in "_-+" for c in name):  # no folder, dot, space or newline
        examples = " or ".join(ext.lstrip(".") for ext in formats[:2])
        raise UserError(f"--ext {quoted(one_line(text))}: give a format's extension, such as {examples}")
    return "." + name


def refuse_earlier_results(made_from: Iterable[tuple[Path, Path]], inputs: Iterable[Path]) -> None:
    """An output (source, output pairs) that is another input of the run: an earlier result found
    in a folder that holds both the inputs and the outputs (`video clips/ -o clips/` run twice),
    said as that; "output would overwrite an input" left the user wondering which input."""
    found = {real_path(p): p for p in inputs}
    for source, output in made_from:
        earlier = found.get(real_path(output))
        if earlier is not None and real_path(earlier) != real_path(source):
            _refuse_earlier_result(output)


def refuse_results_read_back(outputs: Iterable[Path], inputs: Iterable[Path], given: Iterable[str]) -> None:
    """An input found in a folder (not named itself) that lies where the results go and is named as
    a result is (SOURCE_stylized_NAME.EXT): an earlier run's result, which `image f/ -o f/` run again
    stylized once more (x_stylized_a_stylized_a.png), and `-o styles/` took for a style. Refused as
    `refuse_earlier_results` refuses one that a result would replace; one named is the user's wish."""
    named = {real_path(path) for path in given}
    folders = {real_path(output.parent) for output in outputs}
    for path in inputs:
        stem, mark, _ = Path(path).name.partition("_stylized_")
        if stem and mark and real_path(Path(path).parent) in folders and real_path(path) not in named:
            _refuse_earlier_result(Path(path))


def _refuse_earlier_result(path: Path) -> None:
    raise UserError(f"{path}: an earlier result, found among the inputs ({path.parent} holds both); give "
                    "-o another folder, or move the earlier results away")


def refuse_overwriting_inputs(outputs: Iterable[Path], inputs: Iterable[Path]) -> None:
    """Before any work: no output may replace an input, nor name a folder, device, fifo or socket
    (which the finished file would replace, `output_paths.writable_target`)."""
    inputs = list(inputs)
    resolved_inputs = {real_path(p) for p in inputs}
    input_entries = {entry_key(p) for p in inputs} - {None}
    input_files = {file_identity(p) for p in inputs} - {None}
    # Only an image-sequence pattern names a picture: each output was asked of every input (a folder
    # of 3000 photos checked 9 million pairs, minutes before any work, without a word).
    patterns = [Path(source) for source in inputs if pattern_directive(Path(source).name)]
    files: list[Path] | None = None  # the inputs' files, a pattern's pictures among them: listed once
    for path in outputs:
        if (real_path(path) in resolved_inputs or entry_key(path) in input_entries
                or file_identity(path) in input_files):
            raise UserError(f"{path}: output would overwrite an input")
        if any(names_a_picture(pattern, Path(path)) for pattern in patterns):
            raise UserError(f"{path}: output would overwrite a picture of an image-sequence input")
        if pattern_directive(Path(path).name):  # numbered pictures: none may be an input's file
            files = files_of(inputs) if files is None else files
            if any(names_a_picture(Path(path), file) for file in files):
                raise UserError(f"{path}: its numbered pictures would overwrite an input")
            continue
        writable_target(Path(path))


def refuse_shared_outputs(outputs: Sequence[Path], sources: Sequence[tuple[Path, ...]]) -> None:
    """Refuse before any work when two jobs would write one file (a/photo.jpg and b/photo.jpg, or
    photo.jpg and photo.png with --ext jpg, or Photo.jpg and photo.jpg where the file system ignores
    case): the second would silently replace the first."""
    seen: dict[object, int] = {}  # entry keys, or real paths where the folder does not exist yet
    for index, path in enumerate(outputs):
        key = entry_key(path) or folded(str(real := real_path(path)), real.parent)
        if key in seen:
            first, second = sources[seen[key]], sources[index]
            if first[0] != second[0]:  # the contents differ: they say it all (else show the styles too)
                first, second = first[:1], second[:1]
            names = [" + ".join(map(str, inputs)) for inputs in (first, second)]
            if all(same_entry(a, b) for a, b in zip(first, second, strict=True)):  # (renaming one made no sense)
                also = "" if names[0] == names[1] else f" (also as {names[1]})"
                raise UserError(f"{names[0]} is given twice{also}: give each once")
            raise UserError(f"{names[0]} and {names[1]} would both be written to {path}; "
                            "rename one or stylize them in separate runs")
        seen[key] = index
