"""Sound re-encoded where an output cannot hold it copied: the codec and sample format it is
re-encoded to (`reencoded_audio`: PCM or FLAC where the container holds them, AC-3 for surround,
else the container's default), and the channel layout and sample rate the encoder takes.
"""

from __future__ import annotations

import functools
from fractions import Fraction

import av

from realtime_adain.video.stream_copy import container_holds

# Where audio has to be re-encoded (the container cannot hold its codec, or its muxer refuses it),
# a lossless codec where the container holds one, so the sound loses nothing more: PCM stays PCM
# of its depth (DVD's and Blu-ray's big-endian kinds become little-endian: same samples) in these
# containers, a lossless codec MOV's muxer refuses (FLAC: it was made AAC) or AVI's cannot time
# (FLAC: `unframed_in_avi`) becomes PCM there, and other sound becomes FLAC in Matroska.
# AVI holds little-endian PCM of every depth (pcm_u8 to pcm_s64le, pcm_f32le, pcm_f64le): big-endian
# PCM from a .mov and 24-bit FLAC were made MP3. Elsewhere the container's default (AAC in MP4 and
# MOV, as `ffmpeg -i in out.mp4` makes it: PCM in an MP4 is `ipcm`, see `holds_copy`; for lossy
# sound in MOV, ALAC would make a lossy track of a few kbit/s ten times larger; MP3 in AVI).
PCM_CONTAINERS = frozenset({"matroska", "mov", "avi"})
# The containers whose PCM track states its channels in any order (MOV's `chan` atom lists them).
# PCM whose channels come in another order than FFmpeg's (`sound_decoding.decoder_layout`: 7.1 from a
# .mov as FL FR FC LFE SL SR BL BR) is re-encoded into the others, as PCM in FFmpeg's order (`reordered`):
# copied into .mkv or .avi, which state none, 7.1's side and back channels traded speakers.
ORDER_STATING_FORMATS = frozenset({"mov"})
LOSSLESS_AUDIO = {"matroska": "flac"}
# Where the default codec takes two channels at most (AVI's MP3, MPEG-TS's MP2), sound of more is
# re-encoded to AC-3, which the container holds and which keeps up to 5.1: DTS or E-AC-3 5.1 into
# .avi, and 5.1 PCM into .ts, were mixed down to stereo (as `ffmpeg -i in.mkv out.avi` and `out.ts`
# do). Broadcast MPEG-TS carries its 5.1 as AC-3.
SURROUND_AUDIO = {"avi": "ac3", "mpegts": "ac3"}
# Decoded sample formats that hold no more than 16 bits (else FLAC gets 24).
SIXTEEN_BIT_FORMATS = frozenset({"u8", "u8p", "s16", "s16p"})


def reencoded_audio(fmt: str, stream: av.stream.Stream, channels: int, default: str,
                    supported: set[str], reordered: bool = False) -> tuple[str, str | None]:
    """(codec, sample format; None: the encoder's first) that an input audio `stream` of `channels`
    channels is re-encoded to in a `fmt` container whose codecs are `supported` and whose default
    is `default` (see `LOSSLESS_AUDIO`, `SURROUND_AUDIO`); `reordered`: PCM re-encoded only to put
    its channels in FFmpeg's order (`ORDER_STATING_FORMATS`), which stays PCM wherever the container
    holds it. PCM comes before `SURROUND_AUDIO`: 5.1 PCM into .avi stays PCM, not AC-3."""
    context = stream.codec_context
    decoded = context.format.name if context.format else ""
    pcm_source = context.codec.name.startswith("pcm_")
    # (a codec FFmpeg calls lossless and not lossy: DTS and WavPack are both; Matroska gets FLAC, below)
    lossless = context.codec.lossless and not context.codec.lossy and fmt not in LOSSLESS_AUDIO
    if (pcm_source or lossless) and (fmt in PCM_CONTAINERS or reordered) and decoded:
        # (a lossless codec's bit rate is its compressed one, so no depth is read from it: the depth its header states)
        pcm = _pcm_codec(decoded, context.bit_rate if pcm_source else 0, context.sample_rate, channels,
                         _stated_depth(context))
        if pcm in supported:
            return pcm, None
    lossless_codec = LOSSLESS_AUDIO.get(fmt)
    if lossless_codec and lossless_codec in supported and lossless_codec in av.codecs_available:
        wide = context.codec.lossless and decoded not in SIXTEEN_BIT_FORMATS  # (a lossy source: 16 bits hold it)
        return lossless_codec, "s32" if wide else "s16"
    surround = SURROUND_AUDIO.get(fmt)
    if channels > 2 and surround and container_holds(fmt, {surround}, supported) and surround in av.codecs_available:
        return surround, None
    return default, None


def _pcm_codec(decoded: str, bit_rate: int, rate: int, channels: int, stated_bits: int | None = None) -> str:
    """Little-endian PCM of the depth of PCM decoded as `decoded`: 32-bit samples carry 20 or 24
    bits (DVD, Blu-ray, 24-bit FLAC) or 32; the depth the stream states (`stated_bits`), else its
    bit rate, tells which (neither: 32, losing nothing)."""
    packed = decoded.rstrip("p")
    if packed in ("flt", "dbl"):
        return "pcm_f32le" if packed == "flt" else "pcm_f64le"
    if packed != "s32":
        return {"u8": "pcm_u8", "s64": "pcm_s64le"}.get(packed, "pcm_s16le")
    bits = stated_bits or (bit_rate / (rate * channels) if bit_rate and rate and channels else 32)
    return "pcm_s24le" if bits <= 24 else "pcm_s32le"


def _stated_depth(context: av.audio.codeccontext.AudioCodecContext) -> int | None:
    """The bits per sample a FLAC or ALAC stream states in its header (FFmpeg's bits_per_raw_sample,
    which PyAV does not give), else None: a lossless codec's bit rate is its compressed one, so 24-bit
    FLAC decoded to 32-bit samples became pcm_s32le, a third larger than the 24 bits it holds."""
    extradata = context.extradata or b""
    if context.codec.name == "flac":  # STREAMINFO, alone or after "fLaC" and its block header
        info = extradata[8:] if extradata.startswith(b"fLaC") else extradata
        return ((info[12] & 1) << 4 | info[13] >> 4) + 1 if len(info) >= 18 else None
    if context.codec.name == "alac" and len(extradata) >= 24:  # its "magic cookie": size, "alac", version, config
        return extradata[17] or None
    return None


# Channel layouts by channel count, tried in turn for re-encoded audio the encoder takes not as it is.
LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


@functools.lru_cache(maxsize=None)
def audio_opens(codec: str, layout: str, rate: int) -> bool:
    """Whether audio encoder `codec` opens for `layout` (a name FFmpeg parses) at `rate` Hz."""
    try:
        context = av.CodecContext.create(codec, "w")
        context.layout, context.sample_rate = layout, rate
        context.format = av.Codec(codec, "w").audio_formats[0]
        context.time_base = Fraction(1, rate)
        context.open()
    except (av.error.FFmpegError, av.codec.codec.UnknownCodecError, ValueError):  # (ValueError: a layout name)
        return False
    return True


def encodable_layout(codec: str, layout: av.AudioLayout, rate: int) -> av.AudioLayout:
    """`layout` (native order) if the audio encoder `codec` takes it, else the layout it takes with
    the most channels up to `layout`'s (PyAV's resampler mixes down): MP2 and MP3 take mono and
    stereo only, AC-3 up to 5.1; as `ffmpeg` picks one (5.1 into MP2: stereo)."""
    most = max(1, min(layout.nb_channels, max(LAYOUTS)))
    for name in dict.fromkeys([layout.name] + [LAYOUTS[count] for count in range(most, 0, -1)]):
        if audio_opens(codec, name, rate):
            return av.AudioLayout(name)
    return layout  # none opens: starting the encoder says why


def encodable_rate(codec: str, rate: int) -> int:
    """`rate` if the audio encoder `codec` takes it, else the lowest rate it takes above it (the
    highest below, if none is above): MP2 takes no 8 kHz, Opus no 44.1 kHz. PyAV resamples."""
    rates = av.Codec(codec, "w").audio_rates
    if not rates or rate in rates:
        return rate
    above = [r for r in rates if r > rate]
    return min(above) if above else max(rates)
