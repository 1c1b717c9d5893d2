"""Session 56's fixes (h1's review): a picture header stating a side of 0 (PNG, GIF, WebP) is one
line "not a readable image", exit 2 (a ZeroDivisionError's traceback in the pixel budget's
arithmetic); a BMP information header of 16 MiB or more, which OpenCV decodes past, states its
size too (a 16000x16000 one was decoded whole, 1.6 GB, to be refused); `weights download`'s room
check counts a damaged file of the published size as one to fetch (it was counted as nothing, then
fetched beside itself onto a full disk), and a replaced file as freed only where its bytes are the
download disk's alone; a name echoed in a message shows its invisible characters escaped (zero-width,
tags, fillers: `a\\u200b.jpg` was said as what looked like a.jpg); serve's offers are split into
lines only at CRLF or LF (str.splitlines() split `a=mid:0\\x1cx` into a good mid and a stray line),
and a=group:BUNDLE's names are checked as tokens, as a=mid's are."""

from __future__ import annotations

import asyncio
import io
import os
import struct

import numpy as np
import pytest
from PIL import Image

from realtime_adain import download
from realtime_adain.errors import UserError, one_line
from realtime_adain.serve.uploads import header_size
from realtime_adain.still_headers import stated_size
from realtime_adain.opencv_headers import bmp_size
from realtime_adain.serve.sdp import for_aiortc, offer_problem, sdp_lines
from test_full_disk import tmpfs
from test_serve_peers_hostile import offer_sdp
from weights_server import WeightsServer, release_bytes, synthetic_release  # noqa: F401 (fixtures)


def encoded(format: str, **options) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(out, format, **options)
    return out.getvalue()


def zero_sided() -> dict[str, bytes]:
    """h1's files: a lossy WebP whose VP8 frame header states a width of 0, a PNG whose IHDR does,
    a GIF of a 0x0 screen and picture."""
    webp, png = encoded("WEBP", quality=80), encoded("PNG")
    gif = bytearray(encoded("GIF"))
    gif[6:10] = bytes(4)  # the screen
    at = gif.index(b"\x2c", 13 + (3 << (gif[10] & 7) + 1 if gif[10] & 0x80 else 0))  # the picture's descriptor
    gif[at + 5:at + 9] = bytes(4)
    return {"zero.webp": webp[:26] + b"\0\0" + webp[28:], "zero.png": png[:16] + bytes(4) + png[20:],
            "zero.gif": bytes(gif)}


@pytest.mark.parametrize("name", ["zero.webp", "zero.png", "zero.gif"])
def test_a_header_stating_a_side_of_0_is_not_a_readable_image(run_cli, weights_env, tmp_path, name):
    """ZeroDivisionError in picture_sizes.short_side_size, as content and as style: a traceback, exit 1."""
    path = tmp_path / name
    path.write_bytes(zero_sided()[name])
    good = tmp_path / "good.png"
    good.write_bytes(encoded("PNG"))
    for content, style in ((path, good), (good, path)):
        code, out, err = run_cli("image", content, "--style", style, "--size", "32", "-o", tmp_path / "out.jpg")
        assert code == 2 and err.startswith(f"error: {path}: not a readable image (") and err.count("\n") == 1, err
    assert not (tmp_path / "out.jpg").exists()
    with pytest.raises(UserError, match=r": not a readable image \(its header states a size of 0x"):
        stated_size(np.frombuffer(zero_sided()[name], np.uint8), name)
    assert header_size(zero_sided()[name]) is None  # (serve's upload check: the reader says why)


def bmp_of_header_length(length: int, width: int = 16000, height: int = 16000, compression: int = 0) -> np.ndarray:
    info = struct.pack("<Iii HH I I ii II", length, width, height, 1, 1, compression, 0, 2835, 2835, 2, 0)
    return np.frombuffer(b"BM" + struct.pack("<IHHI", 62 + 64, 0, 0, 62) + info + bytes(8 + 64), np.uint8)


def test_a_bmp_header_of_16_mib_or_more_states_its_size_as_opencv_reads_it():
    """OpenCV takes an information header of any length from 36 to 2^31 - 1 (it asserts the length
    is positive as an int, the compression 0 to 3): one of 16 MiB or more skipped the check, and a
    16000x16000 1-bit one was decoded whole, 1.6 GB, to be refused."""
    for length in (40, (1 << 24) - 1, 1 << 24, 1 << 30, (1 << 31) - 1):
        assert bmp_size(bmp_of_header_length(length)) == (16000, 16000), length
        assert stated_size(bmp_of_header_length(length), "long.bmp") == (16000, 16000), length
    for length in (1 << 31, (1 << 32) - 1, 35):  # (OpenCV: "size > 0" fails; too short)
        assert bmp_size(bmp_of_header_length(length)) is None, length
    assert bmp_size(bmp_of_header_length(1 << 24, compression=4)) is None  # (OpenCV asserts 0 to 3)
    assert bmp_size(bmp_of_header_length(40, compression=4)) == (16000, 16000)  # (as before: a real header's)


def pin_sizes(monkeypatch, sizes: dict[str, int | None]) -> None:
    """The published sizes (digests kept: a file of zeros fails its checksum)."""
    for kind, size in sizes.items():
        spec = download.PUBLISHED[kind]
        monkeypatch.setitem(download.PUBLISHED, kind, download.PublishedFile(kind, spec.filename, size, spec.sha256))


def test_a_damaged_file_of_the_published_size_is_refused_for_room_before_fetching(tmp_path, monkeypatch):
    """A file of zeros of the published size: "present but not valid; downloading it again" went on
    to fetch it beside itself onto a disk without room for both ("No space left on device")."""
    pin_sizes(monkeypatch, {"vgg": 2_500_000, "decoder": None})
    with WeightsServer({"vgg_normalised.pth": b"\0" * 2_500_000}) as server, tmpfs(tmp_path / "disk", "4m") as disk:
        directory = disk / "weights"
        directory.mkdir()
        with open(directory / "vgg_normalised.pth", "wb") as damaged:
            damaged.write(b"\0" * 2_500_000)
        urls = download.file_urls(base_url=server.url)
        with pytest.raises(UserError, match=rf"^{directory}: no room for the download \(vgg_normalised.pth needs "
                                            r"3.5 MB, 1.[\d] MB free\); free some space or choose another --dir$"):
            download.download_all(urls, directory)
        assert server.requests == []


def test_a_damaged_file_counts_as_fetched_and_freed_at_the_rename_only_when_it_is_this_disks_alone(tmp_path,
                                                                                                  monkeypatch):
    """A damaged file is fetched again (a sound one is not); renamed over, it frees its bytes only
    where it is a regular file with one name: a symbolic link's file and a hard link's stay."""
    pin_sizes(monkeypatch, {"vgg": 5000, "decoder": 3000})
    target = tmp_path / "vgg_normalised.pth"
    with open(target, "wb") as damaged:
        damaged.truncate(5000)
    assert download._bytes_to_fetch("vgg", tmp_path, force=False) == (5000, 5000)
    os.link(target, tmp_path / "elsewhere")
    assert download._bytes_to_fetch("vgg", tmp_path, force=False) == (5000, 0)
    target.unlink()
    target.symlink_to(tmp_path / "elsewhere")
    assert download._bytes_to_fetch("vgg", tmp_path, force=True) == (5000, 0)
    assert download.room_needed(tmp_path, force=True) == (["vgg_normalised.pth", "decoder.pth"], 8000)


def test_a_sound_file_in_place_is_not_fetched(synthetic_release, tmp_path):
    for kind, spec in download.PUBLISHED.items():
        (tmp_path / spec.filename).write_bytes(synthetic_release[spec.filename])
        assert download._bytes_to_fetch(kind, tmp_path, force=False) == (0, 0)
    assert download.room_needed(tmp_path, force=False) == ([], 0)


# (zero-width and other format characters, a tag, the fillers and the Braille blank)
INVISIBLE_NAMES = {"a\u200b.jpg": "a\\u200b.jpg", "a\U000e0041.jpg": "a\\U000e0041.jpg", "\u3164.jpg": "\\u3164.jpg",
                   "\u115f\u1160.jpg": "\\u115f\\u1160.jpg", "\uffa0.jpg": "\\uffa0.jpg", "\u2800.jpg": "\\u2800.jpg",
                   "\ufeffx\u2060.jpg": "\\ufeffx\\u2060.jpg", "soft\xadhyphen.jpg": "soft\\xadhyphen.jpg"}
READABLE_NAMES = ["日本語\u3000名前.jpg", "\U0001f600 emoji.jpg", "caf\u00e9.jpg", "\u2764\ufe0f.jpg", "a\tb.jpg"]


@pytest.mark.parametrize("option", ["content", "--style"])
def test_invisible_characters_in_echoed_names_are_escaped(run_cli, weights_env, data_dir, tmp_path, option):
    """`image $'a\\u200b.jpg'` said "error: a​.jpg: no such content file or directory": an existing
    a.jpg, to the eye. Ordinary non-ASCII names (Japanese, a full-width space, emoji) stay as written."""
    style = next(data_dir.glob("style/*.jpg"))
    for name, shown in [*INVISIBLE_NAMES.items(), *((name, name) for name in READABLE_NAMES)]:
        missing = tmp_path / name
        args = (missing, "--style", style) if option == "content" else (style, "--style", missing)
        code, out, err = run_cli("image", *args, "--size", "32", "-o", tmp_path / "out.jpg")
        what = "content" if option == "content" else "style"
        assert (code, err) == (2, f"error: {tmp_path}/{shown}: no such {what} file or directory\n"), (name, err)


def test_one_line_escapes_what_a_terminal_shows_as_nothing():
    for name, shown in INVISIBLE_NAMES.items():
        assert one_line(name) == shown
    for name in READABLE_NAMES:
        assert one_line(name) == name
    assert one_line("\x1b[31m\n\u202e\x85") == "\\x1b[31m\\n\\u202e\\u0085"  # (a C1 character apart from a byte not UTF-8: session 59)


@pytest.fixture(scope="module")
def good_offer() -> str:
    good = asyncio.run(offer_sdp())
    assert "a=mid:0\r\n" in good and "a=group:BUNDLE 0 1\r\n" in good and offer_problem(good) is None
    return good


@pytest.mark.parametrize("character", ["\x1c", "\x1d", "\x1e", "\x85", "\v", "\f", "\u2028", "\u2029", "\r"])
def test_sdp_lines_end_only_at_crlf_or_lf(good_offer, character):
    """`a=mid:0\\x1cx` was split by str.splitlines() into `a=mid:0` and `x`: answered 200. SDP's
    lines end at CRLF (or LF) only: the character is refused in the mid, as in any token."""
    problem = offer_problem(good_offer.replace("a=mid:0\r\n", f"a=mid:0{character}x\r\n", 1))
    assert problem is not None and problem.startswith("the offer's a=mid line must be 1 to 256 ASCII letters"), problem
    assert sdp_lines(f"v=0\r\na=x{character}y\nb=1\r\n") == ["v=0", f"a=x{character}y", "b=1"]
    assert sdp_lines("") == [] and sdp_lines("v=0") == ["v=0"] and sdp_lines("v=0\n\nb=1\n") == ["v=0", "", "b=1"]


def test_a_line_break_of_pythons_elsewhere_is_refused_not_split_for_aiortc(good_offer):
    """aiortc splits an offer with str.splitlines(): a line it would split otherwise than here (a
    stray a=mid after \\x85 in an a=ssrc line) is refused, so aiortc reads the lines checked here."""
    offer = good_offer.replace("a=mid:0\r\n", "a=mid:0\r\na=label:x\x85a=mid:9\r\n", 1)
    problem = offer_problem(offer)
    assert problem is not None and "'\\x85'" in problem and "CRLF or LF" in problem, problem
    assert for_aiortc(good_offer).splitlines() == sdp_lines(for_aiortc(good_offer))


@pytest.mark.parametrize("name", ["\u3164", "\u200b", "\x00", "\x7f", "a\u2800"])
def test_bundle_names_are_tokens(good_offer, name):
    """`a=group:BUNDLE 0 1 \\u3164` said "names mid 'ㅤ', which no media section has" (looks blank)."""
    problem = offer_problem(good_offer.replace("a=group:BUNDLE 0 1\r\n", f"a=group:BUNDLE 0 1 {name}\r\n", 1))
    assert problem is not None and problem.startswith("the offer's a=group:BUNDLE names mid "), problem
    assert problem.endswith(", which is not 1 to 256 ASCII letters, digits or !#$%&'*+-.^_`{|}~ (a token)"), problem
    assert name[-1] not in problem, problem  # (shown escaped)
