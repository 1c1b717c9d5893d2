"""The offer checks as tester h9 found them after f3 tightened them: a headless Chromium offer
with a blank aiortc takes (`a=max-message-size: 262144`, `a=sctp-port: 5000`, `a=setup:actpass `,
`a=ice-ufrag:xasd `), an empty `a=group:` or `a=msid-semantic:` (aiortc skips them) or an `a=msid`
of three fields or two blanks was refused, where aiortc answers it."""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCSessionDescription
from aiortc import sdp as aiortc_sdp

from realtime_adain.serve.answers import offer_error
from realtime_adain.serve.peers import peer_connection
from realtime_adain.serve.sdp import for_aiortc, offer_problem

# Headless Chromium 156's offer (camera and `control` channel), its codecs cut to VP8 and one H264
# with their rtx, and its mDNS candidate names (`....local`) made an address: aiortc takes a second
# to resolve one.
CHROMIUM = """v=0
o=- 3342479232128649717 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
a=extmap-allow-mixed
a=msid-semantic: WMS 17dd28dd-7c4b-4c79-8b13-8f59517598ae
m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=candidate:3711577010 1 udp 2113937151 192.0.2.7 38167 typ host generation 0 network-cost 999
a=ice-ufrag:xasd
a=ice-pwd:CtqkSukrHmhyLzaVh06Kqvba
a=ice-options:trickle
a=fingerprint:sha-256 6A:CE:E8:48:D0:E9:84:5E:2A:9C:67:FB:AC:90:A3:D1:8A:31:B1:B0:A8:D6:AD:80:3E:06:C4:11:8D:B4:50:7C
a=setup:actpass
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:toffset
a=extmap:4 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=sendrecv
a=msid:17dd28dd-7c4b-4c79-8b13-8f59517598ae e5a92965-c3c3-4fdc-b58e-7ac6c39509da
a=rtcp-mux
a=rtcp-rsize
a=rtcp-xr:rcvr-rtt=all
a=rtpmap:96 VP8/90000
a=rtcp-fb:96 transport-cc
a=rtcp-fb:96 nack pli
a=rtpmap:97 rtx/90000
a=fmtp:97 apt=96
a=rtpmap:102 H264/90000
a=rtcp-fb:102 transport-cc
a=rtcp-fb:102 nack pli
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f
a=rtpmap:103 rtx/90000
a=fmtp:103 apt=102
a=ssrc-group:FID 2263377904 2885838785
a=ssrc:2263377904 cname:wbuEy7bTNCMY9eYF
a=ssrc:2263377904 msid:17dd28dd-7c4b-4c79-8b13-8f59517598ae e5a92965-c3c3-4fdc-b58e-7ac6c39509da
a=ssrc:2885838785 cname:wbuEy7bTNCMY9eYF
a=ssrc:2885838785 msid:17dd28dd-7c4b-4c79-8b13-8f59517598ae e5a92965-c3c3-4fdc-b58e-7ac6c39509da
m=application 9 UDP/DTLS/SCTP webrtc-datachannel
c=IN IP4 0.0.0.0
a=candidate:3711577010 1 udp 2113937151 192.0.2.7 50594 typ host generation 0 network-cost 999
a=ice-ufrag:xasd
a=ice-pwd:CtqkSukrHmhyLzaVh06Kqvba
a=ice-options:trickle
a=fingerprint:sha-256 6A:CE:E8:48:D0:E9:84:5E:2A:9C:67:FB:AC:90:A3:D1:8A:31:B1:B0:A8:D6:AD:80:3E:06:C4:11:8D:B4:50:7C
a=setup:actpass
a=mid:1
a=sctp-port:5000
a=max-message-size:262144
""".replace("\n", "\r\n")

# Refused though aiortc answers them, on purpose: a first line that is not v=0 (aiortc reads
# anything, an HTML page too), ICE credentials outside RFC 8839's bounds (each check the server
# sends carries them), a mid with a blank or a BUNDLE naming a mid no section has (aiortc fails
# inside its answer on either where it is the first bundled one), and a bare `a=msid` (every line
# LINE_SHAPES checks is refused bare: test_fixes46_serve).
REFUSED_ON_PURPOSE = ("the offer is not an SDP session description", "the offer's ICE username fragment",
                      "the offer's ICE password", "the offer's a=mid line", "the offer's a=group:BUNDLE names mid",
                      "the offer's a=msid line must be STREAM-ID [TRACK-ID], not ''")


def variants(line: str) -> list[str]:
    """The line with a blank after its `:` (or `=`), a blank or tab after it, its first blank made
    two or a tab, its value cut at its first blank or before its last, a field added, its value
    emptied, and bare."""
    head, colon, value = line.partition(":") if line.startswith("a=") else (line[:1], "=", line[2:])
    start = head + colon
    if not colon:  # a flag (a=rtcp-mux)
        return [line + " ", line + ":", line + ": x"]
    found = [start + " " + value, start + value + " ", start + value + "\t", start + value.split(" ", 1)[0],
             start + value + " x", start, head]
    if " " in value:
        found += [start + value.replace(" ", "  ", 1), start + value.replace(" ", "\t", 1), start + value.rsplit(" ", 1)[0]]
    return found


async def aiortc_verdict(sdp: str) -> str | None:
    """What the server's aiortc said to the offer, as the client would be told it, or None where
    it answered (a description set both ways, as the server does)."""
    pc = peer_connection()
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=for_aiortc(sdp), type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return None
    except Exception as exc:  # (each one is what the client was told)
        return offer_error(exc)
    finally:
        try:
            await pc.close()
        except Exception:  # (aiortc's close fails inside on a connection half made)
            pass


def test_blanks_and_empty_values_aiortc_takes_are_accepted():
    """h9's cases: each is accepted (and parsed by aiortc), where a bare `a=group` still is not."""
    accepted = {
        "LF only": CHROMIUM.replace("\r\n", "\n"),
        "blank after every line": CHROMIUM.replace("\r\n", " \r\n"),
        "tab after every line": CHROMIUM.replace("\r\n", "\t\r\n"),
        "a=setup:actpass\\t": CHROMIUM.replace("a=setup:actpass", "a=setup:actpass\t"),
        "a=max-message-size: N": CHROMIUM.replace("a=max-message-size:", "a=max-message-size: "),
        "a=sctp-port: N": CHROMIUM.replace("a=sctp-port:", "a=sctp-port: "),
        "a=group:": CHROMIUM.replace("a=group:BUNDLE 0 1", "a=group:"),
        "a=msid-semantic:": CHROMIUM.replace("a=msid-semantic: WMS 17dd28dd-7c4b-4c79-8b13-8f59517598ae",
                                             "a=msid-semantic:"),
        "a=msid: of 3 fields": CHROMIUM.replace("a=msid:", "a=msid:x "),
        "a=msid: two blanks": CHROMIUM.replace("8f59517598ae e5a92965", "8f59517598ae  e5a92965"),
        "a=candidate: N": CHROMIUM.replace("a=candidate:", "a=candidate: "),
    }
    for name, offer in accepted.items():
        assert offer_problem(offer) is None, name
        aiortc_sdp.SessionDescription.parse(for_aiortc(offer))
    assert offer_problem(CHROMIUM.replace("a=group:BUNDLE 0 1", "a=group")) == \
        "the offer's a=group line must be SEMANTICS [MID...], not ''"
    assert offer_problem(CHROMIUM.replace("a=sctp-port:5000", "a=sctp-port: 5000x")) == \
        "the offer's a=sctp-port line must be a port 0..65535, not '5000x'"


@pytest.mark.slow
def test_our_verdict_is_aiortcs_on_variants_of_a_real_offer():
    """Every line of the Chromium offer with its blanks moved, cut, added to, emptied or bare:
    refused exactly where aiortc fails on it (setting it and its answer, as the server does), but
    for REFUSED_ON_PURPOSE."""
    async def main():
        assert offer_problem(CHROMIUM) is None and await aiortc_verdict(CHROMIUM) is None
        lines = CHROMIUM.splitlines()
        passed, refused = {}, {}
        for at, line in enumerate(lines):
            for variant in variants(line):
                offer = "\r\n".join(lines[:at] + [variant] + lines[at + 1:]) + "\r\n"
                ours, theirs = offer_problem(offer), await aiortc_verdict(offer)
                if ours is None and theirs is not None:
                    passed[variant[:60]] = theirs
                elif ours is not None and theirs is None and not ours.startswith(REFUSED_ON_PURPOSE):
                    refused[variant[:60]] = ours
        return passed, refused

    assert asyncio.run(main()) == ({}, {})
