"""A hostile caller of the Python API: odd arrays, images, styles and paths are a TypeError or
ValueError naming the argument (a UserError for a file), never a torch/OpenCV error, a hang or
a memory blow-up."""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import realtime_adain as ra
from realtime_adain.adain import StyleStats

# A view of 100000 x 100000 pixels: no memory until something copies it (28 GiB then).
HUGE = np.broadcast_to(np.uint8(7), (100_000, 100_000, 3))


@pytest.fixture(scope="module")
def style(stylizer):
    return stylizer.style(np.full((16, 16, 3), 90, np.uint8), size=16)


@pytest.mark.parametrize("call, word", [
    (lambda st, s: st.stylize_image(HUGE, s), "image is 100000x100000"),
    (lambda st, s: st.style(HUGE), "image is 100000x100000"),
    (lambda st, s: list(st.stylize_frames([HUGE], s)), "frames[0] is 100000x100000"),
    (lambda st, s: ra.write_image("out.png", HUGE), "image is 100000x100000"),
    (lambda st, s: st.stylize(HUGE, s), "frames are 1 x 100000x100000"),  # was a 28 GiB copy
    (lambda st, s: st.stylize(np.broadcast_to(np.uint8(7), (9000, 200, 200, 3)), s), "frames are 9000 x 200x200"),
    (lambda st, s: list(st.stylize_stream([HUGE], s)), "frames are 1 x 100000x100000"),
])
def test_a_huge_array_is_refused_before_any_copy(stylizer, style, call, word, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=word.replace("[", r"\[").replace("]", r"\]")):
        call(stylizer, style)
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("image, kwargs, word", [
    (np.zeros((1, 100_000, 3), np.uint8), {"size": 32}, "longer than 16384 pixels on a side"),  # was 35 s, then onnxruntime
    (np.zeros((40, 50, 3), np.uint8), {"size": 10**6}, "longer than 16384"),  # was cv2.error: Insufficient memory
    (np.zeros((40, 50, 3), np.uint8), {"size": np.int64(2**62)}, "longer than 16384"),  # was cv2 'Bad argument'
    (np.zeros((40, 50, 3), np.uint8), {"size": 64, "max_pixels": 100}, "over max_pixels=100"),
])
def test_processing_size_is_bounded(stylizer, style, image, kwargs, word):
    with pytest.raises(ValueError, match=word):
        stylizer.stylize_image(image, style, **kwargs)
    with pytest.raises(ValueError, match=word):
        stylizer.style(image, **kwargs)


def test_frames_over_max_pixels_and_a_bad_budget(stylizer, style):
    with pytest.raises(ValueError, match=r"frames\[1\] is 20x10, over max_pixels=150"):
        list(stylizer.stylize_frames([np.zeros((5, 6, 3), np.uint8), np.zeros((10, 20, 3), np.uint8)], style,
                                     max_pixels=150))
    with pytest.raises(ValueError, match="max_pixels"):
        stylizer.stylize_image(np.zeros((8, 8, 3), np.uint8), style, max_pixels=0)


def test_strided_readonly_and_fortran_arrays_work(stylizer, style):
    image = np.random.default_rng(0).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    readonly = image.copy()
    readonly.flags.writeable = False
    expected = stylizer.stylize_image(np.ascontiguousarray(image[::-1, ::2]), style, size=None)
    assert np.array_equal(stylizer.stylize_image(image[::-1, ::2], style, size=None), expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warned about sharing a read-only array
        for variant in (readonly, np.asfortranarray(image)):
            assert stylizer.stylize_image(variant, style, size=None).shape == (24, 32, 3)


def test_pil_images_in_odd_modes(stylizer, style):
    for mode in ("P", "LA", "CMYK", "1", "I", "F"):
        image = Image.new("RGB", (20, 16), (10, 100, 200)).convert(mode)
        assert stylizer.stylize_image(image, style, size=None).shape == (16, 20, 3)
    assert stylizer.stylize_image(Image.new("I;16", (20, 16)), style, size=None).shape == (16, 20, 3)
    # premultiplied grey reads as LA (it was refused: Pillow converts La to nothing else; round 39)
    assert stylizer.stylize_image(Image.new("RGBA", (8, 8)).convert("La"), style, size=None).shape == (8, 8, 3)
    buffer = io.BytesIO()
    Image.new("RGB", (200, 200), (1, 2, 3)).save(buffer, "PNG")
    cut = Image.open(io.BytesIO(buffer.getvalue()[:300]))
    with pytest.raises(ra.UserError, match="image: the PIL image's pixels cannot be read"):
        stylizer.stylize_image(cut, style)


@pytest.mark.slow  # (default run's time: 4 s)
def test_a_generator_error_propagates_as_itself(stylizer, style):
    def frames():
        yield np.zeros((8, 8, 3), np.uint8)
        raise RuntimeError("the camera went away")

    results = stylizer.stylize_frames(frames(), style, batch=2)
    with pytest.raises(RuntimeError, match="the camera went away"):
        list(results)
    assert stylizer.stylize_image(np.zeros((8, 8, 3), np.uint8), style).shape == (8, 8, 3)  # still usable


def odd_styles(style):
    return [
        (StyleStats(style.mean.to("meta"), style.std.to("meta")), ValueError, "meta"),  # was NotImplementedError
        (StyleStats(style.mean[:10], style.std[:10]), ValueError, "has 10 values"),  # was a torch size mismatch
        (StyleStats(style.mean * float("nan"), style.std), ValueError, "NaN"),  # was a silently broken image
        (StyleStats(style.mean, -style.std), ValueError, "negative"),
        (StyleStats([0.0] * 512, [1.0] * 512), TypeError, "torch tensor"),  # was AttributeError
        (StyleStats(style.mean.numpy(), style.std.numpy()), TypeError, "torch tensor"),
        (StyleStats(style.mean.to_sparse(), style.std), TypeError, "style.mean must be a dense tensor"),  # was NotImplementedError
    ]


@pytest.mark.slow  # (default run's time: 4 s)
def test_style_stats_a_caller_built_are_checked(stylizer, style):
    image = np.zeros((8, 8, 3), np.uint8)
    for bad, error, word in odd_styles(style):
        with pytest.raises(error, match=word):
            stylizer.stylize_image(image, bad)
        with pytest.raises(error, match=word):
            stylizer.stylize_frames([image], bad)
    half = StyleStats(style.mean.half(), style.std.half())  # another dtype is fine
    assert stylizer.stylize_image(image, half).shape == (8, 8, 3)


def test_mix_refuses_bad_weights_and_styles_by_name(style):
    other = StyleStats(style.mean * 2, style.std * 2)
    for weights, error, word in [
        (None, TypeError, "weights must be a tuple of numbers"), ((w for w in (1, 2)), TypeError, "weights must be a tuple of numbers"),
        (["a", "b"], TypeError, r"weights\[0\]"), ([True, 1], TypeError, r"weights\[0\]"),
        ([0, 0], ValueError, "positive sum"), ([-1, 2], ValueError, r"weights\[0\] must be a finite number, 0 or more"),
        ([float("nan"), 1], ValueError, "finite"), ([1], ValueError, "1 mix weight for 2 styles"),
    ]:
        with pytest.raises(error, match=word):
            StyleStats.mix([style, other], weights)
    with pytest.raises(TypeError, match=r"styles\[1\] must be StyleStats"):  # was AttributeError
        StyleStats.mix([style, "starry.jpg"], [1, 1])
    with pytest.raises(TypeError, match="styles must be a list"):
        StyleStats.mix(style, [1])
    with pytest.raises(ValueError, match="different numbers of channels"):  # was a torch size mismatch
        StyleStats.mix([style, StyleStats(style.mean[:10], style.std[:10])], [1, 1])
    with pytest.raises(ValueError, match="meta"):  # was "Tensor on device meta is not on the expected device"
        StyleStats.mix([style, StyleStats(style.mean.to("meta"), style.std.to("meta"))], [1, 1])


def test_mix_takes_styles_of_any_dtype_and_numpy_weights(style):
    mixed = StyleStats.mix([StyleStats(style.mean.half(), style.std.half()), style], np.array([1, 3]))
    assert mixed.mean.dtype == torch.float32 and mixed.mean.device.type == "cpu"
    torch.testing.assert_close(mixed.mean, style.mean, rtol=1e-3, atol=1e-2)
    double = StyleStats(style.mean.double(), style.std.double())
    assert StyleStats.mix([double, style], [1, 1]).mean.dtype == torch.float64


def test_write_image_checks_name_and_array(tmp_path):
    image = np.zeros((4, 5, 3), np.uint8)
    for name, word in [("noext", "no extension"), ("x.xyz", "'.xyz'"), ("x.exr", "'.exr'"), ("x.pgm", "'.pgm'")]:
        with pytest.raises(ValueError, match=f"path must end in an image format's extension.*{word}"):
            ra.write_image(tmp_path / name, image)  # no extension used to write PNG bytes; .xyz a cv2.error
    for array, error in [(image.astype(np.float32) / 255, TypeError), (image > 0, TypeError),
                         (image.astype(np.int64), TypeError), (np.zeros((4, 5, 4), np.uint8), ValueError),
                         (np.zeros((0, 5, 3), np.uint8), ValueError)]:
        with pytest.raises(error, match="image"):
            ra.write_image(tmp_path / "x.png", array)
    with pytest.raises(TypeError, match="image must be a numpy array"):
        ra.write_image(tmp_path / "x.png", [[1, 2, 3]])
    with pytest.raises(ValueError, match="path is an empty path"):
        ra.write_image("", image)
    with pytest.raises(TypeError, match="path must be a path"):
        ra.write_image(None, image)
    assert not os.listdir(tmp_path)
    ra.write_image(tmp_path / "grey.PNG", image[..., 0])
    assert ra.read_image(tmp_path / "grey.PNG").shape == (4, 5, 3)


def test_read_image_of_a_fifo_is_refused_not_a_hang(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(ra.UserError, match="a device, fifo or socket"):
        ra.read_image(tmp_path / "pipe.png")
    with pytest.raises(ValueError, match="path is an empty path"):  # was '.: a folder'
        ra.read_image("")
    with pytest.raises(TypeError, match="path must be a path"):
        ra.read_image(b"photo.png")


def test_a_fifo_swapped_in_after_the_check_is_refused_not_waited_on(tmp_path, monkeypatch):
    """A file turned into a FIFO between `read_image`'s check by name and its read (a dataset
    changing mid-run) blocked the read for good. The check's answer is held at "a file" here to
    stand for that moment; the open file itself is checked now."""
    import concurrent.futures

    from realtime_adain import imageio

    os.mkfifo(tmp_path / "pipe.png")
    monkeypatch.setattr(imageio.Path, "is_file", lambda self: True)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        reading = pool.submit(imageio.read_image, tmp_path / "pipe.png")
        try:
            with pytest.raises(ra.UserError, match="pipe.png: a device, fifo or socket, not an image file"):
                reading.result(timeout=10)
        finally:
            if not reading.done():  # let the blocked open go, so the test ends
                with open(os.open(tmp_path / "pipe.png", os.O_WRONLY | os.O_NONBLOCK), "wb"):
                    pass


def test_stylize_video_mistakes_are_value_errors_naming_the_argument(stylizer, style, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.mp4").write_bytes(b"")  # every refusal below comes before the file is opened
    common = {"stylizer": stylizer, "size": 32}
    cases = [
        ({"style": [style, style], "mix": [1]}, ValueError, "mix has 1 weight for 2 styles"),  # was UserError '--mix'
        ({"style": [style, style], "mix": [0, 0]}, ValueError, "mix weights must have a positive"),
        ({"style": "x.jpg", "style_size": 10**9}, ValueError, "^style_size 1000000000 is outside"),  # was '--style-size'
        ({"style": [style, "x.jpg"], "mix": [1, 1]}, TypeError, "all StyleStats or all images"),
        ({"style": StyleStats(style.mean[:3], style.std[:3])}, ValueError, "has 3 values"),
        ({"style": ""}, ValueError, "style is an empty path"),
    ]
    for changes, error, word in cases:
        with pytest.raises(error, match=word):
            ra.stylize_video("in.mp4", "out.mp4", **{**common, **changes})
    with pytest.raises(ValueError, match="output is an empty path"):  # was '.: is a folder'
        ra.stylize_video("in.mp4", "", style=style, **common)
    (tmp_path / "clips").mkdir()
    with pytest.raises(ra.UserError, match="clips: a folder, not a video file"):  # was 'no such file'
        ra.stylize_video("clips", "out.mp4", style=style, **common)
    assert sorted(os.listdir(tmp_path)) == ["clips", "in.mp4"]


def test_load_refuses_an_empty_weights_path(weights_env):
    with pytest.raises(ValueError, match="an empty vgg path"):  # was: silently $REALTIME_ADAIN_VGG
        ra.Stylizer.load(vgg="", device="cpu")


@pytest.mark.parametrize("frame, mask, styles, error, words", [
    (np.zeros((8, 8, 3), np.uint8), np.full((8, 8), 2), 2, ValueError, r"mask indices must be in \[0, 1\]"),  # was styled
    (np.zeros((8, 8, 3), np.uint8), np.full((8, 8), -1), 2, ValueError, "mask indices"),  # was the last style
    (np.zeros((8, 8, 3), np.uint8), np.zeros((4, 4), np.int64), 2, ValueError, r"mask must be \(H, W\) like the frame"),
    (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.int64), 2, ValueError, "mask must be"),  # was a torch error
    (np.zeros((8, 8, 3), np.uint8), np.full((8, 8), 0.5), 2, TypeError, "mask must be an integer numpy array"),
    (np.zeros((8, 8, 3), np.uint8), [[0]], 2, TypeError, "mask must be an integer numpy array"),
    (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.int64), 0, ValueError, "styles must be a non-empty sequence"),
    (np.zeros((8, 8, 3), np.float32), np.zeros((8, 8), np.int64), 2, TypeError, "uint8 numpy array, got float32 values"),
    (np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.int64), 2, ValueError, r"frame must be one \(H, W, 3\)"),
    (HUGE, np.broadcast_to(np.int64(0), HUGE.shape[:2]), 2, ValueError, "frame is 100000x100000"),  # was 74.5 GiB
])
def test_stylize_masked_checks_its_arguments(stylizer, style, frame, mask, styles, error, words):
    with pytest.raises(error, match=words):
        stylizer.stylize_masked(frame, mask, [style] * styles)


def test_stylize_masked_takes_a_boolean_mask(stylizer, style):
    other = stylizer.style(np.full((16, 16, 3), 10, np.uint8), size=16)
    mask = np.zeros((16, 24), bool)
    mask[:, 12:] = True
    out = stylizer.stylize_masked(np.full((16, 24, 3), 128, np.uint8), mask, [style, other])
    assert out.shape == (16, 24, 3) and out.dtype == np.uint8
