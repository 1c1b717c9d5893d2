"""The paper's content and style losses of trained decoders on a held-out content/style set.

Every content image is paired with every style image. Images get the training preprocessing
with the crop centred (resize to load x load, central crop x crop), so the numbers are
comparable with the training log and between decoders. Each decoder is evaluated with the
encoder it was trained against (its checkpoint names it); `--vgg` gives that encoder's weights.
Each content and style image is encoded once per encoder, however many pairs and decoders use it.
"""

from __future__ import annotations

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
from realtime_adain.training.losses import AdaINLoss, style_statistics


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
def mean_losses(
    encoder: torch.nn.Module, decoders: Sequence[torch.nn.Module], contents: torch.Tensor, styles: torch.Tensor,
    device: torch.device, batch_size: int = 8, label: str = "evaluate",
) -> list[tuple[float, float]]:
    """Mean (L_c, L_s) of each decoder over every content x style pair, each image encoded once.

    The styles' per-layer statistics (a few KB each) are kept for the whole run. Pairs go
    content-major in chunks of `batch_size`, so only the contents of the current chunk keep their
    features: memory does not grow with the held-out set.
    """
    nets = [AdaINLoss(encoder, decoder, style_weight=1.0).to(device).eval() for decoder in decoders]
    encoder = nets[0].encoder
    levels = 4 if any(decoder.uses_skips for decoder in decoders) else 1  # relu4_1, plus skips if taken
    batches = [style_statistics(encoder.features(styles[i : i + batch_size].to(device)))
               for i in range(0, len(styles), batch_size)]
    style_stats = [tuple(torch.cat(parts) for parts in zip(*layer)) for layer in zip(*batches)]
    pairs = [(c, s) for c in range(len(contents)) for s in range(len(styles))]
    encoded: dict[int, list[torch.Tensor]] = {}  # content index -> its features, for the current chunk
    sums = [[0.0, 0.0] for _ in nets]
    for start in tqdm(range(0, len(pairs), batch_size), desc=label, unit="batch", disable=None):
        chunk = pairs[start : start + batch_size]
        needed = sorted({c for c, _ in chunk})
        encoded = {c: feats for c, feats in encoded.items() if c >= needed[0]}
        new = [c for c in needed if c not in encoded]
        if new:
            feats = encoder.features(contents[new].to(device))[-levels:]
            encoded.update({c: [f[j : j + 1] for f in feats] for j, c in enumerate(new)})
        content_feats = [torch.cat([encoded[c][level] for c, _ in chunk]) for level in range(levels)]
        style_index = torch.tensor([s for _, s in chunk], device=device)
        chunk_stats = [(mean[style_index], std[style_index]) for mean, std in style_stats]
        for net, total in zip(nets, sums):
            loss_c, loss_s, _ = net.from_features(content_feats, chunk_stats)  # means over the chunk
            total[0] += float(loss_c) * len(chunk)
            total[1] += float(loss_s) * len(chunk)
    return [(content_sum / len(pairs), style_sum / len(pairs)) for content_sum, style_sum in sums]


def evaluate(
    decoders: Sequence[str], vgg: str | None, content_dir: str, style_dir: str, load_size: int = 512,
    crop_size: int = 256, style_weight: float = 10.0, device: str = "auto", batch_size: int = 8,
) -> list[Evaluation]:
    """One Evaluation per decoder, in the order given; decoders sharing an encoder share its encodings."""
    check_sizes(load_size, crop_size)
    for path in decoders:
        weights.resolve("decoder", path)  # a missing file fails before any image is read
    contents = load_centered(list_images(content_dir, "content"), load_size, crop_size, warn)
    styles = load_centered(list_images(style_dir, "style"), load_size, crop_size, warn)
    for tensor, root, what in ((contents, content_dir, "content"), (styles, style_dir, "style")):
        if len(tensor) == 0:
            raise UserError(f"{root}: none of the {what} images is usable")
    torch_device = pick_device(device)
    loaded = [weights.load_decoder(path) for path in decoders]
    losses: dict[int, tuple[float, float]] = {}
    for kind in dict.fromkeys(decoder.encoder_kind for decoder in loaded):
        group = [i for i, decoder in enumerate(loaded) if decoder.encoder_kind == kind]
        encoder = weights.load_encoder(weights.resolve("vgg", vgg), kind)
        label = Path(decoders[group[0]]).name if len(group) == 1 else f"{len(group)} decoders"
        group_losses = mean_losses(encoder, [loaded[i] for i in group], contents, styles, torch_device, batch_size, label)
        losses.update(zip(group, group_losses))
    pairs = len(contents) * len(styles)
    return [
        Evaluation(
            decoder=str(path), architecture=decoder.kind, encoder=decoder.encoder_kind, pairs=pairs,
            content_loss=losses[i][0], style_loss=losses[i][1],
            total_loss=losses[i][0] + style_weight * losses[i][1], style_weight=style_weight,
        )
        for i, (path, decoder) in enumerate(zip(decoders, loaded))
    ]


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
