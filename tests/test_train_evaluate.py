"""tools/evaluate.py's core: each image encoded once per encoder, the same losses as pair by pair."""

from __future__ import annotations

import pytest
import torch

from realtime_adain import weights
from realtime_adain.decoders import SkipConcatDecoder
from realtime_adain.training import checkpoint_writing
from realtime_adain.training.image_listing import list_images
from realtime_adain.training.evaluate import evaluate, load_centered
from realtime_adain.training.losses import AdaINLoss

LOAD, CROP = 72, 64


@pytest.fixture
def held_out(data_dir, tmp_path):
    """2 contents x 2 styles of the real test material."""
    root = tmp_path / "held_out"
    for kind, names in (("content", ("brad_pitt.jpg", "flowers.jpg")), ("style", ("goeritz.jpg", "asheville.jpg"))):
        (root / kind).mkdir(parents=True)
        for name in names:
            (root / kind / name).symlink_to(data_dir / kind / name)
    return root / "content", root / "style"


@pytest.fixture
def decoders(published_weights, tmp_path):
    """The published-format plain decoder and a skip-concat checkpoint (which also needs relu1_1..relu3_1)."""
    _, plain = published_weights
    torch.manual_seed(3)
    skip = tmp_path / "skip.safetensors"
    checkpoint_writing.save_decoder(skip, SkipConcatDecoder(), "skip-concat", weights.NORMALISED_VGG, 0, {})
    return [plain, skip]


@torch.no_grad()
def pair_by_pair(decoder_path, vgg, contents, styles) -> tuple[float, float]:
    """The straightforward way: fresh encoder per decoder, both images encoded for every pair."""
    decoder = weights.load_decoder(decoder_path)
    net = AdaINLoss(weights.load_encoder(vgg, decoder.encoder_kind), decoder, style_weight=1.0).eval()
    losses = [net(contents[c : c + 1], styles[s : s + 1])[:2] for c in range(len(contents)) for s in range(len(styles))]
    return (sum(float(c) for c, _ in losses) / len(losses), sum(float(s) for _, s in losses) / len(losses))


@pytest.mark.slow  # (default run's time: an evaluation run)
def test_each_image_is_encoded_once_and_the_losses_are_unchanged(published_weights, decoders, held_out,
                                                                 monkeypatch, one_thread):
    vgg, _ = published_weights
    content_dir, style_dir = held_out
    loads, encoded_images = [], []
    real_load_encoder = weights.load_encoder

    def observed_load_encoder(*args, **kwargs):  # the real encoder, its first layer counting the images it sees
        encoder = real_load_encoder(*args, **kwargs)
        encoder[0].register_forward_pre_hook(lambda _module, inputs: encoded_images.append(inputs[0].shape[0]))
        loads.append(encoder)
        return encoder

    monkeypatch.setattr(weights, "load_encoder", observed_load_encoder)
    results = evaluate([str(d) for d in decoders], str(vgg), str(content_dir), str(style_dir), LOAD, CROP,
                       style_weight=10.0, device="cpu", batch_size=3)  # chunks straddle contents
    monkeypatch.undo()

    contents_n, styles_n, pairs = 2, 2, 4
    assert len(loads) == 1  # one encoder for both decoders
    # contents + styles once each, then the stylized output of every pair for every decoder
    assert sum(encoded_images) == contents_n + styles_n + len(decoders) * pairs  # 12, was 3 x 4 x 2 = 24

    contents = load_centered(list_images(str(content_dir), "content"), LOAD, CROP, print)
    styles = load_centered(list_images(str(style_dir), "style"), LOAD, CROP, print)
    for result, decoder in zip(results, decoders):
        content_loss, style_loss = pair_by_pair(decoder, vgg, contents, styles)
        assert result.decoder == str(decoder) and result.pairs == pairs
        assert result.content_loss == pytest.approx(content_loss, rel=1e-5)  # batching reorders float sums only
        assert result.style_loss == pytest.approx(style_loss, rel=1e-5)
        assert result.total_loss == pytest.approx(result.content_loss + 10.0 * result.style_loss, rel=1e-12)
    assert [r.architecture for r in results] == ["plain", "skip-concat"]
    assert results[0].content_loss != results[1].content_loss
