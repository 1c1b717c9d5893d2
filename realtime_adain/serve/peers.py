"""One browser (or test client): its peer connection, incoming camera, outgoing stylized track
and `control` data channel, and the figures it is sent about once a second."""

from __future__ import annotations

import asyncio
import itertools
import json
import queue
import re
import time
import uuid
from collections import deque
from typing import Callable

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcsctptransport import WEBRTC_BINARY, WEBRTC_STRING

from realtime_adain.serve import control
from realtime_adain.serve.batcher import Batcher, Delivery, Pipeline
from realtime_adain.serve.styles import StyleRegistry
from realtime_adain.settings import MAX_RESOLUTION
from realtime_adain.stylizer import Stylizer

LATENCY_WINDOW = 60  # frames the reported p50/p95 are taken over (2 s at 30 fps)
MAX_MESSAGES_PER_S = 100  # a dragged slider sends about 60; a flood beyond this is dropped, not processed
FPS_WINDOW = 30
MAX_MEDIA = 4  # m= sections in an offer: the page sends a video and a data channel
MAX_DATA_CHANNELS = 4  # data channels a client may open, `control` included: the page opens that one only
MAX_CANDIDATES = 64  # ICE candidates in an offer: each is a pair the server would send checks to
MAX_DECODE_BACKLOG = 8  # received frames waiting for the decoder (a quarter second at 30 fps); beyond, dropped
MAX_DECODE_BACKLOG_BYTES = 16 * 1024 * 1024  # and their bytes (aiortc takes frames of up to 512 packets)
H264_SPS_READ = 4096  # bytes of an SPS read for its size: its longest legal scaling lists end within 3.7 KB
H264_MOST_SPS = 4  # SPS units read in a frame (a browser sends one a keyframe); a frame with more is dropped unread
# Profiles whose SPS has a chroma format, bit depths and scaling lists before the size: FFmpeg's list
# (h264_ps.c), not the spec's, since FFmpeg decodes it (it reads no such fields for 134, 135 or 139).
H264_HIGH_PROFILES = (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 144)
# Why a connection aiortc closed by itself is closed: all its DTLS transports ended.
AIORTC_CLOSED = ("aiortc closed the connection: its DTLS transport ended (the peer closed it, or no answer "
                 "to ICE consent checks for 30 s)")
CLOSE_SAID_S = 0.5  # how long a closing client's last message (why it is closed) is given to leave
ICE_CREDENTIALS = (("ice-ufrag", "ICE username fragment", 4), ("ice-pwd", "ICE password", 22))  # RFC 8839's shortest
MOST_ICE_CHARS = 256  # RFC 8839's longest: every ICE check the server sends carries the ufrag
ICE_CHARS = re.compile(r"[A-Za-z0-9+/]+")  # ice-char: ALPHA / DIGIT / "+" / "/"
FINGERPRINT = re.compile(r"[A-Za-z0-9-]{1,32} [0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){0,63}")  # RFC 8122 (sha-512: 64 pairs)


def h264_units(*kinds: int) -> re.Pattern[bytes]:
    """Start codes of H.264 NAL units of `kinds` (Annex B: 00 00 01, then the unit's header byte
    of any nal_ref_idc). A search finds every one, where a start code taking the header byte as
    (.) hid the next in `00 00 01 00 00 01 67` (FFmpeg finds that SPS)."""
    headers = bytes(ref << 5 | kind for ref in range(4) for kind in kinds)
    return re.compile(rb"\x00\x00\x01[" + re.escape(headers) + rb"]")


H264_SLICES = h264_units(1, 2, 3, 4, 5)  # 5: IDR
H264_SPS = h264_units(7)
H264_UNIT_END = re.compile(rb"\x00\x00[\x00-\x02]")  # FFmpeg's unit ends at 00 00 01 or 02 (00 00 00: zeros after it)


def slots_per_address(max_clients: int) -> int:
    """Client slots one address may hold at once (shared loopback: any): half, so one host cannot
    lock the others out, but a lone server's one user still gets its one slot."""
    return max(1, max_clients // 2)


def is_keyframe(codec: str, data: bytes) -> bool:
    """Whether an encoded frame, as aiortc reassembles it, decodes without the frames before it:
    VP8's frame tag says so in its lowest bit (0); in H.264's Annex B stream the first slice is an
    IDR one (type 5; found after the few parameter sets before it). Frames of another codec count
    as keyframes (none is waited for)."""
    if codec == "VP8":
        return bool(data) and not data[0] & 1
    if codec == "H264":
        first = H264_SLICES.search(data)  # all of a picture's slices are IDR or none
        return first is not None and first[0][3] & 0x1F == 5
    return True


def most_pixels(max_resolution: tuple[int, int]) -> int:
    """Pixels a client's frames may have, read before they are decoded: 4 x --max-resolution's, at
    most 7680x4320's. Decoding takes memory by the size sent, before any scaling to the work size
    (12000x12000 VP8 frames took 660 MB for one client; VP8 goes to 16383 a side)."""
    return min(4 * max_resolution[0] * max_resolution[1], MAX_RESOLUTION[0] * MAX_RESOLUTION[1])


def picture_size(codec: str, data: bytes) -> tuple[int, int] | None:
    """(width, height) an encoded frame sets its decoder to, read without decoding it, or None
    where it sets none (a VP8 inter frame, H.264 slices without an SPS, a VP8 keyframe without
    its start code): a VP8 keyframe has it after its 3-byte frame tag and start code 9d 01 2a (14
    bits a side); H.264 has it in each SPS (the largest is taken). ValueError where an SPS cannot
    be read or there are over H264_MOST_SPS of them (this runs on serve's event loop: reading
    150,000 in a 600 KB frame took over a second)."""
    if codec == "VP8":
        if len(data) >= 10 and not data[0] & 1 and data[3:6] == b"\x9d\x01\x2a":
            return int.from_bytes(data[6:8], "little") & 0x3FFF, int.from_bytes(data[8:10], "little") & 0x3FFF
        return None
    if codec == "H264":
        units = list(itertools.islice(H264_SPS.finditer(data), H264_MOST_SPS + 1))
        if len(units) > H264_MOST_SPS:
            raise ValueError(f"a frame holds over {H264_MOST_SPS} H.264 SPS units")
        sizes = [h264_sps_size(H264_UNIT_END.split(data[unit.end():unit.end() + H264_SPS_READ], 1)[0])
                 for unit in units]
        return max(sizes, key=lambda size: size[0] * size[1], default=None)
    return None


def h264_sps_size(sps: bytes) -> tuple[int, int]:
    """An H.264 SPS's picture size as shown (after its NAL header; H.264 7.3.2.1.1), its crop taken
    off only as far as it undoes the rounding up to whole macroblocks (under 16 pixels; under 32
    rows in fields): the decoder takes memory by the whole picture, which a larger crop would hide.
    ValueError where it ends before its crop (FFmpeg reads on into the next unit: a 4-byte SPS was
    decoded at 13408x832) or holds an exp-Golomb code of over 32 bits (which FFmpeg reads its own way)."""
    rbsp = sps.replace(b"\x00\x00\x03", b"\x00\x00")
    value, unread = int.from_bytes(rbsp, "big"), 8 * len(rbsp)  # the bits not read yet, and their count

    def u(count: int) -> int:
        nonlocal value, unread
        if count > unread:
            raise ValueError("the SPS ends")
        unread -= count
        read, value = value >> unread, value & ((1 << unread) - 1)
        return read

    def ue() -> int:
        zeros = unread - value.bit_length()
        if zeros > 31:
            raise ValueError("an exp-Golomb code of over 32 bits")
        u(zeros)
        return u(zeros + 1) - 1

    profile = u(8)
    u(16)  # constraint flags, level
    ue()  # its id
    chroma_format = chroma_type = 1  # (4:2:0)
    if profile in H264_HIGH_PROFILES:
        chroma_format = chroma_type = ue()
        if chroma_format == 3 and u(1):  # separate colour planes: each cropped as a monochrome picture
            chroma_type = 0
        ue(), ue(), u(1)  # bit depths, lossless
        if u(1):  # scaling matrices: lists of deltas, each list ending at a next scale of 0
            for size in [16] * 6 + [64] * (6 if chroma_format == 3 else 2):
                if u(1):
                    last = scale = 8
                    for _ in range(size):
                        if scale:
                            delta = ue()
                            scale = (last + (delta + 1) // 2 * (1 if delta % 2 else -1) + 256) % 256
                        last = scale or last
    ue()  # log2 of the largest frame_num
    order = ue()
    if order == 0:
        ue()
    elif order == 1:
        u(1), ue(), ue()
        for _ in range(ue()):
            ue()
    ue(), u(1)  # reference frames, gaps
    width_in_blocks, height_in_units = ue() + 1, ue() + 1
    fields = 1 - u(1)  # (not frames: a unit is a pair of macroblocks, one in each field)
    if fields:
        u(1)  # macroblock-adaptive
    u(1)  # direct 8x8 inference
    left, right, top, bottom = (ue(), ue(), ue(), ue()) if u(1) else (0, 0, 0, 0)  # its crop
    # Crop units (Table 6-1): chroma samples of 4:2:0 and 4:2:2 across, of 4:2:0 down; rows of each field.
    unit_x, unit_y = (2 if chroma_type in (1, 2) else 1), (2 if chroma_type == 1 else 1) * (1 + fields)
    block_y = 16 * (1 + fields)
    return (16 * width_in_blocks - min((left + right) * unit_x, 15),
            block_y * height_in_units - min((top + bottom) * unit_y, block_y - 1))


def has_ice_addresses() -> bool:
    """Whether aiortc can offer a host candidate: its ICE (aioice) never offers 127.0.0.1, so a
    machine with nothing but loopback cannot connect a peer, even to itself."""
    from aioice.ice import get_host_addresses

    return bool(get_host_addresses(use_ipv4=True, use_ipv6=True))


def offer_problem(sdp: str) -> str | None:
    """Why an offer is refused before any peer connection is made, or None: aiortc says little
    (or an internal error) about a malformed one, and takes any number of tracks and candidates.
    Checked as aiortc is given it (`for_aiortc`: trailing blanks off), so a blank aiortc never
    sees (`a=setup:actpass `) is no reason to refuse it."""
    lines = for_aiortc(sdp).splitlines()
    if not lines or not re.fullmatch(r"v=\s*0", lines[0]):  # (aiortc: int() of what follows v=)
        return "the offer is not an SDP session description (its first line must be v=0)"
    media = [line[2:].split(" ", 1)[0] for line in lines if line.startswith("m=")]
    if "video" not in media:
        return "the offer has no video track"
    if len(media) > MAX_MEDIA:
        return f"the offer has {len(media)} media sections; at most {MAX_MEDIA} (a video and the data channel)"
    candidates = [line for line in lines if line.startswith("a=candidate:")]
    if len(candidates) > MAX_CANDIDATES:
        return f"the offer has {len(candidates)} ICE candidates; at most {MAX_CANDIDATES}"
    for candidate in candidates:  # (port 65536 reached sendto() in aioice: two tracebacks in the log per offer)
        fields = candidate[12:].split()  # (as aiortc splits it: `a=candidate: 1 1 ...` has its port 6th too)
        if len(fields) > 5 and not (re.fullmatch(r"[0-9]{1,5}", fields[5]) and int(fields[5]) <= 65535):
            return f"the offer has an ICE candidate whose port {fields[5][:12]!r} is not in 0..65535"
    problem = credentials_problem(lines) or shape_problem(lines) or sections_problem(lines)
    if problem is not None:
        return problem
    taken = {codec.mimeType.split("/")[1].lower() for codec in RTCRtpReceiver.getCapabilities("video").codecs}
    offered = {line.split(" ", 1)[1].split("/")[0].lower() for line in lines if line.startswith("a=rtpmap:") and " " in line}
    if not offered & (taken - {"rtx"}):
        return f"the offer's video has no codec this server takes ({', '.join(sorted(taken - {'rtx'})).upper()})"
    return None


PORT = r"(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"  # 0..65535
NUMBER = r"[0-9]{1,10}"
PAYLOAD_TYPE = r"0*(?:[0-9]|[1-6][0-9]|7[0-17-9]|[89][0-9]|1[01][0-9]|12[0-7])"  # 0..127 but RTCP's 72..76
# The lines aiortc's SDP parser reads without checking (int() on a field, a value looked up, a number
# of fields taken for granted, a value split, bare or not), each as the regular expression of what it
# takes and that in words: anything else raised inside it ("KeyError: 'x'", "AssertionError",
# "coroutine raised StopIteration"), which reached the client as the reason. (`offer_problem` checks
# the candidates' ports, `credentials_problem` the ICE credentials and fingerprints; aiortc keeps
# the other attributes' values as they are, or reads them as flags.)
LINE_SHAPES = {
    "v=": (r"\s*0", "0"),
    "c=": (r"IN IP[46] \S+", "IN IP4|IP6 ADDRESS"),
    "m=": (rf"(?:audio|video) {PORT} [A-Z/]+(?: {PAYLOAD_TYPE})+"
           rf"|application {PORT} (?:DTLS/SCTP {PORT}|(?!DTLS/SCTP )[A-Z/]+ \S+)(?: \S+)*",
           "KIND PORT PROTOCOL FORMATS (audio, video or application; a port 0..65535; payload types 0..127, "
           "not 72..76)"),
    "a=candidate:": (rf"\S+ [0-9]{{1,3}} \S+ {NUMBER} \S+ [0-9]+ (?i:typ) \S+(?: rport {PORT}| (?!rport )\S+)*",
                     "FOUNDATION COMPONENT TRANSPORT PRIORITY ADDRESS PORT typ TYPE, then NAME VALUE pairs"),
    "a=extmap:": (r"[0-9]{1,5}(?:/[a-z]+)? \S+", "ID[/DIRECTION] URI"),
    "a=fmtp:": (rf"{PAYLOAD_TYPE} .+", "PAYLOAD-TYPE PARAMETERS"),
    "a=group:": (r"(?:\S+(?: \S+)*)?", "SEMANTICS [MID...]"),  # (empty: aiortc skips it)
    "a=max-message-size:": (NUMBER, "a number"),
    "a=mid:": (r"\S{1,256}", "1 to 256 characters without spaces"),
    # (aiortc takes a track id from an a=msid with a blank: the second field, which must be there)
    "a=msid:": (r"[^ ]*|\s*\S+\s+\S.*", "STREAM-ID [TRACK-ID]"),
    "a=msid-semantic:": (r"(?:\S+(?: \S+)*)?", "SEMANTICS [STREAM-ID...]"),
    "a=rtcp:": (rf"{PORT}(?: IN IP[46] \S+)?", "PORT [IN IP4|IP6 ADDRESS]"),
    # (aiortc reads a type only after a first field that names its codecs: `*` or a payload type)
    "a=rtcp-fb:": (r"(?!(?:\*|[0-9]+)$).*", "PAYLOAD-TYPE|* TYPE [PARAMETER]"),
    "a=rtpmap:": (rf"{PAYLOAD_TYPE} [^/]+/{NUMBER}(?:/[0-9]{{1,3}})?", "PAYLOAD-TYPE NAME/CLOCK-RATE[/CHANNELS]"),
    "a=sctp-port:": (PORT, "a port 0..65535"),
    "a=sctpmap:": (rf"{PORT} \S.*", "PORT PROTOCOL [STREAMS]"),
    "a=setup:": ("actpass|active|passive", "actpass, active or passive"),
    "a=ssrc:": (rf"{NUMBER} [^:]*:.*", "SSRC ATTRIBUTE:VALUE"),
    "a=ssrc-group:": (rf"(?:\S+(?: {NUMBER})*)?", "SEMANTICS SSRC..."),
}
NUMBER_PARAMETERS = ("apt", "max-fr", "max-fs", "maxplaybackrate", "minptime", "stereo", "useinbandfec",  # aiortc's
                     "packetization-mode")  # int()s (H264's, when codecs are matched: with no value, a TypeError)
# The lines aiortc splits at any whitespace (str.split()): checked with their whitespace made single
# blanks. It splits the others at single blanks (a tab for one failed its int() or its match of
# "IN IP4 ADDRESS"): checked as written (less the trailing whitespace `for_aiortc` takes off), but
# for those it reads whole with int(), which takes blanks around the number.
SPLIT_AT_ANY_WHITESPACE = ("a=candidate:", "a=extmap:", "a=group:", "a=msid-semantic:", "a=ssrc-group:")
READ_BY_INT = ("a=max-message-size:", "a=sctp-port:")


def shape_problem(lines: list[str]) -> str | None:
    """Why a line aiortc would read is refused (see LINE_SHAPES), or None; `lines` as `for_aiortc`
    gives them. An attribute without a ':' (`a=setup`, `a=group`) is refused as an empty value:
    aiortc reads it as the attribute with no value (None), and failed inside on it ("'NoneType'
    object has no attribute 'split'"), where `a=group:` with an empty value is skipped."""
    for line in lines:
        bare = False
        if line[:2] in ("v=", "c=", "m="):
            start, value = line[:2], line[2:]
        elif line.startswith("a="):
            attribute, colon, value = line[2:].partition(":")  # (as aiortc splits it)
            start, bare = f"a={attribute}:", not colon
        else:
            continue
        shape = LINE_SHAPES.get(start)
        if shape is None:
            continue
        if start in SPLIT_AT_ANY_WHITESPACE:
            value = " ".join(value.split())
        elif start in READ_BY_INT:
            value = value.strip()
        if bare or not re.fullmatch(shape[0], value):
            return f"the offer's {start.rstrip(':')} line must be {shape[1]}, not {value[:40]!r}"
        for name, number in fmtp_parameters(line).items():
            if name.strip() in NUMBER_PARAMETERS and not re.fullmatch(NUMBER, number.strip()):
                return f"the offer's a=fmtp line's {name} must be a number, not {number[:20]!r}"
    return None


def fmtp_parameters(line: str) -> dict[str, str]:
    """An a=fmtp line's parameters (NAME=VALUE, split at ';' as aiortc splits them); {} for another line."""
    if not line.startswith("a=fmtp:") or " " not in line:
        return {}
    pairs = (parameter.partition("=") for parameter in line.split(" ", 1)[1].split(";"))
    return {name: value for name, _, value in pairs}


def media_sections(lines: list[str]) -> list[list[str]]:
    """The offer's media sections, each its m= line and the lines after it."""
    sections: list[list[str]] = []
    for line in lines:
        if line.startswith("m="):
            sections.append([])
        if sections:
            sections[-1].append(line)
    return sections


def sections_problem(lines: list[str]) -> str | None:
    """Why the media sections do not fit together as aiortc needs, or None: one application (data
    channel) section at most; each has a DTLS role (a=setup, its own or the session's); no a=mid
    names two; under a=group:BUNDLE each has one a=mid, and the group names those only."""
    session = lines[:next((at for at, line in enumerate(lines) if line.startswith("m=")), len(lines))]
    session_setup = any(line.startswith("a=setup:") for line in session)
    groups = (line[8:].split() for line in session if line.startswith("a=group:"))
    bundle = next((group[1:] for group in groups if group[:1] == ["BUNDLE"]), [])  # (aiortc's: the first)
    sections, mids = media_sections(lines), []
    applications = sum(section[0].startswith("m=application ") for section in sections)
    if applications > 1:
        return f"the offer has {applications} application (data channel) sections; at most one"
    for section in sections:
        kind = section[0][2:].split(" ", 1)[0]
        if not session_setup and not any(line.startswith("a=setup:") for line in section):
            return f"the offer's {kind} section has no DTLS role (a=setup:actpass, active or passive)"
        own = [line[6:].strip() for line in section if line.startswith("a=mid:")]
        if bundle and len(own) != 1:
            return f"the offer's {kind} section has {len(own) or 'no'} a=mid lines; under a=group:BUNDLE each has one"
        twice = next((mid for mid in own if mid in mids), None)
        if twice is not None:
            return f"the offer's a=mid:{twice} names two media sections"
        mids += own
        problem = payloads_problem(kind, section)
        if problem is not None:
            return problem
    stray = next((mid for mid in bundle if mid not in mids), None)
    if stray is not None:
        return f"the offer's a=group:BUNDLE names mid {stray[:32]!r}, which no media section has"
    return None


def payloads_problem(kind: str, section: list[str]) -> str | None:
    """Why a section's payload lines do not add up, or None: each payload type an a=fmtp line
    names has an a=rtpmap (aiortc looked it up: "coroutine raised StopIteration"), and an
    application (data channel) section has none of them."""
    payload_lines = [line for line in section if line.startswith(("a=fmtp:", "a=rtcp-fb:", "a=rtpmap:"))]
    if kind == "application":
        if payload_lines:
            return (f"the offer's application section has an {payload_lines[0].split(':', 1)[0]} line "
                    "(payload types are for audio and video)")
        return None
    mapped = {int(line[9:].split()[0]) for line in payload_lines if line.startswith("a=rtpmap:")}  # (shapes checked)
    named = (int(line[7:].split()[0]) for line in payload_lines if line.startswith("a=fmtp:"))
    missing = next((pt for pt in named if pt not in mapped), None)
    if missing is not None:
        return f"the offer's {kind} section names payload type {missing} but has no a=rtpmap:{missing} line for it"
    return None


DIRECTIONS = ("a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive")


def for_aiortc(sdp: str) -> str:
    """The offer as aiortc is given it: its lines without trailing whitespace, which aiortc read as
    part of a value (`a=mid:0 ` was not the `0` that a=group:BUNDLE names: its answer failed inside,
    "'NoneType' object has no attribute 'transport'"), and with directions (`with_directions`)."""
    return with_directions("".join(f"{line.rstrip()}\r\n" for line in sdp.splitlines()))


def with_directions(sdp: str) -> str:
    """The offer with a direction in each audio or video section that states none: the session's
    where it states one, else `a=sendrecv`, which is what SDP means by none (RFC 4566). aiortc
    reads directions per section only: its answer failed on none ("None is not in list"), and a
    session-level one was refused as "no video track"."""
    newline = "\r\n" if "\r\n" in sdp else "\n"
    lines = sdp.splitlines()
    first = next((at for at, line in enumerate(lines) if line.startswith("m=")), len(lines))
    session = next((line.strip() for line in lines[:first] if line.strip() in DIRECTIONS), "a=sendrecv")
    out = [line for line in lines[:first] if line.strip() not in DIRECTIONS]
    for section in media_sections(lines):
        out += section
        if section[0].startswith(("m=audio", "m=video")) and not any(line.strip() in DIRECTIONS for line in section):
            out.insert(len(out) - len(section) + 1, session)
    return newline.join(out) + newline


def attribute_values(lines: list[str], name: str) -> list[str | None]:
    """The value of every `a=NAME` line, session- and media-level, as aiortc reads it (None: no ':')."""
    values: list[str | None] = []
    for line in lines:
        attribute, colon, value = line[2:].partition(":")
        if line.startswith("a=") and attribute == name:
            values.append(value if colon else None)
    return values


def credentials_problem(lines: list[str]) -> str | None:
    """Why the offer's ICE credentials or DTLS fingerprint are refused, or None. Each ICE check
    the server sends carries the client's ufrag (and is signed with its pwd): with no bound, a
    60000-character one made every check a 60 KB packet, sent to addresses the client chose.
    A fingerprint aiortc cannot split reached the client as Python's unpacking error."""
    for name, what, fewest in ICE_CREDENTIALS:
        values = attribute_values(lines, name)
        if not values:
            return f"the offer has no {what} (a={name})"
        for value in values:
            value = value or ""
            if fewest <= len(value) <= MOST_ICE_CHARS and ICE_CHARS.fullmatch(value):
                continue
            bad = next((char for char in value if not ICE_CHARS.fullmatch(char)), None)
            found = f"it holds {bad!r}" if bad is not None else f"it has {len(value)}"
            return (f"the offer's {what} (a={name}) must be {fewest} to {MOST_ICE_CHARS} characters, each a letter, "
                    f"digit, '+' or '/' (RFC 8839): {found}")
    fingerprints = attribute_values(lines, "fingerprint")
    if not fingerprints:
        return "the offer has no DTLS fingerprint (a=fingerprint)"
    for value in fingerprints:
        fields = (value or "").split()  # (as aiortc splits it: at any whitespace)
        if len(fields) < 2:
            return "the offer's DTLS fingerprint (a=fingerprint) has no value"
        if not FINGERPRINT.fullmatch(" ".join(fields)):
            return (f"the offer's DTLS fingerprint (a=fingerprint) must be a hash function and its value in hex "
                    f"pairs (sha-256 AB:CD:...), not {value[:40]!r}")
    return None


class DecodeBacklog(queue.Queue):
    """aiortc's queue of received frames waiting for a receiver's decoder thread, which it leaves
    unbounded: a client sending faster than its frames decode (7 KB 2048x2048 keyframes that take
    6 ms each) grew it by over a hundred frames a second, and at the end of the track the decoder
    went on through the whole backlog into frames nobody read (10 GB in 20 s with 4096x4096 ones).
    Here at most `frames` frames (`max_bytes`) wait: a keyframe replaces those before it (live
    video: the newest is what counts); a frame past the bound is dropped, and so is each after it
    until a keyframe, which is asked for (`request_keyframe`: aiortc sends a PLI); the end of the
    track (None) drops what waits. A frame that sets a picture of over `pixels` pixels is dropped
    before it is decoded, with every frame after it, and told to `refuse` (width, height) once:
    decoding takes memory by the size the client chose. A frame whose size cannot be read (an
    H.264 SPS cut short, more SPS units than are read) is dropped as one past the bound is. Frames
    are read only where they would be queued: this runs on aiortc's event loop."""

    def __init__(self, request_keyframe: Callable[[], None], frames: int = MAX_DECODE_BACKLOG,
                 max_bytes: int = MAX_DECODE_BACKLOG_BYTES, pixels: int = most_pixels(MAX_RESOLUTION),
                 refuse: Callable[[int, int], None] = lambda width, height: None) -> None:
        super().__init__()
        self.request_keyframe, self.frames, self.max_bytes = request_keyframe, frames, max_bytes
        self.pixels, self.refuse = pixels, refuse
        self.refused = False
        self.bytes = self.dropped = 0
        self.waiting_for_key = False

    def _clear(self) -> None:
        self.dropped += sum(item is not None for item in self.queue)
        self.queue.clear()
        self.bytes = 0

    def _put(self, item) -> None:
        """(codec, JitterFrame) from aiortc's event loop, or None at the end (the queue's lock held)."""
        if self.queue and self.queue[-1] is None:  # ended: the decoder stops at the None
            return
        if item is None:
            self._clear()
            self.queue.append(None)
            return
        codec, frame = item
        if self.refused:
            self.dropped += 1
            return
        size = len(frame.data)
        key = is_keyframe(codec.name, frame.data)
        if not key and (self.waiting_for_key or len(self.queue) >= self.frames
                        or (self.queue and self.bytes + size > self.max_bytes)):
            self._drop_until_keyframe()
            return
        try:  # (only a frame that would be queued is read: reading takes time on the event loop)
            picture = picture_size(codec.name, frame.data)
        except ValueError:  # (no browser sends one: its size is not known, so it is not decoded)
            self._drop_until_keyframe()
            return
        if picture is not None and picture[0] * picture[1] > self.pixels:
            self.dropped += 1
            self.refused = True
            self.refuse(*picture)
            return
        if key:
            self._clear()
            self.waiting_for_key = False
        self.queue.append(item)
        self.bytes += size

    def _drop_until_keyframe(self) -> None:
        self.dropped += 1  # the frames after it refer to it: none decodes until a keyframe
        self.waiting_for_key = True
        self.request_keyframe()

    def _get(self):
        item = self.queue.popleft()
        if item is not None:
            self.bytes -= len(item[1].data)
        return item


def bound_decoding(receiver: RTCRtpReceiver, pixels: int = most_pixels(MAX_RESOLUTION),
                   refuse: Callable[[int, int], None] = lambda width, height: None) -> None:
    """Put a DecodeBacklog in place of the receiver's own queue: before the connection, when its
    decoder thread starts with it (private: aiortc has no bound; left as it is if it changed)."""
    error = getattr(receiver, "_RTCRtpReceiver__decoder_error", None)
    if isinstance(getattr(receiver, "_RTCRtpReceiver__decoder_queue", None), queue.Queue) and error is not None:
        # (a decode error: PLI on the next packet)
        receiver._RTCRtpReceiver__decoder_queue = DecodeBacklog(error.set, pixels=pixels, refuse=refuse)


def peer_connection() -> RTCPeerConnection:
    """No STUN server: the default one is on the internet, and this may be an offline machine."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


class StylizedTrack(MediaStreamTrack):
    """The outgoing video: each `recv` returns the newest stylized frame (older ones are skipped)."""

    kind = "video"

    def __init__(self, shown: Callable[[Delivery], None]) -> None:
        super().__init__()
        self._newest: Delivery | None = None
        self._ready = asyncio.Event()
        self._shown = shown
        self._last_pts = -1

    def put(self, delivery: Delivery) -> None:
        """From the worker, through the event loop (`call_soon_threadsafe`)."""
        self._newest = delivery
        self._ready.set()

    def stop(self) -> None:
        super().stop()
        self._ready.set()

    async def recv(self) -> av.VideoFrame:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            await self._ready.wait()
            self._ready.clear()
            delivery, self._newest = self._newest, None
            if delivery is None:
                continue
            # Timestamps as the frame came in; one that does not advance (a frame the client
            # sent twice) would merge with the previous one in the receiver's jitter buffer.
            if delivery.pts is not None and delivery.pts <= self._last_pts:
                continue
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(delivery.image), format="rgb24")
            if delivery.pts is not None:
                frame.pts, frame.time_base = delivery.pts, delivery.time_base
                self._last_pts = delivery.pts
            self._shown(delivery)
            return frame


class Client:
    """A client from its offer to `close` (its own, the server's, or its connection failing), after
    which `on_close` tells the server; `count` is the server's number of clients (for the figures);
    `address` is where its offer came from."""

    def __init__(self, styles: StyleRegistry, stylizer: Stylizer, batcher: Batcher, look: control.Look,
                 strength: float, on_close: Callable[["Client"], None], count: Callable[[], int],
                 address: str = "") -> None:
        self.id = uuid.uuid4().hex[:12]
        self.styles, self.batcher, self.on_close, self.count = styles, batcher, on_close, count
        self.address = address
        self.pc = peer_connection()
        self.loop = asyncio.get_running_loop()
        self.out = StylizedTrack(self._shown)
        self.pipeline = Pipeline(styles, stylizer, look, self._deliver, strength)
        self.channel = None
        self.data_channels = 0  # opened by the client
        self.created = self.last_activity = time.monotonic()
        self.connected = False  # its peer reached the connected state (at any time)
        self.returned: deque[float] = deque(maxlen=FPS_WINDOW)
        self.latencies: deque[tuple[int | None, float]] = deque(maxlen=LATENCY_WINDOW)  # (pts, seconds)
        self.frames_in = self.frames_out = 0
        self.last_batch = 0
        self.has_video = False
        self._video: MediaStreamTrack | None = None
        self.closing = False
        self._second, self._messages = 0.0, 0  # the current one-second window and its message count
        self.reason = ""  # why it was closed
        self._tasks: set[asyncio.Task] = set()
        self.pc.on("track", self._on_track)
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("connectionstatechange", self._on_state)
        styles.join(self)  # the uploads it chooses are kept while it is here

    @property
    def look(self) -> control.Look:
        return self.pipeline.look

    # ---- incoming ----------------------------------------------------------------------------

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind != "video" or self.has_video:
            return
        self.has_video = True
        self._video = track
        receiver = next((t.receiver for t in self.pc.getTransceivers() if t.receiver.track is track), None)
        if receiver is not None:
            bound_decoding(receiver, most_pixels(self.batcher.max_resolution), self._refuse_picture)
        self.pc.addTrack(self.out)  # on the offer's transceiver: sendrecv
        self._spawn(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                break
            self.last_activity = time.monotonic()
            self.frames_in += 1
            self.batcher.submit(self.pipeline, frame, self.last_activity)
        # The peer is gone: it ended the track, or its connection ended and aiortc closed it
        # (signalling is closed at once, the connection state only once all is closed).
        await self.close(AIORTC_CLOSED if self.pc.signalingState == "closed" else "its video ended")

    def _refuse_picture(self, width: int, height: int) -> None:
        """From aiortc's packet handling (on the event loop), once: the client's frames are too large to decode."""
        pixels = most_pixels(self.batcher.max_resolution)
        self._spawn(self.close(f"its video is {width}x{height}: at most {pixels} pixels are decoded "
                               "(4 x --max-resolution's, at most 7680x4320's)"))

    def refuse_the_rest(self) -> None:
        """Before the answer: every track but the one video read is answered inactive, so nothing
        decodes frames into a queue no one reads (an audio track: 50 frames a second, for ever);
        a text message that is not UTF-8 arrives as bytes (refused as a message) instead of
        raising inside aiortc's DTLS loop (a traceback, and the connection lost)."""
        for transceiver in self.pc.getTransceivers():
            if transceiver.receiver.track is not self._video:
                transceiver.direction = "inactive"
        sctp = self.pc.sctp
        if sctp is None:
            return
        original = sctp._data_channel_receive  # private: aiortc decodes text with no error handling

        async def receive(stream_id: int, pp_id: int, data: bytes) -> None:
            if pp_id == WEBRTC_STRING:
                try:
                    data.decode("utf8")
                except UnicodeDecodeError:
                    pp_id = WEBRTC_BINARY
            await original(stream_id, pp_id, data)

        sctp._data_channel_receive = receive

    def _on_datachannel(self, channel) -> None:
        """Only the first `control` channel is read; any other is closed at once, and a client
        opening more than MAX_DATA_CHANNELS is closed, told why: one that opened 20,000 and sent
        60 KB on each lost its connection, and was never told."""
        self.data_channels += 1
        if self.data_channels == MAX_DATA_CHANNELS + 1:
            self._spawn(self.close(f"too many data channels: it opened over {MAX_DATA_CHANNELS} "
                                   "(the page uses one, `control`)"))
        if channel.label != "control" or self.channel is not None:
            channel.close()
            return
        self.channel = channel
        channel.on("message", self._on_message)
        channel.on("open", self.send_status)
        if channel.readyState == "open":
            self.send_status()

    def _on_message(self, text: object) -> None:
        now = self.last_activity = time.monotonic()
        if now - self._second >= 1.0:
            self._second, self._messages = now, 0
        self._messages += 1
        if self._messages > MAX_MESSAGES_PER_S:  # said once a second; the flood costs the other clients nothing more
            if self._messages == MAX_MESSAGES_PER_S + 1:
                self.send({"error": f"more than {MAX_MESSAGES_PER_S} messages a second: the rest are dropped"})
            return
        try:
            message = control.parse(text)
            answer = control.pong(message)
            if answer is not None:
                self.send(answer)
            with self.styles.choosing:  # (an upload checked here is not dropped before the look names it)
                look = control.apply(self.look, message, self.styles, control.stabilize_modes(self.pipeline.stylizer.engine_name))
                changed = look != self.look
                if changed:
                    self.pipeline.look = look
        except control.BadMessage as exc:
            self.send({"error": str(exc)})
            return
        if changed:
            self.send_status()

    def _on_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected":
            self.connected = True
        elif state == "failed":
            self._spawn(self.close("connection failed"))
        elif state == "closed":  # (`close` closes it when already closing: this is aiortc's own, said as such)
            self._spawn(self.close(AIORTC_CLOSED))

    # ---- outgoing ----------------------------------------------------------------------------

    def _deliver(self, delivery: Delivery) -> None:
        """From the worker thread: into the track on the event loop (unless the server is gone)."""
        if not self.closing and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.out.put, delivery)

    def _shown(self, delivery: Delivery) -> None:
        now = time.monotonic()
        self.frames_out += 1
        self.returned.append(now)
        self.latencies.append((delivery.pts, now - delivery.arrived))
        self.last_batch = delivery.batch

    def stats(self, clients: int) -> dict:
        recent = self.returned
        fps = (len(recent) - 1) / max(1e-6, recent[-1] - recent[0]) if len(recent) >= 2 else 0.0
        if fps and time.monotonic() - recent[-1] > max(2.0, 3.0 / fps):
            fps = 0.0  # nothing came back for three frame intervals (a paused or silent camera)
        seconds = [latency for _pts, latency in self.latencies]
        p50, p95 = (np.percentile(seconds, (50, 95)) * 1000) if seconds else (0.0, 0.0)
        stylizer = self.pipeline.stylizer
        # Each frame's own figure too, by its pts: `bench serve` takes those of the frames it measured
        # (its p50 from a message's window of the last 60 frames reached back into the warm-up).
        by_pts = [[pts, round(1000 * latency, 1)] for pts, latency in self.latencies if pts is not None]
        return {"fps": round(fps, 1), "latency_ms": {"p50": round(float(p50), 1), "p95": round(float(p95), 1),
                                                     "by_pts": by_pts},
                "batch": self.last_batch, "clients": clients, "device": str(stylizer.device), "engine": stylizer.engine_name,
                "frames_in": self.frames_in, "frames_out": self.frames_out, "dropped": self.pipeline.dropped}

    def send(self, message: dict) -> None:
        channel = self.channel
        if channel is not None and channel.readyState == "open":
            try:
                channel.send(json.dumps(message))
            except Exception:  # a channel closing under us: the connection's state change removes the client
                pass

    def send_status(self) -> None:
        """The figures and the look: about once a second, and after every change."""
        self.send({"stats": self.stats(self.count()), "state": self.look.state()})

    # ---- lifetime ----------------------------------------------------------------------------

    def overdue(self, now: float, connect_s: float, idle_s: float) -> str | None:
        """Why the server should close it now, or None. A peer that never connects (an offer's
        answer never used, ICE never completing) is not idle by its figures but holds a slot."""
        if not self.connected and now - self.created > connect_s:
            return f"not connected within {connect_s:g} s"
        if now - self.last_activity > idle_s:
            return f"idle for {idle_s:g} s"
        return None

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _say_closed(self, reason: str) -> None:
        """Send `{"closed": reason}` and give it up to CLOSE_SAID_S to leave: closing the connection
        aborts its SCTP association, and with it a message still queued."""
        self.send({"closed": reason})
        deadline = time.monotonic() + CLOSE_SAID_S
        while self.channel is not None and self.channel.readyState == "open" and self.channel.bufferedAmount \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def close(self, reason: str) -> None:
        """Idempotent: say why on the data channel (`{"closed": reason}`), stop the tracks, drop any
        waiting frame, close the connection, tell the server."""
        if self.closing:
            return
        self.closing = True
        self.reason = reason
        self.styles.leave(self)
        self.batcher.discard(self.pipeline)
        self.out.stop()
        try:
            await self._say_closed(reason)
            await self.pc.close()
        except Exception as exc:  # noqa: BLE001 - a connection half made from a malformed offer: aiortc's own
            # close fails inside (AttributeError). Said in the "left" line where it had connected; one that
            # never did is its offer's refusal, said already (the detail read as a fault of the server)
            if self.connected:
                self.reason = f"{reason}; closing its connection failed ({type(exc).__name__}: {str(exc)[:80]})"
        finally:
            self.on_close(self)
            current = asyncio.current_task()
            for task in list(self._tasks):
                if task is not current:
                    task.cancel()
