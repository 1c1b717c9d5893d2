"""Session 38: no output may replace the weights a run reads. `image --decoder dec.png -o dec.png`
wrote the stylized picture over the decoder and exited 0; `video`, the contact sheet, the API's
`stylize_video` and `LiveSettings` compared their outputs with the pictures and videos only, and
`export` refused only once the weights had loaded. Real weights files (copies: a failing test
must not change the session's), the real CLI in-process."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import realtime_adain as ra
from cli_support import one_error_line
from realtime_adain import weight_paths
from realtime_adain.errors import UserError
from realtime_adain.settings import LiveSettings, ModelSettings
from realtime_adain.stylizer import Stylizer

TINY = ("--size", "32", "--style-size", "32")


@pytest.fixture
def copies(published_weights, tmp_path, monkeypatch):
    """The test weights copied into tmp_path, named by the environment (as a user might); the home
    in tmp_path. Returns (vgg, decoder)."""
    vgg, decoder = (Path(shutil.copy(path, tmp_path / path.name)) for path in published_weights)
    monkeypatch.setenv("REALTIME_ADAIN_VGG", str(vgg))
    monkeypatch.setenv("REALTIME_ADAIN_DECODER", str(decoder))
    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(tmp_path / "home"))
    return vgg, decoder


def renamed(path: Path, name: str) -> Path:
    """A copy of the weights file `path` named `name` beside it (weights whose name ends as -o wants)."""
    return Path(shutil.copy(path, path.with_name(name)))


def refused(run_cli, written: Path, *args) -> None:
    """The command `args` is refused in one line naming `written`, which is left as it was."""
    before = written.read_bytes()
    code, out, err = run_cli(*args)
    assert code == 2 and one_error_line(err) == f"error: {written}: output would overwrite an input", err
    assert out == "" and written.read_bytes() == before


@pytest.mark.slow  # (a CLI start, ~4 s; the same refusal runs in-process below by default)
def test_image_output_onto_the_decoder_is_refused(copies, data_dir):
    """The tester's run, as typed: it printed the output's path and exited 0, the decoder gone."""
    decoder = renamed(copies[1], "dec.png")
    before = decoder.read_bytes()
    done = subprocess.run([sys.executable, "-m", "realtime_adain", "image", data_dir / "content" / "lenna.jpg",
                           "-s", data_dir / "style" / "trial.jpg", *TINY, "--decoder", decoder, "-o", decoder],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr == f"error: {decoder}: output would overwrite an input\n", done.stderr
    assert done.stdout == "" and decoder.read_bytes() == before


@pytest.mark.parametrize("how", ["--decoder", "environment", "link"])
def test_image_output_onto_the_weights_is_refused(run_cli, copies, data_dir, tmp_path, monkeypatch, how):
    """The weights the run reads, however named: --decoder, $REALTIME_ADAIN_VGG, or a link to one."""
    vgg, decoder = renamed(copies[0], "vgg.jpg"), renamed(copies[1], "dec.png")
    monkeypatch.setenv("REALTIME_ADAIN_VGG", str(vgg))
    written = {"--decoder": decoder, "environment": vgg, "link": tmp_path / "link.jpg"}[how]
    if how == "link":
        written.symlink_to(vgg)
    refused(run_cli, written, "image", data_dir / "content" / "lenna.jpg", "-s", data_dir / "style" / "trial.jpg",
            *TINY, "--decoder", decoder, "-o", written)
    assert not written.is_symlink() or written.resolve() == vgg


def test_contact_sheet_onto_the_decoder_is_refused(run_cli, copies, data_dir):
    decoder = renamed(copies[1], "dec.jpg")
    refused(run_cli, decoder, "image", data_dir / "content" / "lenna.jpg", "-s", data_dir / "style" / "trial.jpg",
            *TINY, "--decoder", decoder, "--sheet", decoder)


def test_video_output_onto_the_decoder_is_refused(run_cli, copies, data_dir):
    decoder = renamed(copies[1], "dec.mp4")
    refused(run_cli, decoder, "video", data_dir / "videos" / "cutBunny.mp4", "-s", data_dir / "style" / "trial.jpg",
            *TINY, "--frames", "2", "--decoder", decoder, "-o", decoder)


def test_video_partial_output_onto_the_decoder_is_refused(run_cli, copies, data_dir, tmp_path):
    """What an interrupted run keeps (out.partial.mp4) is an output too."""
    decoder = renamed(copies[1], "out.partial.mp4")
    before = decoder.read_bytes()
    code, _, err = run_cli("video", data_dir / "videos" / "cutBunny.mp4", "-s", data_dir / "style" / "trial.jpg",
                           *TINY, "--frames", "2", "--decoder", decoder, "-o", tmp_path / "out.mp4")
    assert code == 2 and f"keeps its frames as {decoder} (output would overwrite an input)" in one_error_line(err)
    assert decoder.read_bytes() == before and not (tmp_path / "out.mp4").exists()


def test_onnx_export_onto_the_weights_is_refused_before_they_load(run_cli, copies, tmp_path):
    """The refusal came only once the weights had loaded: a damaged decoder was what it named."""
    vgg = renamed(copies[0], "vgg.onnx")
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not weights")
    refused(run_cli, vgg, "export", "--format", "onnx", "--vgg", vgg, "--decoder", broken, "-o", vgg)


def test_stylize_video_onto_the_weights_is_refused(copies, data_dir, published_weights, stylizer):
    """By the model's weights (`model=`), or by those a loaded `stylizer=` was made from."""
    clip, style = data_dir / "videos" / "cutBunny.mp4", data_dir / "style" / "trial.jpg"
    decoder = renamed(copies[1], "dec.mp4")
    before = decoder.read_bytes()
    with pytest.raises(UserError, match="output would overwrite an input"):
        ra.stylize_video(clip, decoder, style=style, frames=2, size=32, model=ModelSettings(decoder=str(decoder)))
    vgg = renamed(copies[0], "vgg.mp4")
    loaded = Stylizer(stylizer.net, stylizer.device, stylizer.dtype, (vgg, decoder), engine="eager")
    with pytest.raises(UserError, match="output would overwrite an input"):
        ra.stylize_video(clip, vgg, style=style, frames=2, size=32, stylizer=loaded)
    assert decoder.read_bytes() == before and vgg.read_bytes() == copies[0].read_bytes()


@pytest.mark.parametrize("named_by", ["model", "environment"])
def test_live_settings_refuse_a_recording_onto_the_weights(copies, data_dir, monkeypatch, named_by):
    """`LiveSettings.check` compared -o with the source only (the CLI checked the weights itself)."""
    decoder = renamed(copies[1], "dec.mp4")
    monkeypatch.setenv("REALTIME_ADAIN_DECODER", str(decoder))
    model = ModelSettings(decoder=str(decoder)) if named_by == "model" else ModelSettings()
    settings = LiveSettings(styles=(str(data_dir / "style" / "trial.jpg"),), model=model,
                            source=str(data_dir / "videos" / "cutBunny.mp4"), window=False, output=str(decoder))
    with pytest.raises(UserError, match=f"-o would write into {decoder}, the weights the session loads"):
        settings.check()


def test_the_weights_used_are_those_the_run_resolves(copies, tmp_path, monkeypatch):
    """--vgg/--decoder, else the environment, else the downloaded files; one not found is none."""
    vgg, decoder = copies
    given = renamed(decoder, "given.pth")
    assert weight_paths.files_used(None, given) == [vgg, given]
    monkeypatch.delenv("REALTIME_ADAIN_VGG")
    monkeypatch.delenv("REALTIME_ADAIN_DECODER")
    assert weight_paths.files_used() == []  # nothing downloaded: nothing to protect (the load says why)
    downloaded = weight_paths.weights_dir()
    downloaded.mkdir(parents=True)
    shutil.copy(vgg, downloaded / weight_paths.DEFAULT_FILENAME["vgg"])
    assert weight_paths.files_used(None, tmp_path / "missing.pth") == [downloaded / weight_paths.DEFAULT_FILENAME["vgg"]]


@pytest.mark.parametrize("option, field", [("--record-dir", "record_dir"), ("--snapshot-dir", "snapshot_dir")])
@pytest.mark.parametrize("spelled", ["same", "dotted", "inside"])
def test_live_settings_refuse_a_folder_named_as_the_recording(data_dir, tmp_path, option, field, spelled):
    """`-o out.mp4 --record-dir out.mp4` (or `out.mp4/sub`): `r` made a folder of that name, and at
    exit the session's whole recording was lost ("cannot write (Is a directory)", kept=none)."""
    out = tmp_path / "out.mp4"
    folder = {"same": out, "dotted": tmp_path / "." / "out.mp4", "inside": out / "sub"}[spelled]
    settings = LiveSettings(styles=(str(data_dir / "style" / "trial.jpg"),), source=str(data_dir / "videos" / "cutBunny.mp4"),
                            window=False, output=str(out), **{field: folder})
    with pytest.raises(UserError, match=f"{option} .*out.mp4(/sub)?: the file -o records the session to"):
        settings.check()
    assert not out.exists()


def test_a_stylizer_loaded_by_relative_names_still_knows_its_weights_elsewhere(copies, data_dir, stylizer,
                                                                               tmp_path, monkeypatch):
    """Loaded by a relative name, then the caller changed its working directory: `stylize_video`
    took `weight_paths` against the new one and wrote the video over the decoder."""
    decoder = renamed(copies[1], "dec.mp4")
    monkeypatch.chdir(tmp_path)
    loaded = Stylizer(stylizer.net, stylizer.device, stylizer.dtype, (copies[0].name, "dec.mp4"), engine="eager")
    assert loaded.weight_paths == (str(copies[0]), str(decoder))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    before = decoder.read_bytes()
    with pytest.raises(UserError, match="output would overwrite an input"):
        ra.stylize_video(data_dir / "videos" / "cutBunny.mp4", "../dec.mp4", style=data_dir / "style" / "trial.jpg",
                         frames=2, size=32, stylizer=loaded)
    assert decoder.read_bytes() == before
