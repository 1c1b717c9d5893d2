"""Session 55: a number with a Unicode space is "not a whole number" (not "far out of range"), shown
with the space escaped; bidirectional controls read from files are escaped in every printed line;
the live log quotes and escapes invisible characters; a huge --crf is echoed cut short (f2)."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from cli_support import one_error_line
from realtime_adain.engines.cache import EngineCache
from realtime_adain.errors import UserError, one_line
from realtime_adain.live.events import EventLog
from realtime_adain.video.encoder_settings import EncodeSettings
from test_fixes54_live import quoted_style_names


# --- 1. numbers with Unicode spaces -------------------------------------------------------------

@pytest.mark.parametrize("option, value, shown", [("--size", "\u00a05", "'\\xa05'"),
                                                  ("--size", "5\u2003", "'5\\u2003'"),
                                                  ("--batch", "8\u3000", "'8\\u3000'"),
                                                  ("--size", "\u200b64", "'\\u200b64'")])  # (zero-width: showed '64')
def test_a_number_with_a_unicode_space_is_not_a_whole_number(data_dir, tmp_path, run_cli, option, value, shown):
    """str.strip takes U+00A0, U+2003 and U+3000 as spaces: refused as not plain, `--size
    $'\\u00a05'` was then said to be "far out of range (more than 4300 digits)", quoted as ' 5'."""
    command = ["video", tmp_path / "in.mp4"] if option == "--batch" else ["image", data_dir / "content" / "cornell.jpg"]
    code, _, err = run_cli(*command, "-s", data_dir / "style" / "antimonocromatismo.jpg",
                           "-o", tmp_path / "o.png", option, value)
    line = one_error_line(err, code)
    assert f"argument {option}: {shown} is not a whole number" in line, line


def test_a_long_ascii_whole_number_is_still_far_out_of_range(data_dir, tmp_path, run_cli):
    code, _, err = run_cli("image", data_dir / "content" / "cornell.jpg", "-s",
                           data_dir / "style" / "antimonocromatismo.jpg", "-o", tmp_path / "o.png", "--size", " " + "9" * 5000)
    assert "(5001 characters) is far out of range (more than 4300 digits)" in one_error_line(err, code)


# --- 2. bidirectional controls ------------------------------------------------------------------

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


def test_one_line_escapes_bidirectional_controls():
    assert one_line(f"a{BIDI}b") == ("a\\u202a\\u202b\\u202c\\u202d\\u202e\\u2066\\u2067\\u2068\\u2069"
                                      "\\u200e\\u200f\\u061cb")
    assert one_line("été_東京 ✓") == "été_東京 ✓"  # (letters and symbols as they are)


def _decoder(path, published_weights, **metadata):
    state = torch.load(published_weights[1], weights_only=True)
    save_file(state, str(path), metadata=metadata)
    return path


@pytest.mark.slow  # (a few seconds; `one_line`'s test above is the fix's check)
def test_weights_info_escapes_a_bidi_override_in_metadata(published_weights, tmp_path, run_cli, monkeypatch):
    """`weights info` printed a metadata note's U+202E raw: the terminal showed the rest of its row backwards."""
    monkeypatch.delenv("REALTIME_ADAIN_DECODER", raising=False)
    decoder = _decoder(tmp_path / "d.safetensors", published_weights, note="abc\u202edef")
    code, out, _ = run_cli("weights", "info", "--vgg", published_weights[0], "--decoder", decoder)
    assert "\u202e" not in out and "abc\\u202edef" in out, out


@pytest.mark.slow  # (a few seconds; `one_line`'s test above is the fix's check)
def test_an_error_line_escapes_a_bidi_override(published_weights, tmp_path, run_cli, monkeypatch):
    monkeypatch.delenv("REALTIME_ADAIN_DECODER", raising=False)
    decoder = _decoder(tmp_path / "d.safetensors", published_weights, architecture="\x1b[2J\u202eplain")
    code, out, _ = run_cli("weights", "info", "--vgg", published_weights[0], "--decoder", decoder)
    assert "unknown decoder architecture '\\x1b[2J\\u202eplain'" in out, out
    assert "\u202e" not in out and "\x1b" not in out


def test_engines_list_escapes_a_bidi_override_in_a_sidecar(tmp_path, run_cli, monkeypatch):
    """(A sidecar edited or foreign: what it says is printed, escaped.)"""
    cache = EngineCache(tmp_path / "engines")
    components = {"kind": "onnx", "weights": "abc", "precision": "fp32", "shape": "dynamic"}
    engine = cache.store(cache.entry(components, ".onnx"), lambda p: p.write_text("an engine")).path
    sidecar = engine.with_name(engine.name + ".json")
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "precision": "fp32\u202e"}))
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(cache.directory))
    code, out, err = run_cli("engines", "list")
    assert code == 0, err
    assert "fp32\\u202e" in out and "\u202e" not in out, out


# --- 3. invisible characters in the live log ----------------------------------------------------

@pytest.mark.parametrize("name", ["\u3164", "\u115f", "x\u034fy", "\u2800", "\uffa0", "\u1160"])
def test_invisible_characters_in_a_value_are_quoted_and_escaped(tmp_path, capsys, name):
    """A style named U+3164 (a Hangul filler) was logged `style=ㅤ`, looking empty; the others hid
    in a name as well, unquoted and raw."""
    values = quoted_style_names(tmp_path, capsys, name)
    assert len(values) == 2
    for value in values:
        assert json.loads(value) == name
        assert not any(c in value for c in ("\u3164", "\u115f", "\u034f", "\u2800", "\uffa0", "\u1160")), value


@pytest.mark.parametrize("name", ["\u2764\ufe0f", "\U0001fa77"])
def test_an_emoji_is_logged_as_it_is(tmp_path, capsys, name):
    """A red heart is U+2764 U+FE0F: the selector, invisible alone, stays raw and the name unquoted;
    so does U+1FA77 (Unicode 15), unassigned to Python 3.11's tables."""
    log = EventLog(tmp_path / "live.log")
    log("style", index=1, name=name)
    log.close()
    assert capsys.readouterr().err == f"live: style index=1 name={name}\n"


# --- 4. a huge --crf ----------------------------------------------------------------------------

def test_a_huge_crf_is_echoed_cut_short():
    """A 4300-digit --crf was echoed whole: a 4356-character error line."""
    with pytest.raises(UserError) as caught:
        EncodeSettings("libx264", crf=int("9" * 4300)).codec_options()
    said = str(caught.value)
    assert said == f"--crf '{'9' * 80}...' (4300 characters) is outside libx264's range 0 (best) to 51", said


def test_a_small_crf_is_said_as_typed():
    with pytest.raises(UserError, match=r"^--crf 52 is outside libx264's range 0 \(best\) to 51$"):
        EncodeSettings("libx264", crf=52).codec_options()
