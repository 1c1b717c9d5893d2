"""Input discovery and output checks made before any compute: never overwrite an input, fail early."""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Sequence

from realtime_adain.errors import UserError
from realtime_adain.imageio import WRITABLE_EXTENSIONS, is_image_path
from realtime_adain.notes import note
from realtime_adain.video.sequence import files_of, find_sequence, names_a_picture, pattern_directive


def expand_inputs(
    paths: Sequence[str | Path], what: str, accept: Callable[[Path], bool], noun: str = "images",
    sequences: bool = False,
) -> list[Path]:
    """Files as given, directories expanded to the files `accept` takes (sorted); with `sequences`,
    image-sequence patterns (`render/%04d.png`, video/sequence.py) as given. Errors name the culprit."""
    found: list[Path] = []
    for raw in paths:
        if not str(raw).strip():  # Path("") is the current folder: an unset shell variable, not a wish
            raise UserError(f"an empty {what} path (an unset variable?); give a file or directory")
        path = Path(raw)
        if path.is_dir():
            # Hidden files are skipped: macOS's ._NAME companions, and our own temporaries (atomic.py).
            visible = [p for p in path.iterdir() if not p.name.startswith(".")]
            entries = [p for p in visible if accept(p)]
            # In the byte order of the names, as `ls` in the C locale (and README) lists them: sorted as
            # text, a name that is not UTF-8 (its bytes as surrogates) came after every CJK one.
            matches = sorted((p for p in entries if p.is_file()), key=os.fsencode)
            odds = (p for p in entries if not p.is_file() and not p.is_dir())
            for odd in sorted(odds, key=os.fsencode):  # never opened: a FIFO blocks
                note(f"{odd}: left out, {_not_usable(odd, what)}", once=True)
            odd_endings = {p: why for p in visible if (why := _odd_ending(p, accept)) and p.is_file()}
            for odd in sorted(odd_endings, key=os.fsencode):
                note(f"{odd}: left out, {odd_endings[odd]} (rename it to include it)", once=True)
            if not matches:
                raise UserError(f"{path}: no {noun} in this {what} directory")
            found += matches
        elif path.is_file() or (sequences and find_sequence(path)):
            if reason := _odd_ending(path, accept):  # (read all the same: by its contents)
                note(f"{path}: {reason}, so {Path(path.name.rstrip(' .')).suffix!r} is not taken as its extension",
                     once=True)
            found.append(path)
        else:
            raise UserError(f"{path}: {_not_usable(path, what)}")
    return found


def _odd_ending(path: Path, accept: Callable[[Path], bool]) -> str | None:
    """Why a name `accept` would take but for the spaces or dots after it is not taken (`a.jpg `,
    a slip of a script or an unzipped Windows name): its extension is not `.jpg`, and a folder
    run left it out without a word. None for any other name."""
    trimmed = path.name.rstrip(" .")
    if trimmed == path.name or not trimmed or accept(path) or not accept(path.with_name(trimmed)):
        return None
    return f"its name ends in {'a space' if path.name.endswith(' ') else 'a dot'}"


def _not_usable(path: Path, what: str) -> str:
    """Why a path that is neither a file nor a folder cannot be read: a device or a pipe exists
    (`video /dev/stdin < clip.mp4` works, that is the file; `cat clip.mp4 | video /dev/stdin`
    cannot: every input is opened twice, checked first, and most formats seek)."""
    a_what = f"{'an' if what[0] in 'aeiou' else 'a'} {what} file or directory"
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"a symbolic link loop, not {a_what}"
        if str(path) == "-":  # (as FFmpeg writes standard input)
            return "standard input cannot be read: every input is read more than once; save it to a file first"
        if path.is_symlink():  # (not "no such file": `ls` shows the link)
            return dead_link_is(path)
        return f"no such {what} file or directory"
    pipe = " (a pipe is read more than once: save it to a file first)" if stat.S_ISFIFO(mode) else ""
    return f"a device, fifo or socket, not {a_what}{pipe}"


def expand_images(paths: Sequence[str | Path], what: str) -> list[Path]:
    return expand_inputs(paths, what, is_image_path)


def numbered_pictures_hint(suffix: str) -> str:
    """For a video output named with a picture's extension (`-o x.png`): the form that writes the
    frames as numbered pictures, which neither "unknown format" line named."""
    return f"; numbered pictures: -o 'NAME_%04d{suffix}'" if suffix.lower() in WRITABLE_EXTENSIONS else ""


def output_is_one_file(output: str, known_format: Callable[[Path], bool], results: int, what: str,
                       formats: Sequence[str] = ()) -> bool:
    """Whether `-o` names one file (a known format) rather than a directory of results.

    `-o out.gif` is a mistyped format far more often than a new folder with a dot in its name,
    so an unknown extension is an error (listing the `formats` written) unless the path ends with a slash;
    so is a name that is only a known extension (`-o .png`) or ends with a dot (`-o out.`).
    """
    out = Path(output)
    folder = output.endswith(("/", os.sep))  # (a slash always means a folder: `-o out.png/` wrote a file out.png)
    if folder and out.exists() and not out.is_dir():
        raise UserError(f"{output}: ends with / (a folder), but {out} is a file")
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


def output_extension(text: str, formats: Sequence[str] = (".png", ".jpg")) -> str:
    """'--ext png' or '.png' -> '.png'; an empty name or one with a folder in it is refused
    (naming the first of `formats`, the extensions written, as examples)."""
    name = text.strip().lstrip(".")
    if not name or not all(c.isalnum() or c in "_-+" for c in name):  # no folder, dot, space or newline
        examples = " or ".join(ext.lstrip(".") for ext in formats[:2])
        raise UserError(f"--ext {text!r}: give a format's extension, such as {examples}")
    return "." + name


def entry_key(path: str | os.PathLike) -> tuple[int, int, str] | None:
    """The directory entry `path` names, its links followed, as (device, inode of its folder, name);
    None where the folder does not exist. Two paths with one key are one file to replace: a bind
    mount (or a second mount of one file system) gives a folder two real paths, and `-o
    bind/in.mp4` replaced `same/in.mp4`. (A hard link's other name is another entry: renaming over
    it leaves the file behind it alone, and breaks the link: `file_identity` tells that.)"""
    real = real_path(path)
    try:
        folder = os.stat(real.parent)
    except OSError:
        return None
    return folder.st_dev, folder.st_ino, os.path.normcase(real.name)  # (Windows: any case is one name)


def file_identity(path: str | os.PathLike) -> tuple[int, int] | None:
    """The regular file `path` leads to, links followed, as (device, inode); else None. An output
    that is a hard link of an input is that input under another name (`-o hl.mp4` after `ln in.mp4
    hl.mp4`): its result silently broke the link, where a symbolic link was refused."""
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        return None
    return (status.st_dev, status.st_ino) if stat.S_ISREG(status.st_mode) else None


def same_entry(first: str | os.PathLike, second: str | os.PathLike) -> bool:
    """Whether writing `first` would replace `second`: one real path, or one `entry_key`."""
    key = entry_key(first)
    return real_path(first) == real_path(second) or (key is not None and key == entry_key(second))


def real_path(path: str | os.PathLike) -> Path:
    """`path` with its links followed; a link loop stays as it is (Path.resolve raises RuntimeError
    on one in Python 3.11, a traceback)."""
    return Path(os.path.realpath(path))


def is_inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """Whether `path` is somewhere under `folder`, links followed in both (a cache's files are
    inputs: a file written there replaced or changed one)."""
    return real_path(folder) in real_path(path).parents


def name_text(text: str | os.PathLike) -> str:
    """A path, or a message naming one, as JSON carries it: a name's bytes read as UTF-8 whatever
    the locale (under `LC_ALL=C PYTHONUTF8=0` "é" was "\\udcc3\\udca9", unreadable to any reader),
    bytes that are not UTF-8 as the surrogate escapes of PEP 383 (`os.fsencode` gives them back)."""
    text = os.fspath(text)
    try:
        return os.fsencode(text).decode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # words the locale cannot encode around the name: only its escapes
        return re.sub("[\udc80-\udcff]+", lambda m: os.fsencode(m.group()).decode("utf-8", "surrogateescape"), text)


def names_as_utf8(document):
    """`document` (dicts, lists, strings, numbers) with every string read as `name_text` does."""
    if isinstance(document, str):
        return name_text(document)
    if isinstance(document, dict):
        return {name_text(k) if isinstance(k, str) else k: names_as_utf8(v) for k, v in document.items()}
    if isinstance(document, (list, tuple)):
        return [names_as_utf8(v) for v in document]
    return document


def refuse_earlier_results(made_from: Iterable[tuple[Path, Path]], inputs: Iterable[Path]) -> None:
    """An output (source, output pairs) that is another input of the run: an earlier result found
    in a folder that holds both the inputs and the outputs (`video clips/ -o clips/` run twice),
    said as that; "output would overwrite an input" left the user wondering which input."""
    found = {real_path(p): p for p in inputs}
    for source, output in made_from:
        earlier = found.get(real_path(output))
        if earlier is not None and real_path(earlier) != real_path(source):
            raise UserError(f"{output}: an earlier result, found among the inputs ({output.parent} holds both); give "
                            "-o another folder, or move the earlier results away")


def refuse_overwriting_inputs(outputs: Iterable[Path], inputs: Iterable[Path]) -> None:
    """Before any work: no output may replace an input, nor name a folder, device, fifo or socket
    (which the finished file would replace, `atomic.writable_target`)."""
    from realtime_adain.atomic import writable_target

    inputs = list(inputs)
    resolved_inputs = {real_path(p) for p in inputs}
    input_entries = {entry_key(p) for p in inputs} - {None}
    input_files = {file_identity(p) for p in inputs} - {None}
    for path in outputs:
        if (real_path(path) in resolved_inputs or entry_key(path) in input_entries
                or file_identity(path) in input_files):
            raise UserError(f"{path}: output would overwrite an input")
        if any(names_a_picture(Path(source), Path(path)) for source in inputs):
            raise UserError(f"{path}: output would overwrite a picture of an image-sequence input")
        if pattern_directive(Path(path).name):  # numbered pictures: none may be an input's file
            if any(names_a_picture(Path(path), file) for file in files_of(inputs)):
                raise UserError(f"{path}: its numbered pictures would overwrite an input")
            continue
        writable_target(Path(path))


def refuse_shared_outputs(outputs: Sequence[Path], sources: Sequence[tuple[Path, ...]]) -> None:
    """Refuse before any work when two jobs would write one file (a/photo.jpg and b/photo.jpg, or
    photo.jpg and photo.png with --ext jpg): the second would silently replace the first."""
    seen: dict[object, int] = {}  # entry keys, or real paths where the folder does not exist yet
    for index, path in enumerate(outputs):
        key = entry_key(path) or os.path.normcase(str(real_path(path)))
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


def file_in_the_way(folder: Path) -> Path | None:
    """The nearest existing part of `folder`'s path that is not a folder (a file or device where a
    folder must go: a mistyped $REALTIME_ADAIN_HOME), or None where the folder is or can be made."""
    for part in (folder, *folder.parents):
        if part.exists():
            return None if part.is_dir() else part
    return None


def dead_link(folder: Path) -> Path | None:
    """The part of `folder`'s path that is a symbolic link leading nowhere (a loop, or to something
    missing), past which no folder can be made ("File exists", naming nothing); else None."""
    for part in (folder, *folder.parents):
        if part.exists():
            return None
        if part.is_symlink():
            return part
    return None


def why_dead(link: Path) -> str:
    """What is wrong with a link `dead_link` found, in words."""
    try:
        os.stat(link)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"{link} is a loop of symbolic links"
    return f"{link} is a symbolic link to {os.readlink(link)}, which does not exist"


def dead_link_is(link: Path) -> str:
    """`why_dead` after the link's name, said of an input ("a symbolic link to x.jpg, which does
    not exist"): "no such file" was misleading, `ls` shows the link."""
    return why_dead(link).removeprefix(f"{link} is ")


def check_writable_dir(directory: Path, what: str = "output directory") -> None:
    """Prove `directory` can be made and written to without making it, so a run refused later
    leaves no empty folder behind (the outputs' temporary files create it when written)."""
    from realtime_adain.atomic import refuse_missing_before_dotdot

    refuse_missing_before_dotdot(directory)
    shown = directory if str(directory) != "." else f"{os.getcwd()} (the current folder)"  # (not ".", never typed)
    if (link := dead_link(directory)) is not None:
        raise UserError(f"{shown}: {what} cannot be made ({why_dead(link)})")
    existing = next(p for p in (directory, *directory.parents) if p.exists() or p == Path(p.anchor or "."))
    if existing.exists() and not existing.is_dir():
        kind = "a file" if existing.is_file() else "a device, fifo or socket"
        where = f"it is {kind}" if existing == directory else f"{existing} is {kind}"
        raise UserError(f"{shown}: {what} is not writable ({where}, not a folder)")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise UserError(f"{shown}: {what} is not writable ({why_not_writable(exc)})") from None


def why_not_writable(exc: OSError) -> str:
    """The reason a file could not be made in an existing folder: "No such file or directory"
    there means a virtual file system (/proc) that makes no files."""
    if exc.errno == errno.ENOENT:
        return "files cannot be created there"
    return exc.strerror or str(exc)


def check_output_file(path: str | os.PathLike) -> Path:
    """Fail before the work, not after it, when a file output (`--json`, `--figure`) cannot be
    written: a folder, device, fifo or socket (see `atomic.writable_target`), or a folder that
    cannot be made or written to."""
    from realtime_adain.atomic import refuse_write_protected, writable_target

    target = writable_target(Path(path))
    refuse_write_protected(Path(path), target)
    ensure_writable_dir(target.parent)
    return Path(path)


def ensure_writable_dir(directory: Path) -> None:
    """Create `directory` if needed and prove a file can be written there (root ignores modes)."""
    from realtime_adain.atomic import make_folders

    try:
        make_folders(directory)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except FileExistsError:  # what mkdir says when the folder's name is taken: by what, in words
        if (link := dead_link(directory)) is not None:
            raise UserError(f"{directory}: output directory cannot be made ({why_dead(link)})") from None
        blocker = file_in_the_way(directory) or directory
        kind = "a file" if blocker.is_file() else "a device, fifo or socket"
        where = "it is" if blocker == directory else f"{blocker} is"
        raise UserError(f"{directory}: output directory is not writable ({where} {kind}, not a folder)") from None
    except OSError as exc:
        raise UserError(f"{directory}: output directory is not writable ({why_not_writable(exc)})") from None
