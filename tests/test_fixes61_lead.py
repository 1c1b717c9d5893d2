"""Session 61, the lead's fixes: a URL holding a control character is shown with it, masked."""

from __future__ import annotations

import pytest

from realtime_adain.download_urls import shown
from cli_support import one_error_line


@pytest.mark.parametrize("url, said", [
    ("http://127.0.0.1:9/a\nb?token=abc", "http://127.0.0.1:9/a\nb?token=***"),
    ("http://u:p@127.0.0.1:9/a\tb", "http://***@127.0.0.1:9/a\\tb"),
    ("http://127.0.0.1:9/\t", "http://127.0.0.1:9/\\t"),
    ("http://u:p@h/x\r#access_token=abc", "http://***@h/x\r#***"),
])
def test_a_url_with_a_control_character_keeps_it_where_it_is_masked(url, said):
    """urlsplit drops a tab or line break: `/a<newline>b?token=abc` was said as `/ab?token=***`,
    "a URL cannot hold a control character" where none showed; a tab was printed raw."""
    assert shown(url) == said


def test_the_download_says_the_tab_it_refuses(run_cli, tmp_path):
    code, _, err = run_cli("weights", "download", "--no-checksum", "--dir", tmp_path / "w",
                           "--base-url", "http://u:secret@127.0.0.1:9/a\tb")
    line = one_error_line(err, code)
    assert line.startswith("error: http://***@127.0.0.1:9/a\\tb (from --base-url): a URL cannot hold a control"), line
    assert "secret" not in line


@pytest.mark.parametrize("url, said", [
    ("https://user:TOPSECRET#x@m.example/a\nb", "https://***@m.example/a\nb"),
    ("https://user:TOP?SECRET@m.example/a\tb", "https://***@m.example/a\\tb"),
])
def test_a_password_holding_a_hash_or_question_mark_stays_hidden(url, said):
    """Masked as text, the fragment and query were split off first: `https://user:TOPSECRET#***`."""
    assert shown(url) == said


@pytest.mark.parametrize("lead", [b"\n\n", b"\xef\xbb\xbf", b"  \r\n"])
def test_a_pdf_after_blank_lines_or_a_byte_order_mark_is_a_pdf(lead):
    """Only a file starting with `%PDF` was refused; `video` played the others' embedded photos."""
    from realtime_adain.unreadable_stills import unsupported_document

    assert unsupported_document(lead + b"%PDF-1.4\n") == "a PDF document, not an image; export the page to PNG first"
    assert unsupported_document(b"\0\0" + b"%PDF-1.4\n") is None


def test_a_bmp_of_unpadded_rows_is_not_said_cut_short():
    """A 63-pixel-wide 24-bit BMP whose rows are stored unpadded (FFmpeg reads it: "assuming missing
    line alignment") was said to end "before its picture's rows do: cut short?"; one shorter still is."""
    import struct

    import numpy as np

    from realtime_adain.opencv_headers import looks_cut_short

    width, height = 63, 4
    rows = bytes(width * 3 * height)
    header = (b"BM" + struct.pack("<IHHI", 54 + len(rows), 0, 0, 54)
              + struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(rows), 2835, 2835, 0, 0))
    assert looks_cut_short(np.frombuffer(header + rows, np.uint8)) is None
    assert looks_cut_short(np.frombuffer(header + rows[:-width], np.uint8)) == "BMP"
