"""Session 51: an RLE SGI whose rows start at distinct offsets inside one shared data area made the
cut-short check read pixels x channels runs of a tiny file (a 90 KB 8192x8192 one: 27 s of CPU);
a 5,000-digit `--strengths` value was echoed whole; `live -o .` said "ends with /." and `-o .mp4`
"use a .mp4 name"; a batch's StyleStats said its values' count as its channels."""

from __future__ import annotations

import argparse
import struct
from dataclasses import replace

import numpy as np
import pytest
import torch

from realtime_adain import sgi_runs
from realtime_adain.adain import StyleStats
from realtime_adain.benchmarks.temporal import strengths
from realtime_adain.commands import argtypes
from realtime_adain.errors import UserError
from realtime_adain.settings import LiveSettings, ModelSettings


def overlapping_rle_sgi(width: int, height: int) -> np.ndarray:
    """A grey RLE SGI whose rows start a byte apart in one data area of literal runs of one
    sample (each row's stated length past the end, so each is checked), as the tester built it."""
    rows = height
    header = bytearray(512)
    header[0:4] = b"\x01\xda\x01\x01"
    header[4:6] = struct.pack(">H", 3)
    header[6:12] = struct.pack(">HHH", width, height, 1)
    header[16:20] = struct.pack(">I", 255)
    starts = [512 + 8 * rows + i for i in range(rows)]
    tables = struct.pack(f">{rows}I", *starts) + struct.pack(f">{rows}I", *[0x7FFFFFFF] * rows)
    return np.frombuffer(bytes(header) + tables + b"\x01" * (2 * width + rows + 16), np.uint8)


def test_the_sgi_rows_check_reads_at_most_its_budget_of_runs():
    """Each of the 8192 rows was read whole: 67 million runs of a 90 KB file."""
    data = overlapping_rle_sgi(8192, 8192)
    budget = data.size // 2 + 8192  # (a run but a row's last takes two samples; rows that do not overlap)
    cut_short, runs = sgi_runs._sgi_rows_walked(data)
    assert not cut_short and 0 < runs <= budget
    assert not sgi_runs.sgi_rows_cut_short(data)


def test_an_sgi_whose_rows_do_not_overlap_is_read_within_the_budget():
    """An honest file's rows, each its literal runs of one sample, stay within the budget: one cut
    by a sample is still said cut short."""
    width, rows = 64, 8
    header = bytearray(512)
    header[0:4] = b"\x01\xda\x01\x01"
    header[4:12] = struct.pack(">HHHH", 2, width, rows, 1)
    row = b"\x01\x07" * width + b"\x00"
    starts = [512 + 8 * rows + i * len(row) for i in range(rows)]
    data = bytes(header) + struct.pack(f">{rows}I", *starts) + struct.pack(f">{rows}I", *[1 << 30] * rows) + row * rows
    whole = np.frombuffer(data, np.uint8)
    assert sgi_runs._sgi_rows_walked(whole) == (False, rows * width)  # (each full before its zero count)
    assert sgi_runs._sgi_rows_walked(whole[:-2])[0]  # (its last sample)


@pytest.mark.parametrize("parse, typed", [(strengths, "1" * 5000), (argtypes.unit_interval, "1" * 5000),
                                          (argtypes.frame_rate, "9" * 5000), (argtypes.resolution, "x" * 5000),
                                          (argtypes.positive_int, "-" + "9" * 4000)],
                         ids=["strengths", "unit_interval", "frame_rate", "resolution", "positive_int"])
def test_a_long_value_is_quoted_cut_short(parse, typed):
    """`bench temporal --strengths 111...` said the whole 5,000 digits: a 5,131-character line."""
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        parse(typed)
    said = str(refused.value)
    assert f"...' ({len(typed)} characters)" in said and len(said) < 200, said


def test_a_short_number_is_still_said_as_typed():
    with pytest.raises(argparse.ArgumentTypeError, match=r"^2 is outside \[0, 1\]$"):
        argtypes.unit_interval(" 2 ")


@pytest.fixture
def live_settings(data_dir, tmp_path, monkeypatch) -> LiveSettings:
    monkeypatch.chdir(tmp_path)
    return LiveSettings(styles=(str(data_dir / "style" / "trial.jpg"),), model=ModelSettings(device="cpu"),
                        source=str(data_dir / "videos" / "cutBunny.mp4"), window=False)


@pytest.mark.parametrize("output, said", [
    (".", "-o .: is a folder's name; -o records the session to one file: give its name (.mp4, .m4v or .mov)"),
    ("..", "-o ..: is a folder's name; -o records the session to one file: give its name (.mp4, .m4v or .mov)"),
    (".mp4", ".mp4: a name that is only an extension; name the file (e.g. out.mp4)"),
    ("d/.MOV", "d/.MOV: a name that is only an extension; name the file (e.g. out.MOV)"),
])
def test_live_says_what_was_typed_of_a_folder_or_a_bare_extension(live_settings, output, said):
    """`-o .` said "ends with /., a folder" and `-o .mp4` "use a .mp4, .m4v or .mov name"."""
    with pytest.raises(UserError) as refused:
        replace(live_settings, output=output).check()
    assert str(refused.value) == said


@pytest.mark.parametrize("shape, said", [((2, 512), "2 x 512 channels"), ((512,), "512 channels")])
def test_style_stats_say_their_channels_not_their_values(shape, said):
    """A batch's statistics (2 x 512) said "1024 channels"."""
    assert repr(StyleStats(torch.zeros(shape), torch.ones(shape))).startswith(f"StyleStats({said}, float32, cpu")
