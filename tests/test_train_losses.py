"""The paper's losses against the formulas computed independently in float64; the skip decoder."""

from __future__ import annotations

import torch

from realtime_adain import weights
from realtime_adain.decoders import SkipConcatDecoder
from realtime_adain.model import StyleTransferNet, pad_to_multiple
from realtime_adain.networks import Decoder
from realtime_adain.training.losses import AdaINLoss, content_loss, style_loss

EPS = 1e-5


def stats64(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """mu and sigma over H, W as the reference defines them: unbiased variance + eps, in float64."""
    x = x.double()
    n = x.shape[2] * x.shape[3]
    mean = x.sum(dim=(2, 3)) / n
    var = ((x - mean[..., None, None]) ** 2).sum(dim=(2, 3)) / (n - 1)
    return mean, (var + EPS).sqrt()


def mse64(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a.double() - b.double()) ** 2).sum() / a.numel()


def relative_error(value: torch.Tensor, reference: torch.Tensor) -> float:
    return float((value.detach().double() - reference).abs() / reference.abs())


def test_content_and_style_losses_match_the_formulas():
    generator = torch.Generator().manual_seed(0)
    shapes = [(2, 64, 16, 16), (2, 128, 8, 8), (2, 256, 4, 4), (2, 512, 2, 2)]
    output = [torch.rand(s, generator=generator) * 300 for s in shapes]
    style = [torch.rand(s, generator=generator) * 200 + 10 for s in shapes]

    expected_style = torch.zeros((), dtype=torch.float64)
    for o, s in zip(output, style):
        (mo, so), (ms, ss) = stats64(o), stats64(s)
        expected_style += mse64(mo, ms) + mse64(so, ss)
    assert relative_error(style_loss(output, style), expected_style) < 1e-5
    assert relative_error(content_loss(output[-1], style[-1]), mse64(output[-1], style[-1])) < 1e-6


def test_adain_loss_end_to_end_matches_the_paper(published_weights, one_thread):
    """L = ||f(g(t)) - t||^2 + lambda * sum_i (||mu_i(g(t)) - mu_i(s)||^2 + ||sigma_i - sigma_i(s)||^2)."""
    vgg, _ = published_weights
    encoder = weights.load_encoder(vgg).double()
    torch.manual_seed(0)
    decoder = Decoder().double()
    net = AdaINLoss(encoder, decoder, style_weight=10.0)
    generator = torch.Generator().manual_seed(1)
    content = torch.rand(2, 3, 32, 32, generator=generator, dtype=torch.float64)
    style = torch.rand(2, 3, 32, 32, generator=generator, dtype=torch.float64)

    loss_c, loss_s, output = net(content, style)

    with torch.no_grad():
        fc, fs = encoder(content), encoder.features(style)
        (mc, sc), (ms, ss) = stats64(fc), stats64(fs[-1])
        t = (fc - mc[..., None, None]) / sc[..., None, None] * ss[..., None, None] + ms[..., None, None]
        g_t = decoder(t)
        fg = encoder.features(g_t)
        expected_c = mse64(fg[-1], t)
        expected_s = sum(mse64(stats64(a)[0], stats64(b)[0]) + mse64(stats64(a)[1], stats64(b)[1]) for a, b in zip(fg, fs))
    assert torch.allclose(output, g_t)
    assert relative_error(loss_c, expected_c) < 1e-5
    assert relative_error(loss_s, 10.0 * expected_s) < 1e-5

    (loss_c + loss_s).backward()
    assert all(p.grad is None for p in encoder.parameters()), "the encoder is frozen"
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in decoder.parameters())


def test_skip_concat_decoder_uses_content_features_at_the_plain_budget(published_weights, one_thread):
    plain, skip = Decoder(), SkipConcatDecoder()
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert abs(count(skip) / count(plain) - 1) < 0.06  # 3.69 M against 3.51 M

    vgg, _ = published_weights
    net = StyleTransferNet(weights.load_encoder(vgg), skip.eval())
    images = torch.rand(1, 3, 30, 45)  # not a multiple of 8: padded and cropped back
    stats = net.style_stats(torch.rand(1, 3, 32, 32))
    with torch.no_grad():
        out = net(images, stats.mean, stats.std, torch.tensor(1.0))
        # The skips carry the content: changing the content's fine detail changes the output
        # even where relu4_1 (and so t) is the same.
        feats = net.encode(pad_to_multiple(images))
        changed = [f.clone() for f in feats[:-1]]
        changed[0] += 1.0
        t = feats[-1]
        assert not torch.allclose(skip(t, feats[:-1]), skip(t, changed))
    assert out.shape == images.shape
