"""Finding, reading and checking network weights.

Where weights come from, in order: explicit paths (--vgg/--decoder), the environment variables
REALTIME_ADAIN_VGG / REALTIME_ADAIN_DECODER, then the per-user weights directory (platformdirs,
or REALTIME_ADAIN_HOME). `.pth` files load with `weights_only=True`; our own checkpoints are
safetensors with metadata saying which decoder architecture they hold.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import os
import pickle
import stat
import struct
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Sequence

import torch
from torch import nn

from realtime_adain.checks import ascii_whole
from realtime_adain.decoders import SkipConcatDecoder
from realtime_adain.encoders import (
    ENCODER_KINDS, NORMALISED_VGG, TORCHVISION_VGG19, TorchvisionVGGEncoder, torchvision_state_dict,
)
from realtime_adain.errors import UserError, is_out_of_memory, quoted
from realtime_adain.networks import ENCODER_DEPTH, FEATURE_CHANNELS, Decoder, Encoder
from realtime_adain.regular_files import open_regular
from realtime_adain.release import DECODER_FILENAME, VGG_FILENAME
from realtime_adain.userdirs import HOME_ENV_VAR, deciding_setting, expand_home, weights_dir  # noqa: F401 (part of this module's interface)
from realtime_adain.writable_folders import dead_link, file_in_the_way, why_dead

ENV_VAR = {"vgg": "REALTIME_ADAIN_VGG", "decoder": "REALTIME_ADAIN_DECODER"}
DEFAULT_FILENAME = {"vgg": VGG_FILENAME, "decoder": DECODER_FILENAME}


def _missing(path: Path) -> str:
    """Why `path` is no weights file: a folder, device or fifo is named as such, not 'no such'."""
    if path.is_dir():
        return "a folder, not a weights file"
    if path.is_symlink() and not path.exists():
        return "a symbolic link to nothing (a loop, or its target is gone), not a weights file"
    return "a device, fifo or socket, not a weights file" if path.exists() else "no such weights file"


def files_id(paths: Sequence[str | os.PathLike]) -> str:
    """A short identity of weights files (the encoder's, the decoder's), the key of engine caches."""
    return "-".join(weights_sha256(p)[:16] for p in paths)


def weights_sha256(path: str | os.PathLike) -> str:
    """`file_sha256` of a weights file, remembered while the file is unchanged (the same inode,
    size, modification and change times): every Stylizer names its caches by its 94 MB of
    weights, 50 ms of hashing each time in a process that makes many."""
    try:
        status = os.stat(path)
    except OSError:
        return file_sha256(path)  # which says what is wrong with it
    if stat.S_ISREG(status.st_mode):  # (a 40 GB sparse file was hashed for 97 s, then refused for its size)
        refuse_too_large(path, status.st_size)
    return _remembered_sha256(os.fspath(path), (status.st_dev, status.st_ino, status.st_size,
                                                status.st_mtime_ns, status.st_ctime_ns))


@functools.lru_cache(maxsize=32)
def _remembered_sha256(path: str, status: tuple[int, ...]) -> str:
    return file_sha256(path)


def resolve(kind: str, explicit: str | os.PathLike | None = None, encoder: str | None = None) -> Path:
    """The weights file of `kind` ('vgg' or 'decoder') by the resolution order above. `encoder`:
    what a VGG is wanted as (None: as the decoder found was trained against, `paired_encoder_kind`),
    which says where a missing one comes from."""
    if explicit is not None and not str(explicit).strip():  # `--vgg "$UNSET"`: not a wish for the default
        raise UserError(f"an empty --{kind} path (an unset variable?); give a weights file, or leave --{kind} out")
    if explicit:
        path = expand_home(explicit)
        if not path.is_file():
            raise UserError(f"{path}: {_missing(path)}")
        return path
    env = os.environ.get(ENV_VAR[kind])
    if env:
        path = expand_home(env, f" (from ${ENV_VAR[kind]})")
        if not path.is_file():
            raise UserError(f"{path} (from ${ENV_VAR[kind]}): {_missing(path)}")
        return path
    path = weights_dir() / DEFAULT_FILENAME[kind]
    if not path.is_file():
        flag = "--vgg" if kind == "vgg" else "--decoder"
        if (blocking := file_in_the_way(weights_dir())) is not None:  # a download could not go there either
            raise UserError(f"no {kind} weights found: the weights folder {weights_dir()} cannot exist ({blocking} is "
                            f"a file, not a folder; check {deciding_setting('data')}), so pass {flag} PATH or fix that")
        if (link := dead_link(weights_dir())) is not None:  # a loop, or a drive no longer mounted
            raise UserError(f"no {kind} weights found: the weights folder {weights_dir()} cannot exist ({why_dead(link)}; "
                            f"check {deciding_setting('data')}), so pass {flag} PATH or fix that")
        if kind == "vgg" and (encoder or paired_encoder_kind()) == TORCHVISION_VGG19:
            raise UserError("no vgg weights found: the decoder in use was trained against torchvision's VGG-19, so pass "
                            "its weights (vgg19-dcbb9e9d.pth) with --vgg PATH (`weights download` fetches the normalised VGG)")
        if path.exists():  # (where a download would refuse to go: "a device, fifo or socket is where ...")
            what = "a folder" if path.is_dir() else "a device, fifo or socket"
            raise UserError(f"no {kind} weights found: {path} is {what}, not a weights file; move it away and run "
                            f"`realtime-adain weights download` (or pass {flag} PATH)")
        raise UserError(
            f"no {kind} weights found: run `realtime-adain weights download` (or pass {flag} PATH)"
        )
    return path


def files_used(vgg: object = None, decoder: object = None) -> list[Path]:
    """The weights files a run given `vgg`/`decoder` (None: as `resolve` finds them) will read,
    those that exist: inputs no output may replace (`-o dec.png --decoder dec.png` wrote the
    picture over the model). One not found is no input (the load says why), nor a value that is
    no path (the load refuses its type)."""
    found = []
    for kind, given in (("vgg", vgg), ("decoder", decoder)):
        if given is not None and not isinstance(given, (str, os.PathLike)):
            continue
        try:
            found.append(resolve(kind, given))
        except UserError:
            pass
    return found


def file_sha256(path: str | os.PathLike) -> str:
    """The file's SHA-256; a file that cannot be read (permissions, an I/O error) is a UserError
    naming it, not a bare OSError that says which file only sometimes."""
    digest = hashlib.sha256()
    try:
        with open_regular(path) as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    return digest.hexdigest()


def parameters_sha256(module: nn.Module) -> str:
    """A digest of a module's parameters, so networks that never touched a file have an identity."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


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
            start = handle.read(9)
            _refuse_foreign_start(path, start, size, handle)
            # Read what fstat says the file holds: a read of MAX_WEIGHTS_BYTES reserves that much
            # address space at once (2 GiB, enough to fail under `ulimit -v`); more only if it grew.
            data = start + handle.read(max(size - len(start), 0) + 1)
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
    handle.seek(len(start))


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


def safetensors_metadata(data: bytes) -> dict[str, str]:
    """The metadata in a safetensors file's header (an 8-byte length, then JSON; `data` may end
    after the header); {} where the header holds no string-to-string metadata, as safetensors
    refuses it (the one reader of metadata: `read_weights`, `header_metadata`, style caches)."""
    (length,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8:8 + length])
    except (ValueError, RecursionError):  # (not JSON, or nested past the parser's stack)
        return {}
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict) or not all(isinstance(value, str) for value in metadata.values()):
        return {}
    return metadata


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
        raise UserError(f"{path}: not a readable weights file ({_load_failure(exc, start)})") from None
    # (names other than strings, `{0: tensor}`, broke every loader that reads a name)
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise UserError(f"{path}: not a state dict of tensors (with names as keys)")
    return LoadedWeights(state, {}, sha256)


def describe_state_dict(state: dict[str, torch.Tensor], wanted: str = "") -> str:
    """A guess at what a state dict holds, to make a wrong-file error actionable (for the
    `wanted` weights: a trainer state points at its decoder file only where a decoder was wanted)."""
    first = state.get("0.weight")
    if first is not None and tuple(first.shape) == (3, 3, 1, 1):
        return "it looks like VGG encoder weights"
    if "features.0.weight" in state:
        return "it looks like torchvision VGG-19 weights (only decoders trained against it use them)"
    if "1.weight" in state and state["1.weight"].ndim == 4 and state["1.weight"].shape[1] == 512:
        return "it looks like decoder weights"
    if any(key.startswith(("optimizer.", "rng.")) for key in state):
        beside = "; give the decoder_iter_N file beside it" if wanted.endswith("decoder") else ""
        return f"it looks like a trainer state (trainer_iter_N){beside}"
    return f"it holds {len(state)} tensors"


def check_state_dict(path: Path, module: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Raise a clear UserError unless `state` has every key of `module` with the right shape."""
    expected = module.state_dict()
    kind_of_weights = f"{what.split()[-1]} weights"  # ("decoder weights"), as describe_state_dict guesses them
    for key, tensor in expected.items():
        if key not in state:
            missing = [name for name in expected if name not in state]
            guess = describe_state_dict(state, what)
            if len(missing) * 2 <= len(expected) or kind_of_weights in guess:  # ("not VGG encoder weights; it looks like VGG encoder weights")
                more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
                raise UserError(f"{path}: incomplete {what} weights: '{key}'{more} missing of {len(expected)} tensors "
                                "(a file cut short or edited?)")
            raise UserError(f"{path}: not {what} weights; {guess}")
        if tuple(state[key].shape) != tuple(tensor.shape):
            shapes = f"'{key}' has shape {tuple(state[key].shape)}, expected {tuple(tensor.shape)}"
            if kind_of_weights in (guess := describe_state_dict(state, what)):  # (was "not ...; it looks like decoder weights")
                raise UserError(f"{path}: {kind_of_weights} of another shape: {shapes}")
            raise UserError(f"{path}: not {what} weights: {shapes}; {guess}")
        kind = _not_plain_floats(state[key])
        if kind:  # copying into float parameters would cast or fail: 8-bit ints give a white image
            raise UserError(f"{path}: not {what} weights: '{key}' holds {kind}")
        if not torch.isfinite(state[key]).all():
            raise UserError(f"{path}: corrupt {what} weights: '{key}' holds NaN or Inf")


# The floats a network can be loaded from: 8- and 4-bit ones (float8_e4m3fn, ...) have no
# isfinite in torch, nor all a cast (a traceback), and no published weights use them.
PLAIN_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _not_plain_floats(tensor: torch.Tensor) -> str | None:
    """What a loaded tensor holds when it is not a dense tensor of 16-, 32- or 64-bit floats with
    its data (sparse, quantized or meta tensors, integers, booleans, complex numbers, float8),
    else None."""
    if tensor.layout != torch.strided:
        return f"a {str(tensor.layout).removeprefix('torch.')} tensor, not a dense one"
    if tensor.is_meta:
        return "no data (a meta tensor)"
    dtype = str(tensor.dtype).removeprefix("torch.")
    if tensor.is_quantized or not tensor.dtype.is_floating_point:
        return f"{dtype} values, not floating-point numbers"
    if tensor.dtype not in PLAIN_FLOATS:
        return f"{dtype} values, not 16-, 32- or 64-bit floating-point numbers"
    return None


# The largest value a decoder may give on `_relu_like_features`: a picture is 0..1; on them the
# stand-in decoders reach 1.2, freshly initialised ones 0.04 (plain) and 8-13 (skip-concat), and a
# trained decoder, whose features there are up to 100 times a real picture's, a few hundred at
# most. A last layer scaled by 5e4 (a peak of 6e4) still passed 1e5 and gave all-white pictures.
MAX_TEST_OUTPUT = 1e4


def _relu_like_features(channels: int, side: int, generator: torch.Generator) -> torch.Tensor:
    """(1, channels, side, side) features as a VGG layer's ReLU gives them: nonnegative, varied, each
    channel of its own size from 0.1 to 100 (the published VGG's relu4_1 averages about 1 a channel,
    stand-in weights' reach the hundreds). A constant input let the weights' sums cancel: a
    decoder scaled to 1e38 passed on ones, then overflowed on every real picture."""
    scales = torch.logspace(-1, 2, channels)[torch.randperm(channels, generator=generator)]
    return torch.randn(1, channels, side, side, generator=generator).clamp_(min=0) * scales.view(1, -1, 1, 1)


def check_output_finite(path: Path, module: nn.Module, inputs: tuple, what: str, largest: float = math.inf) -> None:
    """Raise unless `module(*inputs)` is finite and within +-`largest`: finite but huge weights
    (1e30) overflow to Inf and NaN inside the network, which the frames show as black, silently,
    or give values no picture has (white)."""
    with torch.inference_mode():
        out = module(*inputs)
    out = out[-1] if isinstance(out, list) else out
    if not torch.isfinite(out).all():
        raise UserError(f"{path}: corrupt {what} weights: the network overflows (Inf or NaN) on a test input; "
                        "its values are far too large")
    if (reached := float(out.abs().max())) > largest:
        raise UserError(f"{path}: corrupt {what} weights: its output reaches {reached:.3g} on a test input, where "
                        f"a picture is 0..1; its values are far too large")


def load_encoder(path: str | os.PathLike, kind: str = NORMALISED_VGG) -> nn.Module:
    """The encoder up to relu4_1; layers after it in the file are ignored.

    `kind` is the encoder a decoder was trained against (`decoder.encoder_kind`): the published
    normalised VGG by default, or torchvision's ImageNet VGG-19. `encoder.loaded_sha256` is the
    SHA-256 of the bytes it was loaded from.
    """
    path = Path(path)
    loaded = read_weights(path)
    if kind == TORCHVISION_VGG19:
        first = loaded.state_dict.get("0.weight")
        if first is not None and tuple(first.shape) == (3, 3, 1, 1):  # the normalised VGG's
            raise UserError(
                f"{path}: this is the normalised VGG; torchvision's VGG-19 encoder (--encoder torchvision-vgg19, or a "
                "decoder trained against it) needs its own weights: pass vgg19-dcbb9e9d.pth with --vgg"
            )
        encoder = TorchvisionVGGEncoder()
        state = torchvision_state_dict(loaded.state_dict)
        check_state_dict(path, encoder, state, "torchvision VGG-19")
        encoder.load_state_dict(state)
        return _checked_encoder(path, encoder, "torchvision VGG-19", loaded.sha256)
    encoder = Encoder()
    state = {
        key: value
        for key, value in loaded.state_dict.items()
        if (index := ascii_whole(key.split(".")[0])) is not None and index < ENCODER_DEPTH
    }
    if not state:
        raise UserError(f"{path}: not VGG encoder weights; {describe_state_dict(loaded.state_dict, 'VGG encoder')}")
    check_state_dict(path, encoder, state, "VGG encoder")
    encoder.load_state_dict(state)
    return _checked_encoder(path, encoder, "VGG encoder", loaded.sha256)


def _checked_encoder(path: Path, encoder: nn.Module, what: str, sha256: str) -> nn.Module:
    encoder = encoder.eval().requires_grad_(False)
    encoder.loaded_sha256 = sha256
    picture = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))  # (noise: no flat 0.5)
    check_output_finite(path, encoder.features, (picture,), what)
    return encoder


# Decoder architectures by the name our checkpoints carry in their metadata ("architecture").
DECODER_BUILDERS: dict[str, Callable[[], nn.Module]] = {"plain": Decoder, "skip-concat": SkipConcatDecoder}


def trained_vgg_sha256(metadata: dict[str, str]) -> str | None:
    """The SHA-256 of the VGG file a checkpoint's run trained against (`vgg_sha256` of the config in
    its metadata); None where none is recorded (decoder.pth, a file of another tool)."""
    try:
        config = json.loads(metadata.get("config", "{}"))
    except (ValueError, RecursionError):  # (JSON nested past the parser's stack: every command was a traceback)
        return None
    recorded = config.get("vgg_sha256") if isinstance(config, dict) else None
    return recorded if isinstance(recorded, str) else None


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


def paired_encoder_kind(decoder: str | os.PathLike | None = None) -> str:
    """The encoder the decoder a command would load (`decoder`, else as `resolve` finds it) was
    trained against, by its header: the VGG is checked as that encoder, as commands load it
    (`weights info` and `doctor` approved the normalised VGG for a torchvision-trained decoder that
    every command refused). The normalised VGG where none is recorded or no decoder is found."""
    try:
        path = resolve("decoder", decoder)
    except UserError:
        return NORMALISED_VGG
    return header_metadata(path).get("encoder", NORMALISED_VGG)


def note_other_vgg(decoder: nn.Module, vgg_path: str | os.PathLike, vgg_sha256: str) -> None:
    """Say so where `decoder` was trained against another VGG file than the one loaded (`--vgg`):
    it decodes another encoder's features, and its pictures were quietly off."""
    recorded = getattr(decoder, "trained_vgg_sha256", None)
    if recorded not in (None, vgg_sha256):
        from realtime_adain.notes import note

        note(f"{vgg_path}: not the VGG encoder the decoder was trained against (SHA-256 {vgg_sha256[:12]}..., its "
             f"run's {recorded[:12]}...): results may be off; give --vgg the file that run used", once=True)


def load_decoder(path: str | os.PathLike) -> nn.Module:
    """A decoder from the published `decoder.pth` or one of our safetensors checkpoints.

    `decoder.encoder_kind` says which encoder it was trained against (checkpoint metadata
    "encoder"; the published decoder's is the normalised VGG); `decoder.loaded_sha256` is the
    SHA-256 of the bytes it was loaded from.
    """
    path = Path(path)
    loaded = read_weights(path)
    architecture = loaded.metadata.get("architecture", "plain")
    if architecture not in DECODER_BUILDERS:
        raise UserError(f"{path}: unknown decoder architecture {quoted(architecture)}")
    encoder_kind = loaded.metadata.get("encoder", NORMALISED_VGG)
    if encoder_kind not in ENCODER_KINDS:
        raise UserError(f"{path}: the decoder was trained against an unknown encoder {quoted(encoder_kind)}")
    decoder = DECODER_BUILDERS[architecture]()
    check_state_dict(path, decoder, loaded.state_dict, f"{architecture} decoder")
    decoder.load_state_dict({k: loaded.state_dict[k] for k in decoder.state_dict()})
    decoder.encoder_kind, decoder.loaded_sha256 = encoder_kind, loaded.sha256
    decoder.trained_vgg_sha256 = trained_vgg_sha256(loaded.metadata)
    decoder = decoder.eval().requires_grad_(False)
    generator = torch.Generator().manual_seed(0)  # (the same test every load)
    features = _relu_like_features(FEATURE_CHANNELS[3], 2, generator)  # relu4_1 of a 16x16 image
    skips = [_relu_like_features(c, 16 >> i, generator) for i, c in enumerate(FEATURE_CHANNELS[:3])]  # relu1_1..relu3_1
    check_output_finite(path, decoder, (features, skips), f"{architecture} decoder", MAX_TEST_OUTPUT)
    return decoder
