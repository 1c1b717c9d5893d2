"""SDP offers checked before aiortc is given them (it says little, or raises inside, about a
malformed one, and takes any number of tracks and candidates), the offer as aiortc is given it
(`for_aiortc`), and whether this machine has an address ICE can offer."""

from __future__ import annotations

import re

from aiortc import RTCRtpReceiver

from realtime_adain.errors import one_line

# Lines in an offer: a browser's has 100 to 400 (candidates included). aiortc's work grows with
# them, on some lines faster than their number: 3000 a=rtpmap lines (70 KiB, a codec each) held
# the event loop, every client's frames with it, for 10 s.
MAX_LINES = 1000
MAX_MEDIA = 4  # m= sections in an offer: the page sends a video and a data channel
MAX_PAYLOAD_TYPES = 128  # on one m= line: Chrome lists 20 to 40 for its video
# The lines aiortc collects into a list per section (the session's part counted as one), by how
# they start, each item work of its own: an a=rtcp-fb is matched against every codec (`*` is given
# to each), an a=ssrc looks among those before it, an a=fingerprint is a digest of the peer's
# certificate (10000 a=ssrc lines held the event loop for 3 s). Bounded well above a browser's
# (Chromium 156's video: 50 a=rtcp-fb, none `*`, 11 a=extmap, 4 a=ssrc (more with simulcast),
# 1 a=ssrc-group, 1 a=fingerprint).
MOST_PER_SECTION = {"a=rtcp-fb:": 256, "a=rtcp-fb:* ": 16, "a=extmap:": 64, "a=ssrc:": 64, "a=ssrc-group:": 16,
                    "a=fingerprint:": 8}
MAX_CANDIDATES = 64  # ICE candidates in an offer: each is a pair the server would send checks to
ICE_CREDENTIALS = (("ice-ufrag", "ICE username fragment", 4), ("ice-pwd", "ICE password", 22))  # RFC 8839's shortest
MOST_ICE_CHARS = 256  # RFC 8839's longest: every ICE check the server sends carries the ufrag
ICE_CHARS = re.compile(r"[A-Za-z0-9+/]+")  # ice-char: ALPHA / DIGIT / "+" / "/"
FINGERPRINT = re.compile(r"[A-Za-z0-9-]{1,32} [0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){0,63}")  # RFC 8122 (sha-512: 64 pairs)


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
    lines = sdp_lines(for_aiortc(sdp))
    if not lines or not re.fullmatch(r"v=\s*0", lines[0]):  # (aiortc: int() of what follows v=)
        return "the offer is not an SDP session description (its first line must be v=0)"
    media = [line[2:].split(" ", 1)[0] for line in lines if line.startswith("m=")]
    if "video" not in media:
        return "the offer has no video track"
    problem = direction_problem(lines)
    if problem is not None:
        return problem
    if len(media) > MAX_MEDIA:
        return f"the offer has {len(media)} media sections; at most {MAX_MEDIA} (a video and the data channel)"
    if len(lines) > MAX_LINES:  # (the checks above take a time in proportion to them)
        return f"the offer has {len(lines)} lines; at most {MAX_LINES} (a browser's has a few hundred)"
    candidates = [line for line in lines if line.startswith("a=candidate:")]
    if len(candidates) > MAX_CANDIDATES:
        return f"the offer has {len(candidates)} ICE candidates; at most {MAX_CANDIDATES}"
    for candidate in candidates:  # (port 65536 reached sendto() in aioice: two tracebacks in the log per offer)
        fields = candidate[12:].split()  # (as aiortc splits it: `a=candidate: 1 1 ...` has its port 6th too)
        if len(fields) > 5 and not (re.fullmatch(r"[0-9]{1,5}", fields[5]) and int(fields[5]) <= 65535):
            return f"the offer has an ICE candidate whose port {fields[5][:12]!r} is not in 0..65535"
    problem = credentials_problem(lines) or shape_problem(lines) or breaks_problem(lines) or sections_problem(lines)
    if problem is not None:
        return problem
    taken = {codec.mimeType.split("/")[1].lower() for codec in RTCRtpReceiver.getCapabilities("video").codecs}
    offered = {line.split(" ", 1)[1].split("/")[0].lower() for line in lines if line.startswith("a=rtpmap:") and " " in line}
    if not offered & (taken - {"rtx"}):
        return f"the offer's video has no codec this server takes ({', '.join(sorted(taken - {'rtx'})).upper()})"
    return None


def sdp_lines(sdp: str) -> list[str]:
    """An offer's lines: SDP's end at CRLF or LF only (RFC 4566). str.splitlines() ends them at
    \\x1c-\\x1e, \\x85, \\v, \\f, a lone CR and U+2028/9 too: `a=mid:0\\x1cx` was a good `a=mid:0` and a
    stray `x`, answered 200, where the character belongs to the mid and is refused in it."""
    lines = re.split(r"\r?\n", sdp)
    return lines[:-1] if lines[-1] == "" else lines


def breaks_problem(lines: list[str]) -> str | None:
    """Why a line holds a character str.splitlines() ends a line at (`sdp_lines`), or None: aiortc
    splits the offer so, and would read other lines than those checked here (an a=mid after the
    \\x85 in another line's value)."""
    for line in lines:
        broken = line.splitlines()  # (`for_aiortc` took trailing ones off: each has more after it)
        if len(broken) > 1:
            return (f"the offer's line {shown(line[:40])} holds {line[len(broken[0])]!r}, which is no line's end "
                    "in SDP (its lines end at CRLF or LF)")
    return None


def shown(value: str) -> str:
    """A value from an offer, quoted for a message: escaped as repr() escapes it, and where a
    terminal shows it blank or not at all (`errors.one_line`: U+3164, which repr() leaves as it is,
    was quoted as 'ㅤ', a blank)."""
    return one_line(repr(value))


# RFC 4566's token (RFC 5888's identification-tag, an a=mid's value and each name a=group:BUNDLE
# gives): printable ASCII but for a few. A control or invisible character in one (NUL, U+202E,
# U+3164, ...), unseen in a message, made the mid another than it showed.
TOKEN = r"[!#-'*+\-.0-9A-Z^-~]{1,256}"
TOKEN_WORDS = "1 to 256 ASCII letters, digits or !#$%&'*+-.^_`{|}~ (a token)"
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
    "a=mid:": (TOKEN, TOKEN_WORDS),
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
            return f"the offer's {start.rstrip(':')} line must be {shape[1]}, not {shown(value[:40])}"
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
    for where, part in [("session part", session)] + [(f"{section[0][2:].split(' ', 1)[0]} section", section)
                                                      for section in sections]:
        problem = list_lines_problem(where, part)
        if problem is not None:
            return problem
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
    odd = next((mid for mid in bundle if not re.fullmatch(TOKEN, mid)), None)
    if odd is not None:  # (U+3164 was said as "names mid 'ㅤ', which no media section has": a blank)
        return f"the offer's a=group:BUNDLE names mid {shown(odd[:32])}, which is not {TOKEN_WORDS}"
    stray = next((mid for mid in bundle if mid not in mids), None)
    if stray is not None:
        return f"the offer's a=group:BUNDLE names mid {stray[:32]!r}, which no media section has"
    return None


def payload_types(lines: list[str], start: str) -> list[int]:
    """The payload type of each line that starts with `start` (`a=rtpmap:`), in order (shapes checked)."""
    return [int(line[len(start):].split()[0]) for line in lines if line.startswith(start)]


def first_repeated(items: list[int]) -> int | None:
    """The first item that an earlier one equals, or None."""
    seen: set[int] = set()
    for item in items:
        if item in seen:
            return item
        seen.add(item)
    return None


def list_lines_problem(where: str, part: list[str]) -> str | None:
    """Why a section (or the session's part) has more of a line aiortc collects than
    MOST_PER_SECTION allows, or None."""
    for start, most in MOST_PER_SECTION.items():
        count = sum(line.startswith(start) for line in part)
        if count > most:
            return f"the offer's {where} has {count} {start.strip().rstrip(':')} lines; at most {most}"
    return None


def payloads_problem(kind: str, section: list[str]) -> str | None:
    """Why a section's payload lines do not add up, or None: at most MAX_PAYLOAD_TYPES on its m=
    line; one a=rtpmap for each payload type (aiortc made a codec of each a=rtpmap, and its work on
    them grows faster than their number); at most one
    a=fmtp for each, and only where it has an a=rtpmap (aiortc looked it up: "coroutine raised
    StopIteration"); none of them in an application (data channel) section."""
    payload_lines = [line for line in section if line.startswith(("a=fmtp:", "a=rtcp-fb:", "a=rtpmap:"))]
    if kind == "application":
        if payload_lines:
            return (f"the offer's application section has an {payload_lines[0].split(':', 1)[0]} line "
                    "(payload types are for audio and video)")
        return None
    listed = section[0].split(" ")[3:]  # (shapes checked: single blanks, payload types 0..127)
    if len(listed) > MAX_PAYLOAD_TYPES:
        return f"the offer's {kind} m= line lists {len(listed)} payload types; at most {MAX_PAYLOAD_TYPES}"
    mapped, formatted = payload_types(payload_lines, "a=rtpmap:"), payload_types(payload_lines, "a=fmtp:")
    for name, types in (("a=rtpmap", mapped), ("a=fmtp", formatted)):
        twice = first_repeated(types)
        if twice is not None:
            return f"the offer's {kind} section has two {name} lines for payload type {twice}; one at most"
    mapped_types = set(mapped)  # (one a=rtpmap a payload type, 0 to 127: at most 128 codecs; one for a type the
    # m= line does not list is taken, as aiortc takes it)
    missing = next((pt for pt in formatted if pt not in mapped_types), None)
    if missing is not None:
        return f"the offer's {kind} section names payload type {missing} but has no a=rtpmap:{missing} line for it"
    return None


DIRECTIONS = ("a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive")


def direction_problem(lines: list[str]) -> str | None:
    """Why no video section sends the server a video, or None. aiortc makes no track of a recvonly
    or inactive one: such an offer was refused as "the offer has no video track". A sendonly one
    is taken, but its answer is recvonly: the stylized video cannot come back on it."""
    videos = [section for section in media_sections(lines) if section[0][2:].split(" ", 1)[0] == "video"]
    # (each section's last direction, as aiortc reads it; `for_aiortc` gave one to each that had none)
    stated = [next((line[2:] for line in reversed(section) if line in DIRECTIONS), "sendrecv") for section in videos]
    if any(direction in ("sendrecv", "sendonly") for direction in stated):
        return None
    return (f"the offer's video is a={stated[0]}: the server is sent no video to stylize (it must be a=sendrecv, "
            "as the page's is; a=sendonly is taken, but gets no stylized video back)")


def for_aiortc(sdp: str) -> str:
    """The offer as aiortc is given it: its lines without trailing whitespace, which aiortc read as
    part of a value (`a=mid:0 ` was not the `0` that a=group:BUNDLE names: its answer failed inside,
    "'NoneType' object has no attribute 'transport'"), and with directions (`with_directions`)."""
    return with_directions("".join(f"{line.rstrip()}\r\n" for line in sdp_lines(sdp)))


def with_directions(sdp: str) -> str:
    """The offer with a direction in each audio or video section that states none: the session's
    where it states one, else `a=sendrecv`, which is what SDP means by none (RFC 4566). aiortc
    reads directions per section only: its answer failed on none ("None is not in list"), and a
    session-level one was refused as "no video track"."""
    newline = "\r\n" if "\r\n" in sdp else "\n"
    lines = sdp_lines(sdp)
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
