"""Session 26's hostile library user: a program's own signal handlers, a producer that reuses its
frame buffer, the lower-level calls given what the high-level ones refuse, numpy scalars for
times and rates, and messages that stay one line."""

from __future__ import annotations

import os
import re
import signal
import time
from fractions import Fraction

import numpy as np
import pytest
import torch
from PIL import Image

import realtime_adain as ra
from realtime_adain.adain import StyleStats
from realtime_adain.interrupts import SignalGuard, Terminated


@pytest.fixture(scope="module")
def style(stylizer):
    return stylizer.style(np.full((16, 16, 3), 90, np.uint8), size=16)


def _deliver(signum: int) -> None:
    os.kill(os.getpid(), signum)
    time.sleep(0.05)  # (Python runs the handler between bytecodes)


def test_a_guard_leaves_a_handler_the_program_installed_alone():
    """`ra.stylize_video` inside an application that reloads on SIGHUP: the application's handler
    never ran, and the call ended with `Terminated`. A default handler is still taken over (the
    partial file is kept), and every handler is back after."""
    got = []
    own = lambda signum, frame: got.append(signum)  # noqa: E731
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGHUP, signal.SIGTERM)}
    signal.signal(signal.SIGHUP, own)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with SignalGuard("out.mp4"):
            _deliver(signal.SIGHUP)
        assert got == [signal.SIGHUP]
        with pytest.raises(Terminated), SignalGuard("out.mp4"):
            _deliver(signal.SIGTERM)
        assert signal.getsignal(signal.SIGHUP) is own and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def test_frames_from_a_reused_buffer_are_each_stylized(stylizer, style):
    """A producer filling one buffer (cv2's `read(buf)`, a ring buffer): with batch > 1 every frame
    of a batch came out as its last one."""
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(5)]
    alone = [stylizer.stylize(frame, style) for frame in frames]

    def reused():
        buffer = np.empty_like(frames[0])
        for frame in frames:
            buffer[...] = frame
            yield buffer

    for out, expected in zip(stylizer.stylize_frames(reused(), style, batch=3), alone, strict=True):
        assert np.array_equal(out, expected)


def test_a_size_change_inside_a_batch_sends_the_frames_before_it(stylizer, style):
    """Batching is a speed setting: it refused a stream whose size changes (batch 1 took it)."""
    frames = [np.full((24, 32, 3), 40, np.uint8), np.full((24, 32, 3), 80, np.uint8), np.full((16, 40, 3), 120, np.uint8)]
    outs = list(stylizer.stylize_frames(iter(frames), style, batch=4))
    assert [o.shape for o in outs] == [f.shape for f in frames]
    assert all(np.array_equal(o, stylizer.stylize(f, style)) for o, f in zip(outs, frames))


@pytest.mark.parametrize("call, error, words", ids=["float image", "16-bit image", "two channels", "a batch",
                                                     "negative size", "no style", "NaN style", "alpha text",
                                                     "stream without style", "stream alpha"], argvalues=[
    (lambda st, s: st.style_stats(np.full((8, 8, 3), 0.5, np.float32)), TypeError, "image must be uint8"),
    (lambda st, s: st.style_stats(np.full((8, 8, 3), 30000, np.uint16)), TypeError, "image must be uint8"),
    (lambda st, s: st.style_stats(np.zeros((8, 8, 2), np.uint8)), ValueError, r"image must be \(H, W, 3\)"),
    (lambda st, s: st.style_stats(np.zeros((1, 8, 8, 3), np.uint8)), ValueError, r"image must be \(H, W, 3\)"),
    (lambda st, s: st.style_stats(np.zeros((8, 8, 3), np.uint8), size=-1), ValueError, "size"),
    (lambda st, s: st.stylize(np.zeros((8, 8, 3), np.uint8), None), TypeError, "style must be StyleStats"),
    (lambda st, s: st.stylize(np.zeros((8, 8, 3), np.uint8), StyleStats(s.mean * float("nan"), s.std)), ValueError,
     "NaN"),
    (lambda st, s: st.stylize(np.zeros((8, 8, 3), np.uint8), s, "x"), TypeError, "alpha"),
    (lambda st, s: st.stylize_stream([np.zeros((8, 8, 3), np.uint8)], None), TypeError, "style must be StyleStats"),
    (lambda st, s: st.stylize_stream([np.zeros((8, 8, 3), np.uint8)], s, None), TypeError, "alpha"),
])
def test_the_lower_level_calls_check_what_the_high_level_ones_check(stylizer, style, call, error, words):
    """`style_stats`, `stylize` and `stylize_stream` are documented (docs/engines.md): a float image
    made a near-black style, a NaN style a black picture, without a word; the rest failed deep in
    torch or OpenCV."""
    with pytest.raises(error, match=words):
        call(stylizer, style)


def test_the_lower_level_style_stats_matches_style(stylizer):
    image = np.random.default_rng(5).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    low, high = stylizer.style_stats(image, 16), stylizer.style(image, size=16)
    assert torch.equal(low.mean, high.mean) and torch.equal(low.std, high.std)
    grey = stylizer.style_stats(image[..., 0])  # (H, W) grey, as `style` takes it
    assert grey.mean.shape == low.mean.shape


def test_numpy_numbers_are_times_and_rates():
    """`start=np.float32(0.25)` was a TypeError from inside fractions.py; `framerate=np.int64(24)`
    said 24 was out of range."""
    from realtime_adain.errors import UserError
    from realtime_adain.times import check_time
    from realtime_adain.video.sequence import check_framerate

    assert check_time(np.float32(0.25), "--start") == Fraction(1, 4)
    assert check_time(np.int64(3), "--duration", positive=True) == 3
    assert check_framerate(np.int64(24)) == 24 and check_framerate(np.float32(25)) == 25
    assert check_framerate(np.float64(29.97)) == Fraction(30000, 1001)
    with pytest.raises(UserError, match="--framerate must be a number of frames per second, not str"):
        check_framerate("24")
    with pytest.raises(UserError, match="--framerate must be a number of frames per second, not bool"):
        check_framerate(np.bool_(True))


def test_a_pil_image_whose_file_was_closed_is_said_so(stylizer, data_dir):
    """Its lazy read said "a PIL image in mode RGB has no RGB conversion (seek of closed file)"."""
    with open(data_dir / "content" / "cornell.jpg", "rb") as handle:
        image = Image.open(handle)
    with pytest.raises(ValueError, match="the PIL image was closed before its pixels were read"):
        stylizer.style(image)


def test_a_user_error_keeps_the_name_as_it_is_and_one_line_escapes_it(tmp_path):
    """Code matches paths in a UserError's text (`removeprefix(f"{path}: ")`): it keeps them as they
    are; `one_line` is how a person is shown one."""
    from realtime_adain.errors import one_line

    name = tmp_path / "no\nsuch\x1b[31m.png"
    with pytest.raises(ra.UserError) as caught:
        ra.read_image(name)
    assert str(caught.value).startswith(f"{name}: ")
    assert "\n" not in one_line(str(caught.value)) and "no\\nsuch\\x1b[31m.png" in one_line(str(caught.value))


def test_a_stabilizer_checks_a_strength_or_mode_set_later():
    stabilizer = ra.Stabilizer(strength=0.5)
    stabilizer.strength, stabilizer.mode = 0.9, "both"
    assert (stabilizer.strength, stabilizer.mode) == (0.9, "both")
    for bad in (5, float("nan"), "0.5"):
        with pytest.raises((TypeError, ValueError), match="strength"):
            stabilizer.strength = bad
    with pytest.raises(ValueError, match="bogus"):
        stabilizer.mode = "bogus"
    assert (stabilizer.strength, stabilizer.mode) == (0.9, "both")


# ---- serve ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, words", ids=["brackets", "a port", "an IPv6 address and a port",
                                                "uploads under a KiB", "stats on another engine"], argvalues=[
    ({"host": "[::1]"}, "--host [::1]: give the address without brackets (--host ::1)"),
    ({"host": "127.0.0.1:8080"}, "--host 127.0.0.1:8080: give the port with --port (--host 127.0.0.1 --port 8080)"),
    ({"host": "[::1]:8080"}, "give the port with --port (--host ::1 --port 8080)"),
    ({"max_upload_mb": 1e-7, "allow_uploads": True}, "is under a KiB: no style image fits"),
    ({"stabilize": "stats", "model": ra.ModelSettings(engine="onnx")}, "only the eager engine can do"),
])
def test_serve_settings_a_user_gets_wrong_are_one_line(changes, words):
    """Each was a start that went wrong later: "name or service not known", uploads off in effect
    (every upload a 413 "larger than the 0 bytes allowed"), a stabiliser shown as on doing nothing."""
    from realtime_adain.errors import UserError
    from realtime_adain.serve.settings import ServeSettings

    with pytest.raises(UserError, match=re.escape(words)):
        ServeSettings(styles=("unused",), **changes).check()
    ServeSettings(styles=("unused",), host="::1").check()  # (a bare IPv6 address is no port)
    assert ServeSettings(styles=("unused",), stabilize="both").engine_model.engine == "eager"
    assert ServeSettings(styles=("unused",), stabilize="flow").engine_model.engine == "auto"


def test_a_server_without_the_eager_engine_offers_no_stats_mode():
    """A client choosing stats on the onnx engine saw "stats" in its state and got nothing."""
    from realtime_adain.serve import control

    assert control.stabilize_modes("eager") == ("off", "flow", "stats", "both")
    assert control.stabilize_modes("onnx") == ("off", "flow")
    look = control.Look("s0")
    assert control.apply(look, {"stabilize": "off"}, None, ("off", "flow")).stabilize == "off"
    with pytest.raises(control.BadMessage, match="stabilize both smooths statistics inside the network, which only "
                                                 "the eager engine can do; this server offers off, flow"):
        control.apply(look, {"stabilize": "both", "alpha": 0.5}, None, ("off", "flow"))


def test_a_host_name_with_the_roots_dot_is_the_same_name():
    """`--allow-host example.com.` never matched a browser's `Host: example.com` (nor the reverse)."""
    from realtime_adain.serve.guards import host_name
    from realtime_adain.serve.settings import ServeSettings

    for allowed, header in (("stylize.example.com.", "stylize.example.com"), ("stylize.example.com", "Stylize.Example.com.:8443")):
        names = ServeSettings(styles=("unused",), allowed_hosts=(allowed,), token="t" * 16).host_names
        assert host_name(header) in names


# ---- video ---------------------------------------------------------------------------------------

def _ffmpeg(*args: str | os.PathLike) -> None:
    import subprocess

    subprocess.run(["ffmpeg", "-v", "error", "-y", *map(str, args)], check=True)


@pytest.mark.slow  # (default run's time: a whole clip)
def test_a_matroska_cut_short_is_said_from_its_duration_tag(run_cli, weights_env, data_dir, tmp_path):
    """Matroska states no frame count or track duration: a download stopped at 60 % gave a shorter
    output without a word (an MP4 so cut is refused: its index counts the frames). FFmpeg's muxer
    writes each track's end as a DURATION tag; pictures ending before it are a note (a tag is no
    index). A whole file, and one starting at 10 hours (the tag is its end, not its length), say nothing."""
    import av

    whole, late = tmp_path / "whole.mkv", tmp_path / "late.mkv"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x90:r=24:d=1", "-c:v", "libx264", whole)
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x90:r=24:d=1", "-c:v", "libx264", "-output_ts_offset", "36000", late)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[:whole.stat().st_size * 6 // 10])
    style = data_dir / "style" / "trial.jpg"
    for source in (cut, whole, late):
        code, _, err = run_cli("video", source, "-s", style, "--size", "16", "--style-size", "32", "--device", "cpu",
                               "--stabilize", "off", "-o", tmp_path / f"out_{source.stem}.mp4")
        assert code == 0, err
        assert ("looks cut short" in err) == (source is cut), err
    with av.open(str(tmp_path / "out_cut.mp4")) as container:
        assert 5 < container.streams.video[0].frames < 24


# ---- weights download ----------------------------------------------------------------------------

@pytest.fixture
def hostile_server():
    """An HTTP server on 127.0.0.1 whose first path part picks its misbehaviour."""
    import socketserver
    import threading

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            line = self.rfile.readline().decode()
            while self.rfile.readline() not in (b"\r\n", b""):
                pass
            mode = line.split()[1].split("/")[1]
            try:
                if mode == "trickle":  # the status line, then a header byte every 0.2 s, for ever
                    self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                    for _ in range(200):
                        self.wfile.write(b"X")
                        self.wfile.flush()
                        time.sleep(0.2)
                elif mode == "partial":  # part of a file asked for whole
                    self.wfile.write(b"HTTP/1.1 206 Partial Content\r\nContent-Length: 4\r\n\r\nabcd")
                elif mode == "ftp":
                    self.wfile.write(b"HTTP/1.1 302 Found\r\nLocation: ftp://127.0.0.1/x.pth\r\nContent-Length: 0\r\n\r\n")
            except OSError:
                pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("mode, words", [
    ("trickle", "no whole answer within 1 s (the server sends its headers too slowly)"),
    ("partial", "the server answered with part of the file (HTTP 206) to a request for all of it"),
    ("ftp", "Redirection to url 'ftp://127.0.0.1/x.pth' is not allowed"),
])
def test_a_hostile_mirror_is_one_line_and_leaves_nothing(hostile_server, tmp_path, monkeypatch, mode, words):
    """A server trickling its headers held the download for good (the read timeout restarts with
    every byte; after the fix's first cut, http.client took the cut head as a whole answer with no
    body: an empty file). A 206 to a request for the whole file was "cannot write (No such file)";
    a redirect to ftp:// was followed, and "cannot reach" named the mirror."""
    from realtime_adain import download_http, download_transfer
    from realtime_adain.errors import UserError

    monkeypatch.setattr(download_http, "ANSWER_S", 1.0)
    part = tmp_path / "vgg.part"
    started = time.monotonic()
    with pytest.raises(UserError, match=re.escape(words)):
        download_transfer.fetch(f"{hostile_server}/{mode}/vgg_normalised.pth", part, "vgg",
                                download_transfer.SizeLimit(1 << 20, "test"))
    assert time.monotonic() - started < 10 and not part.exists()


def test_a_file_url_naming_another_machine_says_so(tmp_path):
    """Was "cannot reach example.com (...); check the network"; this machine's own names still work."""
    from realtime_adain import download_http
    from realtime_adain.errors import UserError

    weights = tmp_path / "x.pth"
    weights.write_bytes(b"x")
    with pytest.raises(UserError, match="a file:// URL names a file on this machine, not on 10.1.2.3"):
        download_http.open_url(f"file://10.1.2.3{weights}", 0)
    with download_http.open_url(f"file://127.0.0.1{weights}", 0) as answer:
        assert answer.read() == b"x"


def test_a_connection_made_after_the_time_ran_out_is_ended():
    """The watchdog shut the sockets there were: one still connecting when it fired (a redirect's
    new host being looked up) went on without a bound."""
    import http.client
    import socketserver
    import threading

    from realtime_adain import download_http

    server = socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)
    threading.Thread(target=server.handle_request, daemon=True).start()
    try:
        watched = download_http._Watched()
        connection = watched.connection(http.client.HTTPConnection)("127.0.0.1", server.server_address[1], timeout=5)
        watched.expire()  # (before it connected)
        with pytest.raises(TimeoutError):
            connection.connect()
    finally:
        server.server_close()


def test_standard_input_as_an_input_says_why_not(run_cli, data_dir, tmp_path):
    """`cat clip.mp4 | realtime-adain video -` said "-: no such input file or directory"."""
    code, _, err = run_cli("video", "-", "-s", data_dir / "style" / "trial.jpg", "-o", tmp_path / "o.mp4")
    assert code == 2 and "-: standard input cannot be read: every input is read more than once" in err, err


def test_a_fifo_where_the_weights_go_is_named_not_called_missing(tmp_path, monkeypatch):
    """`doctor` and `weights info` said "no vgg weights" and suggested `weights download`, which then
    refused: a FIFO is where the weights file goes."""
    from realtime_adain import weight_paths
    from realtime_adain.doctor import storage
    from realtime_adain.errors import UserError

    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(tmp_path))
    monkeypatch.delenv("REALTIME_ADAIN_VGG", raising=False)
    (tmp_path / "weights").mkdir()
    os.mkfifo(tmp_path / "weights" / "vgg_normalised.pth")
    with pytest.raises(UserError, match="vgg_normalised.pth is a device, fifo or socket, not a weights file; move it"):
        weight_paths.resolve("vgg")
    finding = storage._check_weights_file("vgg")
    assert finding.level == "problem" and finding.fix.startswith("move ") and "fifo" in finding.value


def test_a_weights_file_of_zero_bytes_is_said_in_our_words(tmp_path):
    """torch took it for its legacy tar format: a cut-off sentence about weights_only in PyTorch 2.6."""
    from realtime_adain import weight_files
    from realtime_adain.errors import UserError

    zeros = tmp_path / "zeros.pth"
    zeros.write_bytes(bytes(100_000))
    with pytest.raises(UserError, match=r"not a readable weights file \(not a PyTorch or safetensors file\)$"):
        weight_files.read_weights(zeros)


def test_a_benchmarks_results_file_may_not_go_into_the_engine_cache(tmp_path, monkeypatch):
    """`bench model --engine onnx --json ENGINES/onnx-....onnx.json` replaced the engine's sidecar,
    which the run had read: the engine was taken for another build and made again."""
    from realtime_adain.benchmarks.setup import check_results_file
    from realtime_adain.errors import UserError

    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(tmp_path / "engines"))
    (tmp_path / "engines").mkdir()
    with pytest.raises(UserError, match="inside the engine cache"):
        check_results_file(tmp_path / "engines" / "onnx-fp32.onnx.json", [])
    check_results_file(tmp_path / "results.json", [])


def test_a_run_repeated_into_its_input_folder_names_the_earlier_result(run_cli, weights_env, data_dir, tmp_path):
    """`image photos/ -o photos/` twice: the second run found the first one's result among its
    inputs and said only "output would overwrite an input"."""
    import shutil

    shutil.copy(data_dir / "content" / "cornell.jpg", tmp_path / "a.jpg")
    args = ("image", tmp_path, "-s", data_dir / "style" / "trial.jpg", "--size", "32", "--style-size", "32",
            "--device", "cpu", "-o", f"{tmp_path}/")
    assert run_cli(*args)[0] == 0
    code, _, err = run_cli(*args)
    assert code == 2 and "a_stylized_trial.jpg: an earlier result, found among the inputs" in err, err
    code, _, err = run_cli("image", tmp_path / "a.jpg", "-s", data_dir / "style" / "trial.jpg", "-o", tmp_path / "a.jpg")
    assert code == 2 and "a.jpg: output would overwrite an input" in err, err  # (its own source: said as before)


def test_serve_upload_sizes_are_checked_in_order():
    """The KiB check ran before the range check: nan was a bare ValueError, inf an OverflowError,
    -1 "under a KiB"; and it refused a small size with uploads off."""
    from realtime_adain.errors import UserError
    from realtime_adain.serve.settings import ServeSettings

    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(UserError, match="--max-upload-mb .* is outside"):
            ServeSettings(styles=("unused",), max_upload_mb=bad, allow_uploads=True).check()
    ServeSettings(styles=("unused",), max_upload_mb=1e-7).check()  # (uploads off: the size is not used)


def test_a_guard_takes_over_asyncios_own_ctrl_c():
    """Inside `asyncio.run`, SIGINT's handler is asyncio's (it cancels the main task, which a call
    blocking the loop never sees): the guard takes it over as Python's default, and gives it back."""
    import asyncio

    async def main():
        handler = signal.getsignal(signal.SIGINT)
        with pytest.raises(KeyboardInterrupt), SignalGuard("out.mp4"):
            _deliver(signal.SIGINT)
        return handler, signal.getsignal(signal.SIGINT)

    outside = signal.signal(signal.SIGINT, signal.default_int_handler)  # (asyncio installs its own only over it)
    try:
        before, after = asyncio.run(main())
    finally:
        signal.signal(signal.SIGINT, outside)
    assert after is before and "Runner._on_sigint" in repr(before)


def test_a_signal_raised_inside_a_weakref_callback_is_not_lost():
    """Ctrl-C as a command's objects are freed: Python printed "Exception ignored in: <WeakSet...>
    ... KeyboardInterrupt" and the command exited 0 (SIGTERM: "Terminated:" and 0)."""
    import weakref

    from realtime_adain import cli
    from realtime_adain.interrupts import Terminated

    class Thing:
        pass

    def freed_under(exc):
        def action():
            thing = Thing()
            ref = weakref.ref(thing, lambda _: (_ for _ in ()).throw(exc))  # (the reference outlives the thing)
            del thing  # (its callback raises: Python prints and drops such an exception)
            return 0 if ref() is None else 1
        return action

    assert cli.run_reporting_errors(freed_under(KeyboardInterrupt())) == 130
    assert cli.run_reporting_errors(freed_under(Terminated(signal.SIGTERM))) == 143


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_image_outputs_are_checked_before_any_work(run_cli, weights_env, data_dir, tmp_path):
    """`-o out.png/` wrote a file out.png (a trailing slash means a folder); a result name longer
    than a file system takes failed at its turn, after the others were written; one file given
    twice was "... would both be written to ...; rename one"."""
    content, style = data_dir / "content" / "cornell.jpg", data_dir / "style" / "trial.jpg"
    small = ("--size", "16", "--style-size", "32", "--device", "cpu")
    code, out, err = run_cli("image", content, "-s", style, *small, "-o", f"{tmp_path}/fresh.png/")
    assert code == 0 and (tmp_path / "fresh.png").is_dir() and out.strip().endswith("cornell_stylized_trial.jpg"), err
    (tmp_path / "taken.png").write_bytes(b"x")
    code, _, err = run_cli("image", content, "-s", style, *small, "-o", f"{tmp_path}/taken.png/")
    assert code == 2 and "ends with / (a folder), but" in err and (tmp_path / "taken.png").read_bytes() == b"x"
    long_style = tmp_path / ("b" * 250 + ".jpg")
    long_style.write_bytes(style.read_bytes())
    code, _, err = run_cli("image", content, "-s", style, "-s", long_style, *small, "-o", tmp_path / "long")
    assert code == 2 and "file name too long" in err and not (tmp_path / "long").exists(), err
    code, _, err = run_cli("image", content, content, "-s", style, *small, "-o", tmp_path / "d")
    assert code == 2 and "trial.jpg is given twice: give each once" in err, err
    alias = tmp_path / "alias.jpg"
    alias.symlink_to(content)  # (another name: its result is named after it, so no clash)
    assert run_cli("image", content, alias, "-s", style, *small, "-o", tmp_path / "e")[0] == 0


def test_a_suggested_size_fits_the_pixel_budget_too():
    """`--size 16384` on a photo suggested 11468, which the pixel budget then refused."""
    from realtime_adain.picture_sizes import largest_size_within, over_budget

    for height, width, budget in ((512, 729, 1 << 24), (480, 640, 1000), (10, 10000, 1 << 24)):
        size = largest_size_within(height, width, budget)
        assert size >= 1 and over_budget(height, width, size, budget) is None
        assert over_budget(height, width, size + 1, budget) is not None
    assert largest_size_within(1, 20000, 1 << 24) == 0  # (too thin at any size)


def test_a_contact_sheet_collapses_repeated_notes(run_cli, weights_env, data_dir, tmp_path):
    """20 semi-transparent styles gave 20 identical notes in `--sheet` runs (`image` said 2 lines)."""
    styles = tmp_path / "styles"
    styles.mkdir()
    for index in range(4):
        Image.fromarray(np.full((24, 24, 4), (index * 50, 90, 200, 128), np.uint8)).save(styles / f"s{index}.png")
    code, _, err = run_cli("image", data_dir / "content" / "cornell.jpg", "-s", styles, "--sheet", tmp_path / "sheet.png",
                           "--size", "16", "--style-size", "16", "--device", "cpu")
    assert code == 0, err
    assert err.count("transparent areas are read as over white") == 2 and "likewise 3 more pictures" in err, err


def test_a_fresh_stylizer_refuses_no_style(stylizer):
    """The once-per-style check remembered None as 'checked' before any style came: a fresh
    Stylizer took `stylize(frame, None)` (seen when that case ran first in its worker)."""
    import pickle

    fresh = pickle.loads(pickle.dumps(stylizer))  # (its remembered style is not carried over)
    with pytest.raises(TypeError, match="style must be StyleStats"):
        fresh.stylize(np.zeros((8, 8, 3), np.uint8), None)
