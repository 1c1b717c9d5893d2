"""Session 31's fixes to `live`, each found by a hostile try (one test per finding)."""

from __future__ import annotations

import os
import shutil
import threading

import av
import numpy as np
import pytest

from live_support import write_video

TINY = ("--size", "32", "--style-size", "64")


@pytest.fixture
def clip(tmp_path):
    return write_video(tmp_path / "clip.mp4", frames=6)


@pytest.fixture
def style(data_dir, tmp_path):
    return shutil.copy(data_dir / "style" / "trial.jpg", tmp_path / "trial.jpg")


@pytest.fixture
def own_weights(published_weights, tmp_path, monkeypatch):
    """Copies of the test weights (a failing test must not change the session's own), named
    through the environment as a user might; the home (its style cache) in tmp_path."""
    folder = tmp_path / "w"
    folder.mkdir()
    vgg, decoder = (shutil.copy(path, folder / path.name) for path in published_weights)
    monkeypatch.setenv("REALTIME_ADAIN_VGG", str(vgg))
    monkeypatch.setenv("REALTIME_ADAIN_DECODER", str(decoder))
    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(tmp_path / "home"))
    return vgg, decoder


@pytest.mark.parametrize("target", ["--decoder", "vgg from the environment", "style cache entry", "-o"])
def test_live_never_writes_into_the_weights_or_the_style_cache(run_cli, own_weights, clip, style, tmp_path, target):
    """`--log decoder.pth` appended event lines to the model (also the vgg named by
    $REALTIME_ADAIN_VGG, and a style-cache entry); refused like the source and the styles."""
    vgg, decoder = own_weights
    extra = []
    if target == "--decoder":
        written, extra = decoder, ["--decoder", decoder, "--log", decoder]
    elif target == "vgg from the environment":
        written, extra = vgg, ["--log", vgg]
    elif target == "style cache entry":
        written = tmp_path / "home" / "cache" / "styles" / "entry.safetensors"
        written.parent.mkdir(parents=True)
        written.write_bytes(b"cached statistics")
        extra = ["--log", written]
    else:  # weights whose name ends as -o wants
        written = shutil.copy(decoder, tmp_path / "decoder.mp4")
        extra = ["--decoder", written]
    before = written.read_bytes()
    output = written if target == "-o" else tmp_path / "out.mp4"
    code, _, err = run_cli("live", "--source", clip, "--styles", style, "--no-window", "-o", output,
                           "--max-frames", "2", *TINY, *extra)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert ("inside the style cache" in err) if target == "style cache entry" else "would write into" in err
    assert written.read_bytes() == before


@pytest.mark.slow  # (default run's time: 2 s)
def test_live_picture_that_changes_shape_mid_stream_keeps_its_shape(run_cli, weights_env, style, tmp_path):
    """96x54 then 54x96 (clips joined): every frame was stretched to the first's 57x32; now the
    tall pictures sit in the middle, black bars beside them, and the change is said once."""
    wide = write_video(tmp_path / "wide.ts", frames=6, size=(96, 54))
    tall = write_video(tmp_path / "tall.ts", frames=24, size=(54, 96))
    joined = tmp_path / "joined.ts"
    joined.write_bytes(wide.read_bytes() + tall.read_bytes())
    out = tmp_path / "out.mp4"
    code, _, err = run_cli("live", "--source", joined, "--styles", style, "--no-window", "--no-loop", "-o", out, *TINY)
    assert code == 0, err
    assert err.count("live: source-resized was=96x54 now=54x96 size=57x32") == 1, err
    with av.open(str(out)) as container:
        last = list(container.decode(video=0))[-1].to_ndarray(format="rgb24")
    assert last.shape == (32, 56, 3)  # (cropped to even sides)
    columns = last.astype(float).mean(axis=(0, 2))  # the picture 18 columns wide, in the middle
    assert columns[:16].max() < 12 and columns[-16:].max() < 12 and columns[22:35].min() > 40, columns.round()


def test_live_recording_keeps_a_variable_frame_rate(tmp_path):
    """24 frames at 24 fps, a second's pause, 24 more (a 16 fps average): the recording put them
    on a 1/16 s grid, 3.5 s of steady frames; now each keeps its capture time."""
    from realtime_adain.live.recorder import Recorder

    times = [i / 24 for i in range(24)] + [2 + i / 24 for i in range(24)]
    recorder = Recorder(tmp_path / "vfr.mp4", (32, 32), 16.0, lambda *args, **kwargs: None)
    for i, captured in enumerate(times):
        recorder.submit(np.full((32, 32, 3), i * 5, np.uint8), 100.0 + captured)
    assert recorder.close() == tmp_path / "vfr.mp4" and recorder.error is None
    with av.open(str(tmp_path / "vfr.mp4")) as container:
        shown = sorted(float(frame.time) for frame in container.decode(video=0))
    assert len(shown) == 48 and np.allclose(shown, times, atol=0.002), shown


def test_live_stream_without_ffmpeg_support_for_its_protocol_is_one_line_at_once(run_cli, published_weights, clip,
                                                                                 style, tmp_path):
    """`--stream srt://` where this FFmpeg has no SRT failed once the model had loaded ("Protocol
    not found", exit 1); now one line before any work (weights that do not exist are not reached)."""
    from realtime_adain.live.streamer import writable_protocols

    protocols = writable_protocols()
    if protocols is None or "srt" in protocols:
        pytest.skip("this FFmpeg's protocols cannot be listed here, or it has SRT")
    code, _, err = run_cli("live", "--source", clip, "--styles", style, "--no-window", "--stream",
                           "srt://127.0.0.1:9000", "--vgg", tmp_path / "none.pth", *TINY)
    assert code == 2 and err == "error: srt://127.0.0.1:9000: this FFmpeg (PyAV's) has no SRT support; " \
                                "use udp:// or tcp://\n", err


def test_live_stream_to_a_host_that_does_not_resolve_is_one_line_at_once(run_cli, clip, style, tmp_path):
    """`--stream udp://nosuchhost.invalid:5000` ran and failed at the first frame with
    "Input/output error"; now the host is named, before the model loads."""
    code, _, err = run_cli("live", "--source", clip, "--styles", style, "--no-window", "--stream",
                           "udp://nosuchhost.invalid:5000", "--vgg", tmp_path / "none.pth", *TINY)
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("error: udp://nosuchhost.invalid:5000: the host name nosuchhost.invalid does not resolve (")


def test_live_stream_given_twice_is_refused(run_cli, clip, style, tmp_path):
    """The last --stream was used and the first dropped without a word."""
    code, _, err = run_cli("live", "--source", clip, "--styles", style, "--no-window", "--stream",
                           "udp://127.0.0.1:5000", "--stream", "udp://127.0.0.1:5002", *TINY)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: --stream given 2 times: one stream a session"), err


def test_live_error_at_start_is_written_to_the_log_too(run_cli, weights_env, style, tmp_path):
    """A source that cannot be opened left the --log file empty; its error is now there, stderr
    keeping its one `error:` line."""
    source = tmp_path / "empty.mp4"
    source.write_bytes(b"")
    log = tmp_path / "session.log"
    code, _, err = run_cli("live", "--source", source, "--styles", style, "--no-window", "-o", tmp_path / "out.mp4",
                           "--log", log, *TINY)
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"error: {source}: "), err
    assert log.read_text() == f'live: error reason="{err[len("error: "):].strip()}"\n'


def test_live_key_folders_that_are_fifos_are_named_so_when_keys_fail(tmp_path):
    """`--record-dir` (or `--snapshot-dir`) at a fifo: the start's note said "a device, fifo or
    socket", each `r`/`s` then "is a file, not a folder"; both now say it alike."""
    from realtime_adain.live.effects import KeyEffects
    from realtime_adain.live.inference import Result
    from realtime_adain.live.sources import Frame

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    lines = []
    effects = KeyEffects(lambda event, **fields: lines.append((event, fields)), threading.Event(), None, None,
                         fifo, fifo, (32, 32), 25.0)
    effects.toggle_recording()
    picture = np.zeros((32, 32, 3), np.uint8)
    effects._snapshot(None, Result(Frame(picture, 0.0, 1), picture, picture))
    effects.join(10)
    said = f"{fifo}: folder is not writable (it is a device, fifo or socket, not a folder)"
    assert lines == [("record-failed", {"reason": said}), ("snapshot-failed", {"reason": said})], lines
    assert effects.recorder is None


def test_live_fps_over_its_limit_is_refused_with_the_options(run_cli, clip, style, tmp_path):
    """--fps 5000 with a file ran (and with an image sequence was refused only after the heavy
    start); now refused with the other options."""
    code, _, err = run_cli("live", "--source", clip, "--styles", style, "--no-window", "-o", tmp_path / "out.mp4",
                           "--fps", "5000", "--vgg", tmp_path / "none.pth", *TINY)
    assert code == 2 and err == ("error: realtime-adain live: argument --fps: '5000': give more than 1/2002 frames per "
                                 "second (a frame every 2002 s), at most 1000 (see `realtime-adain live --help`)\n"), err


def test_live_virtual_cam_with_a_broken_pyvirtualcam_says_why(tmp_path, monkeypatch):
    """An installed pyvirtualcam whose import fails was told "needs pyvirtualcam: pip install ..."."""
    import sys

    from realtime_adain.errors import UserError
    from realtime_adain.live.virtual_camera import VirtualCamera

    package = tmp_path / "site" / "pyvirtualcam"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('libv4l2.so.0: cannot open shared object file')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "pyvirtualcam", raising=False)
    with pytest.raises(UserError) as raised:
        VirtualCamera.check_available()
    assert str(raised.value) == ("--virtual-cam: pyvirtualcam is installed but does not import "
                                 "(ImportError: libv4l2.so.0: cannot open shared object file)")


def test_live_virtual_cam_without_pyvirtualcam_still_says_how_to_install(tmp_path, monkeypatch):
    import sys

    from realtime_adain.errors import UserError
    from realtime_adain.live.virtual_camera import VirtualCamera

    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)  # (what Python does for a module not there: import fails)
    with pytest.raises(UserError, match=r"needs pyvirtualcam: pip install"):
        VirtualCamera.check_available()


def test_live_frames_lost_while_the_session_starts_are_counted(stylizer, style, tmp_path):
    """A stream read in a burst while the session started (48 frames sent over tcp://, 2 shown,
    20 dropped): the frames before inference's first were neither shown nor counted."""
    import time

    from realtime_adain.live.controller import Controller
    from realtime_adain.live.inference import Inference
    from realtime_adain.live.sources import Frame, Latest
    from realtime_adain.live.active_style import ActiveStyle
    from realtime_adain.live.styles import StyleLibrary

    library = StyleLibrary([style], stylizer, 64, tmp_path / "cache").load()
    frames: Latest[Frame] = Latest()
    for index in range(1, 6):  # five captured before inference takes one: it gets the fifth
        frames.put(Frame(np.full((24, 32, 3), index * 40, np.uint8), time.monotonic(), index))
    inference = Inference(frames, stylizer, Controller(library.names), ActiveStyle(library), (32, 24))
    inference.start()
    try:
        assert inference.results.newer(0, 60) is not None
    finally:
        inference.stop()
        inference.join(10)
    assert (inference.stylized, inference.dropped) == (1, 4)


@pytest.mark.parametrize("url, said", [("tcp://", "needs HOST:PORT"), ("rtmp://", "needs a host"),
                                       ("rtmp://:1935/live", "needs a host")])
def test_live_stream_without_a_host_is_refused_before_the_model_loads(run_cli, clip, style, url, said):
    """tcp:// and rtmp:// without a host loaded the model, started, then failed ("Invalid
    argument", "Connection refused"), where udp:// was refused at once."""
    code, _, err = run_cli("live", "--source", clip, "--styles", style, "--no-window", "--stream", url, *TINY)
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"error: {url}: --stream") and said in err, err


def test_the_original_view_frames_a_picture_that_changed_shape_as_the_stylized_one():
    """The stylized picture of a source that turned (96x54, then 54x96) was letterboxed, but the
    original view beside it stretched: the halves of side-by-side disagreed."""
    from realtime_adain.live.hud import compose

    turned = np.full((96, 54, 3), 200, np.uint8)
    picture = compose(turned, np.zeros((32, 57, 3), np.uint8), "original", (114, 64))
    assert picture.shape == (64, 114, 3)
    assert picture[:, :20].max() == 0 and picture[:, 50:60].min() == 200  # (bars either side, the picture kept narrow)


def test_the_stream_protocol_check_reads_pyavs_ffmpeg_not_opencvs():
    """OpenCV's wheel loads its own libavformat (with other protocols, e.g. rtmpe): the check read
    whichever /proc/self/maps listed first."""
    import cv2  # noqa: F401  (its FFmpeg loaded too)

    from realtime_adain.live.streamer import writable_protocols

    protocols = writable_protocols()
    assert protocols is None or ("udp" in protocols and "rtmpe" not in protocols)
