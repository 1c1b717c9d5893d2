"""How a TIFF's first directory lays out its samples (`tiff_layout`), for the layouts neither
OpenCV at its own depth nor Pillow reads right: grey and alpha at 16 bits (OpenCV dropped the
alpha, Pillow opens none: a transparent picture read black) and 8-bit CMYK and alpha (OpenCV
refuses 5 samples), which FFmpeg decodes (`TiffLayout.ffmpeg_kind`); float colour and alpha,
which OpenCV reads unchanged alone (`TiffLayout.float_alpha`); and those no decoder here reads
right, refused in plain words (`TiffLayout.refusal`): 16-bit Lab (libtiff's conversion gave white
a yellow cast), float grey and alpha, the other 16-bit grey and alpha ones (white-is-zero: FFmpeg
inverted its alpha too), 16-bit or planar CMYK and alpha, FFmpeg's kinds tiled, signed or in a
BigTIFF, 32-bit integer samples with alpha (OpenCV refused them in its own words)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from realtime_adain.opencv_headers import is_bigtiff, tiff_fields

# Tags read: width, height, bits per sample, compression, photometric interpretation, samples a
# pixel, planar configuration, tile width, extra samples, sample format.
_TAGS = (256, 257, 258, 259, 262, 277, 284, 322, 338, 339)
_MIN_IS_BLACK, _RGB, _SEPARATED = 1, 2, 5
_LAB = (8, 9, 10)  # CIELab, ICCLab, ITULab
_ALPHA_EXTRA = ((1,), (2,))  # a first extra sample of associated (premultiplied) alpha, of unassociated alpha
_FLOAT = 3  # sample format
GREY_ALPHA_16, CMYK_ALPHA = "16-bit grey and alpha TIFF", "CMYK and alpha TIFF"
TIFF_KINDS = (GREY_ALPHA_16, CMYK_ALPHA)  # (`TiffLayout.ffmpeg_kind`)


class TiffLayout(NamedTuple):
    """A TIFF's first directory's fields on its samples (the TIFF defaults where unstated)."""

    photometric: int
    samples: int
    bits: tuple[int, ...]
    formats: tuple[int, ...]  # sample formats: 1 unsigned, 2 signed, 3 float
    planar: bool
    extra: tuple[int, ...]  # extra samples' meanings (`_ALPHA_EXTRA`)
    size: tuple[int, int]  # (width, height)
    uncompressed: bool
    tiled: bool  # (TileWidth stated)
    bigtiff: bool

    @property
    def premultiplied(self) -> bool:
        """Whether its alpha is associated: its colour stored multiplied by it."""
        return self.extra[:1] == (1,)

    @property
    def _contiguous_alpha(self) -> bool:
        return not self.planar and self.extra[:1] in _ALPHA_EXTRA and _FLOAT not in self.formats

    @property
    def ffmpeg_kind(self) -> str | None:
        """What FFmpeg decodes right of the layouts the others misread: 16-bit grey and alpha,
        8-bit CMYK and alpha (unsigned, interleaved, in strips of a classic TIFF; FFmpeg's planar
        ones came out garbage, a white-is-zero one's alpha inverted, signed samples read as
        unsigned, tiled ones blank or garbage; it opens no BigTIFF); None for others."""
        if not self._contiguous_alpha or set(self.formats) != {1} or self.tiled or self.bigtiff:
            return None
        return self._ffmpeg_layout

    @property
    def _ffmpeg_layout(self) -> str | None:
        """Which of FFmpeg's kinds its photometric, samples and bits are, whatever else it is."""
        if self.photometric == _MIN_IS_BLACK and self.samples == 2 and set(self.bits) == {16}:
            return GREY_ALPHA_16
        if self.photometric == _SEPARATED and self.samples == 5 and set(self.bits) == {8}:
            return CMYK_ALPHA
        return None

    def data_short(self, file_bytes: int) -> bool:
        """Whether an uncompressed one's file is shorter than its picture's samples: FFmpeg
        allocates the picture first (a 1 KB file stating 14000x14000 CMYK and alpha decoded blank,
        4 GB and a minute)."""
        return self.uncompressed and file_bytes < self.size[0] * self.size[1] * self.samples * max(self.bits) // 8

    @property
    def float_alpha(self) -> bool:
        """Whether it is float RGBA, which OpenCV reads only unchanged (IMREAD_UNCHANGED: at its
        own depth and colour it refused it, "ncn == img.channels()")."""
        return self.photometric == _RGB and self.samples == 4 and _FLOAT in self.formats

    def refusal(self) -> str | None:
        """Why no decoder here reads it right, with what to save it as; None where one does."""
        kind = self._contiguous_alpha and set(self.formats) == {1} and self._ffmpeg_layout
        if kind and self.bigtiff:
            return f"a {kind} in the BigTIFF format cannot be read here; save it as a classic TIFF, or as RGBA"
        if kind and self.tiled:
            return f"a tiled {kind} cannot be read here; save it in strips, or as RGBA"
        if max(self.bits) == 32 and _FLOAT not in self.formats and self.samples in (2, 4) and self.extra:
            return ("a TIFF of 32-bit integer samples with alpha cannot be read here; "
                    "save it at 8 or 16 bits, or as float RGBA")
        if 2 in self.formats and self.samples == 2 and self.extra:
            return "a TIFF of signed grey and alpha samples cannot be read here; save it as unsigned 8- or 16-bit"
        if self.photometric in _LAB and max(self.bits) > 8:
            return (f"a TIFF of {max(self.bits)}-bit Lab samples cannot be read here (its colours would be wrong); "
                    f"save it as 8-bit Lab or as RGB")
        grey_alpha = self.photometric in (0, _MIN_IS_BLACK) and self.samples == 2
        if grey_alpha and _FLOAT in self.formats:
            return "a TIFF of float grey and alpha samples cannot be read here; save it as float RGBA or 16-bit grey"
        if grey_alpha and self.extra[:1] in _ALPHA_EXTRA and max(self.bits) > 8 and self.ffmpeg_kind is None:
            return ("a TIFF of grey and alpha above 8 bits cannot be read here unless 0 is black and its samples are "
                    "interleaved; save it so, or as RGBA")
        if self.photometric == _SEPARATED and self.samples >= 5 and self.ffmpeg_kind is None:
            return ("a TIFF of CMYK and alpha cannot be read here unless its samples are 8-bit and interleaved; "
                    "save it so, or as RGBA")
        return None


def tiff_layout(data: np.ndarray) -> TiffLayout | None:
    """A TIFF's `TiffLayout` (classic or BigTIFF); None where the file is not one."""
    tags = tiff_fields(data, _TAGS)
    if tags is None:
        return None
    samples = tags.get(277, (1,))[0]
    return TiffLayout(tags.get(262, (-1,))[0], samples, tags.get(258, (1,)), tags.get(339, (1,)),
                      tags.get(284, (1,))[0] == 2, tags.get(338, ()), (tags.get(256, (0,))[0], tags.get(257, (0,))[0]),
                      tags.get(259, (1,))[0] == 1, 322 in tags, is_bigtiff(data))
