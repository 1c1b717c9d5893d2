"""`realtime-adain image` end to end on ../shared/data, input formats, and every bad input."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from realtime_adain.errors import UserError
from realtime_adain.imageio import read_image

SMALL = ("--size", "48", "--style-size", "64")


def assert_one_line_error(code: int, err: str, expected: str) -> None:
    assert code != 0
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert expected in lines[-1], err
    assert lines[-1].startswith("error:") or "error:" in lines[-1]


@pytest.fixture(scope="module")
def formats(tmp_path_factory) -> dict[str, tuple]:
    """The same 20x30 picture as grayscale, RGBA, 16-bit PNG and CMYK JPEG."""
    folder = tmp_path_factory.mktemp("formats")
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[:, :10] = (255, 0, 0)
    rgb[:, 10:20] = (0, 255, 0)
    rgb[:, 20:] = (0, 0, 255)
    gray = np.tile(np.arange(30, dtype=np.uint8) * 8, (20, 1))
    files = {}
    cv2.imwrite(str(folder / "gray.png"), gray)
    files["gray"] = (folder / "gray.png", np.repeat(gray[..., None], 3, axis=2))
    rgba = np.dstack([rgb[..., ::-1], np.full((20, 30), 128, np.uint8)])
    cv2.imwrite(str(folder / "rgba.png"), rgba)
    files["rgba"] = (folder / "rgba.png", np.round(rgb * (128 / 255) + 255 * (127 / 255)).astype(np.uint8))  # over white
    cv2.imwrite(str(folder / "deep.png"), rgb[..., ::-1].astype(np.uint16) * 257)
    files["png16"] = (folder / "deep.png", rgb)
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg", quality=100)
    files["cmyk"] = (folder / "cmyk.jpg", rgb)
    return files


@pytest.mark.parametrize("kind", ["gray", "rgba", "png16", "cmyk"])
def test_reads_every_format_as_rgb(formats, kind):
    path, expected = formats[kind]
    image = read_image(path)
    assert image.shape == (20, 30, 3) and image.dtype == np.uint8
    tolerance = 40 if kind == "cmyk" else 0  # JPEG is lossy at colour edges
    assert np.abs(image.astype(int) - expected).mean() <= (6 if kind == "cmyk" else 0)
    assert np.abs(image.astype(int) - expected)[:, [3, 15, 26]].max() <= tolerance


@pytest.mark.parametrize("kind", ["gray", "rgba", "png16", "cmyk"])
def test_cli_stylizes_every_format(formats, kind, weights_env, run_cli, data_dir, tmp_path):
    path, _ = formats[kind]
    out = tmp_path / "out.png"
    code, _, err = run_cli("image", path, "--style", data_dir / "style" / "trial.jpg", "-o", out, *SMALL)
    assert code == 0, err
    assert read_image(out).shape == (20, 30, 3)


def test_single_image_matches_stylizer(weights_env, run_cli, data_dir, tmp_path, stylizer):
    """The CLI result is the runtime's result (PNG is lossless)."""
    from realtime_adain.picture_sizes import fit_short_side

    content, style = data_dir / "content" / "sailboat.jpg", data_dir / "style" / "asheville.jpg"
    out = tmp_path / "boat.png"
    code, _, err = run_cli("image", content, "-s", style, "-o", out, "--size", "96", "--style-size", "64",
                           "--alpha", "0.8", "--no-keep-size")
    assert code == 0, err
    frame = fit_short_side(read_image(content), 96)
    expected = stylizer.stylize(frame, stylizer.style_stats(fit_short_side(read_image(style), 64)), 0.8)
    np.testing.assert_array_equal(read_image(out), expected)


@pytest.mark.slow  # (default run's time: 3 s)
def test_odd_size_kept_at_native_processing(weights_env, run_cli, data_dir, tmp_path):
    odd = tmp_path / "odd.png"
    cv2.imwrite(str(odd), cv2.resize(cv2.imread(str(data_dir / "content" / "flowers.jpg")), (517, 333)))
    out = tmp_path / "odd_out.jpg"
    code, _, err = run_cli("image", odd, "-s", data_dir / "style" / "trial.jpg", "-o", out, "--size", "0",
                           "--style-size", "64")
    assert code == 0, err
    assert read_image(out).shape == (333, 517, 3)


def test_processing_size_and_keep_size(weights_env, run_cli, data_dir, tmp_path):
    content = data_dir / "content" / "cornell.jpg"
    h, w = read_image(content).shape[:2]
    kept, small = tmp_path / "kept.png", tmp_path / "small.png"
    assert run_cli("image", content, "-s", data_dir / "style" / "trial.jpg", "-o", kept, *SMALL)[0] == 0
    assert run_cli("image", content, "-s", data_dir / "style" / "trial.jpg", "-o", small, *SMALL, "--no-keep-size")[0] == 0
    assert read_image(kept).shape[:2] == (h, w)
    assert min(read_image(small).shape[:2]) == 48


def test_directory_mode_makes_every_combination(weights_env, run_cli, data_dir, tmp_path):
    styles = tmp_path / "styles"
    styles.mkdir()
    for name in ("trial.jpg", "mondrian.jpg"):
        (styles / name).write_bytes((data_dir / "style" / name).read_bytes())
    (styles / "notes.txt").write_text("not an image, ignored in directory mode")
    out = tmp_path / "results"
    code, stdout, err = run_cli("image", data_dir / "content", "-s", styles, "-o", out, "--ext", "png", *SMALL)
    assert code == 0, err
    contents = sorted(p.stem for p in (data_dir / "content").glob("*.jpg"))
    expected = {f"{c}_stylized_{s}.png" for c in contents for s in ("trial", "mondrian")}
    assert {p.name for p in out.iterdir()} == expected
    assert len(stdout.splitlines()) == len(expected)


def test_mix_mask_and_preserve_color(weights_env, run_cli, data_dir, tmp_path):
    content = data_dir / "content" / "brad_pitt.jpg"
    s1, s2 = data_dir / "style" / "trial.jpg", data_dir / "style" / "mondrian.jpg"
    runs = {
        "mix.png": ("--mix", "0.5,0.5"),
        "mask.png": ("--mask", data_dir / "mask" / "mask.png"),
        "keep.png": ("--preserve-color",),
    }
    for name, extra in runs.items():
        code, _, err = run_cli("image", content, "-s", s1, "-s", s2, "-o", tmp_path / name, *SMALL, *extra)
        if name == "keep.png":  # two styles, no mix: every combination -> needs a directory
            assert_one_line_error(code, err, "give a directory as -o")
            code, _, err = run_cli("image", content, "-s", s1, "-o", tmp_path / name, *SMALL, *extra)
        assert code == 0, err
        assert read_image(tmp_path / name).shape == read_image(content).shape


def test_preserve_color_output_takes_the_contents_colours(stylizer, data_dir):
    """With colour preservation, the style's statistics come from its recoloured image."""
    from realtime_adain.picture_sizes import fit_short_side

    content = fit_short_side(read_image(data_dir / "content" / "golden_gate.jpg"), 64)
    style = read_image(data_dir / "style" / "mondrian.jpg")
    plain = stylizer.style_stats(style, 64)
    preserved = stylizer.style_stats(style, 64, color_reference=content)
    assert not torch.allclose(plain.mean, preserved.mean)


BAD_INPUTS = {
    "missing content": (["image", "{tmp}/nope.jpg", "-s", "{style}", "-o", "{tmp}/o.png"], "no such content file"),
    "not an image": (["image", "{tmp}/text.jpg", "-s", "{style}", "-o", "{tmp}/o.png"], "not a readable image"),
    "empty file": (["image", "{tmp}/empty.png", "-s", "{style}", "-o", "{tmp}/o.png"], "the file is empty"),
    "style dir without images": (["image", "{content}", "-s", "{tmp}/nostyles", "-o", "{tmp}/o.png"], "no images in this style directory"),
    "corrupt weights": (["image", "{content}", "-s", "{style}", "-o", "{tmp}/o.png", "--vgg", "{tmp}/text.jpg"], "not a readable weights file"),
    "decoder given as encoder": (["image", "{content}", "-s", "{style}", "-o", "{tmp}/o.png", "--vgg", "{decoder}"], "looks like decoder weights"),
    "alpha above 1": (["image", "{content}", "-s", "{style}", "-o", "{tmp}/o.png", "--alpha", "1.5"], "outside [0, 1]"),
    "alpha not a number": (["image", "{content}", "-s", "{style}", "-o", "{tmp}/o.png", "--alpha", "lots"], "is not a number"),
    "mix weights mismatch": (["image", "{content}", "-s", "{style}", "-s", "{style2}", "-o", "{tmp}/o.png", "--mix", "1,2,3"], "--mix has 3 weights for 2 styles"),
    "output is an input": (["image", "{content}", "-s", "{style}", "-o", "{content}"], "would overwrite an input"),
    "unwritable output dir": (["image", "{content}", "-s", "{style}", "-o", "{tmp}/text.jpg/o.png"], "output directory is not writable (it is a file, not a folder)"),
    "output format unknown": (["image", "{content}", "-s", "{style}", "-o", "{tmp}/out.gif"], "unknown image format '.gif'"),
    "unknown output format": (["image", "{content}", "-s", "{style}", "-o", "{tmp}/out.xyz", "--ext", "xyz"], "unknown image format"),
    "mask with one style": (["image", "{content}", "-s", "{style}", "-o", "{tmp}/o.png", "--mask", "{mask}"], "--mask needs exactly two styles"),
    "mask with mix": (["image", "{content}", "-s", "{style}", "-s", "{style2}", "-o", "{tmp}/o.png", "--mask", "{mask}", "--mix", "1,1"], "--mask and --mix cannot be combined"),
    "fp16 on the cpu": (["image", "{content}", "-s", "{style}", "-o", "{tmp}/o.png", "--device", "cpu", "--dtype", "fp16"], "needs a GPU (CUDA or an Apple GPU, mps)"),
    "missing weights": (["image", "{content}", "-s", "{style}", "-o", "{tmp}/o.png", "--decoder", "{tmp}/none.pth"], "no such weights file"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gives_one_clear_line(case, weights_env, run_cli, data_dir, tmp_path):
    (tmp_path / "text.jpg").write_text("hello, I am not a JPEG")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "nostyles").mkdir()
    (tmp_path / "nostyles" / "readme.txt").write_text("no images here")
    values = {
        "tmp": tmp_path, "content": data_dir / "content" / "lenna.jpg", "style": data_dir / "style" / "trial.jpg",
        "style2": data_dir / "style" / "mondrian.jpg", "decoder": weights_env[1], "mask": data_dir / "mask" / "mask.png",
    }
    argv, expected = BAD_INPUTS[case]
    before = set(tmp_path.rglob("*"))
    code, _, err = run_cli(*[a.format(**values) for a in argv], *SMALL)
    assert_one_line_error(code, err, expected)
    assert set(tmp_path.rglob("*")) == before  # nothing written, not even a partial file


def test_missing_weights_name_the_download_command(run_cli, data_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("REALTIME_ADAIN_VGG", raising=False)
    monkeypatch.delenv("REALTIME_ADAIN_DECODER", raising=False)
    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(tmp_path / "empty-home"))
    code, _, err = run_cli("image", data_dir / "content" / "lenna.jpg", "-s", data_dir / "style" / "trial.jpg",
                           "-o", tmp_path / "o.png")
    assert_one_line_error(code, err, "realtime-adain weights download")


@pytest.mark.slow  # (default run's time: test_wheel runs the installed console script)
def test_console_script_runs(weights_env, data_dir, tmp_path):
    """The installed `realtime-adain` entry point, as a user runs it."""
    import subprocess

    out = tmp_path / "cli.jpg"
    result = subprocess.run(
        ["realtime-adain", "image", data_dir / "content" / "modern.jpg", "-s", data_dir / "style" / "trial.jpg",
         "-o", out, *SMALL], capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert read_image(out).shape == read_image(data_dir / "content" / "modern.jpg").shape


def test_jpeg_exif_orientation_is_honoured(tmp_path):
    """A phone photo stored sideways with an orientation tag reads upright, as video honours rotation."""
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = (255, 0, 0)  # left half red, right half blue as stored
    stored[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display": the stored left edge becomes the top
    Image.fromarray(stored).save(tmp_path / "phone.jpg", quality=95, exif=exif.tobytes())
    image = read_image(tmp_path / "phone.jpg")
    assert image.shape == (40, 20, 3)
    np.testing.assert_allclose(image[5, 10], (255, 0, 0), atol=40)
    np.testing.assert_allclose(image[35, 10], (0, 0, 255), atol=40)


@pytest.mark.parametrize("scale", [1.0, 255.0])
def test_float_tiff_in_either_range(tmp_path, scale):
    """Float TIFFs come as 0..1 or 0..255: both read as the same picture, not clipped to white."""
    values = np.array([[0.0, 0.25, 0.5, 1.0]] * 3, np.float32)
    cv2.imwrite(str(tmp_path / "float.tiff"), np.dstack([values * scale] * 3))
    image = read_image(tmp_path / "float.tiff")
    assert image.dtype == np.uint8
    np.testing.assert_allclose(image[0, :, 0], [0, 64, 128, 255], atol=1)


def test_float_highlights_do_not_darken_the_picture(tmp_path):
    """A 0..1 float image with a few values above 1 (a hot pixel, an HDR highlight) is a 0..1
    image with highlights, clipped; it was read as 0..255 and came out almost black."""
    values = np.tile(np.linspace(0.0, 1.0, 64, dtype=np.float32), (16, 1))
    hot = np.dstack([values] * 3)
    hot[0, 0] = 1.01
    cv2.imwrite(str(tmp_path / "hot.tiff"), hot)  # (PFM is linear light: sRGB-encoded, tests/test_fixes41_pictures.py)
    cv2.imwrite(str(tmp_path / "bright.tiff"), hot * 1.5)  # a third of the picture over 1
    np.testing.assert_allclose(read_image(tmp_path / "hot.tiff")[1, :, 0], np.round(values[0] * 255), atol=1)
    np.testing.assert_allclose(read_image(tmp_path / "bright.tiff")[1, :, 0], np.round(np.minimum(values[0] * 1.5, 1) * 255), atol=1)


def test_radiance_hdr_is_linear_light(tmp_path):
    """Radiance .hdr holds linear light: 0.214 is mid-grey once encoded with the sRGB curve (128),
    not 55; values over 1 are highlights, clipped to white."""
    linear = np.array([[0.0, 0.214, 1.0, 4.0]] * 4, np.float32)
    cv2.imwrite(str(tmp_path / "scene.hdr"), np.dstack([linear] * 3))
    image = read_image(tmp_path / "scene.hdr")
    np.testing.assert_allclose(image[0, :, 1], [0, 128, 255, 255], atol=2)  # RGBE keeps about 1 % precision


@pytest.mark.parametrize("orientation", [1, 6, 3])
def test_transparent_pixels_read_as_white(tmp_path, orientation):
    """A transparent area reads as white, as viewers show it, not as the black it stores; the
    alpha follows the EXIF orientation the colour follows."""
    logo = np.zeros((24, 32, 4), np.uint8)
    logo[:, 16:] = (255, 0, 0, 255)  # right half opaque red, left half transparent black
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(logo, "RGBA").save(tmp_path / "logo.png", exif=exif.tobytes())
    Image.fromarray(logo[..., :3]).convert("P").save(tmp_path / "palette.png", transparency=0)  # black is transparent
    image = read_image(tmp_path / "logo.png")
    expected = np.where(logo[..., 3:] == 255, logo[..., :3], 255).astype(np.uint8)
    expected = {1: expected, 6: np.rot90(expected, -1), 3: expected[::-1, ::-1]}[orientation]
    np.testing.assert_array_equal(image, expected)
    np.testing.assert_array_equal(read_image(tmp_path / "palette.png")[:, :16], 255)


def test_folders_skip_hidden_files(weights_env, run_cli, data_dir, tmp_path):
    """A folder's hidden files (macOS ._NAME companions, a killed run's temporaries) are not inputs;
    a grey-only .pgm content gives a .png result instead of a refused write after the work."""
    folder = tmp_path / "in"
    folder.mkdir()
    logo = np.zeros((24, 32, 4), np.uint8)
    logo[:, 16:] = (0, 0, 255, 255)  # right half opaque red (BGRA), left half transparent black
    cv2.imwrite(str(folder / "logo.png"), logo)
    cv2.imwrite(str(folder / "grey.pgm"), np.full((24, 32), 90, np.uint8))
    (folder / "._logo.png").write_bytes(b"\0\5\26\7 AppleDouble")
    (folder / ".logo_stylized_trial.4242-abcdefgh.part.png").write_bytes(b"\x89PNG\r\n")  # a killed run's leftover
    out = tmp_path / "out"
    code, _, err = run_cli("image", folder, "-s", data_dir / "style" / "trial.jpg", "-o", out, "--size", "24", "--style-size", "32")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["grey_stylized_trial.png", "logo_stylized_trial.png"]


def matrix_profile(white, red, green, blue, gamma: float, name: str = "test") -> bytes:
    """A minimal ICC v2 RGB display profile (matrix + gamma curves), as cameras and editors embed:
    colorants and white point in D50 XYZ; `name` its description."""
    import struct

    def fixed(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(values) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(fixed(v) for v in values)

    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    description = b"desc\0\0\0\0" + struct.pack(">I", len(name) + 1) + name.encode() + b"\0" * 80
    tags = [(b"desc", description), (b"wtpt", xyz(white)), (b"rXYZ", xyz(red)), (b"gXYZ", xyz(green)),
            (b"bXYZ", xyz(blue)), (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    offset, table, body = 128 + 4 + 12 * len(tags), b"", b""
    for signature, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (struct.pack(">I", size) + b"none" + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ " + bytes(12) + b"acsp"
              + bytes(24) + struct.pack(">I", 0) + xyz(white)[8:] + bytes(48))
    return header + struct.pack(">I", len(tags)) + table + body


def test_an_embedded_colour_profile_is_honoured(tmp_path):
    """A picture stored in Adobe RGB (its profile embedded, as editors and cameras do) reads as the
    same sRGB picture; read without the profile it was duller (Adobe RGB's wider primaries)."""
    from PIL import Image, ImageCms

    adobe = matrix_profile((0.9642, 1.0, 0.8249), (0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609),
                           (0.1492, 0.0632, 0.7446), 563 / 256)
    srgb = np.zeros((8, 24, 3), np.uint8)
    srgb[:, :8], srgb[:, 8:16], srgb[:, 16:] = (200, 60, 40), (60, 170, 80), (50, 90, 190)
    to_adobe = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.ImageCmsProfile(io.BytesIO(adobe)), "RGB", "RGB")
    stored = ImageCms.applyTransform(Image.fromarray(srgb), to_adobe)
    stored.save(tmp_path / "adobe.png", icc_profile=adobe)
    Image.fromarray(np.asarray(stored)).save(tmp_path / "untagged.png")  # no profile at all
    saturation = lambda image: float((image.max(axis=2).astype(int) - image.min(axis=2)).mean())  # noqa: E731
    assert np.abs(read_image(tmp_path / "adobe.png").astype(int) - srgb).max() <= 2
    assert saturation(read_image(tmp_path / "untagged.png")) < saturation(srgb) - 15  # what ignoring it gave
    from realtime_adain.icc import transform_to_srgb

    assert transform_to_srgb(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()) is None  # no work for sRGB


def test_integer_tiff_is_refused_naming_the_file(tmp_path):
    cv2.imwrite(str(tmp_path / "signed.tif"), np.full((8, 8), -5, np.int16))
    with pytest.raises(UserError, match="signed.tif: unsupported sample type int16"):
        read_image(tmp_path / "signed.tif")


def test_mix_of_huge_weights_is_an_even_mix(stylizer, data_dir):
    """1e308 + 1e308 overflows a plain sum (every weight became 0: a flat image); scaled first it is 0.5/0.5."""
    from realtime_adain.adain import StyleStats

    a = stylizer.style_stats(read_image(data_dir / "style" / "trial.jpg"), 32)
    b = stylizer.style_stats(read_image(data_dir / "style" / "mondrian.jpg"), 32)
    huge, even = StyleStats.mix([a, b], [1e308, 1e308]), StyleStats.mix([a, b], [1, 1])
    torch.testing.assert_close(huge.mean, even.mean)
    torch.testing.assert_close(huge.std, even.std)
    with pytest.raises(ValueError):
        StyleStats.mix([a, b], [float("inf"), 1])


def test_cli_mix_of_huge_weights(weights_env, run_cli, data_dir, tmp_path):
    content = data_dir / "content" / "lenna.jpg"
    styles = ("-s", data_dir / "style" / "trial.jpg", "-s", data_dir / "style" / "mondrian.jpg")
    for name, mix in (("huge.png", "1e308,1e308"), ("even.png", "1,1")):
        code, _, err = run_cli("image", content, *styles, "--mix", mix, "-o", tmp_path / name, *SMALL, "--no-keep-size")
        assert code == 0, err
    huge = read_image(tmp_path / "huge.png")
    assert huge.std() > 5  # not flat
    np.testing.assert_array_equal(huge, read_image(tmp_path / "even.png"))


@pytest.mark.parametrize("allocate", [lambda: torch.empty(1 << 62, dtype=torch.uint8), lambda: np.empty(1 << 62, np.uint8)])
def test_out_of_memory_is_one_line(allocate):
    """What a huge --size ends in when the machine cannot hold it: the allocator's error, as a UserError."""
    from realtime_adain.errors import out_of_memory_as_user_error
    from realtime_adain.errors import UserError

    with pytest.raises(UserError, match="photo.jpg: out of memory; lower --size"):
        with out_of_memory_as_user_error("photo.jpg"):
            allocate()


@pytest.mark.slow  # (default run's time: the in-process cases above say the same)
def test_truncated_png_is_one_line_from_the_console(weights_env, data_dir, tmp_path):
    """libpng prints its own complaint to the process's stderr; the user still sees one line."""
    import subprocess
    import sys

    ok, png = cv2.imencode(".png", cv2.imread(str(data_dir / "content" / "lenna.jpg")))
    (tmp_path / "cut.png").write_bytes(png.tobytes()[: len(png) // 2])
    result = subprocess.run(
        [sys.executable, "-m", "realtime_adain", "image", tmp_path / "cut.png", "-s", data_dir / "style" / "trial.jpg",
         "-o", tmp_path / "out" / "o.png"], capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "cut.png: not a readable image" in result.stderr
    assert not (tmp_path / "out").exists()
