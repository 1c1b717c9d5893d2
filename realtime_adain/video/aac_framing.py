"""Copied AAC that states its kind nowhere (no decoder configuration, no ADTS headers) given the
ADTS headers of the kind FFmpeg plays it as (`RawAacFraming`, `assumed_adts_kind`), so that every
muxer can carry it; a framed packet that is not one whole ADTS frame told (`RawAacFraming.damaged`).

Kept apart from `stream_copy.py`, which reads and writes ADTS headers, and `copied_streams.py`,
which writes the packets: this decides, stream by stream, which copied packets get a header
(`output_streams.py` makes one for each copied AAC stream without extradata).
"""

from __future__ import annotations

import av

from realtime_adain.video.stream_copy import ADTS_RATES, adts_frame_whole, adts_header, adts_kind


# Channel counts -> the ADTS channel configuration FFmpeg's AAC decoder assumes for them where a
# stream states none (7 channels is configuration 11, which ADTS's 3 bits cannot hold).
ADTS_CHANNEL_CONFIGS = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 8: 7}
ADTS_LC = 1  # an ADTS header's profile field for AAC-LC (its audio object type less one)


def assumed_adts_kind(stream: av.stream.Stream) -> tuple[int, int, int] | None:
    """The kind (`adts_kind`) FFmpeg's AAC decoder plays a stream with no decoder configuration as:
    AAC-LC at the rate and channel count the container states (SBR, if any, found as it plays);
    None where ADTS cannot state it (a rate outside its table, 7 or over 8 channels) or the
    decoder found HE-AAC (whose stated rate may be the doubled one)."""
    context = stream.codec_context
    config = ADTS_CHANNEL_CONFIGS.get(context.channels)
    if context.sample_rate not in ADTS_RATES or config is None or (context.profile or "LC") != "LC":
        return None
    return ADTS_LC, context.sample_rate, config


class RawAacFraming:
    """Copied AAC with no decoder configuration (AudioSpecificConfig) anywhere: no extradata, and
    no ADTS header on its packets (MOV, MP4 or NUT written without the esds's config). FFmpeg plays
    it (`assumed_adts_kind`), but muxers cannot carry it: Matroska refused its first packet (the
    run failed, as `ffmpeg -c copy` does), MPEG-TS wrote sound no player decodes. Each packet is
    given the ADTS header of that kind, as MPEG-TS carries AAC: MPEG-TS keeps it, and the other
    muxers build the track's configuration from it (FFmpeg's aac_adtstoasc) and take it off.
    Copied as it is: no sound is lost. A stream whose packets have ADTS headers is left alone."""

    def __init__(self, stream: av.stream.Stream) -> None:
        self.kind = assumed_adts_kind(stream)
        self.frames: bool | None = None  # whether packets are framed (None: decided by the first)
        self.headed = False  # whether the stream's packets have ADTS headers (one had, or all are given one)

    def framed(self, packet: av.Packet) -> av.Packet:
        """`packet`, with the ADTS header where the stream's packets have none."""
        has_header = adts_kind(bytes(memoryview(packet)[:7])) is not None
        if self.frames is None:
            self.frames = self.kind is not None and not has_header
        self.headed = self.headed or self.frames or has_header
        # (one that has a header is left as it is: a stream whose first packet lost its header (a TS
        # packet lost there) was taken for unframed AAC, and every later packet got a second header)
        if not self.frames or not packet.size or has_header:
            return packet
        framed = av.Packet(adts_header(self.kind, packet.size) + bytes(packet))
        framed.pts, framed.dts, framed.duration = packet.pts, packet.dts, packet.duration
        framed.time_base, framed.stream, framed.is_keyframe = packet.time_base, packet.stream, packet.is_keyframe
        return framed

    def damaged(self, packet: av.Packet) -> bool:
        """Whether a `framed` packet of a stream with ADTS headers is not one whole ADTS frame
        (`adts_frame_whole`): a TS packet lost mid-frame. FFmpeg's aac_adtstoasc (MP4, MOV,
        Matroska) refused it and ended the run, as `ffmpeg -c copy` fails; FFmpeg plays the
        input, skipping that frame. Not said of a stream none of whose packets has a header."""
        return self.headed and bool(packet.size) and not adts_frame_whole(bytes(packet))
