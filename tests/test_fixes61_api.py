"""Session 61's fixes to the Python API (docs/api.md): `ModelSettings.check()` (and
`VideoSettings.check()`) refuse a vgg, decoder or device that `Stylizer.load` refuses, by its own
check and in its words, without reading the weights; numpy's overflow warning for int64's least
value no longer leaks beside the message that names it."""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pytest
import torch

import realtime_adain as ra
from realtime_adain import weights
from realtime_adain.api_words import ArgumentMistake
from realtime_adain.errors import shown_number
from realtime_adain.times import is_finite

MISTAKES = {
    "vgg-int": dict(vgg=123), "vgg-bytes": dict(vgg=b"x"), "vgg-list": dict(vgg=["a"]), "vgg-nan": dict(vgg=math.nan),
    "vgg-empty": dict(vgg=""), "vgg-blank": dict(vgg="  "), "decoder-bytes": dict(decoder=b"x"),
    "decoder-dict": dict(decoder={}), "decoder-array": dict(decoder=np.array(["d.pth"])), "decoder-empty": dict(decoder=""),
    "device-none": dict(device=None), "device-int": dict(device=0), "device-nan": dict(device=math.nan),
    "device-bytes": dict(device=b"cpu"), "device-list": dict(device=["cpu"]), "device-array": dict(device=np.array(["cpu"])),
    "device-empty": dict(device=""), "device-abc": dict(device="abc"), "device-CPU": dict(device="CPU"),
    "dtype-x": dict(dtype="x"), "dtype-none": dict(dtype=None), "engine-x": dict(engine="x"), "engine-int": dict(engine=1),
}
if not torch.cuda.is_available():
    MISTAKES["device-cuda"] = dict(device="cuda")
    MISTAKES["dtype-fp16"] = dict(device="cpu", dtype="fp16")


def refusal(call) -> tuple[type, str]:
    with pytest.raises((TypeError, ValueError)) as refused:
        call()
    return type(refused.value), str(refused.value)


@pytest.mark.parametrize("arguments", MISTAKES.values(), ids=MISTAKES.keys())
def test_model_settings_check_refuses_what_load_refuses_in_its_words(arguments):
    """`ModelSettings(vgg=123).check()`, `device='abc'`, `device=None` ... passed (check() looked at
    dtype and engine only, in words of its own), where `Stylizer.load` refuses them."""
    said = refusal(lambda: ra.Stylizer.load(**arguments))
    assert refusal(lambda: ra.ModelSettings(**arguments).check()) == said
    assert refusal(lambda: ra.VideoSettings(model=ra.ModelSettings(**arguments)).check()) == said
    assert "--" not in said[1] and "\n" not in said[1]


def test_model_settings_check_refuses_a_weights_path_that_names_no_file(tmp_path):
    missing = tmp_path / "missing.pth"
    said = refusal(lambda: ra.Stylizer.load(decoder=str(missing)))
    assert said == (ArgumentMistake, f"{missing}: no such weights file")
    assert refusal(lambda: ra.ModelSettings(decoder=str(missing)).check()) == said
    assert os.listdir(tmp_path) == []


def test_model_settings_check_reads_no_weights(published_weights, monkeypatch):
    """check() makes `load`'s checks made before reading, never the load itself."""
    def unread(*_args, **_kwargs):
        raise AssertionError("check() read the weights")

    monkeypatch.setattr(weights, "load_decoder", unread)
    monkeypatch.setattr(weights, "load_encoder", unread)
    vgg, decoder = map(str, published_weights)
    ra.ModelSettings(vgg=vgg, decoder=decoder, device="cpu").check()
    ra.ModelSettings().check()
    ra.VideoSettings(model=ra.ModelSettings(vgg=vgg, decoder=decoder, device=torch.device("cpu"))).check()


def test_stylize_video_refuses_a_bad_device_before_anything_is_written(data_dir, tmp_path):
    with pytest.raises(ValueError, match=r"^unknown device 'abc' \(use auto, cpu, cuda, cuda:N or mps\)$"):
        ra.stylize_video(data_dir / "videos" / "cutBunny.mp4", tmp_path / "out" / "o.mp4",
                         style=data_dir / "style" / "trial.jpg", model=ra.ModelSettings(device="abc"))
    assert os.listdir(tmp_path) == []


LEAST = np.int64(-2**63)


def test_int64s_least_is_said_without_numpys_overflow_warning(data_dir, tmp_path):
    """abs() of np.int64(-2**63) overflows: numpy printed a RuntimeWarning (two lines on stderr)
    beside `alpha must be in [0, 1], got ...` and `start ... must be at least 0 seconds`."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert shown_number(LEAST) == shown_number(-2**63) == "-9.22337e+18"
        assert is_finite(LEAST) and is_finite(np.int64(2**63 - 1)) and not is_finite(np.float64(-np.inf))
        with pytest.raises(ValueError, match=r"^alpha must be in \[0, 1\], got -9.22337e\+18$"):
            ra.StyleSettings(alpha=LEAST).check()
        with pytest.raises(ValueError, match=r"^start -9.22337e\+18 must be at least 0 seconds$"):
            ra.stylize_video(data_dir / "videos" / "cutBunny.mp4", tmp_path / "o.mp4",
                             style=data_dir / "style" / "trial.jpg", start=LEAST)
    assert os.listdir(tmp_path) == []
