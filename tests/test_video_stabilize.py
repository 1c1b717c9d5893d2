"""`video --stabilize`: the temporal stage keeps frames, timestamps and sound, steadies a still
scene, and refuses bad values in one line."""

from __future__ import annotations

import numpy as np
import pytest

from video_samples import audio_packets, probe, rgb_frames, write_video


@pytest.fixture
def style(data_dir):
    return data_dir / "style" / "brushstrokes.jpg"


def noisy_still_clip(data_dir, path, count=8, width=64, height=48):
    """One photo with fresh sensor noise in every frame: any change between outputs is flicker."""
    from realtime_adain.imageio import read_image
    from realtime_adain.picture_sizes import fit_short_side, resize

    photo = resize(fit_short_side(read_image(data_dir / "content" / "sailboat.jpg"), height), (width, height))
    rng = np.random.default_rng(0)
    frames = [np.clip(photo + rng.normal(0, 6, photo.shape), 0, 255).astype(np.uint8) for _ in range(count)]
    return write_video(path, frames, codec="ffv1", pix_fmt="bgr0")


def flicker(frames: list[np.ndarray]) -> float:
    return float(np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(frames, frames[1:])]))


@pytest.mark.slow  # (default run's time: every mode on a whole clip)
def test_every_mode_keeps_frames_timestamps_and_sound(run_cli, weights_env, data_dir, style, tmp_path):
    bunny = data_dir / "videos" / "cutBunny.mp4"
    outputs = {}
    for mode, passes in (("off", "1"), ("flow", "1"), ("stats", "1"), ("both", "1"), ("flow", "2"), ("both", "2")):
        name = mode if passes == "1" else f"{mode} 2-pass"
        out = outputs[name] = tmp_path / f"{name}.mp4"
        passes_option = ("--stabilize-passes", passes) if mode in ("flow", "both") else ()
        code, _, err = run_cli("video", bunny, "-s", style, "--size", "32", "--style-size", "64", "--frames", "12",
                               "--threads", "1", "--stabilize", mode, *passes_option, "-o", out)
        assert code == 0, err
    reference = probe(outputs["off"])
    assert len(reference.pts) == 12
    for mode, out in outputs.items():
        assert probe(out).pts == reference.pts, mode
        assert audio_packets(out) == audio_packets(outputs["off"]), mode
    frames = {mode: rgb_frames(out) for mode, out in outputs.items()}
    assert any(not np.array_equal(a, b) for a, b in zip(frames["off"], frames["flow"]))
    assert any(not np.array_equal(a, b) for a, b in zip(frames["off"], frames["stats"]))
    assert any(not np.array_equal(a, b) for a, b in zip(frames["flow"], frames["flow 2-pass"]))


def test_flow_steadies_a_still_scene(run_cli, weights_env, data_dir, style, tmp_path):
    source = noisy_still_clip(data_dir, tmp_path / "still.mkv")
    results = {}
    for mode, passes in (("off", "1"), ("flow", "1"), ("flow", "2")):
        out = tmp_path / f"{mode}{passes}.mkv"
        passes_option = ("--stabilize-passes", passes) if mode == "flow" else ()
        code, _, err = run_cli("video", source, "-s", style, "--style-size", "64", "--codec", "ffv1", "--pix-fmt",
                               "bgr0", "--threads", "1", "--stabilize", mode, *passes_option, "-o", out)
        assert code == 0, err
        results[mode, passes] = rgb_frames(out)
    assert flicker(results["flow", "1"]) < 0.6 * flicker(results["off", "1"])
    assert flicker(results["flow", "2"]) < 0.6 * flicker(results["off", "1"])  # at its own default strength, 0.5


@pytest.mark.parametrize("extra, expected", [
    (("--stabilize", "wobble"), "invalid choice: 'wobble'"),
    (("--stabilize-strength", "1.5"), "outside [0, 1]"),
    (("--stabilize-strength", "nan"), "not a finite number"),
    (("--stabilize", "stats", "--engine", "onnx"), "only the eager engine"),
    (("--stabilize-passes", "3"), "invalid choice: 3 (choose from 1, 2)"),
    (("--stabilize-passes", "0"), "invalid choice: 0"),
    (("--stabilize-passes", "two"), "'two' is not a whole number"),
    (("--stabilize-passes", ""), "'' is not a whole number"),
    (("--stabilize-passes", "2", "--stabilize", "stats"), "--stabilize stats has none"),
    (("--stabilize-passes", "2", "--stabilize", "off"), "--stabilize off has none"),
    (("--stabilize-passes", "1", "--stabilize", "off"), "--stabilize-passes is the flow stabiliser's; --stabilize off has none"),
    (("--stabilize-passes", "1", "--stabilize", "stats"), "--stabilize stats has none"),
    (("--stabilize-strength", "0.5", "--stabilize", "off"), "--stabilize-strength is the flow stabiliser's"),
    (("--stabilize-strength", "0.5", "--stabilize", "stats"), "--stabilize stats has none"),
])
def test_bad_stabilize_values_are_one_line(run_cli, weights_env, data_dir, style, tmp_path, extra, expected):
    out = tmp_path / "out.mp4"
    code, _, err = run_cli("video", data_dir / "videos" / "cutBunny.mp4", "-s", style, *extra, "-o", out)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and expected in err, err
    assert "Traceback" not in err and not out.exists()
