"""The few Matroska (WebM) structures FFmpeg does not tell: where each cluster begins and the
Timestamp it carries, read from the EBML elements' headers (each element skipped by its size: a
cluster's header is all that is read). `cluster_times.ClustersAtOneTime` needs them to tell a
file whose clusters all carry one Timestamp, which FFmpeg's demuxer hides by adding it to every
block's time.
"""

from __future__ import annotations

from pathlib import Path

# Matroska's element IDs (with their marker bits) that this module reads.
SEGMENT, CLUSTER, CLUSTER_TIMESTAMP = 0x18538067, 0x1F43B675, 0xE7


def matroska_clusters(path: Path, limit: int = 1 << 22) -> tuple[list[int], list[int]] | None:
    """(where each cluster begins in `path`, its Timestamp), read from the Segment's top-level
    elements (each skipped by its size: a cluster's header is all that is read), while the
    clusters read all share one Timestamp (after the first two that differ, a file whose
    clusters are timed: what was read so far). None where they cannot be told: a live WebM's
    clusters of unknown size, a damaged header, more than `limit` clusters."""
    try:
        with open(path, "rb") as file:
            size = file.seek(0, 2)
            at, end = 0, size
            element, length, body = _ebml_element(file, at)  # (the EBML header)
            if length is None:
                return None
            at = body + length
            element, length, body = _ebml_element(file, at)
            if element != SEGMENT:
                return None
            at, end = body, min(size, body + length) if length is not None else size
            places: list[int] = []
            times: list[int] = []
            while at < end and len(places) < limit:
                element, length, body = _ebml_element(file, at)
                if length is None:
                    return None
                if element == CLUSTER:
                    time = _cluster_timestamp(file, body, min(end, body + length))
                    if time is None:
                        return None
                    places.append(at)
                    times.append(time)
                    if time != times[0]:
                        break
                at = body + length
            return places, times
    except (OSError, ValueError):
        return None


def _ebml_element(file, at: int) -> tuple[int, int | None, int]:
    """(ID with its marker bits, size (None: unknown), where its body begins) of the EBML element at `at`."""
    file.seek(at)
    head = file.read(12)
    if not head or not head[0]:
        raise ValueError("not an EBML element")
    id_length = 9 - head[0].bit_length()
    if id_length > 4 or len(head) < id_length + 1 or not head[id_length]:
        raise ValueError("not an EBML element")
    size_length = 9 - head[id_length].bit_length()
    if len(head) < id_length + size_length:
        raise ValueError("cut short")
    raw = int.from_bytes(head[id_length:id_length + size_length], "big")
    value = raw & ~(1 << (7 * size_length))
    unknown = value == (1 << (7 * size_length)) - 1
    return int.from_bytes(head[:id_length], "big"), None if unknown else value, at + id_length + size_length


def _cluster_timestamp(file, at: int, end: int) -> int | None:
    """The Timestamp of the cluster whose body is at [at, end): its first children (a CRC-32, its
    position) skipped to it; None before a block (none stored)."""
    while at < end:
        element, length, body = _ebml_element(file, at)
        if length is None or element in (0xA0, 0xA3):  # (a BlockGroup, a SimpleBlock)
            return None
        if element == CLUSTER_TIMESTAMP:
            file.seek(body)
            return int.from_bytes(file.read(length), "big")
        at = body + length
    return None
