"""The training's temporal consistency term: against a direct computation, and a tiny run lowers it."""

from __future__ import annotations

import torch

from realtime_adain import weights
from realtime_adain.networks import Decoder
from realtime_adain.training.config import TrainConfig
from realtime_adain.training.losses import AdaINLoss, affine_warp, random_affine, temporal_loss
from realtime_adain.training.step import TrainingStep
from train_support import tiny_args, train_tool  # noqa: F401  (fixture)

SIZE = 32


def shift_theta(pixels: int, n: int = 2) -> torch.Tensor:
    """affine_grid matrices that sample x + `pixels` (align_corners=False: a pixel is 2 / SIZE)."""
    theta = torch.zeros(n, 2, 3, dtype=torch.float64)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2] = 2 * pixels / SIZE
    return theta


def test_temporal_term_matches_a_direct_computation():
    generator = torch.Generator().manual_seed(0)
    output = torch.rand(2, 3, SIZE, SIZE, generator=generator, dtype=torch.float64)
    moved = torch.rand(2, 3, SIZE, SIZE, generator=generator, dtype=torch.float64)
    warped, inside = affine_warp(output, shift_theta(2))
    assert torch.allclose(warped[..., :-2], output[..., 2:]) and inside[..., :-2].all() and not inside[..., -2:].any()
    direct = ((moved[..., :-2] - output[..., 2:]) ** 2).mean()
    assert torch.allclose(temporal_loss(moved, output, shift_theta(2)), direct)


def test_random_affine_is_a_small_motion():
    torch.manual_seed(0)
    theta = random_affine(64)
    identity = torch.tensor([[1.0, 0, 0], [0, 1, 0]])
    assert (theta - identity).abs().amax() < 0.1
    assert (theta - identity).abs().amax() > 0.01


def test_adain_loss_temporal_is_the_term_on_its_outputs(published_weights, one_thread):
    vgg, _ = published_weights
    torch.manual_seed(0)
    net = AdaINLoss(weights.load_encoder(vgg), Decoder(), temporal_weight=3.0, noise=0.0)
    generator = torch.Generator().manual_seed(1)
    content, style = (torch.rand(2, 3, SIZE, SIZE, generator=generator) for _ in range(2))
    theta = shift_theta(2).float()
    loss_c, loss_s, loss_t, output = net(content, style, temporal=True, theta=theta)
    plain_c, plain_s, plain_output = net(content, style)
    assert torch.equal(loss_c, plain_c) and torch.equal(loss_s, plain_s) and torch.equal(output, plain_output)
    with torch.no_grad():
        moved_content = affine_warp(content, theta)[0]
        _, _, moved_output = net(moved_content, style)
    assert torch.allclose(loss_t, 3.0 * temporal_loss(moved_output, output, theta), rtol=1e-4)


def test_a_tiny_run_lowers_the_term(published_weights, one_thread):
    vgg, decoder = published_weights  # a decoder whose output varies, so the term is not ~0 already
    torch.manual_seed(0)
    config = TrainConfig(temporal_weight=10.0, style_weight=0.0, content_weight=0.0, lr=2e-4, lr_decay=0.0, amp="off")
    step = TrainingStep(weights.load_encoder(vgg), weights.load_decoder(decoder).requires_grad_(True), config,
                        torch.device("cpu"))
    generator = torch.Generator().manual_seed(2)
    content, style = (torch.rand(2, 3, SIZE, SIZE, generator=generator) for _ in range(2))
    theta = random_affine(2) * 1.0

    def term() -> float:
        torch.manual_seed(3)  # the same noise every time
        with torch.no_grad():
            return float(step.net(content, style, temporal=True, theta=theta)[2])

    before = term()
    for _ in range(8):
        step.step(content, style)
    assert term() < 0.7 * before


def test_cli_takes_the_weight_and_rejects_a_negative_one(train_tool, data_dir, published_weights, tmp_path):  # noqa: F811
    vgg, _ = published_weights
    code, _, err = train_tool(*tiny_args(data_dir, vgg, tmp_path / "bad", 1, "--temporal-weight", "-1"))
    assert code == 2 and "argument --temporal-weight: -1 is outside 0..1e+12" in err
    code, _, err = train_tool(*tiny_args(data_dir, vgg, tmp_path / "run", 1, "--temporal-weight", "1"))
    assert code == 0, err
