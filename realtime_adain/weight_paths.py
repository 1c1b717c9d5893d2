"""Finding the weights files.

Where weights come from, in order: explicit paths (--vgg/--decoder), the environment variables
REALTIME_ADAIN_VGG / REALTIME_ADAIN_DECODER, then the per-user weights directory (platformdirs,
or REALTIME_ADAIN_HOME). A VGG not found is asked for as the encoder the decoder found was trained
against (`paired_encoder_kind`, from the decoder's safetensors header).
"""

from __future__ import annotations

import os
from pathlib import Path

from realtime_adain.encoders import NORMALISED_VGG, TORCHVISION_VGG19
from realtime_adain.errors import UserError, as_given
from realtime_adain.output_paths import name_too_long
from realtime_adain.release import DECODER_FILENAME, VGG_FILENAME
from realtime_adain.userdirs import HOME_ENV_VAR, deciding_setting, expand_home, weights_dir  # noqa: F401 (part of this module's interface)
from realtime_adain.weight_files import header_metadata
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


def resolve(kind: str, explicit: str | os.PathLike | None = None, encoder: str | None = None) -> Path:
    """The weights file of `kind` ('vgg' or 'decoder') by the resolution order above. `encoder`:
    what a VGG is wanted as (None: as the decoder found was trained against, `paired_encoder_kind`),
    which says where a missing one comes from."""
    if explicit is not None and not str(explicit).strip():  # `--vgg "$UNSET"`: not a wish for the default
        raise UserError(f"an empty --{kind} path (an unset variable?); give a weights file, or leave --{kind} out")
    if explicit:
        path = expand_home(explicit)
        if reason := name_too_long(path):  # (`is_file` raises ENAMETOOLONG: one line quoting the whole name)
            raise UserError(f"{as_given(path)}: {reason}")
        if not path.is_file():
            raise UserError(f"{path}: {_missing(path)}")
        return path
    env = os.environ.get(ENV_VAR[kind])
    if env:
        path = expand_home(env, f" (from ${ENV_VAR[kind]})")
        if reason := name_too_long(path):
            raise UserError(f"{as_given(path)} (from ${ENV_VAR[kind]}): {reason}")
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
