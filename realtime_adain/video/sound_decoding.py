"""Sound that is re-encoded, decoded: the decoder given its channel layout in FFmpeg's native
order before it opens (`decoder_layout`; PCM's samples put in that order, `reorder_channels`), and
its packets decoded telling damage from a stream none of which decodes (`SoundDecoder`,
`undecoded_said`).

Kept apart from `sound_conversion.py`, which converts the decoded frames to the encoder's kind, and
`copied_streams.py`, which writes them: this is what FFmpeg's decoders need of the input's sound.
"""

from __future__ import annotations

import functools

import av
import av.logging
from av.audio.plane import AudioPlane
import numpy as np


@functools.cache
def _native_places() -> dict[str, int]:
    """FFmpeg's channel names (FL, FR, FC, LFE, BL...) -> their place in its native order."""
    places = {}
    for place in range(64):
        name = av.AudioLayout(hex(1 << place)).channels[0].name
        if not name.startswith("USR"):  # (unassigned)
            places[name] = place
    return places


# Layouts for channels of an unspecified order where FFmpeg's default for the count is a poor
# guess: for 3 it is 2.1, making the third channel (a centre: L R C) a subwoofer, which a downmix
# drops (3-channel PCM in .mkv into .webm: silence) and AAC cuts to its lowest tones.
UNNAMED_LAYOUTS = {3: "3.0"}


def decoder_layout(stream: av.stream.Stream) -> tuple[av.AudioLayout, list[int] | None]:
    """Give an input audio stream's decoder, before it opens, its channel layout in FFmpeg's native
    order; returns that layout and, for a PCM stream whose samples come in another order, where
    each of its channels is in them (None: as they come).

    A MOV `chan` atom may list the channels in an order of its own (7.1 as FL FR FC LFE SL SR BL
    BR, as `ffmpeg` writes it from PCM): FFmpeg 8 reads that as a custom-order layout, which PyAV
    mishandles: each layout object it makes of one (a frame's, `codec_context.channels`) shares
    the channel map and frees it when dropped, so reading its name raised UnicodeDecodeError and
    the heap was corrupt ("corrupted size vs. prev_size", exit 134). Here the map is read once,
    while the decoder still owns it; then the decoder gets the native layout of those channels,
    and the one object made of the old layout, its only owner now, frees it once. A PCM decoder
    hands out samples in the container's order, so the caller puts them in native order (as
    FFmpeg's resampler does: `ffmpeg -i 7.1.mov out.mp4` writes 7.1 AAC)."""
    context = stream.codec_context
    held = context.layout  # shares the decoder's channel map: kept until the decoder has another layout
    names = [channel.name for channel in held.channels]
    count, places = len(names), _native_places()
    if not count:
        return av.AudioLayout("stereo"), None  # the decoder finds out (the encoder gets stereo)
    order = None
    if len(set(names)) == count and all(name in places for name in names):
        layout = av.AudioLayout(hex(sum(1 << places[name] for name in names)))
        native = [channel.name for channel in layout.channels]
        if native != names and context.codec.name.startswith("pcm_"):  # other decoders order their own output
            order = [names.index(name) for name in native]
    else:  # channels FFmpeg does not name (an unspecified order): FFmpeg's default for the count
        layout = av.AudioLayout(UNNAMED_LAYOUTS.get(count, f"{count}c"))
    context.layout = layout
    del held  # frees a custom layout's map (a native or unspecified one has none)
    return layout, order


def reorder_channels(frame: av.AudioFrame, order: list[int], layout: av.AudioLayout) -> av.AudioFrame:
    """`frame`'s samples with channel i taken from channel `order[i]`, labelled `layout`. Copied
    plane by plane as bytes: PyAV's `planes`, `to_ndarray` and `from_ndarray` count a frame's
    planes up to a null pointer, which 8 planar channels do not have (a segfault)."""
    channels, width = len(order), frame.format.bytes
    if frame.format.is_planar and channels > 8:  # PyAV's own frames hold 8 planes at most: left as they are
        return frame
    out = av.AudioFrame(format=frame.format.name, layout=layout, samples=frame.samples)
    if frame.format.is_planar:
        for target, source in enumerate(order):
            data = np.frombuffer(AudioPlane(frame, source), np.uint8, count=frame.samples * width)
            AudioPlane(out, target).update(data.tobytes())
    else:  # interleaved: samples x channels x bytes
        data = np.frombuffer(AudioPlane(frame, 0), np.uint8, count=frame.samples * channels * width)
        AudioPlane(out, 0).update(data.reshape(frame.samples, channels, width)[:, order].tobytes())
    out.sample_rate, out.pts, out.time_base = frame.sample_rate, frame.pts, frame.time_base
    return out


class SoundDecoder:
    """Decodes the packets of one input audio stream that is re-encoded, telling a packet that
    does not decode (damage: skipped, as FFmpeg skips it) from a stream none of which decodes:
    FFmpeg 8's TrueHD decoder fails on every packet of 5.1 TrueHD that FFmpeg 5's encoder wrote,
    which was said as "a damaged packet", then "no packets", the track silently lost. Until a
    packet decodes, the decoder's own reason (which it logs; the error says only "Invalid data
    found") is kept for the note."""

    def __init__(self, stream: av.stream.Stream) -> None:
        self.stream = stream
        self.decoded = False  # whether a packet gave sound
        self.failed = False  # whether a packet did not decode
        self.reason: str | None = None  # the decoder's reason for the first that did not, before any gave sound

    @property
    def damaged(self) -> bool:
        """Whether some packets did not decode where others did (skipped: damage)."""
        return self.decoded and self.failed

    def decode(self, packet: av.Packet | None) -> list[av.AudioFrame]:
        """The frames of `packet` (None: what the decoder still holds); raises FFmpeg's error."""
        if self.decoded:
            try:
                return self.stream.codec_context.decode(packet)
            except av.error.FFmpegError:
                self.failed = self.failed or packet is not None  # (what a decoder held at the end: nothing more)
                raise
        level = av.logging.get_level()
        av.logging.set_level(av.logging.ERROR)
        try:
            with av.logging.Capture() as logged:  # (this thread's lines alone)
                frames = self.stream.codec_context.decode(packet)
        except av.error.FFmpegError as exc:
            self.failed = self.failed or packet is not None
            if self.reason is None:
                said = logged[0][2] if logged else exc.strerror or str(exc)
                self.reason = said.strip().splitlines()[0][:160].rstrip(".") if said.strip() else type(exc).__name__
            raise
        finally:
            av.logging.set_level(level)
        self.decoded = bool(frames)
        return frames


def undecoded_said(decoder: SoundDecoder, suffix: str) -> str:
    """Why the output has no sound of a stream none of which decoded (`SoundDecoder`), in words."""
    hint = "" if suffix == ".mkv" else " (.mkv copies it as it is)"
    return (f"none of it decodes (FFmpeg's {decoder.stream.codec_context.codec.name} decoder: {decoder.reason}): "
            f"{suffix} gets no sound of it{hint}")
