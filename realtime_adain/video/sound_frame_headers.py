"""The rate and channels that copied MP2, MP3, AC-3 and E-AC-3 state in each frame's header
(`mpeg_audio_kind`, `ac3_kind`; `FRAME_HEADER_KINDS` by codec), read from the bytes without
decoding.

Kept apart from `sound_kinds.py`, which re-encodes sound from where that kind changes: this is
only the reading of the headers (ADTS AAC's are read in `stream_copy.py`).
"""

from __future__ import annotations


# MPEG audio's sampling frequency index -> Hz (MPEG-1; MPEG-2 halves them, MPEG-2.5 quarters them).
MPEG_AUDIO_RATES = (44100, 48000, 32000)
MPEG_AUDIO_DIVISORS = {3: 1, 2: 2, 0: 4}  # version field -> divisor (1: reserved)
# AC-3's fscod -> Hz (E-AC-3's fscod 3: its fscod2 gives half these), and acmod -> full-range channels.
AC3_RATES = (48000, 44100, 32000)
AC3_CHANNELS = (2, 1, 2, 3, 3, 4, 4, 5)
# bsid values of E-AC-3 (AC-3's are up to 10).
EAC3_BSIDS = range(11, 17)


def mpeg_audio_kind(header: bytes) -> tuple[int, int] | None:
    """(sample rate, channels) an MPEG audio frame header (MP2, MP3) gives; None where `header`
    does not start with one."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    divisor, rate = MPEG_AUDIO_DIVISORS.get(header[1] >> 3 & 3), header[2] >> 2 & 3
    if divisor is None or rate == 3 or not header[1] >> 1 & 3:
        return None
    return MPEG_AUDIO_RATES[rate] // divisor, 1 if header[3] >> 6 == 3 else 2


def ac3_kind(header: bytes) -> tuple[int, int] | None:
    """(sample rate, channels with the LFE) an AC-3 or E-AC-3 frame header gives (E-AC-3: its
    independent substream's); None where `header` does not start with one."""
    if len(header) < 8 or header[:2] != b"\x0b\x77":
        return None
    if header[5] >> 3 in EAC3_BSIDS:
        fscod, acmod, lfe = header[4] >> 6, header[4] >> 1 & 7, header[4] & 1
        if fscod == 3:
            half = header[4] >> 4 & 3
            return None if half == 3 else (AC3_RATES[half] // 2, AC3_CHANNELS[acmod] + lfe)
        return AC3_RATES[fscod], AC3_CHANNELS[acmod] + lfe
    if header[4] >> 6 == 3 or header[5] >> 3 > 10:
        return None
    bits = int.from_bytes(header[6:8], "big")  # acmod (3 bits), the mix levels it has, lfeon
    acmod, left = bits >> 13, 13
    left -= 2 * ((acmod & 1 and acmod != 1) + bool(acmod & 4) + (acmod == 2))
    return AC3_RATES[header[4] >> 6], AC3_CHANNELS[acmod] + (bits >> left - 1 & 1)


# Codecs whose every frame header states its rate and channels -> that header's reader.
FRAME_HEADER_KINDS = {"mp2": mpeg_audio_kind, "mp3": mpeg_audio_kind, "ac3": ac3_kind, "eac3": ac3_kind}
