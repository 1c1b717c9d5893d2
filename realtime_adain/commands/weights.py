"""`realtime-adain weights download|info`: get the published weights, and show which are used."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from realtime_adain import release, userdirs
from realtime_adain.commands.common import say, shown_path
from realtime_adain.commands.engines import shown
from realtime_adain.errors import UserError, as_given, one_line, shell_quoted
from realtime_adain.regular_files import content_size

if TYPE_CHECKING:
    import torch

EPILOG = """examples:
  realtime-adain weights download
  realtime-adain weights download --base-url https://mirror.example.org/adain
  realtime-adain weights info
  realtime-adain weights info --decoder runs/exp1/decoder.safetensors
"""

FLAG = {"vgg": "--vgg", "decoder": "--decoder"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "weights", help="download the published weights, or show which weights are used",
        description="Download the published AdaIN weights, or show which weights files are used.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    fetch = actions.add_parser(
        "download", help="fetch vgg_normalised.pth and decoder.pth into the weights directory",
        description="Fetch the two files of the naoto0804/pytorch-AdaIN v0.0.0 release, resuming "
        "broken transfers, and keep them only if they verify.",
    )
    fetch.add_argument("--force", action="store_true", help="download again even if valid files are present")
    fetch.add_argument("--base-url", metavar="URL",
                       help=f"mirror holding both files (default: ${release.BASE_URL_ENV_VAR} or "
                       f"{release.DEFAULT_BASE_URL})")
    fetch.add_argument("--vgg-url", metavar="URL", help="full URL of vgg_normalised.pth (overrides --base-url)")
    fetch.add_argument("--decoder-url", metavar="URL", help="full URL of decoder.pth (overrides --base-url)")
    fetch.add_argument("--dir", metavar="DIR", help=f"where to put them (default: {userdirs.weights_dir_for_help()})")
    fetch.add_argument("--no-checksum", action="store_true",
                       help="accept files whose size/SHA-256 differ from the release (structure is still checked)")
    fetch.set_defaults(func=run_download)

    info = actions.add_parser(
        "info", help="show where the weights are and what they hold",
        description="Show the weights files every command would use (--vgg/--decoder, then $REALTIME_ADAIN_VGG/"
        "$REALTIME_ADAIN_DECODER, then the weights directory), which rule picked each, and what it holds (the VGG "
        "checked as the encoder the decoder was trained against). Exit status 0 when both are usable, 1 otherwise.",
    )
    info.add_argument("--vgg", metavar="PATH", help="encoder weights to describe instead of the resolved ones")
    info.add_argument("--decoder", metavar="PATH", help="decoder weights to describe instead of the resolved ones")
    info.set_defaults(func=run_info, prints_result=True)


def run_download(args: argparse.Namespace) -> int:
    from realtime_adain import download, weight_paths  # torch: only once the command runs

    if args.dir is not None and not args.dir.strip():  # `--dir "$UNSET"`: not a wish for the default
        raise UserError("--dir '': an empty path (an unset variable?); give a folder, or leave --dir out")
    directory = userdirs.expand_home(args.dir, " (--dir)") if args.dir else weight_paths.weights_dir()
    if directory.exists() and not directory.is_dir():
        raise UserError(f"{directory}: not a directory")
    if directory.is_symlink() and not directory.exists():
        raise UserError(f"{directory}: a symbolic link to nothing (a loop, or its target is gone), not a directory")
    urls = download.file_urls(args.base_url, args.vgg_url, args.decoder_url)

    # (--no-checksum: only the structure was checked; "verified" said more)
    checked = "structure verified, --no-checksum: size and SHA-256 not checked" if args.no_checksum else "verified"

    unsaid: list[UserError] = []  # stdout that failed (`>/dev/full`): said once both files are fetched

    def landed(path: Path, outcome: str) -> None:  # (said at once: a later failure must not hide it)
        try:
            say(one_line(f"{shown_path(path)}: {outcome} ({path.stat().st_size:,} bytes, {checked})"))
        except UserError as exc:  # (raised here, the decoder was never fetched)
            unsaid.append(exc)

    # (a URL from $REALTIME_ADAIN_WEIGHTS_URL is named so in an error about it: the command line does not show it)
    unseen = {kind: source for kind, source in download.url_sources(args.base_url, args.vgg_url, args.decoder_url).items()
              if source == f"${download.BASE_URL_ENV_VAR}"}
    download.download_all(urls, directory, force=args.force, check_checksum=not args.no_checksum, landed=landed,
                          sources=unseen)
    if unsaid:
        raise UserError(f"{unsaid[0]}; the weights are in place in {directory}")
    default = _default_directory()
    if default is None or directory.resolve() != default.resolve():
        say(one_line(f"note: {directory} is not the default weights directory; {how_to_use(directory)}"))
    else:
        for line in _overridden(directory):
            say(one_line(line))
    return 0


def _named_in_environment() -> dict[str, str]:
    """The weights files $REALTIME_ADAIN_VGG / $REALTIME_ADAIN_DECODER name, by kind: they come
    before the weights directory (`weight_paths.resolve`)."""
    from realtime_adain import weight_paths

    return {kind: named for kind in weight_paths.DEFAULT_FILENAME if (named := os.environ.get(weight_paths.ENV_VAR[kind]))}


def _overridden(directory: Path) -> list[str]:
    """Notes for the files just downloaded into the default `directory` that the commands will not
    use, because the environment names others."""
    from realtime_adain import weight_paths

    return [f"note: {weight_paths.ENV_VAR[kind]} is set: commands use {named}, not {directory / weight_paths.DEFAULT_FILENAME[kind]} "
            "(unset it to use the downloaded file)"
            for kind, named in _named_in_environment().items()
            if os.path.abspath(named) != os.path.abspath(directory / weight_paths.DEFAULT_FILENAME[kind])]


def how_to_use(directory: Path) -> str:
    """How the commands find the weights downloaded into `directory` (see `weight_paths.resolve`):
    $REALTIME_ADAIN_HOME only where `directory` is a `weights` folder (the commands look in
    $REALTIME_ADAIN_HOME/weights; the note offered it for any folder)."""
    from realtime_adain import weight_paths

    directory = Path(os.path.abspath(directory))  # (a relative --dir names nothing from another folder)
    files = {kind: shell_quoted(str(directory / name)) for kind, name in weight_paths.DEFAULT_FILENAME.items()}
    how = (f"pass --vgg {files['vgg']} --decoder {files['decoder']}, or set "
           f"{weight_paths.ENV_VAR['vgg']}={files['vgg']} and {weight_paths.ENV_VAR['decoder']}={files['decoder']}")
    if directory.name == "weights":
        how += f", or {weight_paths.HOME_ENV_VAR}={shell_quoted(str(directory.parent))} (it keeps its engines and styles there too)"
        if overriding := [weight_paths.ENV_VAR[kind] for kind in _named_in_environment()]:  # (that alone would not do)
            how += f" with {' and '.join(overriding)} unset"
    return f"to use these files, {how}"


def _default_directory() -> Path | None:
    """The weights folder the commands look in, None where there is none (no home folder: a
    download with --dir needs none, and said "no home folder" after both files had landed)."""
    try:
        return userdirs.weights_dir()
    except UserError:
        return None


def source_of(kind: str, explicit: str | None) -> str:
    """Which rule of the resolution order (see `weight_paths.resolve`) picks the file."""
    from realtime_adain import weight_paths

    if explicit is not None:  # (an empty --decoder is still the flag's, refused as such)
        return FLAG[kind]
    if os.environ.get(weight_paths.ENV_VAR[kind]):
        return f"${weight_paths.ENV_VAR[kind]}"
    return "weights directory"


# The widest row name shown: a file's 3000-character metadata key padded every row to its width.
MAX_ROW_NAME = 32
# The longest metadata value shown whole: a 400 KB `config` printed as one line.
MAX_META_VALUE = 2000


def meta_rows(metadata: dict[str, str]) -> list[tuple[str, str]]:
    """A row per metadata key, its name cut to MAX_ROW_NAME and its value to MAX_META_VALUE. Names
    that would be cut alike (a long shared start) show where each key differs instead: two rows
    of the same name hid which was which."""
    keys = sorted(metadata)
    texts = [one_line(f"meta {key}") for key in keys]
    cut = [shown(text, MAX_ROW_NAME) for text in texts]
    rows = []
    for key, text, name in zip(keys, texts, cut):
        if twins := [other for other, other_name in zip(texts, cut) if other_name == name and other != text]:
            differs = max(len(os.path.commonprefix([text, twin])) for twin in twins)
            start = f"{text[:10]}..."  # then from just before where it differs: "meta confi...ng_rate_decoder"
            name = start + shown(text[differs - 6:], MAX_ROW_NAME - len(start))
        value = metadata[key]
        rows.append((name, value if len(value) <= MAX_META_VALUE else
                     f"{shown(value, MAX_META_VALUE)} ({len(value):,} characters)"))
    return rows


def stored_values(tensors: Iterable[torch.Tensor]) -> int:
    """How many values the tensors' storages hold, each storage once: what the file stores. Their
    sizes count an expanded (stride-0) tensor's every place: 10**18 "parameters" from 4 bytes."""
    import torch  # (only once the command runs)

    seen, count = set(), 0
    for tensor in tensors:
        if tensor.layout != torch.strided or tensor.is_meta:  # (no storage of values: nothing a network loads)
            continue
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            count += storage.nbytes() // tensor.element_size()
    return count


def what_it_holds(kind: str, path: Path, encoder: str | None) -> list[tuple[str, str]]:
    """Rows describing the file's contents; raises UserError for an unusable file. The VGG is
    loaded as `encoder`, the one the decoder in use was trained against."""
    from realtime_adain import weight_files, weights
    from realtime_adain.encoders import TORCHVISION_VGG19

    loaded = weight_files.read_weights(path)
    if kind == "vgg":
        module = weights.load_encoder(path, encoder)
        what = (f"torchvision VGG-19 encoder up to relu4_1 ({len(module.layers)} modules used)"
                if encoder == TORCHVISION_VGG19 else f"normalised VGG-19 encoder up to relu4_1 ({len(module)} modules used)")
    else:
        module = weights.load_decoder(path)
        what = f"decoder, architecture '{loaded.metadata.get('architecture', 'plain')}'"
    stored, used = stored_values(loaded.state_dict.values()), sum(p.numel() for p in module.parameters())
    rows = [
        ("holds", what),
        ("tensors", f"{len(loaded.state_dict)} ({stored:,} parameters; {used:,} used)"),
    ]
    return rows + meta_rows(loaded.metadata)


def describe(kind: str, explicit: str | None, decoder: str | None = None) -> tuple[bool, list[tuple[str, str]]]:
    """(usable, rows) for one weights file (`decoder`: the --decoder the VGG is paired with)."""
    from realtime_adain import weight_digests, weight_paths

    source = source_of(kind, explicit)
    if too_long := _name_too_long(kind, explicit):
        return False, [("path", as_given(too_long[0])), ("from", source), ("status", f"not usable: {too_long[1]}")]
    encoder = weight_paths.paired_encoder_kind(decoder) if kind == "vgg" else None  # (a name too long: none found)
    try:
        path = weight_paths.resolve(kind, explicit, encoder)
    except UserError as exc:
        given = explicit if explicit is not None else os.environ.get(weight_paths.ENV_VAR[kind])
        directory = _default_directory() if source == "weights directory" else None
        expected = directory / weight_paths.DEFAULT_FILENAME[kind] if directory is not None else None
        place = str(expected) if expected is not None else str(Path(os.path.expanduser(given))) if given else None
        if place is not None and os.path.lexists(place):  # (a folder there is no missing file)
            return False, [("path", place), ("from", source), ("status", f"not usable: {_why_not(kind, place, exc)}")]
        rows = [("from", source), ("status", f"missing: {exc}")]
        if expected is not None:
            rows.insert(0, ("expected", str(expected)))
        return False, rows
    size = content_size(path)  # (a /proc file says 0 bytes, and its content is hashed)
    rows = [("path", str(path)), ("from", source), ("size", f"{size:,} bytes ({size / 1e6:.1f} MB)")]
    try:
        digest = weight_digests.weights_sha256(path)
        published = release.PUBLISHED[kind]
        rows.append(("sha256", digest + ("  (the published v0.0.0 file)" if digest == published.sha256 else "")))
        rows += what_it_holds(kind, path, encoder)
    except UserError as exc:
        rows.append(("status", f"not usable: {str(exc).removeprefix(f'{path}: ')}"))
        return False, rows
    return True, rows


def _name_too_long(kind: str, explicit: str | None) -> tuple[str, str] | None:
    """(the name given, why no file can have it) for a --vgg/--decoder or variable's path over
    NAME_MAX or PATH_MAX, else None: looking it up raised ENAMETOOLONG, one line of the whole name,
    exit status 2 and no table, where every other bad path is a row."""
    from realtime_adain import weight_paths
    from realtime_adain.output_paths import name_too_long

    given = explicit if explicit is not None else os.environ.get(weight_paths.ENV_VAR[kind])
    if not given:
        return None
    reason = name_too_long(Path(os.path.expanduser(given)))
    return (given, reason) if reason else None


def _why_not(kind: str, place: str, exc: UserError) -> str:
    """`weight_paths.resolve`'s refusal of the thing at `place` (a folder, a fifo) without the path it
    starts with, which the `path` row gives, as for a file that is there but unreadable."""
    from realtime_adain import weight_paths

    text = str(exc)
    for prefix in (f"{place}: ", f"{place} (from ${weight_paths.ENV_VAR[kind]}): ", f"no {kind} weights found: {place} is "):
        text = text.removeprefix(prefix)
    return text


def run_info(args: argparse.Namespace) -> int:
    usable = True
    for kind in release.PUBLISHED:
        ok, rows = describe(kind, getattr(args, kind), args.decoder)
        usable &= ok
        say(f"{kind}:")
        width = max(len(name) for name, _ in rows)
        for name, value in rows:
            say(one_line(f"  {name.ljust(width)}  {value}"))
    return 0 if usable else 1
