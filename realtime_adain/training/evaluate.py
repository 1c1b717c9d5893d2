"""The paper's content and style losses of trained decoders on a held-out content/style set.

Every content image is paired with every style image. Images get the training preprocessing
with the crop centred (resize to load x load, central crop x crop), so the numbers are
comparable with the training log and between decoders. Each decoder is evaluated with the
encoder it was trained against (its checkpoint names it); `--vgg` gives that encoder's weights.
Each content and style image is encoded once per encoder, however many pairs and decoders use it,
and read as it is needed: memory does not grow with the held-out set.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import torch
from tqdm import tqdm

from realtime_adain import weight_paths, weights
from realtime_adain.progress_bars import bar_off
from realtime_adain.errors import UserError, one_line
from realtime_adain.devices import pick_device
from realtime_adain.picture_sizes import resize
from realtime_adain.training.checkpoint import recorded_vgg_sha256
from realtime_adain.training.image_listing import list_images
from realtime_adain.training.item_streams import check_sizes
from realtime_adain.training.skipped_files import warn
from realtime_adain.training.training_images import check_readable, read_training_image
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


def centered_crops(paths: Sequence[Path], load_size: int, crop_size: int, warn) -> Iterator[torch.Tensor]:  # noqa: ANN001
    """(3, crop, crop) uint8 of each file in turn, as it is read; unusable files are left out with a warning."""
    offset = (load_size - crop_size) // 2
    for path in paths:
        image, why = read_training_image(path)
        if image is None:
            warn(f"warning: skipped {path}: {why}")
            continue
        image = resize(image, (load_size, load_size))[offset : offset + crop_size, offset : offset + crop_size]
        yield torch.from_numpy(image.copy()).permute(2, 0, 1)


def batched(crops: Iterable[torch.Tensor], size: int) -> Iterator[torch.Tensor]:
    """The crops in batches of up to `size`, (n, 3, crop, crop) in [0, 1]."""
    batch = []
    for crop in crops:
        batch.append(crop)
        if len(batch) == size:
            yield torch.stack(batch).float().div_(255.0)
            batch = []
    if batch:
        yield torch.stack(batch).float().div_(255.0)


def load_centered(paths: Sequence[Path], load_size: int, crop_size: int, warn) -> torch.Tensor:  # noqa: ANN001
    """(N, 3, crop, crop) in [0, 1], all at once (a few images: `evaluate` streams them)."""
    return next(batched(centered_crops(paths, load_size, crop_size, warn), len(paths)), torch.empty(0))


@torch.no_grad()
def mean_losses(
    encoder: torch.nn.Module, decoders: Sequence[torch.nn.Module], contents: Iterable[torch.Tensor],
    styles: Iterable[torch.Tensor], device: torch.device, batch_size: int = 8, label: str = "evaluate",
    content_batches: int | None = None,
) -> tuple[list[tuple[float, float]], int]:
    """Mean (L_c, L_s) of each decoder over every content x style pair, each image encoded once;
    and the number of pairs. `contents` and `styles` are batches in [0, 1] (`batched`).

    The styles' per-layer statistics (a few KB each) are kept for the whole run. The contents are
    taken a batch at a time, as they are read, and their pairs go in chunks of `batch_size`: only
    the current batch is held, with its features, so memory does not grow with the held-out set
    (all crops at once, as float32, were 31 GB for COCO's 40k validation pictures at 256).
    """
    nets = [AdaINLoss(encoder, decoder, style_weight=1.0).to(device).eval() for decoder in decoders]
    encoder = nets[0].encoder
    levels = 4 if any(decoder.uses_skips for decoder in decoders) else 1  # relu4_1, plus skips if taken
    batches = [style_statistics(encoder.features(batch.to(device))) for batch in styles]
    sums, pairs = [[0.0, 0.0] for _ in nets], 0
    if not batches:  # (no style was usable after all: the caller says so)
        return [(math.nan, math.nan) for _ in nets], 0
    style_stats = [tuple(torch.cat(parts) for parts in zip(*layer)) for layer in zip(*batches)]
    style_count = len(style_stats[0][0])
    # (`label` escaped: a decoder's file name drove the terminal)
    for batch in tqdm(contents, total=content_batches, desc=one_line(label), unit="batch", disable=bar_off()):
        features = encoder.features(batch.to(device))[-levels:]
        batch_pairs = [(c, s) for c in range(len(batch)) for s in range(style_count)]
        for start in range(0, len(batch_pairs), batch_size):
            chunk = batch_pairs[start : start + batch_size]
            content_index = torch.tensor([c for c, _ in chunk], device=device)
            style_index = torch.tensor([s for _, s in chunk], device=device)
            chunk_stats = [(mean[style_index], std[style_index]) for mean, std in style_stats]
            for net, total in zip(nets, sums):
                loss_c, loss_s, _ = net.from_features([f[content_index] for f in features], chunk_stats)
                total[0] += float(loss_c) * len(chunk)  # (means over the chunk)
                total[1] += float(loss_s) * len(chunk)
        pairs += len(batch_pairs)
    return [(content_sum / max(pairs, 1), style_sum / max(pairs, 1)) for content_sum, style_sum in sums], pairs


def evaluate(
    decoders: Sequence[str], vgg: str | None, content_dir: str, style_dir: str, load_size: int = 512,
    crop_size: int = 256, style_weight: float = 10.0, device: str = "auto", batch_size: int = 8,
) -> list[Evaluation]:
    """One Evaluation per decoder, in the order given; decoders sharing an encoder share its encodings."""
    check_sizes(load_size, crop_size)
    # (a missing file fails before any image is read; a `~` is expanded)
    decoder_paths = [weight_paths.resolve("decoder", path) for path in decoders]
    content_paths, style_paths = list_images(content_dir, "content"), list_images(style_dir, "style")
    for paths, root, what in ((content_paths, content_dir, "content"), (style_paths, style_dir, "style")):
        check_readable(paths, root, what)  # (usually the first is: the run starts at once)
    torch_device = pick_device(device)
    loaded = [weights.load_decoder(path) for path in decoder_paths]
    losses: dict[int, tuple[tuple[float, float], int]] = {}
    for number, kind in enumerate(dict.fromkeys(decoder.encoder_kind for decoder in loaded)):
        group = [i for i, decoder in enumerate(loaded) if decoder.encoder_kind == kind]
        vgg_path = weight_paths.resolve("vgg", vgg)
        encoder = weights.load_encoder(vgg_path, kind)
        for i in group:
            check_trained_against(decoder_paths[i], vgg_path, encoder.loaded_sha256)
        label = Path(decoders[group[0]]).name if len(group) == 1 else f"{len(group)} decoders"
        said = warn if number == 0 else (lambda _line: None)  # an unusable file is said once, not once per encoder
        contents, styles = (batched(centered_crops(paths, load_size, crop_size, said), batch_size)
                            for paths in (content_paths, style_paths))
        group_losses, pairs = mean_losses(encoder, [loaded[i] for i in group], contents, styles, torch_device,
                                          batch_size, label, math.ceil(len(content_paths) / batch_size))
        if pairs == 0:  # usable when checked, no longer (removed or replaced meanwhile)
            raise UserError(f"{content_dir}, {style_dir}: no usable content and style images are left")
        losses.update((i, (group_loss, pairs)) for i, group_loss in zip(group, group_losses))
    return [
        Evaluation(
            decoder=str(path), architecture=decoder.kind, encoder=decoder.encoder_kind, pairs=losses[i][1],
            content_loss=losses[i][0][0], style_loss=losses[i][0][1],
            total_loss=losses[i][0][0] + style_weight * losses[i][0][1], style_weight=style_weight,
        )
        for i, (path, decoder) in enumerate(zip(decoders, loaded))
    ]


def check_trained_against(decoder_path: Path, vgg_path: Path, vgg_sha256: str) -> None:
    """The --vgg file is the one the decoder's run trained against, where its checkpoint records it:
    another file (another download, a fine-tuned VGG) gave losses of another encoder without a word."""
    recorded = recorded_vgg_sha256(decoder_path)
    if recorded not in (None, vgg_sha256):
        raise UserError(f"{vgg_path}: not the VGG encoder {decoder_path} was trained against (its SHA-256 is "
                        f"{vgg_sha256[:12]}..., the run's {recorded[:12]}...); give --vgg the file that run used")


NAME_WIDTH = 48  # the decoder column, widened for a name that needs more


def format_table(results: Sequence[Evaluation]) -> str:
    weight = results[0].style_weight if results else 10.0
    names = short_names([r.decoder for r in results], NAME_WIDTH)
    width = max([NAME_WIDTH, *map(len, names)])
    header = f"{'decoder':<{width}} {'arch':<12} {'content':>10} {'style':>10} {f'total(l={weight:g})':>14}"
    rows = [header]
    for name, r in zip(names, results):
        rows.append(f"{name:<{width}} {r.architecture:<12} {r.content_loss:>10.4g} {r.style_loss:>10.4g} "
                    f"{r.total_loss:>14.4g}")
    return "\n".join(rows)


def short_names(paths: Sequence[str], width: int) -> list[str]:
    """Each path whole where it fits in `width`, else ".../" and as many of its last components
    as fit, and at least as many as tell it from the others (whole where that is no shorter):
    the last 45 characters of run1/checkpoints/decoder_iter_0000006.safetensors and run6's were
    the same."""
    split = [Path(path).parts for path in paths]
    names = []
    for path, own in zip(paths, split):
        if len(path) <= width:
            names.append(path)
            continue
        others = [parts for parts in split if parts != own]
        count = next((n for n in range(1, len(own)) if all(parts[-n:] != own[-n:] for parts in others)), len(own))
        while count < len(own) - 1 and len(str(Path(*own[-count - 1:]))) <= width - 4:
            count += 1
        short = ".../" + str(Path(*own[-count:]))
        names.append(short if len(short) < len(path) else path)
    return names


def as_dicts(results: Sequence[Evaluation]) -> list[dict]:
    return [asdict(r) for r in results]
