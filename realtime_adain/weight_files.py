"""Reading a weights file safely: the whole file read once (bounded in size) and refused from its
first bytes, archive or header before torch or safetensors sees it (foreign files, zip bombs,
damaged archives), then loaded (`.pth` with `weights_only=True`; safetensors with the metadata our
checkpoints carry) and any failure said in one line; a safetensors header's metadata alone.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import struct
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import torch

from realtime_adain.errors import UserError, is_out_of_memory, quoted
from realtime_adain.regular_files import open_regular


@dataclass
class LoadedWeights:
    state_dict: dict[str, torch.Tensor]
    metadata: dict[str, str]
    sha256: str = ""  # of the bytes these were read from (the file may have been rewritten since)


# What a PyTorch file starts with: a zip archive (torch.save) or a pickle (the legacy format).
PYTORCH_STARTS = (b"PK\x03\x04", b"\x80")


def _foreign_start(start: bytes) -> str | None:
    """What a .pth that does not start as a PyTorch file is, in words (None: it starts as one)."""
    if start.startswith(PYTORCH_STARTS):
        return None
    if not start:
        return "an empty file"
    if len(start) == 9 and start[8:9] == b"{":  # (an 8-byte header length, then its JSON)
        return "a safetensors file named .pth: name it .safetensors"
    return "not a PyTorch or safetensors file"


# torch.load's words for a tensor that needs more (or other) bytes than its record holds.
TENSORS_PAST_DATA = ("storage has wrong byte size", "does not match expected size", "storage that is not resizable",
                     "out of bounds for storage")


def _load_failure(exc: Exception, start: bytes | None) -> str:
    """Why loading failed, in words: a foreign file makes torch.load fail in pickle (KeyError: '105')
    or with its weights-only refusal (a JPEG's bytes read as opcodes), so what a .pth starts with
    is asked first (`start`: its first bytes; None for safetensors or an unreadable file)."""
    text = str(exc).strip()
    if start is not None and (foreign := _foreign_start(start)):  # a photo, an HTML page, random bytes
        return foreign
    # (torch's weights-only refusal is also its word for an opcode torch.save never writes: garbage)
    if "Weights only load failed" in text and "Unsupported operand" not in text:  # (code or objects: never run)
        return "a PyTorch file holding more than weights (code or other objects), which is not loaded"
    # (a pickle cut short or with garbage after its first opcode: pickle's own errors, in many types)
    if isinstance(exc, (KeyError, EOFError, pickle.UnpicklingError, IndexError, struct.error, UnicodeDecodeError)):
        return "not a PyTorch or safetensors file, or cut short"
    # A zip archive cut short or altered: miniz jargon, or a seek before the start of the bytes read.
    if "PytorchStreamReader" in text or (isinstance(exc, ValueError) and text.startswith("negative seek value")):
        return "a damaged or incomplete PyTorch archive"
    # Sizes, shapes or offsets edited past the data: torch's C++ wording ("expected %ld got %ld4398...").
    if isinstance(exc, RuntimeError) and any(words in text for words in TENSORS_PAST_DATA):
        return "a damaged PyTorch file: its tensors do not fit the data it stores"
    if isinstance(exc, RuntimeError) and text.startswith("unexpected EOF"):  # (a legacy file's last storage cut)
        return "a PyTorch file cut short: its tensors' data ends early"
    return text.splitlines()[0][:160] if text else type(exc).__name__


# torch.save stores its records uncompressed, so a .pth unpacks to about its own size; torch.load
# would inflate a compressed one whatever it claims (a few MB becoming many GB of memory).
MAX_UNPACK_RATIO = 4
MAX_ENTRIES = 100_000  # in a .pth archive: torch.save writes one a tensor and a few more


def _refuse_zip_bomb(path: Path, data: bytes) -> None:
    """Refuse a .pth archive (`data`, the file's bytes) whose records unpack to far more than the
    file holds (a zip bomb), or whose compressed records do not match their checksums (torch.load
    checks none: a bomb whose directory was edited to claim the right sizes loaded as zeros)."""
    try:
        if not zipfile.is_zipfile(io.BytesIO(data)):
            return
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = len(archive.infolist())
            unpacked = sum(info.file_size for info in archive.infolist())
            bomb = unpacked > MAX_UNPACK_RATIO * max(len(data), 1 << 20)
            damaged = None if bomb or entries > MAX_ENTRIES else _entry_off_its_checksum(archive)
    except (OSError, ValueError, zipfile.BadZipFile):  # torch.load says what is wrong with it
        return
    if entries > MAX_ENTRIES:  # (200 000 one-byte entries took 7 s to read; the file bound allows millions)
        raise UserError(f"{path}: not a readable weights file (its archive holds {entries:,} entries: torch.save "
                        "writes one a tensor, a few dozen)")
    if bomb:
        raise UserError(f"{path}: not a readable weights file (its archive unpacks to {unpacked:,} bytes from "
                        f"{len(data):,}: not what torch.save writes)")
    if damaged is not None:
        raise UserError(f"{path}: not a readable weights file (damaged: its archive entry {quoted(damaged)} does "
                        "not match its checksum)")


def _entry_off_its_checksum(archive: zipfile.ZipFile) -> str | None:
    """The name of the first deflated entry whose bytes do not match its CRC-32, else None: a
    compressed entry's stated size is what bounds its unpacking, and a bomb's can be edited to
    look right. Each is unpacked to the size the directory gives (bounded by MAX_UNPACK_RATIO),
    never further, and read in blocks, so a bomb costs no more than an honest file. An entry
    zipfile cannot read otherwise (a cut-off stream) is passed over: torch.load says what is wrong
    with it. Stored entries, what torch.save writes, are not read: their CRC cost 40 ms of every
    start (the 80 MB VGG) for bit rot that the download's SHA-256 covers; bzip2 and LZMA ones
    neither: zipfile unpacks such a block whole before it cuts it to the stated size (8 KB of
    bzip2 asked for 1 GiB at once), and torch.load refuses them unread."""
    for info in archive.infolist():
        if info.compress_type != zipfile.ZIP_DEFLATED:
            continue
        try:
            with archive.open(info) as entry:
                while entry.read(1 << 20):
                    pass
        except zipfile.BadZipFile as exc:
            if str(exc).startswith("Bad CRC-32"):  # (zipfile's words, checked as an entry's last bytes are read)
                return info.filename
        except (OSError, ValueError, EOFError, RuntimeError, NotImplementedError, zlib.error):
            pass  # (a cut-off stream; RuntimeError: encrypted; NotImplementedError: flagged as patched data)
    return None


# The largest weights file read (into memory, whole): torchvision's VGG-19 is 548 MB, ours 80 MB.
MAX_WEIGHTS_BYTES = 2 << 30


def refuse_too_large(path: str | os.PathLike, size: int) -> None:
    """A UserError for a file of `size` bytes where weights go, over MAX_WEIGHTS_BYTES."""
    if size > MAX_WEIGHTS_BYTES:
        raise UserError(f"{path}: too large for a weights file ({size:,} bytes; at most {MAX_WEIGHTS_BYTES >> 20} MiB)")


def _file_bytes(path: Path) -> bytes:
    """The whole file, read once: what is hashed is what is loaded (a file rewritten while a run
    loads it, a trainer saving to the same path, must not name an engine built from other bytes)."""
    try:
        with open_regular(path, "not a weights file (a pipe, device or socket)") as handle:
            size = os.fstat(handle.fileno()).st_size
            refuse_too_large(path, size)  # (before reading: a huge or sparse file is not read whole)
            _refuse_foreign_start(path, handle.read(9), size, handle)
            handle.seek(0)
            # Read what fstat says the file holds: a read of MAX_WEIGHTS_BYTES reserves that much
            # address space at once (2 GiB, enough to fail under `ulimit -v`); more only if it grew.
            # (One read from the start: joining the first bytes to the rest copied the whole file.)
            data = handle.read(size + 1)
            if len(data) > size:
                data += handle.read(MAX_WEIGHTS_BYTES + 1 - len(data))
    except FileNotFoundError:
        raise UserError(f"{path}: no such weights file") from None
    except MemoryError:  # (`ulimit -v`, a full machine): not the file's fault
        raise UserError(f"{path}: out of memory while loading the weights") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > MAX_WEIGHTS_BYTES:  # (grown while read)
        raise UserError(f"{path}: too large for a weights file (over {MAX_WEIGHTS_BYTES >> 20} MiB)")
    return data


def _refuse_foreign_start(path: Path, start: bytes, size: int, handle: BinaryIO) -> None:
    """Refuse from its first bytes (and a zip archive's directory, at its end) a file that is no
    weights file, before reading it whole (a 2 GB file of zeros was read and hashed for 19 s
    first): a .pth that does not start as a PyTorch file or whose archive has no directory, a
    .safetensors whose JSON header would not fit in the file."""
    if path.suffix == ".safetensors":
        if len(start) < 9 or start[8:9] != b"{" or int.from_bytes(start[:8], "little") > size - 8:
            raise UserError(f"{path}: not a readable weights file (not a safetensors file, or cut short)")
    elif foreign := _foreign_start(start):
        raise UserError(f"{path}: not a readable weights file ({foreign})")
    elif start.startswith(PYTORCH_STARTS[0]) and not zipfile.is_zipfile(handle):  # (reads from the end)
        raise UserError(f"{path}: not a readable weights file (a damaged or incomplete PyTorch archive)")
    elif start.startswith(PYTORCH_STARTS[0]) and not _pytorch_layout(handle):
        raise UserError(f"{path}: not a readable weights file (a zip archive that is not a PyTorch weights file)")


def _pytorch_layout(handle: BinaryIO) -> bool:
    """Whether a zip archive's directory is laid out as torch.load needs it: the first entry in a
    folder that holds `data.pkl` and `version` (or `.data/version`). A zip of other files, an
    .npz, was refused in torch's C++ text ("[enforce fail at inline_container.cc:180] . file in
    archive is not in a subdirectory"). One whose directory cannot be read is left to torch.load."""
    try:
        names = zipfile.ZipFile(handle).namelist()
    except (OSError, ValueError, zipfile.BadZipFile):
        return True
    folder, slash, _ = names[0].partition("/") if names else ("", "", "")
    return bool(slash) and f"{folder}/data.pkl" in names and not {f"{folder}/version", f"{folder}/.data/version"}.isdisjoint(names)


def _safetensors_header(data: bytes) -> dict | None:
    """A safetensors file's header (an 8-byte length, then a JSON object; `data` may end after it),
    None where it is no JSON object (the one reader of headers)."""
    (length,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8:8 + length])
    except (ValueError, RecursionError):  # (not JSON, or nested past the parser's stack)
        return None
    return header if isinstance(header, dict) else None


def safetensors_metadata(data: bytes) -> dict[str, str]:
    """The metadata in a safetensors file's header (`_safetensors_header`); {} where the header
    holds no string-to-string metadata, as safetensors refuses it (the one reader of metadata:
    `read_weights`, `header_metadata`, style caches)."""
    header = _safetensors_header(data)
    metadata = header.get("__metadata__") if header is not None else None
    if not isinstance(metadata, dict) or not all(isinstance(value, str) for value in metadata.values()):
        return {}
    return metadata


def _safetensors_entry_mistake(data: bytes, exc: Exception) -> str | None:
    """The tensor whose entry safetensors refused in a header that is JSON, and why, in one line:
    its own words (serde's) list every dtype it knows, and were cut mid-list ("unknown variant
    `F17`, expected one of `BOOL`, `F4`, ..."). None where no entry is at fault, or the header is
    no JSON (`_load_failure` says it)."""
    header = _safetensors_header(data)
    text = str(exc)
    unknown, missing = (re.search(rf"{words} `([^`]*)`", text) for words in ("unknown variant", "missing field"))
    for name, entry in (header or {}).items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict):
            return f"tensor {quoted(name)} is described by {json.dumps(entry)[:40]}, not by its dtype, shape and offsets"
        if missing and missing.group(1) not in entry:
            return f"tensor {quoted(name)} has no {missing.group(1)}"
        dtype = entry.get("dtype")
        if not isinstance(dtype, str) or (unknown and dtype == unknown.group(1)):
            return f"tensor {quoted(name)} has an unknown dtype {quoted(dtype) if isinstance(dtype, str) else json.dumps(dtype)[:40]}"
    return None


def read_weights(path: str | os.PathLike) -> LoadedWeights:
    """A state dict and its metadata from a `.safetensors` or (weights-only) `.pth` file, with the
    SHA-256 of the bytes they were loaded from."""
    path = Path(path)
    data = _file_bytes(path)
    sha256 = hashlib.sha256(data).hexdigest()
    _refuse_zip_bomb(path, data)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load

            return LoadedWeights(load(data), safetensors_metadata(data), sha256)
        with warnings.catch_warnings():  # torch warns about pickle protocols; our line says it all
            warnings.simplefilter("ignore")
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch/safetensors raise many types for damaged files
        if is_out_of_memory(exc):  # (`ulimit -v`, a full machine): not the file's fault
            raise UserError(f"{path}: out of memory while loading the weights") from None
        start = None if path.suffix == ".safetensors" else data[:9]
        said = (start is None and _safetensors_entry_mistake(data, exc)) or _load_failure(exc, start)
        raise UserError(f"{path}: not a readable weights file ({said})") from None
    # (names other than strings, `{0: tensor}`, broke every loader that reads a name)
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise UserError(f"{path}: not a state dict of tensors (with names as keys)")
    return LoadedWeights(state, {}, sha256)


# The longest safetensors header read for its metadata: safetensors' own limit.
MAX_HEADER_BYTES = 100_000_000


def header_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata of a .safetensors file, read from its header alone (safe_open refused a path
    that is not UTF-8, which read as no metadata: a torchvision-trained decoder passed as the
    normalised VGG's); {} for a .pth or a file that cannot be read (its load says why)."""
    if Path(path).suffix != ".safetensors":
        return {}
    try:
        with open_regular(path) as handle:
            start = handle.read(8)
            length = int.from_bytes(start, "little")
            if len(start) < 8 or length > min(MAX_HEADER_BYTES, os.fstat(handle.fileno()).st_size - 8):
                return {}
            return safetensors_metadata(start + handle.read(length))
    except (OSError, UserError):
        return {}
