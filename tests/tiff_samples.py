"""Little-endian TIFFs written by hand for the picture tests: any sample layout, depth, format,
compression and extra field, without a TIFF library (tifffile is not among the test dependencies)."""

from __future__ import annotations

import struct

import numpy as np


def tiff_fields(samples: np.ndarray, photometric: int, *, bits: int | None = None, sample_format: int = 1,
                planar: bool = False, extra: tuple[int, ...] = (), compression: int = 1,
                strip: bytes | None = None, more: tuple[tuple[int, int, list[int]], ...] = ()) -> bytes:
    """A little-endian TIFF of (H, W, S) `samples` written by hand, one strip a plane: `bits` a sample
    (packed from the most significant bit, rows to whole bytes, where under the dtype's), its
    SampleFormat, ExtraSamples, `compression` of `strip` (the samples as they are where None), `more`
    fields (tag, type, values)."""
    height, width, count = samples.shape
    bits = bits or samples.dtype.itemsize * 8
    planes = [np.moveaxis(samples, 2, 0)[..., None][at] for at in range(count)] if planar else [samples]
    strips = [strip if strip is not None else packed(plane, bits) for plane in planes]

    def directory(strips_at: int) -> tuple[bytes, bytes]:
        offsets = [strips_at + sum(map(len, strips[:at])) for at in range(len(strips))]
        fields = sorted([(256, 4, [width]), (257, 4, [height]), (258, 3, [bits] * count), (259, 3, [compression]),
                         (262, 3, [photometric]), (273, 4, offsets), (277, 3, [count]), (278, 4, [height]),
                         (279, 4, [len(piece) for piece in strips]), (284, 3, [2 if planar else 1]),
                         (339, 3, [sample_format] * count), *([(338, 3, list(extra))] if extra else []), *more])
        values_at = 8 + 2 + 12 * len(fields) + 4
        entries, values = b"", b""
        for tag, kind, numbers in fields:
            raw = struct.pack(f"<{len(numbers)}{'H' if kind == 3 else 'I'}", *numbers)
            if len(raw) > 4:
                entries += struct.pack("<HHII", tag, kind, len(numbers), values_at + len(values))
                values += raw
            else:
                entries += struct.pack("<HHI", tag, kind, len(numbers)) + raw.ljust(4, b"\0")
        return struct.pack("<H", len(fields)) + entries + b"\0\0\0\0", values

    entries, values = directory(0)
    entries, values = directory(8 + len(entries) + len(values))
    return b"II*\0" + struct.pack("<I", 8) + entries + values + b"".join(strips)


def packed(samples: np.ndarray, bits: int) -> bytes:
    """(H, W, S) samples at `bits` each, as a TIFF stores them: little-endian whole bytes, or packed
    bits, each row padded to a whole byte."""
    if bits % 8 == 0:
        return samples.astype(samples.dtype.newbyteorder("<")).tobytes()
    rows = samples.reshape(samples.shape[0], -1).astype(np.uint32)
    bit_rows = ((rows[..., None] >> np.arange(bits - 1, -1, -1, dtype=np.uint32)) & 1).reshape(rows.shape[0], -1)
    return np.packbits(bit_rows.astype(np.uint8), axis=1).tobytes()
