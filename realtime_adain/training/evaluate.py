"""The paper's content and style losses of trained decoders on a held-out content/style set.

Every content image is paired with every style image. Images get the training preprocessing
with the crop centred (resize to load x load, central crop x crop), so the numbers are
comparable with the training log and between decoders. Each decoder is evaluated with the
encoder it was trained against (its checkpoint names it); `--vgg` gives that encoder's weights.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import torch
from tqdm import tqdm

from realtime_adain import weights
from realtime_adain.errors import UserError
from realtime_adain.imageio import resize
from realtime_adain.stylizer import pick_device
from realtime_adain.training.data import check_sizes, list_images, read_training_image, warn
from realtime_adain.training.losses import AdaINLoss


@dataclass
class Evaluation:
    decoder: str
    architecture: str
    encoder: str
    pairs: int
    content_loss: float  # the paper's L_c, mean over pairs
    style_loss: float  # the paper's L_s (unweighted), mean over pairs
    total_loss: float  # L_c + style_weight * L_s
    style_weight: float


def load_centered(paths: Sequence[Path], load_size: int, crop_size: int, warn) -> torch.Tensor:  # noqa: ANN001
    """(N, 3, crop, crop) in [0, 1]; unusable files are left out with a warning."""
    crops = []
    offset = (load_size - crop_size) // 2
    for path in paths:
        image, why = read_training_image(path)
        if image is None:
            warn(f"warning: skipped {path}: {why}")
            continue
        image = resize(image, (load_size, load_size))[offset : offset + crop_size, offset : offset + crop_size]
        crops.append(torch.from_numpy(image.copy()).permute(2, 0, 1))
    return torch.stack(crops).float().div_(255.0) if crops else torch.empty(0)


@torch.no_grad()
def evaluate_decoder(
    decoder_path: str | os.PathLike, vgg: str | None, contents: torch.Tensor, styles: torch.Tensor,
    device: torch.device, style_weight: float = 10.0, batch_size: int = 8,
) -> Evaluation:
    decoder = weights.load_decoder(decoder_path)
    encoder = weights.load_encoder(weights.resolve("vgg", vgg), decoder.encoder_kind)
    net = AdaINLoss(encoder, decoder, style_weight=1.0).to(device).eval()
    pairs = [(c, s) for c in range(len(contents)) for s in range(len(styles))]
    content_sum = style_sum = 0.0
    for start in tqdm(range(0, len(pairs), batch_size), desc=Path(decoder_path).name, unit="batch", disable=None):
        chunk = pairs[start : start + batch_size]
        content = contents[[c for c, _ in chunk]].to(device)
        style = styles[[s for _, s in chunk]].to(device)
        loss_c, loss_s, _ = net(content, style)  # means over the chunk
        content_sum += float(loss_c) * len(chunk)
        style_sum += float(loss_s) * len(chunk)
    content_loss, style_loss = content_sum / len(pairs), style_sum / len(pairs)
    return Evaluation(
        decoder=str(decoder_path), architecture=decoder.kind, encoder=decoder.encoder_kind,
        pairs=len(pairs), content_loss=content_loss, style_loss=style_loss,
        total_loss=content_loss + style_weight * style_loss, style_weight=style_weight,
    )


def evaluate(
    decoders: Sequence[str], vgg: str | None, content_dir: str, style_dir: str, load_size: int = 512,
    crop_size: int = 256, style_weight: float = 10.0, device: str = "auto", batch_size: int = 8,
) -> list[Evaluation]:
    check_sizes(load_size, crop_size)
    for path in decoders:
        weights.resolve("decoder", path)  # a missing file fails before any image is read
    contents = load_centered(list_images(content_dir, "content"), load_size, crop_size, warn)
    styles = load_centered(list_images(style_dir, "style"), load_size, crop_size, warn)
    for tensor, root, what in ((contents, content_dir, "content"), (styles, style_dir, "style")):
        if len(tensor) == 0:
            raise UserError(f"{root}: none of the {what} images is usable")
    torch_device = pick_device(device)
    return [evaluate_decoder(p, vgg, contents, styles, torch_device, style_weight, batch_size) for p in decoders]


def format_table(results: Sequence[Evaluation]) -> str:
    weight = results[0].style_weight if results else 10.0
    header = f"{'decoder':<48} {'arch':<12} {'content':>10} {'style':>10} {f'total(l={weight:g})':>14}"
    rows = [header]
    for r in results:
        name = r.decoder if len(r.decoder) <= 48 else "..." + r.decoder[-45:]
        rows.append(f"{name:<48} {r.architecture:<12} {r.content_loss:>10.4g} {r.style_loss:>10.4g} {r.total_loss:>14.4g}")
    return "\n".join(rows)


def as_dicts(results: Sequence[Evaluation]) -> list[dict]:
    return [asdict(r) for r in results]
