"""How a TIFF's first directory lays out its samples (`tiff_layout`), for the layouts neither
OpenCV at its own depth nor Pillow reads right: grey and alpha at 16 bits (OpenCV dropped the
alpha, Pillow opens none: a transparent picture read black), 8-bit CMYK and alpha (OpenCV
refuses 5 samples) and uncompressed 16-bit RGBA in separate planes (Pillow's own decoder misread
its green), which FFmpeg decodes (`TiffLayout.ffmpeg_kind`); float colour and alpha, which OpenCV
reads unchanged alone (`TiffLayout.float_alpha`); 10- to 16-bit white-is-zero grey, which OpenCV
reads as stored, a negative (`TiffLayout.inverted_grey`); and those no decoder here reads right, refused in
plain words (`TiffLayout.refusal`): compressed in a way neither OpenCV's libtiff nor Pillow decodes
(JPEG 2000, JPEG XL, LERC, ...: read all black, or refused in libtiff's words; grey in old-style JPEG), 16-bit Lab (libtiff's conversion gave white a yellow cast),
float grey and alpha, grey and alpha white-is-zero, planar or with more samples (alpha dropped,
or all white), CMYK and alpha but at 8 bits interleaved, associated or with more samples (FFmpeg's
conversion of premultiplied inks read too bright), uncompressed planar 16-bit CMYK, RGB or CMYK with more than
4 samples at 16 bits or in planes (OpenCV refused them in its own words, Pillow opens none), FFmpeg's kinds tiled, signed, in a
BigTIFF or compressed in ways FFmpeg lacks (Zstd, LZMA, ...), 32-bit integer samples with alpha,
signed samples with alpha, alpha after another extra sample."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from realtime_adain.opencv_headers import is_bigtiff, tiff_fields

# Tags read: width, height, bits per sample, compression, photometric interpretation, samples a
# pixel, planar configuration, tile width, extra samples, sample format.
_TAGS = (256, 257, 258, 259, 262, 277, 284, 322, 338, 339)
_MIN_IS_WHITE, _MIN_IS_BLACK, _RGB, _SEPARATED = 0, 1, 2, 5
# The colour samples (name, count) of a photometric interpretation (`TiffLayout._contents`).
_COLOURS = {_MIN_IS_WHITE: ("grey", 1), _MIN_IS_BLACK: ("grey", 1), _RGB: ("RGB", 3), _SEPARATED: ("CMYK", 4)}
# The compressions FFmpeg's TIFF decoder has here: none, LZW, Deflate, PackBits, Adobe's old Deflate (it
# said "Invalid data found" of Zstd, "Function not implemented" of LZMA).
_FFMPEG_COMPRESSIONS = (1, 5, 8, 32773, 32946)
_COMPRESSIONS = {7: "JPEG", 22610: "JPEG XR", 33003: "JPEG 2000", 33004: "JPEG 2000", 33005: "JPEG 2000",
                 34712: "JPEG 2000", 34887: "LERC", 34892: "lossy JPEG", 34925: "LZMA", 34926: "Zstd",
                 34933: "PNG", 34934: "JPEG XR", 50000: "Zstd", 50001: "WebP", 50002: "JPEG XL", 52546: "JPEG XL"}
# The compressions OpenCV's libtiff or Pillow (LZMA, Zstd) decodes: libtiff's own codecs but LERC (not
# built in). libtiff decodes no other: OpenCV returned an all-black picture ("Compression scheme 50002
# strip decoding is not implemented") or refused it in libtiff's words.
_DECODED_COMPRESSIONS = (1, 2, 3, 4, 5, 6, 7, 8, 32766, 32771, 32773, 32809, 32909, 32946, 34661, 34676, 34677,
                         34925, 50000, 50001)
_OLD_JPEG = 6  # (Pillow reads RGB and YCbCr ones; grey ones neither Pillow nor OpenCV's libtiff, FFmpeg all black)
_LAB = (8, 9, 10)  # CIELab, ICCLab, ITULab
_ALPHA_EXTRA = ((1,), (2,))  # a first extra sample of associated (premultiplied) alpha, of unassociated alpha
_SIGNED, _FLOAT = 2, 3  # sample formats
_WIDE_GREY_BITS = {10, 12, 14, 16}  # (OpenCV reads grey of these depths as 16-bit samples, as stored)
GREY_ALPHA_16, CMYK_ALPHA = "16-bit grey and alpha TIFF", "CMYK and alpha TIFF"
PLANAR_RGBA_16 = "16-bit RGBA TIFF in separate planes"
TIFF_KINDS = (GREY_ALPHA_16, CMYK_ALPHA, PLANAR_RGBA_16)  # (`TiffLayout.ffmpeg_kind`)


class TiffLayout(NamedTuple):
    """A TIFF's first directory's fields on its samples (the TIFF defaults where unstated)."""

    photometric: int
    samples: int
    bits: tuple[int, ...]
    formats: tuple[int, ...]  # sample formats: 1 unsigned, 2 signed, 3 float
    planar: bool
    extra: tuple[int, ...]  # extra samples' meanings (`_ALPHA_EXTRA`)
    size: tuple[int, int]  # (width, height)
    compression: int
    tiled: bool  # (TileWidth stated)
    bigtiff: bool

    @property
    def premultiplied(self) -> bool:
        """Whether its alpha is associated: its colour stored multiplied by it."""
        return self.extra[:1] == (1,)

    @property
    def uncompressed(self) -> bool:
        return self.compression == 1

    @property
    def _alpha(self) -> bool:
        """Whether its first extra sample is alpha (associated or not)."""
        return self.extra[:1] in _ALPHA_EXTRA

    @property
    def _later_alpha(self) -> bool:
        """Whether alpha is an extra sample after another (OpenCV, Pillow and FFmpeg take the first
        for alpha, or none)."""
        return not self._alpha and any((meaning,) in _ALPHA_EXTRA for meaning in self.extra[1:])

    @property
    def ffmpeg_kind(self) -> str | None:
        """What FFmpeg decodes right of the layouts the others misread: 16-bit grey and alpha,
        8-bit CMYK and unassociated alpha, uncompressed 16-bit RGBA in separate planes (unsigned,
        in strips of a classic TIFF, compressed as FFmpeg can; FFmpeg's planar grey and CMYK ones
        came out garbage, a white-is-zero one's alpha inverted, signed samples read as unsigned,
        tiled ones blank or garbage; it opens no BigTIFF); None for others."""
        if (not self._alpha or set(self.formats) != {1} or self.tiled or self.bigtiff
                or self.compression not in _FFMPEG_COMPRESSIONS):
            return None
        return self._ffmpeg_layout

    @property
    def _ffmpeg_layout(self) -> str | None:
        """Which of FFmpeg's kinds its photometric, samples, bits, planes and alpha are, whatever
        else it is (Pillow reads a compressed planar RGBA right, through libtiff)."""
        bits = set(self.bits)
        if self.planar:
            rgba = self.photometric == _RGB and self.samples == 4 and bits == {16} and self.uncompressed
            return PLANAR_RGBA_16 if rgba else None
        if self.photometric == _MIN_IS_BLACK and self.samples == 2 and bits == {16}:
            return GREY_ALPHA_16
        if self.photometric == _SEPARATED and self.samples == 5 and bits == {8} and not self.premultiplied:
            return CMYK_ALPHA
        return None

    @property
    def inverted_grey(self) -> bool:
        """Whether it is 10-, 12-, 14- or 16-bit white-is-zero grey, which OpenCV (and Pillow, LZMA or
        Zstd compressed) reads as stored, a negative (at 8 bits and below libtiff's conversion reads it
        right); FFmpeg read it right."""
        return self.photometric == _MIN_IS_WHITE and self.samples == 1 and set(self.bits) <= _WIDE_GREY_BITS

    @property
    def _contents(self) -> str:
        """Its samples in words: "grey and alpha", "CMYK, alpha and 1 other sample", "RGB, 1 other
        sample and alpha"."""
        colour, count = _COLOURS.get(self.photometric, ("colour", 3))
        alpha = self._alpha or self._later_alpha
        others = self.samples - count - alpha
        other_words = [f"{others} other sample{'s' if others > 1 else ''}"] if others > 0 else []
        words = [colour, *(other_words + ["alpha"] if self._later_alpha else ["alpha"] * alpha + other_words)]
        return " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)

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
        kind = self._alpha and set(self.formats) == {1} and self._ffmpeg_layout
        if kind and self.bigtiff:
            return f"a {kind} in the BigTIFF format cannot be read here; save it as a classic TIFF, or as RGBA"
        if kind and self.tiled:
            return f"a tiled {kind} cannot be read here; save it in strips, or as RGBA"
        if kind and self.compression not in _FFMPEG_COMPRESSIONS:
            method = _COMPRESSIONS.get(self.compression, f"method {self.compression}")
            return f"a {kind} compressed with {method} cannot be read here; save it with LZW, Deflate or no compression"
        if self.compression not in _DECODED_COMPRESSIONS:
            method = _COMPRESSIONS.get(self.compression, f"method {self.compression}")
            return f"a TIFF compressed with {method} cannot be read here; save it with LZW, Deflate or no compression"
        if self.compression == _OLD_JPEG and self.photometric in (_MIN_IS_WHITE, _MIN_IS_BLACK):
            return ("a grey TIFF compressed with old-style JPEG cannot be read here; "
                    "save it with LZW, Deflate or no compression")
        if self._later_alpha:  # (grey's alpha was dropped; OpenCV refused colour in its own words)
            return f"a TIFF of {self._contents} cannot be read here; save it without its other samples, or as RGBA"
        if max(self.bits) == 32 and _FLOAT not in self.formats and self.samples in (2, 4) and self.extra:
            return ("a TIFF of 32-bit integer samples with alpha cannot be read here; "
                    "save it at 8 or 16 bits, or as float RGBA")
        if _SIGNED in self.formats and self.samples == 2 and self.extra:
            return "a TIFF of signed grey and alpha samples cannot be read here; save it as unsigned 8- or 16-bit"
        if _SIGNED in self.formats and self._alpha:  # (planar 16-bit RGBA read at half, its alpha as black)
            return f"a TIFF of signed {self._contents} samples cannot be read here; save it as unsigned 8- or 16-bit"
        if self.photometric in _LAB and max(self.bits) > 8:
            return (f"a TIFF of {max(self.bits)}-bit Lab samples cannot be read here (its colours would be wrong); "
                    f"save it as 8-bit Lab or as RGB")
        if self.photometric == _MIN_IS_WHITE and max(self.bits) > 16:
            return (f"a white-is-zero TIFF of {max(self.bits)}-bit grey samples cannot be read here; "
                    f"save it with 0 as black, or at 8 or 16 bits")
        grey = self.photometric in (_MIN_IS_WHITE, _MIN_IS_BLACK)
        if grey and self.samples == 2 and _FLOAT in self.formats:
            return "a TIFF of float grey and alpha samples cannot be read here; save it as float RGBA or 16-bit grey"
        if grey and self._alpha and self.samples > 2:
            return f"a TIFF of {self._contents} cannot be read here; save it as grey and alpha alone, or as RGBA"
        if grey and self._alpha and (self.photometric == _MIN_IS_WHITE or self.planar):
            return ("a TIFF of grey and alpha cannot be read here unless 0 is black and its samples are interleaved; "
                    "save it so, or as RGBA")
        if grey and self._alpha and max(self.bits) > 8 and self.ffmpeg_kind is None:
            return (f"a TIFF of {max(self.bits)}-bit grey and alpha cannot be read here; "
                    f"save it at 8 or 16 bits, or as RGBA")
        cmyk_alpha = self.photometric == _SEPARATED and self._alpha
        if cmyk_alpha and self.samples > 5:
            return f"a TIFF of {self._contents} cannot be read here; save it as 8-bit CMYK and alpha alone, or as RGBA"
        if cmyk_alpha and self.premultiplied:  # (FFmpeg converts the premultiplied inks: too bright where clear)
            return ("a TIFF of CMYK and associated (premultiplied) alpha cannot be read here; "
                    "save it with unassociated alpha, or as RGBA")
        if cmyk_alpha and self.ffmpeg_kind is None:
            return ("a TIFF of CMYK and alpha cannot be read here unless its samples are 8-bit and interleaved; "
                    "save it so, or as RGBA")
        if self.photometric == _SEPARATED and self.planar and self.uncompressed and max(self.bits) > 8:
            return ("an uncompressed TIFF of 16-bit CMYK in separate planes cannot be read here; "
                    "save it with its samples interleaved, or compressed with LZW or Deflate")
        if self.photometric in (_RGB, _SEPARATED) and self.samples > 4 and self.planar:  # (OpenCV's words)
            return (f"a TIFF of {self._contents} in separate planes cannot be read here; "
                    f"save it without its other samples, or with its samples interleaved")
        if self.photometric in (_RGB, _SEPARATED) and self.samples > 4 and max(self.bits) > 8:
            return (f"a {max(self.bits)}-bit TIFF of {self._contents} cannot be read here; "
                    f"save it without its other samples, or at 8 bits")
        return None


def tiff_layout(data: np.ndarray) -> TiffLayout | None:
    """A TIFF's `TiffLayout` (classic or BigTIFF); None where the file is not one."""
    tags = tiff_fields(data, _TAGS)
    if tags is None:
        return None
    samples = tags.get(277, (1,))[0]
    return TiffLayout(tags.get(262, (-1,))[0], samples, tags.get(258, (1,)), tags.get(339, (1,)),
                      tags.get(284, (1,))[0] == 2, tags.get(338, ()), (tags.get(256, (0,))[0], tags.get(257, (0,))[0]),
                      tags.get(259, (1,))[0], 322 in tags, is_bigtiff(data))
