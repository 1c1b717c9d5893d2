"""A decoder checkpoint used with another VGG than its run trained against (session 42): `image`,
`video` and `live` went on without a word (`tools/evaluate.py` refuses it since this session);
the decoder decodes another encoder's features, so its pictures are off. Now a note says so."""

from __future__ import annotations

import json

from safetensors.torch import save_file

from realtime_adain.weight_digests import file_sha256
from realtime_adain.weights import load_decoder


def checkpoint_trained_against(path, decoder_pth, vgg_sha256: str):
    """The test decoder as one of our checkpoints whose config records `vgg_sha256`."""
    decoder = load_decoder(decoder_pth)
    save_file({name: tensor.contiguous() for name, tensor in decoder.state_dict().items()}, str(path),
              metadata={"architecture": "plain", "config": json.dumps({"vgg_sha256": vgg_sha256})})
    return path


def test_a_decoder_trained_against_another_vgg_is_noted(run_cli, weights_env, data_dir, tmp_path):
    vgg, decoder_pth = weights_env
    other = checkpoint_trained_against(tmp_path / "other.safetensors", decoder_pth, "ab" * 32)
    same = checkpoint_trained_against(tmp_path / "same.safetensors", decoder_pth, file_sha256(vgg))
    content, style = data_dir / "content" / "lenna.jpg", data_dir / "style" / "mondrian.jpg"
    code, _, err = run_cli("image", content, "-s", style, "--size", "32", "--style-size", "32", "--decoder", other,
                           "-o", tmp_path / "other.png")
    assert code == 0, err
    assert f"note: {vgg}: not the VGG encoder the decoder was trained against" in err
    code, _, err = run_cli("image", content, "-s", style, "--size", "32", "--style-size", "32", "--decoder", same,
                           "-o", tmp_path / "same.png")
    assert code == 0 and "not the VGG encoder" not in err, err
