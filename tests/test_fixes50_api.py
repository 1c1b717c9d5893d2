"""Session 50's fixes to the Python API: a leading `~` in the paths it takes is the home folder (as
for the weights), and `repr(StyleStats)` is one short line."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import realtime_adain as ra
from realtime_adain.adain import StyleStats
from video_samples import gradient_frames, probe, write_video

PICTURE = np.random.default_rng(50).integers(0, 256, (24, 32, 3), dtype=np.uint8)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A home folder of the test's own ($HOME, which `~` means), and another current folder, where
    a `~` taken literally would make a folder named ~."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    return home


def test_read_image_takes_a_path_in_the_home_folder(home):
    """'~/s.png' was "no such file": no shell expands it in a call."""
    ra.write_image(home / "s.png", PICTURE)
    np.testing.assert_array_equal(ra.read_image("~/s.png"), PICTURE)
    np.testing.assert_array_equal(ra.read_image(Path("~/s.png")), PICTURE)


def test_write_image_writes_into_the_home_folder_not_a_folder_named_tilde(home):
    """'~/new/x.png' made the folders ./~/new here (`rm -rf ~` then deletes the home folder)."""
    ra.write_image("~/new/x.png", PICTURE)
    np.testing.assert_array_equal(ra.read_image(home / "new" / "x.png"), PICTURE)
    assert not Path("~").exists()


def test_a_style_and_an_image_in_the_home_folder(home, stylizer, one_thread):
    ra.write_image(home / "s.png", PICTURE)
    assert torch.equal(stylizer.style("~/s.png", size=32).mean, stylizer.style(PICTURE, size=32).mean)
    np.testing.assert_array_equal(stylizer.stylize_image("~/s.png", stylizer.style(PICTURE, size=32), size=32),
                                  stylizer.stylize_image(PICTURE, stylizer.style(PICTURE, size=32), size=32))


def test_stylize_video_reads_and_writes_in_the_home_folder(home, stylizer, one_thread):
    """The source was no such file, and the output (with its folder) went to ./~/."""
    write_video(home / "in.mp4", gradient_frames(3, 32, 24))
    ra.write_image(home / "s.png", PICTURE)
    path = ra.stylize_video("~/in.mp4", "~/out/o.mp4", style="~/s.png", size=24, style_size=32,
                            stabilize="off", stylizer=stylizer)
    assert path == home / "out" / "o.mp4"
    assert len(probe(path).pts) == 3
    assert not Path("~").exists()


def test_stylize_video_refuses_to_write_over_its_style_named_with_a_tilde(home, stylizer):
    """The style's file was Path('~/s.png'), not the file the output names: no input to protect."""
    write_video(home / "in.mp4", gradient_frames(2, 32, 24))
    ra.write_image(home / "s.png", PICTURE)
    with pytest.raises(ra.UserError, match="s.png: output would overwrite an input"):
        ra.stylize_video(home / "in.mp4", home / "s.png", style="~/s.png", stylizer=stylizer)


def test_the_home_folder_alone_is_no_output(home, stylizer):
    with pytest.raises(ValueError, match="home folder"):
        ra.stylize_video(home / "in.mp4", "~", style=PICTURE, stylizer=stylizer)


def test_a_user_without_a_home_is_one_line(home):
    with pytest.raises(ra.UserError, match="names no home folder.*no user 'no_such_user_f50'"):
        ra.read_image("~no_such_user_f50/s.png")


def test_style_stats_repr_is_a_short_summary(stylizer, one_thread):
    """The dataclass's repr printed all 1024 values (110 to 170 lines for the REPL's echo)."""
    style = stylizer.style(PICTURE, size=32)
    mean, std = style.mean.mean().item(), style.std.mean().item()
    assert repr(style) == f"StyleStats(512 channels, float32, cpu, mean {mean:.3g}, std {std:.3g})"
    assert str(style) == repr(style)
    copied, unpickled = copy.deepcopy(style), pickle.loads(pickle.dumps(style))
    assert copied != style and unpickled != style and style == style  # (by identity, as before)
    assert torch.equal(unpickled.mean, style.mean) and torch.equal(copied.std, style.std)


@pytest.mark.parametrize("mean, std, said", [
    (torch.zeros(512, dtype=torch.float16), torch.ones(512), "512 channels, float16/float32, cpu, mean 0, std 1"),
    (torch.empty(512, device="meta"), torch.zeros(0), "512/0 channels, float32, meta/cpu, mean ?, std ?"),
    (torch.zeros(4, dtype=torch.uint8).view(torch.bits8), torch.full((4,), float("nan")), "mean ?, std nan"),
    (np.zeros(512), [1.0], "StyleStats(mean=ndarray, std=list)"),
])
def test_the_repr_of_any_style_stats_a_caller_builds(mean, std, said):
    """Never raises, whatever the statistics are (checked only when used)."""
    assert said in repr(StyleStats(mean, std))
