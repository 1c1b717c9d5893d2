"""Session 39: small truths of the CLI's and the API's messages (a docs tester's findings)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from realtime_adain.adain import StyleStats
from realtime_adain.errors import UserError
from realtime_adain.picture_sizes import check_pixel_budget
from weights_server import release_bytes, synthetic_release  # noqa: F401  (fixtures)


def test_sheet_original_without_a_sheet_is_refused(run_cli, weights_env, data_dir, tmp_path):
    """`--sheet-original` without --sheet was accepted and did nothing (`--no-sheet-original`,
    `--sheet-columns` and `--style-cache` said they need a sheet)."""
    photo = shutil.copy(data_dir / "content" / "golden_gate.jpg", tmp_path / "photo.jpg")
    style = data_dir / "style" / "mondrian.jpg"
    for flag in ("--sheet-original", "--no-sheet-original"):
        code, out, err = run_cli("image", photo, "-s", style, "-o", tmp_path / "x.jpg", flag)
        assert (code, out, err) == (2, "", f"error: {flag} applies to a contact sheet: give --sheet FILE\n")
    assert not (tmp_path / "x.jpg").exists()


def test_one_mix_weight_is_singular_in_the_api():
    """'mix has 1 weights for 2 styles', '1 mix weights for 2 styles'."""
    style = StyleStats(np.ones(512, np.float32), np.ones(512, np.float32))
    with pytest.raises(ValueError, match=r"^1 mix weight for 2 styles$"):
        StyleStats.mix([style, style], [1.0])
    with pytest.raises(ValueError, match=r"^2 mix weights for 1 style$"):
        StyleStats.mix([style], [1.0, 1.0])
    from realtime_adain.api import check_mix

    with pytest.raises(ValueError, match=r"^mix has 1 weight for 2 styles$"):
        check_mix((1.0,), 2)


def test_over_the_budget_at_full_size_is_said_once(tmp_path):
    """'in.mp4: 64x36 at --size 0 is 64x36, over the budget' said the size twice."""
    with pytest.raises(UserError) as refused:
        check_pixel_budget(tmp_path / "in.mp4", 36, 64, 0, 1000, "--size")
    assert str(refused.value).startswith(f"{tmp_path / 'in.mp4'}: 64x36 (full size), over the budget of 1000 pixels")
    with pytest.raises(UserError, match=r"64x36 at --size 72 is 128x72, over the budget"):
        check_pixel_budget(tmp_path / "in.mp4", 36, 64, 72, 1000, "--size")


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_download_notes_say_what_the_environment_overrides(synthetic_release, run_cli, monkeypatch, tmp_path):
    """With $REALTIME_ADAIN_VGG/DECODER set (they come before the weights directory), a download
    into the default folder was used by no command without a word, and one into another `weights`
    folder offered REALTIME_ADAIN_HOME, which alone would not use it; --no-checksum said 'verified'."""
    from realtime_adain import download, weight_paths
    from weights_server import WeightsServer

    home = tmp_path / "home"
    monkeypatch.setenv(weight_paths.HOME_ENV_VAR, str(home))
    monkeypatch.delenv(download.BASE_URL_ENV_VAR, raising=False)
    named = {kind: str(tmp_path / f"mine-{kind}.pth") for kind in weight_paths.ENV_VAR}
    for kind, variable in weight_paths.ENV_VAR.items():
        monkeypatch.setenv(variable, named[kind])
    with WeightsServer(synthetic_release) as server:
        code, out, err = run_cli("weights", "download", "--base-url", server.url, "--no-checksum")
        assert code == 0, err
        for kind, name in weight_paths.DEFAULT_FILENAME.items():
            assert (f"note: {weight_paths.ENV_VAR[kind]} is set: commands use {named[kind]}, not {home / 'weights' / name} "
                    "(unset it to use the downloaded file)") in out.splitlines()
        assert out.count("structure verified, --no-checksum: size and SHA-256 not checked") == 2, out
        code, out, err = run_cli("weights", "download", "--base-url", server.url, "--dir", tmp_path / "other" / "weights")
    assert code == 0, err
    assert out.count("bytes, verified)") == 2, out
    assert out.rstrip().endswith(f"{weight_paths.HOME_ENV_VAR}={tmp_path / 'other'} (it keeps its engines and styles there "
                                 f"too) with {weight_paths.ENV_VAR['vgg']} and {weight_paths.ENV_VAR['decoder']} unset"), out


def test_a_figure_named_only_png_is_said_to_have_no_extension(run_cli, tmp_path):
    """`--figure .png` said "'.png' does not end in .png" (a hidden file's name has no extension)."""
    code, out, err = run_cli("bench", "temporal", "--figure", tmp_path / ".png")
    assert code == 2 and not out
    assert f"argument --figure: '{tmp_path / '.png'}' is a name without an extension: the figure is always a PNG" in err


@pytest.mark.parametrize("text", ["-0", "-0:00", "-0.0s", "-00:00:00.000"])
def test_minus_zero_is_a_start_of_zero(text):
    """`--start -0` was refused as negative (FFmpeg takes it as 0); -1 still is negative."""
    from realtime_adain.times import check_time

    assert check_time(text, "--start") == 0
    with pytest.raises(UserError, match=r"^--duration '-0' must be above 0 seconds$"):
        check_time("-0", "--duration", positive=True)
    with pytest.raises(UserError, match=r"^--start '-0:01' is negative$"):
        check_time("-0:01", "--start")
