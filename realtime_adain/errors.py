"""The one exception type the CLI turns into a single clear line and a non-zero exit."""

from __future__ import annotations

import contextlib
import errno
import importlib.metadata
import numbers
import os
import re
import shlex
import sys
import unicodedata
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal
from typing import Iterable, Iterator, Sequence


class UserError(Exception):
    """A problem with what the user asked for (a path, a value, a weights file), not a bug.

    Its text names paths as they are (code matches them in it); whoever shows it to a person
    escapes it onto one line (`one_line`), as the CLI does."""


CURRENT_FOLDER_DELETED = "the current folder was deleted; give absolute paths or cd to a folder that exists"


def current_folder_deleted() -> bool:
    """Whether the working folder is gone (getcwd fails): the OSError a library then raises names
    no file (`None`)."""
    try:
        os.getcwd()
    except FileNotFoundError:
        return True
    return False


def refuse_inputs(problems: list[str], names: Iterable[str] = ()) -> None:
    """Refuse with every bad input found, in one line (one at a time would stop a folder run once
    for each); nothing when there are none. Where they do not all fit in MAX_LINE, problems that
    start with one of `names` (the inputs' paths) and give one reason are said once ("a.jpg, b.jpg
    and 398 more: REASON"), and the line holds whole reasons only, as many as fit: 401 styles over
    the budget, each said in full, were cut mid-path, and a file refused for another reason was
    never named."""
    if len(problems) == 1:
        raise UserError(problems[0])
    if not problems:
        return
    said = f"{len(problems)} inputs cannot be used, nothing done: "
    if len(said) + sum(len(problem) + 2 for problem in problems) <= MAX_LINE:
        raise UserError(said + "; ".join(problems))
    names = set(names)
    groups: dict[str, list[str]] = {}  # the inputs refused for each reason (a problem naming none: its own text)
    for problem in problems:
        name = _named(problem, names)
        groups.setdefault(problem[len(name) + 2:] if name else problem, []).append(name)
    parts, length, shown = [], 0, 0
    for reason, group in groups.items():
        named = [name for name in group if name]
        part = f"{_listed(named)}: {reason}" if named else reason
        if parts and length + len(part) > MAX_LINE - 200:  # (room for what is said of the others)
            others = len(groups) - len(parts)
            parts.append(f"and {len(problems) - shown} more, for {others} other reason{'s' * (others > 1)}")
            break
        parts.append(part)
        length, shown = length + len(part) + 2, shown + len(group)
    raise UserError(said + "; ".join(parts))


def not_all_written(problems: Iterable[str], failed: int, total: int, things: str) -> UserError:
    """One error for a run of `total` results (`things`: "results", "outputs") of which `failed`
    were not written and the others were (`image` and `video` alike); each problem said once (an
    input of several results fails each of them)."""
    said = "; ".join(dict.fromkeys(problems))
    if total == 1:
        return UserError(said)
    if failed == total:
        return UserError(f"none of the {total} {things} written: {said}")
    return UserError(f"{failed} of {total} {things} not written (the others were): {said}")


def stopped_at(exc: UserError, written: int, not_tried: int, failed: Sequence[str], total: int,
               things: str) -> UserError:
    """One error for a run of `total` results (`things`: "results") stopped by `exc` (a full disk
    stays full: going on would fail each write again) after `written` were written, with
    `not_tried` not begun and those `failed` (one problem each) failed alone: the error alone left
    the user guessing which of the others were made or ever tried."""
    if total == 1:
        return exc
    return UserError(f"{exc}; stopped there: {stopped_counts(written, not_tried, failed, total, things)}")


def stopped_counts(written: int, not_tried: int, failed: Sequence[str], total: int, things: str) -> str:
    """How far a run of `total` results got when it stopped: "2 of 3 results written, 1 not tried"
    and those `failed` alone ("; also not written: ...")."""
    said = f"{written} of {total} {things} written" + (f", {not_tried} not tried" if not_tried else "")
    return said + (f"; also not written: {'; '.join(dict.fromkeys(failed))}" if failed else "")


class OutputClosed(BrokenPipeError):
    """Standard output's reader went away mid-run (`--json | head -c1`): the CLI stops quietly, exit
    status 141, with one line saying how far the run got (`done`, `stopped_counts`'s words); it
    said nothing, and a user missing results could not tell which were made."""

    def __init__(self, done: str) -> None:
        super().__init__(errno.EPIPE, os.strerror(errno.EPIPE))
        self.done = done


def mark_said(stop: BaseException, said: bool = True) -> None:
    """Note that the line saying `stop` (a signal's KeyboardInterrupt) was written where it
    happened (`interrupted: 1 frame kept in ...`): the CLI's own `interrupted` after it was a
    second line for one stop. `said` False: its own word is wanted after all (lines came between)."""
    stop.said_already = said


def said_already(stop: BaseException) -> bool:
    return getattr(stop, "said_already", False)


def _named(problem: str, names: set[str]) -> str:
    """The longest of `names` that `problem` starts with, followed by ": " ("" for none)."""
    found, at = "", problem.find(": ")
    while at >= 0:
        found = problem[:at] if problem[:at] in names else found
        at = problem.find(": ", at + 1)
    return found


def _listed(names: list[str]) -> str:
    """'a', 'a and b', 'a, b and c', 'a, b and 5 more'."""
    if len(names) > 3:
        return f"{names[0]}, {names[1]} and {len(names) - 2} more"
    return " and ".join(filter(None, (", ".join(names[:-1]), names[-1])))


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is an allocator's failure: MemoryError, or torch's allocators (a RuntimeError:
    "can't allocate memory", "CUDA out of memory"), OpenCV or onnxruntime (their own classes:
    "Failed to allocate", "Insufficient memory")."""
    if isinstance(exc, MemoryError):
        return True
    cv2 = sys.modules.get("cv2")
    allocator = (isinstance(exc, RuntimeError) or (cv2 is not None and isinstance(exc, cv2.error))
                 or type(exc).__module__.startswith("onnxruntime"))
    text = str(exc).lower()
    # ("CUDA error: an illegal memory access" says memory too, and is no size to lower; oneDNN, torch's
    # CPU convolutions, says "could not create a primitive" where its buffers cannot be allocated)
    return allocator and any(words in text for words in ("out of memory", "alloc", "insufficient memory",
                                                         "could not create a primitive"))


@contextlib.contextmanager
def out_of_memory_as_user_error(what: str, hint: str = "lower --size", error: type[UserError] = UserError) -> Iterator[None]:
    """A size the machine cannot hold is bad input, not a bug: the allocator's error (torch, OpenCV
    or numpy) becomes one line naming what was being processed, and `hint` (what to lower), as
    `error` (a UserError); what a check before the work found missing (`shortfall`: 'needs about
    9.6 GiB, and 3.1 GiB is available', `available_memory.refuse_beyond_memory`) said too."""
    try:
        yield
    except Exception as exc:  # torch.OutOfMemoryError is a RuntimeError saying "out of memory"
        if not is_out_of_memory(exc):
            raise
        raise out_of_memory_error(error, what, getattr(exc, "shortfall", ""), hint) from None


def out_of_memory_error(error: type[UserError], what: str, shortfall: str, hint: str) -> UserError:
    """`error` ('frames: out of memory (needs about ...); lower size') keeping its `shortfall`, made
    here and not in the frame that raises it: a local there, the error and that frame (in its
    traceback) hold each other, a cycle keeping every caller's frame and the image copies they
    hold until a cyclic GC (ten refused `stylize_image` calls took a process from 0.7 to 7.8 GB)."""
    said = error(f"{what}: out of memory{shortfall}; {hint}")
    said.shortfall = shortfall
    return said


def one_line(message: str) -> str:
    """A path or value holding a newline (a legal file name), another control character (an
    escape sequence in a stream's title or a file's name), a Unicode line break or bidirectional
    control must not split the line, drive the terminal or reorder it, and one a terminal shows as
    nothing or blank (`unshown`) must not hide: shown escaped (`a\\u200b.jpg` was said as what looked
    like an existing a.jpg). So is a name's byte that is not UTF-8 (`a\\xfe.jpg`, as `shell_quoted`
    writes it): raw, a terminal showed 0xfe and 0xff alike as U+FFFD. A line is bounded (`MAX_LINE`
    characters): a value a file holds (a decoder's 100,000-character "encoder" name) made a 100 KB
    error line.
    A backslash stays as it is: a message is escaped whole, and again where it is printed (escaping
    that twice must change nothing); a name printed alone is escaped fully by `escaped_name`."""
    line = message.translate(_ESCAPED)
    if not line.isascii():
        line = _NON_ASCII.sub(lambda found: _escaped(found[0]), line)
    return line if len(line) <= MAX_LINE else f"{line[:MAX_LINE]}... ({len(line) - MAX_LINE} more characters)"


def escaped_name(path: object) -> str:
    """A file's name printed alone on its line (an output's, on stdout) as `one_line` escapes it,
    and a backslash and a tab escaped too (`\\\\`, `\\t`): one name, one line, unambiguously (files
    named `a<newline>b.jpg` and `a\\nb.jpg` were both printed `a\\nb.jpg`)."""
    return one_line(str(path).replace("\\", "\\\\").replace("\t", "\\t"))


# The Unicode categories of characters a value is quoted for and that are escaped in it: those a
# terminal acts on or a reader breaks the line at (C0, DEL, C1: Cc; U+2028/9: Zl, Zp), and the
# format controls (Cf), which hide or reorder what is shown: a style named with U+202E (right-to-left
# override) showed its name backwards, raw, and U+200B, U+FEFF or a tag character not at all.
# The characters Unicode says to show as nothing (Default_Ignorable_Code_Point, beyond Cf: a
# grapheme joiner, fillers) or that look blank (the Braille blank) too: a style named U+3164 was
# logged as `style=ㅤ`, an empty look. Variation selectors are left as they are: they finish an
# emoji (U+2764 U+FE0F, a red heart), which escaped would show as "\u2764\ufe0f" in a name. So are
# unassigned code points: Python's tables lag Unicode's (3.11 knows Unicode 14, so U+1FA77, an
# emoji of Unicode 15, is "unassigned" to it). Spaces are left too (a name with U+3000 reads as
# written); a typed number escapes them (`argtypes._shown`).
UNSHOWN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
INVISIBLE = frozenset({0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180F, 0x2800, 0x3164, 0xFFA0})
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def unshown(character: str) -> bool:
    """Whether a terminal acts on `character`, breaks the line at it, or shows it as nothing or blank."""
    return unicodedata.category(character) in UNSHOWN_CATEGORIES or ord(character) in INVISIBLE


def _escaped(character: str) -> str:
    """A non-ASCII `character` as Python writes it escaped (U+200B as \\u200b) where it is `unshown`,
    a name's byte that is not UTF-8 as that byte (`escaped_byte`)."""
    if is_name_byte(character):
        return escaped_byte(character)
    return character.encode("unicode_escape").decode() if unshown(character) else character


def is_name_byte(character: str) -> bool:
    """Whether `character` stands for a file name's byte that is not UTF-8 (PEP 383: U+DC80-U+DCFF)."""
    return 0xDC80 <= ord(character) <= 0xDCFF


def escaped_byte(character: str) -> str:
    """A name's byte that is not UTF-8 (`is_name_byte`) as `\\xNN`, as Python and bash write one."""
    return f"\\x{ord(character) - 0xDC00:02x}"


MAX_LINE = 16384  # characters: room for a few paths of PATH_MAX (4096 bytes)


QUOTE_LIMIT = 80  # characters of a value quoted in a message


def quoted(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A value read from a file, quoted for a message and cut to `limit` characters."""
    text = str(value)
    return f"'{text}'" if len(text) <= limit else f"'{text[:limit]}...' ({len(text)} characters)"


def shell_quoted(value: object) -> str:
    """`value` (a path) as a command line to paste into a shell writes it: `shlex.quote`, or where
    it holds a character a message escapes (`one_line`: a newline, another control, an invisible
    one) bash's $'...' with those escapes: in '...' the message's \\n was two characters, and the
    pasted name named nothing. A byte that is not UTF-8 (PEP 383) is written as that byte (`\\xfe`)."""
    text = str(value)
    if text.translate(_ESCAPED) == text and not any(map(_shell_escaped, text)):
        return shlex.quote(text)
    return "$'" + "".join(_shell_escape(char) for char in text) + "'"


def _shell_escaped(character: str) -> bool:
    return not character.isascii() and (unshown(character) or is_name_byte(character))


def _shell_escape(character: str) -> str:
    code = ord(character)
    if character in "\\'":
        return "\\" + character
    if is_name_byte(character):
        return escaped_byte(character)
    if code in _ESCAPED:  # (C0 and DEL as \\xNN, \\n, \\r; a C1 control as \\u0085, a character, not a byte)
        return _ESCAPED[code]
    if _shell_escaped(character):
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
    return character


def as_given(value: object) -> str:
    """A value as the user gave it, for a message: as it is (escaped) where short (`--pix-fmt
    nonsense`), else quoted and cut short (a 3,000-digit --iterations, a 5,000-character --pix-fmt
    were echoed whole)."""
    text = one_line(str(value))
    return text if len(text) <= QUOTE_LIMIT else quoted(text)


def shown_number(value: numbers.Real) -> str:
    """A number as given, for a message, by the digits it is read as (`times.as_fraction`):
    numpy's own for a numpy float (`f"{np.float32(1000.1)}"` was its binary value,
    1000.0999755859375; longdouble 1e4000, finite, "inf"), -0.5 and 1e+20 plainly (Fraction(-1, 2),
    np.float64(1e+20) were Python's reprs); a whole number in digits below 10^18."""
    whole = isinstance(value, numbers.Integral) or (isinstance(value, numbers.Rational) and value.denominator == 1)
    if whole and -10**18 < value < 10**18:  # (compared, not abs(): numpy's of int64's least overflows, with a warning)
        return str(int(value))
    if isinstance(value, numbers.Rational) and (whole or not _FLOAT_RANGE[0] < abs(value) < _FLOAT_RANGE[1]):
        # Beyond a float's range or precision, as a float's digits would be: -10**400 was an
        # OverflowError, Fraction(-1, 10**400) said as -0.0 (and 4300 digits are int's limit).
        exact = _DECIMAL.divide(Decimal(int(value.numerator)), Decimal(int(value.denominator)))
        return f"{exact.normalize(_DECIMAL):g}"
    if hasattr(value, "dtype") and not isinstance(value, float):
        return str(value)  # numpy's own digits (float32 -1.3 was -1.2999999523162842)
    return str(float(value))


# Where a rational converts to a float as itself (not to 0 or an OverflowError), and the digits
# (a float's, about) one beyond that range is said with, its exponent unbounded.
_FLOAT_RANGE = (sys.float_info.min, sys.float_info.max)
_DECIMAL = Context(prec=6, Emax=MAX_EMAX, Emin=MIN_EMIN)


# Unicode's bidirectional controls (its Bidi_Control property): an embedding, override or isolate
# read from a file (U+202E in a weights file's metadata or an engine's sidecar) reordered the rest
# of the terminal's line, raw.
BIDI_CONTROLS = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
# Control characters (C0 but tab, DEL, C1), Unicode's line and paragraph separators and its
# bidirectional controls, as escapes. A C1 control is a character, written \\u0085 as Python writes
# it: as \\x85 it printed as a name's byte 0x85 that is not UTF-8 does (`escaped_byte`), two names alike.
_ESCAPED = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7f) if code != 0x09} | {
    code: f"\\u{code:04x}" for code in (*range(0x80, 0xa0), 0x2028, 0x2029, *BIDI_CONTROLS)} | {
    ord("\n"): "\\n", ord("\r"): "\\r"}


def environment_failure(exc: BaseException, hint: str | None = None) -> str | None:
    """What a limit of the machine or the environment that stopped the run is, in words, or None
    for another error: memory (`ulimit -v`: torch's or OpenCV's shared objects cannot be mapped
    and import fails, or an allocation does), threads (`ulimit -u`) or a library that cannot load.
    Memory a check before the work found short (its `shortfall`, `available_memory.refuse_beyond_memory`)
    is said with it and `hint` (what to lower), where given: no limit was reached, the size is too large."""
    if is_out_of_memory(exc):
        if hint and (shortfall := getattr(exc, "shortfall", "")):
            return f"out of memory{shortfall}; {hint}"
        return "out of memory; free some memory or raise the limit (`ulimit -v`)"
    if isinstance(exc, ImportError):
        library = imported_library(exc)
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "failed to map segment" in text or "cannot allocate memory" in text.lower():
            return f"cannot load {library} ({text}): out of memory; free some memory or raise the limit (`ulimit -v`)"
        too_old = too_old_pyav(installed_version("av")) if library == "av" else None
        return too_old or f"cannot load {library} ({text}); {missing_system_library(library, text) or 'reinstall it'}"
    if isinstance(exc, RuntimeError) and "can't start new thread" in str(exc):
        return "cannot start a thread: the limit on processes and threads is reached (`ulimit -u`), or memory is short"
    return None


# The Debian/Ubuntu packages of the system libraries OpenCV links that servers and containers lack.
SYSTEM_PACKAGES = {"libGL.so.1": "libgl1", "libgthread-2.0.so.0": "libglib2.0-0", "libglib-2.0.so.0": "libglib2.0-0",
                   "libSM.so.6": "libsm6", "libXext.so.6": "libxext6", "libXrender.so.1": "libxrender1"}
_SHARED_OBJECT_MISSING = re.compile(r"(\S+\.so\b[.\d]*): cannot open shared object file")


def missing_system_library(library: str, text: str) -> str | None:
    """What to install where `library` (a Python package) fails to import because a shared library
    it links is missing ("cannot open shared object file" in its import error, `text`), or None for
    another failure. "Reinstall it" brought back the same files: OpenCV's GUI build needs the
    system's libGL.so.1, which headless servers and containers lack."""
    found = _SHARED_OBJECT_MISSING.search(text)
    if not found:
        return None
    name, package = found.group(1), SYSTEM_PACKAGES.get(found.group(1))
    if package is None:
        return f"the shared library {name} is missing: install the system or pip package that provides it"
    fix = f"the system library {name} is missing: install it (Debian/Ubuntu: apt-get install {package})"
    if library == "cv2" and re.match(r"lib(?:GL|SM|X\w+)\.", name):  # (what only its GUI needs)
        fix += "; or use OpenCV without its GUI: pip uninstall opencv-python; pip install opencv-python-headless (no `live` window)"
    return fix


# The oldest PyAV this package runs with; pyproject.toml's `av>=` names the same (a test checks).
# Older ones cannot import video/hdr.py (ColorPrimaries came with 17.0), and 17.0's streams refuse
# the disposition read from another (a Flag, not an int: a TypeError in every `video` run).
OLDEST_PYAV = "17.1"


def too_old_pyav(version: str | None) -> str | None:
    """What to do where the installed PyAV (`version`, None: not installed) is older than
    OLDEST_PYAV, or None: "reinstall it" would install the same version again."""
    found = version_numbers(version or "")
    if not found or found >= version_numbers(OLDEST_PYAV):
        return None
    return f"PyAV {version} is too old for realtime-adain: pip install -U 'av>={OLDEST_PYAV}'"


def version_numbers(version: str) -> tuple[int, ...]:
    """A version's leading numbers: '17.0.1' -> (17, 0, 1), '18.0.0rc1' -> (18, 0, 0), 'x' -> ()."""
    numbers = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(map(int, numbers.group().split("."))) if numbers else ()


def installed_version(distribution: str) -> str | None:
    """The installed version of a distribution, without importing it (None: not installed)."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def imported_library(exc: ImportError) -> str:
    """The package that failed to import: torch's extension says only "_C" (its path says more)."""
    name = exc.name or ""
    if "." not in name and exc.path and os.path.isfile(os.path.join(os.path.dirname(exc.path), "__init__.py")):
        return os.path.basename(os.path.dirname(exc.path))
    return name.split(".")[0] or "a library"
