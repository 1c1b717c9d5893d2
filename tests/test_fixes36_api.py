"""Fixes of the hostile campaign on the Python API of session 36 (task h1)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

import realtime_adain as ra
from realtime_adain.adain import StyleStats
from realtime_adain.errors import UserError
from video_samples import gradient_frames, write_video


@pytest.fixture(scope="module")
def stylizer(published_weights):
    return ra.Stylizer.load(vgg=published_weights[0], decoder=published_weights[1], device="cpu")


@pytest.fixture
def clip(tmp_path):
    return write_video(tmp_path / "in.mp4", gradient_frames(3, 64, 48))


def test_statistics_changed_in_place_are_used_and_checked(stylizer):
    """The style's upload and its check were cached by the object's identity: a caller's
    StyleStats scaled in place gave the old picture, and NaN filled in was not refused."""
    image = np.random.default_rng(1).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    base = stylizer.style(np.random.default_rng(2).integers(0, 256, (40, 40, 3), dtype=np.uint8), size=None)
    mine = StyleStats(base.mean.clone(), base.std.clone())
    before = stylizer.stylize(image, mine)
    mine.std.mul_(0.2)
    after = stylizer.stylize(image, mine)
    fresh = stylizer.stylize(image, StyleStats(mine.mean.clone(), mine.std.clone()))
    assert np.array_equal(after, fresh) and not np.array_equal(before, after)
    mine.mean.fill_(float("nan"))
    with pytest.raises(ValueError, match="holds NaN"):
        stylizer.stylize(image, mine)


def test_a_mix_weight_too_large_for_a_float_names_it(stylizer):
    style = stylizer.style(np.full((16, 16, 3), 90, np.uint8), size=None)
    with pytest.raises(ValueError, match=r"^weights\[0\] is too large for a float$"):
        StyleStats.mix([style, style], [10**400, 1])


def test_a_pil_style_is_protected_from_the_output(stylizer, clip, tmp_path):
    """A style passed as a PIL image opened from a file was overwritten by a numbered picture."""
    from PIL import Image

    folder = tmp_path / "pictures"
    folder.mkdir()
    ra.write_image(folder / "0001.png", np.full((16, 16, 3), 90, np.uint8))
    before = (folder / "0001.png").read_bytes()
    with Image.open(folder / "0001.png") as style, pytest.raises(UserError, match="overwrite an input"):
        ra.stylize_video(clip, folder / "%04d.png", style=style, stylizer=stylizer, style_size=64, stabilize="off")
    assert (folder / "0001.png").read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["0001.png"]


def test_notes_and_errors_name_the_api_not_the_cli(stylizer, clip, tmp_path, capsys):
    """Notes said `--start`/`--deinterlace` and errors `realtime-adain image` to a Python caller."""
    film = write_video(tmp_path / "film.mp4", gradient_frames(3, 64, 48), time_base=Fraction(1, 24))
    ra.stylize_video(film, tmp_path / "o.mp4", style=np.full((16, 16, 3), 90, np.uint8), stylizer=stylizer,
                     style_size=16, stabilize="off", deinterlace="film")
    err = capsys.readouterr().err
    assert "note: " in err and "deinterlace film" in err and "--" not in err.replace(str(tmp_path), ""), err
    ra.write_image(tmp_path / "s.png", np.full((16, 16, 3), 90, np.uint8))
    with pytest.raises(UserError, match=r"this is an image, not a video \(use `Stylizer.stylize_image`\)"):
        ra.stylize_video(tmp_path / "s.png", tmp_path / "x.mp4", style=tmp_path / "s.png", stylizer=stylizer)
    for read in (ra.read_image, stylizer.style):
        with pytest.raises(UserError, match=r"not an image \(`stylize_video` stylizes videos\)"):
            read(clip)


@pytest.mark.slow  # (default run's time: 2 s)
def test_over_the_pixel_budget_the_size_that_fits_is_given(stylizer, clip, tmp_path, run_cli, weights_env):
    """At size 0 (the picture's own) the hint was 'lower size', which has nothing to lower."""
    with pytest.raises(UserError, match=r"64x48 \(full size\), over the budget of 1000 pixels "
                                        r"\(raise it with max_pixels, or give size 27 or less\)$"):
        ra.stylize_video(clip, tmp_path / "o.mp4", style=np.full((16, 16, 3), 90, np.uint8), stylizer=stylizer,
                         max_pixels=1000)
    ra.stylize_video(clip, tmp_path / "o.mp4", style=np.full((16, 16, 3), 90, np.uint8), stylizer=stylizer,
                     max_pixels=1000, size=27, stabilize="off")  # (and it does fit)


@pytest.mark.parametrize("argument, value", [("start", [1]), ("duration", {}), ("framerate", "24"), ("start", True)])
def test_a_time_or_rate_of_the_wrong_type_is_a_type_error(stylizer, clip, tmp_path, argument, value):
    with pytest.raises(TypeError, match=f"^{argument} must be"):
        ra.stylize_video(clip, tmp_path / "o.mp4", style=np.full((16, 16, 3), 90, np.uint8), stylizer=stylizer,
                         **{argument: value})


def test_statistics_to_a_wrong_device_kind(stylizer):
    """An index is refused as `Stylizer.load` refuses it (session 54: it was taken as 'cuda:N')."""
    style = stylizer.style(np.full((16, 16, 3), 90, np.uint8), size=None)
    with pytest.raises(TypeError, match="^device must be a str such as 'auto', got float$"):
        style.to(1.5)
    with pytest.raises(TypeError, match="^device must be a str such as 'auto', got int$"):
        style.to(5)


def test_statistics_changed_unseen_by_torch_are_used_and_checked(stylizer):
    """Second round (h5): a numpy array the tensors share, `torch.inference_mode` and `.data`
    change them without torch's version counter."""
    image = np.random.default_rng(1).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    base = stylizer.style(np.random.default_rng(2).integers(0, 256, (40, 40, 3), dtype=np.uint8), size=None)
    mean, std = base.mean.numpy().copy(), base.std.numpy().copy()
    shared = StyleStats(torch.from_numpy(mean), torch.from_numpy(std))
    before = stylizer.stylize(image, shared)
    std *= 0.2
    assert np.array_equal(stylizer.stylize(image, shared),
                          stylizer.stylize(image, StyleStats(torch.from_numpy(mean.copy()), torch.from_numpy(std.copy()))))
    assert not np.array_equal(before, stylizer.stylize(image, shared))
    with torch.inference_mode():
        base.std.mul_(0.2)
    assert np.array_equal(stylizer.stylize(image, base), stylizer.stylize(image, StyleStats(base.mean.clone(), base.std.clone())))
    grad = StyleStats(base.mean.clone().requires_grad_(), base.std.clone().requires_grad_())
    stylizer.stylize(image, grad)
    grad.std.data.fill_(float("nan"))
    with pytest.raises(ValueError, match="holds NaN"):
        stylizer.stylize(image, grad)


def test_a_cli_run_beside_an_api_call_keeps_its_words(stylizer, tmp_path, capsys):
    """The API's rewording of notes applied to every thread: a CLI run's note said `deinterlace
    film` while an API call ran in another thread (h5). Now the API call's threads only."""
    import threading

    from realtime_adain import notes

    said = []
    with notes.worded(lambda line: "API: " + line):
        worker = threading.Thread(target=lambda: (notes.note("--deinterlace film in a CLI's thread"), said.append(1)))
        worker.start()
        worker.join()
        notes.note("--deinterlace film in the API's thread")
    err = capsys.readouterr().err
    assert "note: --deinterlace film in a CLI's thread" in err and "note: API: --deinterlace film in the API's thread" in err


@pytest.mark.parametrize("argument", ["start", "duration", "framerate", "size", "crf"])
@pytest.mark.slow_cases('size')  # (default run's time: 2 s)
def test_an_integer_past_floats_range_names_its_argument(stylizer, clip, tmp_path, argument):
    """`start=10**400` and the like were an OverflowError naming nothing (h5)."""
    with pytest.raises(ValueError, match=f"^{argument}"):
        ra.stylize_video(clip, tmp_path / "o.mp4", style=np.full((16, 16, 3), 90, np.uint8), stylizer=stylizer,
                         **{argument: 10 ** 400})
    if argument == "size":
        with pytest.raises(ValueError, match=r"^size is far too large \(a number of 401 digits\)$"):
            stylizer.stylize_image(np.zeros((8, 8, 3), np.uint8), stylizer.style(np.zeros((8, 8, 3), np.uint8)),
                                   size=10 ** 400)
