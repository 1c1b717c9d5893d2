"""What an output container holds of the streams copied into it and how: the codecs each holds
(MPEG-TS's list, `holds_copy`, `muxer_accepts`), ADTS AAC's headers, track languages, roles and tags
the muxers drop, AVI's quirks (sound filled from zero, packets copied into an encoder's stream,
ADPCM's blocks, each picture in its decode-time slot), and PCM's gaps filled with silence.
"""

from __future__ import annotations

import functools
import io
import re
from fractions import Fraction

import av

# FFmpeg's MPEG-TS muxer keeps no list of the codecs it holds (FFmpeg's query lists only its
# defaults, MPEG-2 video and MP2) and takes any codec, writing one it has no stream type for as
# private data that no player decodes. These are the ones it gives a stream type
# (libavformat/mpegtsenc.c); anything else is re-encoded (audio) or dropped (subtitles), and a
# video encoder outside it is refused.
MPEG_TS_CODECS = frozenset({
    "mpeg1video", "mpeg2video", "mpeg4", "h264", "hevc", "vc1", "dirac", "cavs",
    "mp2", "mp3", "aac", "aac_latm", "ac3", "eac3", "dts", "truehd", "opus", "s302m",
    "dvb_subtitle", "dvb_teletext",
})


def container_holds(fmt: str, names: set[str], supported: set[str]) -> bool:
    """Whether a `fmt` container holds a codec known by any of `names`; `supported` is FFmpeg's
    list for it (exact for every other container written here)."""
    return bool(names & (MPEG_TS_CODECS if fmt == "mpegts" else supported))


def is_adts_aac(stream: av.stream.Stream) -> bool:
    """AAC with no extradata: ADTS headers on every packet (as MPEG-TS carries it), or, rarely, no
    decoder configuration at all (`aac_framing.RawAacFraming` gives its packets ADTS headers)."""
    return stream.codec_context.codec.canonical_name == "aac" and not stream.codec_context.extradata


# The output containers that keep ADTS AAC's headers on every packet (MPEG-TS): the others strip
# them (FFmpeg's aac_adtstoasc) and keep the first one's configuration, once, in the track's header.
ADTS_KEEPING_FORMATS = frozenset({"mpegts"})
# ADTS's sampling frequency index -> Hz (ISO 14496-3).
ADTS_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)


def adts_kind(data: bytes) -> tuple[int, int, int] | None:
    """(profile, sample rate, channel configuration) an ADTS header gives; None where `data` does
    not start with one."""
    if len(data) < 7 or data[0] != 0xFF or data[1] & 0xF6 != 0xF0 or (data[2] >> 2) & 0xF >= len(ADTS_RATES):
        return None
    return data[2] >> 6, ADTS_RATES[(data[2] >> 2) & 0xF], (data[2] & 1) << 2 | data[3] >> 6


def adts_frame_whole(data: bytes) -> bool:
    """Whether `data` is one whole ADTS frame: a header `adts_kind` reads (as FFmpeg's aac_adtstoasc
    parses it), stating the packet's own size, with sound after it. A TS packet lost mid-frame left
    a frame without its header, or one cut short or run into the next."""
    if adts_kind(data) is None:
        return False
    length = (data[3] & 3) << 11 | data[4] << 3 | data[5] >> 5
    return length == len(data) > (7 if data[1] & 1 else 9)


def adts_header(kind: tuple[int, int, int], payload: int) -> bytes:
    """The 7-byte ADTS header (no CRC) of a raw AAC frame of `payload` bytes of `kind` (`adts_kind`)."""
    profile, rate, channels = kind
    length = 7 + payload
    return bytes((0xFF, 0xF1, profile << 6 | ADTS_RATES.index(rate) << 2 | channels >> 2,
                  (channels & 3) << 6 | length >> 11, length >> 3 & 0xFF, (length & 7) << 5 | 0x1F, 0xFC))


# FFmpeg's MOV muxer writes a track's language only as one of QuickTime's old Macintosh codes (its
# table names them in ISO 639-2, mixing the B and T forms) and drops any other: `ffmpeg -c copy`
# into .mov lost German as "deu", Dutch as "nld", Chinese as "zho". The same language under the
# name the table gives it (MP4 and Matroska keep either).
MOV_LANGUAGE_NAMES = {"deu": "ger", "nld": "dut", "ell": "gre", "isl": "ice", "zho": "chi", "fre": "fra",
                      "swe": "sve", "nob": "nor", "cym": "wel", "eus": "baq", "msa": "may", "cze": "ces",
                      "slo": "slk", "rum": "ron"}


# FFmpeg 8's MOV demuxer reads a track's name (the udta `name` box an MP4 or MOV holds, which its
# muxer writes from the tag `title`) as the tag `name`, and Matroska's a NAME tag as `NAME`: copied
# under that key, .mp4, .mov and .avi wrote no name at all ("Main audio", "Commentary" lost without
# a word), .mkv a NAME tag. It is the track's title (`titled`).
TRACK_NAME = "name"


def titled(tags: dict[str, str]) -> dict[str, str]:
    """A track's `tags` with its name (`TRACK_NAME`, any case) as its title, where it has none, and
    without the name where it says the title again: so every muxer writes it as a title (MP4's and
    MOV's as the track's name, AVI's as its strn, Matroska's once, as the track's Name)."""
    names = [key for key in tags if key.lower() == TRACK_NAME]
    if not names:
        return tags
    title = tags.get("title") or tags[names[0]]
    return {**{key: value for key, value in tags.items() if key not in names or value != title}, "title": title}


def language_for(fmt: str, tags: dict[str, str]) -> dict[str, str]:
    """`tags` with the language named as the `fmt` muxer keeps it (`MOV_LANGUAGE_NAMES`)."""
    language = tags.get("language")
    if fmt != "mov" or language not in MOV_LANGUAGE_NAMES:
        return tags
    return {**tags, "language": MOV_LANGUAGE_NAMES[language]}


# Dispositions that say whom a track is for or what it is (FFmpeg's names), in words. (Forced:
# subtitles shown though subtitles are off, for the dialogue in another language.)
TRACK_ROLES = {"comment": "commentary", "hearing_impaired": "hearing impaired", "visual_impaired": "visual impaired",
               "original": "original language", "dub": "dubbed", "descriptions": "descriptions",
               "captions": "captions", "lyrics": "lyrics", "karaoke": "karaoke", "clean_effects": "clean effects",
               "forced": "forced"}
# The roles a container's muxer writes, by stream kind, where it drops some (a track so flagged,
# written with the FFmpeg PyAV carries and read back): WebM's writes default and forced alone, and
# a WebVTT track's captions or descriptions in its codec ID; a commentary track came out plain.
# MOV's and AVI's write none; MP4's no original, lyrics, karaoke or clean effects; MPEG-TS's what
# its descriptors say of sound (hearing or visual impaired, clean effects) and of DVB subtitles.
MP4_ROLES = frozenset({"comment", "hearing_impaired", "visual_impaired", "dub", "descriptions", "captions", "forced"})
WRITTEN_ROLES = {"webm": {"audio": frozenset({"forced"}),
                          "subtitle": frozenset({"captions", "descriptions", "forced"})}, "mov": {}, "avi": {},
                 "mp4": {"audio": MP4_ROLES, "subtitle": MP4_ROLES},
                 "mpegts": {"audio": frozenset({"hearing_impaired", "visual_impaired", "clean_effects"}),
                            "subtitle": frozenset({"hearing_impaired"})}}
# The track tags a container's muxer drops (read back so): AVI's keeps a title and no language,
# MPEG-TS's a language and no title. (MOV and MP4 keep a title as the track's name.)
DROPPED_TAGS = {"avi": ("language",), "mpegts": ("title",)}
# ... and those Matroska writes for every kind of track (the hint to keep the rest).
MATROSKA_ROLES = frozenset({"comment", "hearing_impaired", "visual_impaired", "original", "dub", "forced"})


def dropped_roles(fmt: str, stream: av.stream.Stream) -> tuple[str, str] | None:
    """(the roles, in words; where they are kept) a `fmt` output cannot mark `stream` as; None:
    it marks every role `stream` has."""
    written = WRITTEN_ROLES.get(fmt)
    if written is None:
        return None
    kept = written.get(stream.type, frozenset())
    dropped = [name for name in TRACK_ROLES
               if name not in kept and stream.disposition & av.stream.Disposition[name]]
    if not dropped:
        return None
    hint = " (use .mkv to keep it)" if MATROSKA_ROLES.issuperset(dropped) else ""
    return " or ".join(TRACK_ROLES[name] for name in dropped), hint


def dropped_tags(fmt: str, stream: av.stream.Stream) -> list[str]:
    """The tags of `stream` (title, its name too: `titled`; language, not "und", which says
    nothing) a `fmt` output drops (`DROPPED_TAGS`)."""
    tags = titled(stream.metadata)
    return [key for key in DROPPED_TAGS.get(fmt, ()) if tags.get(key) not in (None, "", "und")]


# The muxers that write no track for a stream that got no packet (MP4's and MOV's: a track of no
# samples is left out); the others (Matroska, WebM, AVI, MPEG-TS) write it, empty.
EMPTY_TRACKS_LEFT_OUT = frozenset({"mp4", "mov"})

# Containers that hold attached files (fonts, pictures): Matroska only (WebM is its subset without).
ATTACHING_FORMATS = frozenset({"matroska"})


# AVI's quirks, here but for its frame count (the writer asks the functions below):
# - It counts frames: its streams are timed in the encoder's time base, one frame at a rate
#   (time_bases.py: `encoder_time_base`; GIF, in centiseconds, the same way: `FRAME_COUNTING_FORMATS`).
# - Its muxer takes ADTS AAC only under a tag no demuxer reads back as audio, and refuses sound in
#   frames of unknown size (`holds_copy`, `unframed_in_avi`).
# - MP3 and AC-3 copied from a template keep the input's block align, which it writes as a fixed
#   sample size (`copied_into_encoder_stream`).
# - It times sound by counting samples or frames from the file's start (no edit list, unlike MOV):
#   a gap in the sound, a late start too, is filled with silence (`fills_gaps`, `sound_from_zero`).
# Audio codecs whose AVI stream is made by their encoder (see `copied_into_encoder_stream`).
AVI_FRAMED_AUDIO = frozenset({"mp3", "ac3"})
# Block-aligned ADPCM (WAV's and AVI's, 4 bits a sample): each packet is one block of a fixed
# number of samples, which the extradata states first (wSamplesPerBlock); per channel, a block's
# header takes these bytes and holds these samples (`adpcm_block_bytes`).
ADPCM_BLOCK_HEADERS = {"adpcm_ms": (7, 2), "adpcm_ima_wav": (4, 1)}
# The block sizes FFmpeg's ADPCM encoders make: powers of two from 32 to 8192 bytes.
ADPCM_BLOCK_SIZES = frozenset(2 ** power for power in range(5, 14))


# Containers that time PCM by counting its samples (one fixed duration per sample), so that a gap
# in the timestamps closes up: MOV and AVI. (MP4 gets no PCM: see `holds_copy`.)
SAMPLE_COUNTING_FORMATS = frozenset({"mov", "avi"})
# A shorter gap is left, as FFmpeg's `aresample=async` leaves it (its min_hard_comp): timestamps
# jitter by a packet or so (MPEG-PS stamps some DVD PCM packets 10 ms late; Matroska rounds to 1 ms).
SHORTEST_GAP = Fraction(1, 10)
# ... and the longest: a damaged timestamp three hours on made a 388 KB file's .avi 2 GB of silence
# (held in memory at once); a dropout is seconds, a late start tens of seconds.
LONGEST_FILLED_GAP = Fraction(60)
SILENCE_CHUNK_S = 1  # silence is written a second at a time


@functools.lru_cache(maxsize=None)
def pcm_sample_bytes(codec: str) -> int | None:
    """Bytes a sample of a PCM encoder takes, from its name's bits (pcm_s16le: 2); None for any
    other codec. Asked for each copied packet, so worked out once per name."""
    bits = re.fullmatch(r"pcm_[suf](\d+)(le|be)?", codec)
    return int(bits[1]) // 8 if bits else None


def fills_gaps(fmt: str, codec: str) -> bool:
    """Whether gaps in `codec` sound are filled with silence in a `fmt` container: PCM where the
    container counts samples (`SAMPLE_COUNTING_FORMATS`). The sound after a second missing played a
    second early, out of sync to the end (as `ffmpeg -c copy` leaves it)."""
    return fmt in SAMPLE_COUNTING_FORMATS and codec.startswith("pcm_")


def sound_from_zero(fmt: str) -> bool:
    """Whether a `fmt` container plays every sound stream from the file's start, whatever its first
    timestamp: AVI (counted, with no edit list; MOV's shifts the start). A sound that starts 5 s
    after the picture played from the first picture, as in `ffmpeg -i in.mkv out.avi`; it is
    preceded by silence (and any later gap filled), for re-encoded sound and copied PCM."""
    return fmt == "avi"


def slotted_by_decode_time(fmt: str) -> bool:
    """Whether a `fmt` muxer puts each video packet in the frame slot its decode time names, writing
    empty chunks for the slots skipped: AVI. A picture is shown in its slot, whatever its display
    time (the file stores none), so it is encoded without B-frames (`IN_DISPLAY_ORDER`)."""
    return fmt == "avi"


def copied_into_encoder_stream(fmt: str, stream: av.stream.Stream) -> bool:
    """Whether `stream`'s packets are copied into a stream made by their own encoder (opened, never
    fed), not one from the input's template: MP3, AC-3 and block-aligned ADPCM into AVI. From a
    template MP3 and AC-3 keep the input's block align (an AVI's MP3 has 576 or 1152, its frame),
    which the AVI muxer writes as a fixed sample size: every reader then timed the packets by bytes
    (eight 72-byte MP3 packets to one frame's time: "non monotonically increasing dts", sound out of
    place). FFmpeg clears it for these two when copying; PyAV cannot, and an encoder's parameters
    have none. ADPCM from its template has no frame size, so AVI timed its blocks by the byte at the
    bit rate the input states, loosely (FFmpeg 5 states 128 kbit/s for 88.7: `ffmpeg -c copy` put
    0.55 s of sound over 0.38 s), and a NUT's, which keeps no block align, got blocks of one byte
    that no decoder read; its encoder's stream states its block (`adpcm_block_bytes`) and samples."""
    return (fmt == "avi" and stream.type == "audio"
            and (stream.codec_context.codec.canonical_name in AVI_FRAMED_AUDIO or bool(adpcm_block_bytes(stream))))


def adpcm_block_bytes(stream: av.stream.Stream) -> int | None:
    """The bytes of each block of block-aligned ADPCM `stream` (`ADPCM_BLOCK_HEADERS`), from the
    samples per block its extradata states, where its encoder makes blocks of that size
    (`ADPCM_BLOCK_SIZES`); None for other sound, which that encoder's stream would misstate."""
    context = stream.codec_context
    header = ADPCM_BLOCK_HEADERS.get(context.codec.name)
    extradata = context.extradata or b""
    if header is None or len(extradata) < 2:
        return None
    header_bytes, header_samples = header
    samples = int.from_bytes(extradata[:2], "little")
    block = context.channels * (header_bytes + (samples - header_samples) // 2)
    return block if block in ADPCM_BLOCK_SIZES else None


def unframed_in_avi(stream: av.stream.Stream) -> bool:
    """Whether `stream` is sound in frames whose size FFmpeg has not found (it decodes the first
    packets within the first 5 s of a file: a sound that starts later has none), other than PCM and
    what an encoder's stream carries (`copied_into_encoder_stream`: MP3, AC-3, ADPCM). The AVI
    muxer then counts such a stream in samples as if they were frames, filling each packet's
    "skipped frames" with empty chunks, and refuses the packet once 60000 are skipped ("Invalid
    argument": a video whose AAC starts 5 s in failed). It is re-encoded."""
    context = stream.codec_context
    return (stream.type == "audio" and not context.frame_size and not context.codec.name.startswith("pcm_")
            and not copied_into_encoder_stream("avi", stream))


# Audio FFmpeg's MP4 muxer writes but browsers and QuickTime do not play from an MP4: Vorbis (object
# type 0xDD, an Ogg codec; Theora and Vorbis .ogv files gave a silent .mp4). PCM is kept out too
# (`holds_copy`).
MP4_UNPLAYED_AUDIO = frozenset({"vorbis"})


def holds_copy(fmt: str, stream: av.stream.Stream, supported: set[str]) -> bool:
    """Whether a `fmt` container holds `stream`'s packets copied as they are. By codec (a decoder
    may be named otherwise: mp3float, dca), except ADTS AAC into AVI: its muxer takes that only
    under a tag no demuxer reads back as audio (converting needs a bitstream filter's first
    packet before the header is written), or audio of unknown frame size (`unframed_in_avi`); and
    PCM into MP4: FFmpeg 8 writes it as ISO 23003-5
    `ipcm`, which browsers, QuickTime and FFmpeg before 6 do not play (it is re-encoded to AAC, as
    `ffmpeg -i in.mov out.mp4` does; .mov and .mkv keep it), and `MP4_UNPLAYED_AUDIO` the same way."""
    if fmt == "avi" and (is_adts_aac(stream) or unframed_in_avi(stream)):
        return False
    codec = stream.codec_context.codec
    if fmt == "mp4" and (codec.name.startswith("pcm_") or codec.canonical_name in MP4_UNPLAYED_AUDIO):
        return False
    return container_holds(fmt, {stream.codec_context.name, stream.codec_context.codec.canonical_name}, supported)


def muxer_accepts(fmt: str, stream: av.stream.Stream) -> bool:
    """Whether a `fmt` muxer writes a header holding `stream` copied: some refuse a codec they list
    only then (MOV: Opus and FLAC are MP4's; MP4: TrueHD is experimental), and PyAV refuses one
    the muxer does not list with a ValueError (BMP cover art into MP4). Tried in memory."""
    try:
        with av.open(io.BytesIO(), "w", format=fmt) as probe:
            probe.add_stream_from_template(stream)
            probe.start_encoding()
    except (av.error.FFmpegError, ValueError):
        return False
    return True
