"""Session 47: weights files whose metadata is hostile or names another encoder, the code an
engine's key covers, and what `export`, `engines list` and `weights info` print (h3)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from cli_support import one_error_line
from realtime_adain.doctor import storage
from realtime_adain.encoders import TORCHVISION_VGG19
from realtime_adain.synthetic import write_torchvision_vgg


def checkpoint(path: Path, decoder_pth: Path, **metadata: str) -> Path:
    """The decoder of `decoder_pth` as a safetensors checkpoint carrying `metadata`."""
    state = torch.load(decoder_pth, weights_only=True)
    save_file({key: value.contiguous() for key, value in state.items()}, path, metadata=metadata)
    return path


def test_a_config_nested_past_the_json_parsers_stack_records_no_vgg(published_weights, tmp_path):
    """A decoder whose `config` metadata is 100,000 `[` raised RecursionError out of json.loads:
    every command given it was a traceback, and doctor "check failed RecursionError"."""
    from realtime_adain.training.checkpoint import recorded_vgg_sha256
    from realtime_adain.weights import load_decoder

    nested = checkpoint(tmp_path / "nested.safetensors", published_weights[1], config="[" * 100_000)
    assert load_decoder(nested).trained_vgg_sha256 is None
    assert recorded_vgg_sha256(nested) is None


def test_weights_info_and_doctor_check_the_vgg_as_the_decoders_encoder(published_weights, run_cli, monkeypatch,
                                                                        tmp_path):
    """A decoder trained against torchvision's VGG-19 with the normalised VGG: `weights info` said
    both usable (exit 0) and doctor "problems: none", while every command refused the pair."""
    vgg, decoder_pth = published_weights
    decoder = checkpoint(tmp_path / "tv.safetensors", decoder_pth, encoder=TORCHVISION_VGG19)
    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("REALTIME_ADAIN_VGG", str(vgg))
    monkeypatch.setenv("REALTIME_ADAIN_DECODER", str(decoder))

    code, out, _ = run_cli("weights", "info")
    assert code == 1 and "status  not usable: this is the normalised VGG; torchvision's VGG-19 encoder" in out, out
    finding = storage._check_weights_file("vgg")
    assert finding.level == "problem" and "this is the normalised VGG" in finding.value, finding
    assert "vgg19-dcbb9e9d.pth" in finding.fix


@pytest.mark.slow  # (the usable pair; the check of the fix is the test above)
def test_torchvisions_vgg_with_a_decoder_trained_against_it_is_usable(published_weights, run_cli, monkeypatch,
                                                                      tmp_path):
    """(It was "not usable: not VGG encoder weights" in `weights info` and doctor, while the
    commands ran the pair.)"""
    decoder = checkpoint(tmp_path / "tv.safetensors", published_weights[1], encoder=TORCHVISION_VGG19)
    vgg = write_torchvision_vgg(tmp_path / "vgg19.pth")
    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("REALTIME_ADAIN_VGG", str(vgg))
    monkeypatch.setenv("REALTIME_ADAIN_DECODER", str(decoder))

    code, out, err = run_cli("weights", "info")
    assert code == 0 and "holds    torchvision VGG-19 encoder up to relu4_1 (21 modules used)" in out, (out, err)
    assert storage._check_weights_file("vgg").level == "ok"


def test_the_engine_key_covers_every_module_the_network_is_built_from():
    """GRAPH_MODULES left out decoders.py and encoders.py: an export of a skip-concat decoder or a
    torchvision encoder kept its cache key after their code changed."""
    from realtime_adain.decoders import SkipConcatDecoder
    from realtime_adain.encoders import TorchvisionVGGEncoder
    from realtime_adain.engines.cache import GRAPH_MODULES
    from realtime_adain.model import StyleTransferNet
    from realtime_adain.networks import Decoder, Encoder

    package = Path(sys.modules["realtime_adain"].__file__).parent
    nets = StyleTransferNet(Encoder(), Decoder()), StyleTransferNet(TorchvisionVGGEncoder(), SkipConcatDecoder())
    modules = {type(module).__module__ for net in nets for module in net.modules()}
    files = {str(Path(sys.modules[name].__file__).relative_to(package)) for name in modules
             if name.startswith("realtime_adain.")}
    assert files == {"model.py", "networks.py", "decoders.py", "encoders.py"}
    assert files <= set(GRAPH_MODULES)


@pytest.mark.slow  # (an ONNX export: 25 s)
def test_an_export_to_a_full_stdout_names_standard_output(weights_env, monkeypatch, capsys, tmp_path):
    """`export ... >/dev/full` ended "error: No space left on device" after the export was written."""
    from realtime_adain.cli import main

    output = tmp_path / "y.onnx"
    with open("/dev/full", "w") as full, monkeypatch.context() as patch:
        patch.setattr(sys, "stdout", full)
        code = main(["export", "--format", "onnx", "-o", str(output)])
    assert one_error_line(capsys.readouterr().err, code) == (
        f"error: standard output: cannot write (No space left on device); {output} was exported")
    assert output.stat().st_size > 1 << 20


def test_engines_list_names_the_file_of_an_entry_without_metadata(run_cli, monkeypatch, tmp_path):
    """Nine damaged entries were nine identical "? ? ? (no metadata: will be rebuilt)" rows."""
    names = [f"onnx-fp32-dynamic-{digit * 20}.onnx" for digit in "12"]
    for name in names:
        (tmp_path / name).write_text("no sidecar")
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(tmp_path))
    code, out, err = run_cli("engines", "list")
    rows = out.splitlines()[2:]
    assert code == 0 and len(rows) == 2, (out, err)
    assert all(row.endswith(f"{name} (no readable metadata: will be rebuilt)") for row, name in zip(rows, names)), rows


def test_weights_info_shortens_a_long_metadata_key(weights_env, run_cli, tmp_path):
    """A 3000-character metadata key padded every row of the decoder to its width."""
    decoder = checkpoint(tmp_path / "d.safetensors", weights_env[1], **{"k" * 3000: "v"})
    code, out, err = run_cli("weights", "info", "--decoder", decoder)
    assert code == 0, (out, err)
    assert max(len(line) for line in out.splitlines() if "/" not in line) < 120, out  # (paths: as long as they are)
    assert f"  meta {'k' * 24}...  v" in out.splitlines(), out
