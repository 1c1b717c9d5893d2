"""The published AdaIN weights (naoto0804/pytorch-AdaIN, release v0.0.0): where they are, the
two files, their sizes and digests. Plain constants, no torch: the command line names them in
its help before anything heavy is loaded."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_BASE_URL = "https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0"
BASE_URL_ENV_VAR = "REALTIME_ADAIN_WEIGHTS_URL"
VGG_FILENAME = "vgg_normalised.pth"
DECODER_FILENAME = "decoder.pth"


@dataclass(frozen=True)
class PublishedFile:
    """What the v0.0.0 release holds; `size`/`sha256` None where not known."""

    kind: str
    filename: str
    size: int | None
    sha256: str | None


# Sizes and SHA-256 of the v0.0.0 release assets, as pinned independently by several public
# projects that download them (the same digests everywhere; see docs/weights.md).
PUBLISHED = {
    "vgg": PublishedFile(
        "vgg", VGG_FILENAME, 80_102_481,
        "804ca2835ecf7539f0cd2a7ac3c18ce81e6f8468969ae7117ac0c148d286bb4a",
    ),
    "decoder": PublishedFile(
        "decoder", DECODER_FILENAME, 14_023_458,
        "379ca41d59f3a37eed3599bbbc2560c19da5c458870a5ffd3a9dd41aa88f9472",
    ),
}
