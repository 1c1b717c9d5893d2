"""Copied sound packets left out of an output (damaged ones, ones the muxer refused), counted as
they are and said once a stream at the file's end (`LeftOutSound`).

Kept apart from `copied_streams.py` and `writer.py`, which each leave packets out, so that both
count them in one place.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Sequence

import av


class LeftOutSound:
    """Copied sound packets left out of an output (`RawAacFraming.damaged`, one the demuxer flags
    corrupt: a fragmented MP4 cut off mid-recording cuts its last one short, or one the muxer
    refused after others of its stream went in): the rest stays copied byte for byte, each packet
    at its own time (MP4, MOV and Matroska time every packet: a hole, no shift). Said once a
    stream, at the file's end (`notes`), with where the first few were."""

    SHOWN = 5  # the times a note lists

    def __init__(self) -> None:
        self.damaged: dict[int, list[Fraction | None]] = {}  # input index -> times (s) of damaged ones
        self.flagged: dict[int, list[Fraction | None]] = {}  # ... of ones the demuxer flagged corrupt
        self.refused: dict[int, tuple[str, list[Fraction | None]]] = {}  # ... -> the muxer's reason, times

    def add(self, index: int, packet: av.Packet, refused: str | None = None, flagged: bool = False) -> None:
        """Count `packet` of input stream `index` as left out: damaged (not a whole ADTS frame, or
        `flagged` corrupt by the demuxer), or `refused` (the muxer's reason)."""
        at = packet.pts * Fraction(packet.time_base) if packet.pts is not None and packet.time_base else None
        if refused is None:
            (self.flagged if flagged else self.damaged).setdefault(index, []).append(at)
        else:
            self.refused.setdefault(index, (refused, []))[1].append(at)

    def notes(self, suffix: str) -> list[str]:
        """One line a stream for what was left out (none where nothing was)."""
        lines = []
        for index, times in self.damaged.items():
            frames, them = ("not a whole ADTS frame", "it") if len(times) == 1 else ("not whole ADTS frames", "them")
            lines.append(f"stream #{index}: {_packets_said(len(times), 'damaged sound packet')} left out "
                         f"({_times_said(times)}): {frames}, which {suffix} cannot hold (FFmpeg skips {them} as it "
                         "plays the input)")
        lines += [f"stream #{index}: {_packets_said(len(times), 'damaged sound packet')} left out ({_times_said(times)}): "
                  "the demuxer flags it corrupt (cut short where the file ends, or damaged); FFmpeg cannot decode "
                  f"{'it' if len(times) == 1 else 'them'}" for index, times in self.flagged.items()]
        lines += [f"stream #{index}: {_packets_said(len(times), 'sound packet')} the {suffix} muxer refused left out "
                  f"({_times_said(times)}: {reason})" for index, (reason, times) in self.refused.items()]
        return lines


def _packets_said(count: int, what: str) -> str:
    return f"{count} {what}{'s' if count > 1 else ''}"


def _times_said(times: Sequence[Fraction | None]) -> str:
    known = [f"{float(at):.2f} s" for at in times if at is not None]
    if not known:
        return "at unknown times"
    return "at " + ", ".join(known[:LeftOutSound.SHOWN]) + (", ..." if len(known) > LeftOutSound.SHOWN else "")
