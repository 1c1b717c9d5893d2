"""A `LiveSession` built from `LiveSettings` and driven in-process, no CLI; the key effects table;
the settings' checks; the temporal stage (a switch starts afresh) and motion carried by the flow."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from live_support import copy_styles, read_video, write_video
from realtime_adain.errors import UserError
from realtime_adain.live import keys
from realtime_adain.live.app import LiveSession
from realtime_adain.live.carry import MotionCarrier
from realtime_adain.live.controller import Controller
from realtime_adain.live.effects import KeyEffects
from realtime_adain.live.inference import Result
from realtime_adain.live.sources import Frame
from realtime_adain.live.stability import Stability
from realtime_adain.settings import LiveSettings, ModelSettings


@pytest.fixture
def settings(data_dir, tmp_path, weights_env, one_thread) -> LiveSettings:
    clip = write_video(tmp_path / "clip.mp4", frames=12, size=(96, 64))
    styles = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg", "brushstrokes.jpg"))
    return LiveSettings(styles=(str(styles),), model=ModelSettings(device="cpu"), source=str(clip), size=32,
                        style_size=64, style_cache=tmp_path / "cache", window=False, output=str(tmp_path / "out.mp4"),
                        max_frames=5, snapshot_dir=tmp_path, record_dir=tmp_path, log=str(tmp_path / "live.log"))


@pytest.mark.parametrize("stabilize, carry", [("flow", False), ("both", False), ("off", True)])
def test_a_session_built_from_settings_runs_headless_in_process(settings, stabilize, carry):
    settings = replace(settings, stabilize=stabilize, carry_motion=carry)
    settings.check()
    session = LiveSession(settings)
    assert session.run() == 0
    assert session.stats.frames == 5 and session.work_size == (48, 32)
    assert read_video(Path(settings.output)) == (5, 48, 32)
    log = Path(settings.log).read_text()
    assert "live: start source=clip.mp4 resolution=96x64 size=48x32" in log
    assert f"stabilize={stabilize} carry_motion={carry}" in log and "live: session frames_shown=5" in log
    assert session.stability.smooths_stats  # the eager engine on the CPU: mode both smooths statistics too


def test_a_session_can_be_stopped_from_another_thread(settings):
    session = LiveSession(replace(settings, max_frames=None, loop=True))

    def stop_once_frames_flow() -> None:  # however slow start-up is on a loaded machine
        deadline = time.monotonic() + 120
        while session.stats.frames < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        session.stop_event.set()

    threading.Thread(target=stop_once_frames_flow, daemon=True).start()
    assert session.run() == 0
    frames, _, _ = read_video(Path(settings.output))
    assert frames == session.stats.frames > 0


def emitted_kinds() -> set[str]:
    """Every effect kind the controller emits: each bound key, pressed in a few states, and a rescan."""
    controller, kinds = Controller(["a", "b", "c"]), set()
    for _ in range(2):
        for binding in keys.BINDINGS:
            for code in binding.codes:
                kinds |= {effect.kind for effect in controller.press(code)}
    kinds |= {effect.kind for effect in controller.set_styles(["a", "d"])}
    return kinds


def test_the_effects_table_covers_every_effect_the_controller_emits(tmp_path):
    controller, events, stop = Controller(["a", "b"]), [], threading.Event()
    effects = KeyEffects(lambda event, **fields: events.append(event), stop, controller, library=None,
                         snapshot_dir=tmp_path, record_dir=tmp_path, work_size=(32, 32), fps=24.0)
    kinds = emitted_kinds()
    assert {"style", "alpha", "mix", "color", "view", "stabilize", "snapshot", "record", "rescan", "quit",
            "styles"} <= kinds
    assert kinds <= set(effects.table), kinds - set(effects.table)
    effects.perform(controller.press(ord("t")) + controller.press(ord("s")), last=None)
    assert events == ["stabilize", "snapshot-skipped"]
    effects.perform(controller.press(ord("q")), last=None)
    assert stop.is_set()


@pytest.mark.parametrize("change, message", [
    (dict(stabilize="wobble"), "--stabilize wobble: use one of off, flow, stats, both"),
    (dict(stabilize_strength=1.5), "--stabilize-strength 1.5 is outside [0, 1]"),
    (dict(stabilize_strength=float("nan")), "--stabilize-strength nan is outside [0, 1]"),
    (dict(alpha=-0.1), "--alpha -0.1 is outside [0, 1]"),
    (dict(resolution=(7681, 16)), "--resolution 7681x16: at most 7680x4320"),
    (dict(output="out.avi"), "out.avi: -o writes MP4"),
    (dict(output=None), "--no-window needs somewhere to send frames"),
    (dict(stream="http://host/x"), "--stream takes udp://"),
    (dict(max_frames=0), "--max-frames 0 must be at least 1"),
    (dict(styles=()), "--styles needs at least one style"),
])
def test_bad_settings_are_one_line(settings, change, message):
    with pytest.raises(UserError) as raised:
        replace(settings, **change).check()
    assert message in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize("option", [("--stabilize", "wobble"), ("--stabilize-strength", "2"),
                                    ("--stabilize-strength", "-0.5")])
def test_bad_stabilize_options_are_one_line(run_cli, weights_env, settings, option):
    code, _, err = run_cli("live", "--source", settings.source, "--styles", *settings.styles, "--no-window",
                           "-o", settings.output, "--size", "32", *option)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert option[0] in err and not Path(settings.output).exists()


def test_the_command_takes_the_stabiliser_and_carry_options(run_cli, settings):
    code, _, err = run_cli("live", "--source", settings.source, "--styles", *settings.styles, "--no-window",
                           "-o", settings.output, "--size", "32", "--style-size", "64", "--max-frames", "4",
                           "--stabilize", "flow", "--stabilize-strength", "0.5", "--carry-motion")
    assert code == 0, err
    assert "stabilize=flow carry_motion=True" in err and read_video(Path(settings.output)) == (4, 48, 32)


def test_key_t_cycles_the_stabiliser_modes():
    from realtime_adain import settings, temporal

    assert settings.STABILIZE_MODES == temporal.MODES  # the settings name them without loading OpenCV
    controller = Controller(["a"], stabilize="flow")
    seen = []
    for _ in range(4):
        (effect,) = controller.press(ord("t"))
        seen.append((effect.kind, effect.detail["mode"], controller.state.stabilize))
    assert seen == [("stabilize", m, m) for m in ("stats", "both", "off", "flow")]
    with pytest.raises(ValueError):
        Controller(["a"], stabilize="wobble")


def test_a_switch_of_style_or_alpha_resets_the_stabiliser(stylizer):
    """With the previous frame blended in, a switch would fade in; after a reset it shows at once:
    the first frame after the switch is the plain stylized frame."""
    rng = np.random.default_rng(3)
    content = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    styles = [stylizer.style_stats(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)) for _ in range(2)]
    controller = Controller(["a", "b"], stabilize="flow")
    stability = Stability(stylizer, strength=1.0)
    first = stability.stylize(controller.state, content, styles[0])
    again = stability.stylize(controller.state, content, styles[0])
    assert np.array_equal(again, first) and stability.resets == 0  # steadied onto the previous frame
    for key, style in (("n", styles[1]), ("-", styles[1])):  # next style, then less alpha
        controller.press(ord(key))
        shown = stability.stylize(controller.state, content, style)
        assert np.array_equal(shown, stylizer.stylize(content, style, controller.state.alpha))
    assert stability.resets == 2
    stability.close()


def test_live_steadies_as_the_stabiliser_called_frame_by_frame(stylizer):
    """Live estimates each frame's motion on a worker while the network stylizes it: the frames
    shown are exactly `Stabilizer`'s, called frame by frame, also across a switch (a fresh start)."""
    from realtime_adain.temporal import Stabilizer
    from test_temporal import camera_clip

    clip = camera_clip()[:9]
    style = stylizer.style_stats(clip[-1])
    controller = Controller(["a", "b"], stabilize="flow")
    stability, serial = Stability(stylizer), Stabilizer()
    try:
        for index, content in enumerate(clip):
            if index == 4:
                controller.press(ord("-"))  # less alpha: both start afresh
                serial.reset()
            shown = stability.stylize(controller.state, content, style)
            expected = serial(content, stylizer.stylize(content, style, controller.state.alpha))
            assert np.array_equal(shown, expected), index
    finally:
        stability.close()
    assert stability.resets == 1 and serial.cuts == stability.blend.cuts == 1


@pytest.mark.parametrize("mode", ["flow", pytest.param("both", marks=pytest.mark.slow)])  # (4-9 s each)
@pytest.mark.slow_cases('flow')  # (default run's time: the other modes stay)
def test_live_blends_on_the_device_as_on_the_cpu(stylizer, mode):
    """On CUDA live warps and blends on the GPU (`DeviceBlend`, through the engine's hook, or on
    the network's output when statistics are smoothed); forced here on the CPU device: the frames
    of the host blend up to its float state, across a switch, the hook removed after every frame,
    and a failing step leaves no announced motion behind."""
    from realtime_adain.benchmarks.temporal_quality import psnr
    from test_temporal import camera_clip

    clip = camera_clip()[:9]
    style = stylizer.style_stats(clip[-1])
    shown: dict[bool, list[np.ndarray]] = {True: [], False: []}
    for on_device in (True, False):
        controller = Controller(["a", "b"], stabilize=mode)
        stability = Stability(stylizer, on_device=on_device)
        assert (stability.device_blend is not None) == on_device
        try:
            for index, content in enumerate(clip):
                if index == 4:
                    controller.press(ord("-"))  # less alpha: a fresh start
                shown[on_device].append(stability.stylize(controller.state, content, style))
                assert stylizer.engine.after_step is None
        finally:
            stability.close()
        assert stability.resets == 1 and stability.blend.cuts == 1
    device_side, host = shown[True], shown[False]
    assert max(int(np.abs(a.astype(int) - b).max()) for a, b in zip(device_side, host)) <= 2
    assert psnr(device_side, host) > 50  # 57 dB here
    plain = [stylizer.stylize(content, style, 1.0) for content in clip[:4]]
    assert psnr(device_side[:4], plain) < psnr(device_side[:4], host[:4]) - 4  # it did blend (36 dB from plain)
    if mode == "flow":  # a step that fails: the next frame is blended with the right motion
        stability = Stability(stylizer, on_device=True)
        controller = Controller(["a"], stabilize=mode)
        try:
            stability.stylize(controller.state, clip[0], style)
            stylizer.engine.after_step = None

            def broken(*args):
                raise RuntimeError("out of memory")

            original, stylizer.engine.step = stylizer.engine.step, broken
            try:
                with pytest.raises(MemoryError):  # (the Stylizer's OutOfMemory)
                    stability.stylize(controller.state, clip[1], style)
            finally:
                del stylizer.engine.step  # (the stylizer is shared by the tests after this one)
            assert stylizer.engine.step == original and not stability.device_blend.expected
            assert stylizer.engine.after_step is None
            stability.stylize(controller.state, clip[2], style)
        finally:
            stability.close()


def test_motion_is_carried_onto_the_newer_camera_frame():
    """A frame 'stylized' as itself and a camera frame moved 3 px right: the carried frame is the
    stylized one moved with it, far closer to the new frame than the unmoved one."""
    y, x = np.mgrid[0:96, 0:160]
    texture = (127 + 60 * np.sin(x / 5.0) * np.cos(y / 7.0) + 40 * np.sin((x + 2 * y) / 11.0)).astype(np.uint8)
    old = np.dstack([texture, np.roll(texture, 9, axis=0), 255 - texture])
    new = np.roll(old, 3, axis=1)
    result = Result(Frame(old, 0.0, 1), old, old)
    carried = MotionCarrier()(result, Frame(new, 0.04, 2))
    inner = (slice(8, -8), slice(8, -8))
    error_carried = np.abs(carried.stylized[inner].astype(int) - new[inner]).mean()
    error_frozen = np.abs(old[inner].astype(int) - new[inner]).mean()
    assert carried.frame.index == 2 and carried.stylized.shape == old.shape
    assert error_carried < 0.3 * error_frozen, (error_carried, error_frozen)


def test_the_carried_feed_shows_every_camera_frame_and_stands_still_when_paused():
    from realtime_adain.live.feed import CarriedFeed
    from realtime_adain.live.sources import Latest

    image = np.random.default_rng(1).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    results, frames, paused = Latest(), Latest(), threading.Event()
    feed = CarriedFeed(results, frames, paused.is_set)
    frames.put(Frame(image, 0.0, 1))
    assert feed.next(timeout=0.01) is None  # nothing stylized yet: nothing to show
    results.put(Result(Frame(image, 0.0, 1), image, image))
    assert feed.next(timeout=0.01).frame.index == 1
    shown = []
    for index in (2, 3):
        frames.put(Frame(np.roll(image, index, axis=1), index / 30, index))
        shown.append(feed.next(timeout=0.01).frame.index)
    assert shown == [2, 3]  # one picture per camera frame, while the stylizer has not moved on
    paused.set()
    frames.put(Frame(image, 0.2, 4))
    assert feed.next(timeout=0.01) is None
    results.close()
    assert feed.closed


@pytest.mark.slow  # (default run's time: a whole session)
def test_carried_motion_records_each_camera_frame_once(settings, tmp_path):
    """With --carry-motion a stylized frame arriving after its camera frame's carried picture was
    sent is carried onto a camera frame already recorded: each repeat took the next time slot, and
    a 12 s session recorded 23 s of slow motion (mean_fps twice the camera's)."""
    import av

    clip = write_video(tmp_path / "long.mp4", frames=48, size=(96, 64))  # 2 s at 24 fps, played in real time
    settings = replace(settings, source=str(clip), loop=False, max_frames=None, carry_motion=True)
    session = LiveSession(settings)
    assert session.run() == 0
    with av.open(settings.output) as container:
        times = [frame.time for frame in container.decode(video=0)]
    assert times == sorted(set(times)) and len(times) == session.stats.frames <= 48
    assert times[-1] - times[0] <= 2.0 + 0.1, times
