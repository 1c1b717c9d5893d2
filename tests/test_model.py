"""The network against an independent plain re-implementation of the reference forward pass."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from realtime_adain import weight_digests, weights
from realtime_adain.adain import StyleStats
from realtime_adain.errors import UserError
from realtime_adain.imageio import read_image
from realtime_adain.networks import ENCODER_DEPTH, full_vgg_layers
from realtime_adain.picture_sizes import fit_short_side

# The reference (naoto0804/pytorch-AdaIN net.py), written out as operations on the raw state dicts.
VGG_OPS = ["conv0"] + ["c", "c", "p"] + ["c", "c", "p"] + ["c"] * 4 + ["p"] + ["c"]  # up to relu4_1
DECODER_OPS = ["c", "u", "c", "c", "c", "c", "u", "c", "c", "u", "c", "last"]


def reference_encode(state: dict, x: torch.Tensor) -> torch.Tensor:
    conv_keys = iter(sorted({int(k.split(".")[0]) for k in state if k.endswith("weight")}))
    for op in VGG_OPS:
        if op == "p":
            x = F.max_pool2d(x, 2, 2, ceil_mode=True)
            continue
        i = next(conv_keys)
        if op == "conv0":
            x = F.conv2d(x, state[f"{i}.weight"], state[f"{i}.bias"])
        else:
            x = F.relu(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), state[f"{i}.weight"], state[f"{i}.bias"]))
    return x


def reference_decode(state: dict, x: torch.Tensor) -> torch.Tensor:
    conv_keys = iter(sorted({int(k.split(".")[0]) for k in state if k.endswith("weight")}))
    for op in DECODER_OPS:
        if op == "u":
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            continue
        i = next(conv_keys)
        x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), state[f"{i}.weight"], state[f"{i}.bias"])
        x = x if op == "last" else F.relu(x)
    return x


def reference_mean_std(feat: torch.Tensor, eps: float = 1e-5):
    n, c = feat.shape[:2]
    var = feat.view(n, c, -1).var(dim=2) + eps
    return feat.view(n, c, -1).mean(dim=2).view(n, c, 1, 1), var.sqrt().view(n, c, 1, 1)


def reference_adain(content_f: torch.Tensor, style_f: torch.Tensor) -> torch.Tensor:
    s_mean, s_std = reference_mean_std(style_f)
    c_mean, c_std = reference_mean_std(content_f)
    return (content_f - c_mean) / c_std * s_std + s_mean


def reference_style_transfer(vgg, dec, content, style, alpha=1.0, interpolation_weights=None):
    """test.py's style_transfer(): style images batched when interpolating."""
    content_f = reference_encode(vgg, content)
    style_f = reference_encode(vgg, style)
    if interpolation_weights:
        base = reference_adain(content_f.expand(style_f.shape[0], -1, -1, -1), style_f)
        feat = sum(w * base[i : i + 1] for i, w in enumerate(interpolation_weights))
    else:
        feat = reference_adain(content_f, style_f)
    feat = feat * alpha + content_f * (1 - alpha)
    return reference_decode(dec, feat)


@pytest.fixture(scope="module")
def raw_states(published_weights):
    vgg_path, decoder_path = published_weights
    return (torch.load(vgg_path, weights_only=True), torch.load(decoder_path, weights_only=True))


@pytest.fixture(scope="module")
def images(data_dir):
    content = fit_short_side(read_image(data_dir / "content" / "lenna.jpg"), 64)[:64, :88]
    style = fit_short_side(read_image(data_dir / "style" / "woman_with_hat_matisse.jpg"), 64)[:64, :64]
    style2 = fit_short_side(read_image(data_dir / "style" / "mondrian.jpg"), 64)[:64, :64]
    return content, style, style2


def as_batch(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0


def test_published_files_load_with_trailing_layers_ignored(published_weights, raw_states):
    vgg_path, _ = published_weights
    assert len([k for k in raw_states[0] if k.endswith("weight")]) == 17  # the whole VGG-19
    encoder = weights.load_encoder(vgg_path)
    assert len(encoder) == 31
    torch.testing.assert_close(encoder[29].weight, raw_states[0]["29.weight"])
    # the encoder builds only the layers it loads: the same modules as the whole VGG's first 31
    assert [repr(m) for m in full_vgg_layers(ENCODER_DEPTH)] == [repr(m) for m in full_vgg_layers()[:ENCODER_DEPTH]]


@pytest.mark.parametrize("alpha", [1.0, 0.6, 0.0])
def test_matches_reference_forward(stylizer, raw_states, images, alpha):
    content, style, _ = images
    stats = stylizer.style_stats(style)
    ours = stylizer.net(as_batch(content), stats.mean, stats.std, torch.tensor(alpha))
    expected = reference_style_transfer(*raw_states, as_batch(content), as_batch(style), alpha)
    assert ours.shape == expected.shape
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-4)
    # And the uint8 path rounds exactly as torchvision's save_image.
    expected_uint8 = expected.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)[0].permute(1, 2, 0).numpy()
    assert np.abs(stylizer.stylize(content, stats, alpha).astype(int) - expected_uint8).max() <= 1


def test_mix_matches_reference_interpolation(stylizer, raw_states, images):
    content, style, style2 = images
    weights_ = [0.7, 0.3]
    mixed = StyleStats.mix([stylizer.style_stats(style), stylizer.style_stats(style2)], weights_)
    ours = stylizer.net(as_batch(content), mixed.mean, mixed.std, torch.tensor(1.0))
    styles = torch.cat([as_batch(style), as_batch(style2)])
    expected = reference_style_transfer(*raw_states, as_batch(content), styles, 1.0, weights_)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-4)


def test_masked_regions_match_per_region_adain(stylizer, raw_states, images):
    """As the original implementation: each region's features normalised by its own statistics."""
    content, style, style2 = images
    mask = np.zeros(content.shape[:2], dtype=np.int64)
    mask[:, 40:] = 1  # left 40 px: style 0; right 48 px: style 1 (feature columns 0-4 | 5-10)
    stats = [stylizer.style_stats(style), stylizer.style_stats(style2)]
    ours = stylizer.net.forward_masked(as_batch(content), torch.from_numpy(mask), stats, torch.tensor(1.0))

    vgg, dec = raw_states
    content_f = reference_encode(vgg, as_batch(content))
    target = content_f.clone()
    for cols, s in ((slice(0, 5), style), (slice(5, 11), style2)):
        region = content_f[:, :, :, cols].reshape(1, 512, -1, 1)
        adapted = reference_adain(region, reference_encode(vgg, as_batch(s)))
        target[:, :, :, cols] = adapted.reshape(1, 512, content_f.shape[2], -1)
    torch.testing.assert_close(ours, reference_decode(dec, target), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape", [(333, 517), (17, 23), (8, 8), (1, 1)])
@pytest.mark.slow_cases('shape0')  # (default run's time: 3 s)
def test_any_size_keeps_its_size(stylizer, images, shape):
    _, style, _ = images
    frame = np.random.default_rng(0).integers(0, 256, size=shape + (3,), dtype=np.uint8)
    out = stylizer.stylize(frame, stylizer.style_stats(style))
    assert out.shape == frame.shape and out.dtype == np.uint8


def test_batch_equals_single_frames(stylizer, images):
    content, style, _ = images
    stats = stylizer.style_stats(style)
    batch = np.stack([content, content[:, ::-1]])
    out = stylizer.stylize(batch, stats)
    np.testing.assert_array_equal(out[1], stylizer.stylize(np.ascontiguousarray(content[:, ::-1]), stats))


def test_a_weights_digest_is_remembered_until_the_file_changes(tmp_path, monkeypatch):
    path, other = tmp_path / "decoder.pth", tmp_path / "new.pth"
    path.write_bytes(b"a" * 1000)
    assert weight_digests.weights_sha256(path) == hashlib.sha256(b"a" * 1000).hexdigest()
    with monkeypatch.context() as patched:
        patched.setattr(weight_digests, "file_sha256", lambda _: pytest.fail("an unchanged file was read again"))
        assert weight_digests.weights_sha256(path) == hashlib.sha256(b"a" * 1000).hexdigest()
    other.write_bytes(b"b" * 1000)
    os.replace(other, path)  # as checkpoints are written: the same name and size, another file
    assert weight_digests.weights_sha256(path) == hashlib.sha256(b"b" * 1000).hexdigest()
    before = os.stat(path)
    with path.open("r+b") as handle:  # rewritten in place, the same inode and size
        handle.write(b"c" * 1000)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns - 10**9))  # (within one clock tick)
    assert weight_digests.weights_sha256(path) == hashlib.sha256(b"c" * 1000).hexdigest()
    with pytest.raises(UserError, match="cannot read it"):
        weight_digests.weights_sha256(tmp_path / "missing.pth")


def test_wrong_files_are_named_clearly(published_weights, tmp_path):
    vgg_path, decoder_path = published_weights
    with pytest.raises(UserError, match="not VGG encoder weights; it looks like decoder weights"):
        weights.load_encoder(decoder_path)
    with pytest.raises(UserError, match="not plain decoder weights; it looks like VGG encoder"):
        weights.load_decoder(vgg_path)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00not a torch file" * 10)
    with pytest.raises(UserError, match="not a readable weights file"):
        weights.load_encoder(garbage)
    text = tmp_path / "notes.pth"
    text.write_text("hi\n")  # torch.load's own complaint would be "KeyError: '105'"
    with pytest.raises(UserError, match=r"not a readable weights file \(not a PyTorch or safetensors file"):
        weights.load_encoder(text)
    superscript = tmp_path / "superscript.pth"  # "²" is a digit to str.isdigit, not to int: was a ValueError
    torch.save({"\u00b2.weight": torch.zeros(1)}, superscript)
    with pytest.raises(UserError, match="not VGG encoder weights"):
        weights.load_encoder(superscript)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(vgg_path.read_bytes()[: 1 << 16])
    with pytest.raises(UserError, match=r"not a readable weights file \(a damaged or incomplete PyTorch archive\)$"):
        weights.load_encoder(truncated)


def test_auto_precision_is_fp16_on_a_gpu_and_fp32_on_the_cpu():
    from realtime_adain.devices import pick_dtype

    assert pick_dtype("auto", torch.device("cpu")) == torch.float32
    assert pick_dtype("auto", torch.device("cuda")) == torch.float16  # a device name; nothing runs on it
    with pytest.raises(UserError, match=r"--dtype fp16 needs a GPU \(CUDA or an Apple GPU, mps\); use fp32 on the CPU"):
        pick_dtype("fp16", torch.device("cpu"))
    with pytest.raises(UserError, match=r"--dtype bf16 needs a GPU \(CUDA\); use fp32 on the CPU"):
        pick_dtype("bf16", torch.device("cpu"))
