"""ONNX: `realtime-adain export --format onnx` (trainer checkpoint weights), onnxruntime parity on
real frames, the engine cache it fills, and the export command's bad inputs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from engines_support import assert_close, content_frames, extreme_frames, style_image
from realtime_adain.encoders import NORMALISED_VGG
from realtime_adain.engines.cache import EngineCache
from realtime_adain.engines.onnx import OnnxEngine
from realtime_adain.stylizer import Stylizer
from realtime_adain.training.checkpoint_writing import save_decoder
from realtime_adain.weights import load_decoder


# Most tests here read `exported`: in one xdist worker (.ci/run's --dist loadgroup) it is made once.
pytestmark = pytest.mark.xdist_group("engines_onnx_exported")


@pytest.fixture(scope="module")
def exported(published_weights, tmp_path_factory):
    """One export into an engine cache, from a trainer checkpoint (safetensors + metadata)."""
    vgg, decoder_pth = published_weights
    folder = tmp_path_factory.mktemp("onnx")
    checkpoint = folder / "decoder_iter_0000100.safetensors"
    save_decoder(checkpoint, load_decoder(decoder_pth), "plain", NORMALISED_VGG, 100, {"decoder": "plain"})
    cache_dir = folder / "engines"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("REALTIME_ADAIN_ENGINES", str(cache_dir))
        from realtime_adain.cli import main

        import contextlib
        import io

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["export", "--format", "onnx", "--vgg", str(vgg), "--decoder", str(checkpoint)])
    assert code == 0, err.getvalue()
    return {"vgg": vgg, "decoder": checkpoint, "cache": EngineCache(cache_dir), "out": out.getvalue()}


@pytest.fixture(scope="module")
def pair(exported):
    """(eager stylizer, onnx engine loaded from the cache) for the same weights."""
    stylizer = Stylizer.load(exported["vgg"], exported["decoder"], device="cpu")
    engine = OnnxEngine(stylizer.net, stylizer.device, stylizer.dtype, stylizer.weights_id, exported["cache"])
    return stylizer, engine


def test_export_checks_against_onnxruntime(exported):
    assert "exported:" in exported["out"]
    assert "checked against onnxruntime: PSNR" in exported["out"]
    (entry,) = exported["cache"].entries()
    assert entry.components["kind"] == "onnx" and entry.components["shape"] == "dynamic"
    assert entry.path.suffix == ".onnx" and entry.size > 1_000_000


def test_onnxruntime_matches_eager_on_real_frames(pair, data_dir):
    stylizer, engine = pair
    assert engine.built is False  # loaded from the cache the export filled
    style = stylizer.style_stats(style_image(data_dir))
    frames = content_frames(data_dir, 44, count=3)  # one graph for every size, no padding limits
    for frame in frames:
        assert_close(stylizer.stylize(frame, style, 0.8), engine.stylize(frame, style, 0.8))
    batch = np.stack([f[:40, :40] for f in frames] + extreme_frames(40, 40))
    reference, result = stylizer.stylize(batch, style), engine.stylize(batch, style)
    for ref, got in zip(reference, result):
        assert_close(ref, got)


def test_auto_on_the_cpu_takes_a_cached_export(exported, published_weights, monkeypatch):
    load = lambda decoder: Stylizer.load(exported["vgg"], decoder, device="cpu", engine="auto")  # noqa: E731
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(exported["cache"].directory))
    assert load(exported["decoder"]).engine_name == "onnx"
    assert load(published_weights[1]).engine_name == "eager"  # other weights: no export cached


def test_engines_list_shows_the_export(exported, run_cli, monkeypatch):
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(exported["cache"].directory))
    code, out, _ = run_cli("engines", "list")
    assert code == 0 and "onnx" in out and "dynamic" in out
    listed = json.loads(run_cli("engines", "list", "--json")[1])["engines"]
    assert [e["kind"] for e in listed] == ["onnx"]


@pytest.mark.slow  # (default run's time: an ONNX export)
def test_foreign_onnx_export_is_rebuilt(exported, pair, tmp_path):
    """A cached export whose sidecar names another torch version is exported again."""
    stylizer, _ = pair
    cache_dir = tmp_path / "engines"
    shutil.copytree(exported["cache"].directory, cache_dir)
    (entry,) = EngineCache(cache_dir).entries()
    entry.sidecar.write_text(json.dumps(dict(entry.components, torch="1.0.0")))
    engine = OnnxEngine(stylizer.net, stylizer.device, stylizer.dtype, stylizer.weights_id, EngineCache(cache_dir))
    assert engine.built is True
    assert json.loads(entry.sidecar.read_text()) == entry.components


@pytest.mark.slow  # (default run's time, 2026-12-07: a second ONNX export, 9 s; the export into the cache stays)
def test_export_to_a_file(exported, run_cli, tmp_path):
    out = tmp_path / "models" / "adain.onnx"
    code, stdout, err = run_cli("export", "--format", "onnx", "--vgg", exported["vgg"],
                                "--decoder", exported["decoder"], "-o", out)
    assert code == 0, err
    assert out.is_file() and "checked against onnxruntime" in stdout
    assert [p.name for p in out.parent.iterdir()] == ["adain.onnx"]  # no temporary leftovers
    import onnx

    model = onnx.load(str(out))
    assert [i.name for i in model.graph.input] == ["images", "style_mean", "style_std", "alpha"]


@pytest.mark.parametrize("args,expected", [
    (("-o", "model.txt"), "must end in .onnx"),
    (("--precision", "fp16"), "onnx export is fp32"),
    (("-r", "720p"), "--resolution and --batch are for tensorrt"),
])
def test_export_bad_inputs(weights_env, run_cli, tmp_path, args, expected):
    code, out, err = run_cli("export", "--format", "onnx", *[str(tmp_path / a) if a.endswith(".txt") else a for a in args])
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error:") and expected in err
    assert not list(tmp_path.glob("*.txt")) and not list(tmp_path.glob("*.onnx"))


def test_export_bad_resolution(run_cli):
    code, _, err = run_cli("export", "--format", "tensorrt", "-r", "big")
    assert code == 2 and "is not WIDTHxHEIGHT" in err


def test_live_with_onnx_says_stats_cannot_run(exported, data_dir, tmp_path, monkeypatch, weights_env):
    """The statistics hook is the eager engine's: with ONNX the start line and the `t` key's line
    say so, as the HUD does (they said `stabilize=stats` alone, as if it ran)."""
    import threading

    from live_support import copy_styles, write_video
    from realtime_adain.live.app import LiveSession
    from realtime_adain.live.controller import Controller
    from realtime_adain.live.effects import KeyEffects
    from realtime_adain.settings import LiveSettings, ModelSettings

    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(exported["cache"].directory))
    clip = write_video(tmp_path / "clip.mp4", frames=6, size=(96, 64))
    styles = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    log = tmp_path / "live.log"
    settings = LiveSettings(styles=(str(styles),), model=ModelSettings(device="cpu", engine="onnx",
                            vgg=str(exported["vgg"]), decoder=str(exported["decoder"])),
                            source=str(clip), size=32, style_size=64, style_cache=tmp_path / "cache", window=False,
                            max_frames=3, snapshot_dir=tmp_path, record_dir=tmp_path, log=str(log), stabilize="both",
                            output=str(tmp_path / "out.mp4"))
    settings.check()
    session = LiveSession(settings)
    assert session.run() == 0
    assert 'stabilize=both stabilize_note="stats: eager engine only"' in log.read_text()
    assert session._hud_info(session.controller.state).stabilize == "both (stats: eager engine only)"

    events, controller = [], Controller(["a"])  # `t` from `off`: flow (no note), then stats (the note)
    effects = KeyEffects(lambda event, **fields: events.append((event, fields)), threading.Event(), controller,
                         None, tmp_path, tmp_path, (48, 32), 24.0, stabilize_caveat=session.stability.caveat)
    effects.perform(controller.press(ord("t")) + controller.press(ord("t")), last=None)
    assert events == [("stabilize", {"mode": "flow"}),
                      ("stabilize", {"mode": "stats", "note": "stats: eager engine only"})]


def test_a_style_upload_cut_short_is_not_kept_as_that_style(pair, data_dir):
    """A failure (or Ctrl-C) between the mean's and the std's copy left the engine with one style's
    mean and the other's std, and the earlier style was then taken as already uploaded."""
    from realtime_adain.adain import StyleStats

    stylizer, engine = pair
    frame = content_frames(data_dir, 48, count=1)[0]
    style = stylizer.style_stats(style_image(data_dir))
    expected = engine.stylize(frame, style)
    other = StyleStats(style.mean + 1, style.std[:-1])  # the std's copy fails, after the mean's
    with pytest.raises(RuntimeError):
        engine.style_inputs(other, 1.0)
    np.testing.assert_array_equal(engine.stylize(frame, style), expected)


def test_auto_says_a_damaged_export_is_not_used(exported, tmp_path, monkeypatch, capsys):
    """An export something wrote into (a log appended to it) made 'auto' run eager without a word."""
    cache = tmp_path / "engines"
    shutil.copytree(exported["cache"].directory, cache)
    export, = cache.glob("onnx-*.onnx")
    with open(export, "ab") as file:
        file.write(b"live: start ...\n")
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(cache))
    capsys.readouterr()
    assert Stylizer.load(exported["vgg"], exported["decoder"], device="cpu", engine="auto").engine_name == "eager"
    assert f"note: the cached ONNX export {export.name} does not match the record of its build" in capsys.readouterr().err
