"""A hostile user of `weights`, `export`, `engines`, `doctor` and tools/evaluate.py: weights files
that load but hold the wrong kind of numbers or inflate like a zip bomb, engine caches changed or
cleared under a running build, odd folders, servers answering with web pages or redirect loops,
and outputs naming an input. Each is refused in one line, or survived, never silently wrong."""

from __future__ import annotations

import collections
import io
import os
import pickle
import re
import subprocess
import sys
import threading
import warnings
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from realtime_adain import doctor, download, weight_files, weight_paths, weights
from realtime_adain.commands.doctor import render
from realtime_adain.engines.cache import EngineCache
from realtime_adain.errors import UserError
from realtime_adain.stale_temporaries import process_tag
from cli_support import one_error_line
from train_support import load_tool
from weights_server import closed_port_url

COMPONENTS = {"kind": "onnx", "weights": "abc", "precision": "fp32", "shape": "dynamic"}


@pytest.fixture(scope="module")
def decoder_state(published_weights) -> dict[str, torch.Tensor]:
    return torch.load(published_weights[1], weights_only=True)


# --- weights files that load but are no weights -------------------------------------------------

def _quantized(tensor: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantized tensors are deprecated in torch
        return torch.quantize_per_tensor(tensor, 0.1, 0, torch.qint8)


@pytest.mark.parametrize("change,said", [
    (lambda t: (t * 100).to(torch.int8), "int8 values, not floating-point numbers"),  # a white image
    (lambda t: t.to(torch.bool), "bool values, not floating-point numbers"),
    (lambda t: t.to(torch.complex64), "complex64 values, not floating-point numbers"),
    (lambda t: t.to_sparse(), "a sparse_coo tensor, not a dense one"),  # was a NotImplementedError traceback
    (lambda t: torch.empty_like(t, device="meta"), "no data (a meta tensor)"),  # was a RuntimeError traceback
    (_quantized, "qint8 values, not floating-point numbers"),  # was a NotImplementedError traceback
])
def test_tensors_that_are_not_plain_floats_are_refused(decoder_state, tmp_path, change, said):
    state = dict(decoder_state, **{"1.weight": change(decoder_state["1.weight"])})
    path = tmp_path / "decoder.pth"
    torch.save(state, path)
    with pytest.raises(UserError, match=f"^{re.escape(f'{path}: not plain decoder weights: ' + repr('1.weight') + ' holds ' + said)}$"):
        weights.load_decoder(path)


def test_float64_and_float16_weights_still_load(decoder_state, tmp_path):
    for dtype in (torch.float64, torch.float16):
        torch.save({k: v.to(dtype) for k, v in decoder_state.items()}, tmp_path / "d.pth")
        assert weights.load_decoder(tmp_path / "d.pth").kind == "plain"


def test_finite_but_huge_decoder_weights_are_refused_not_black_frames(decoder_state, tmp_path):
    """1e30 passes the NaN/Inf check, then overflows inside the network: every frame came out black."""
    path = tmp_path / "decoder.pth"
    torch.save({k: v * 1e30 for k, v in decoder_state.items()}, path)
    with pytest.raises(UserError, match="corrupt plain decoder weights: the network overflows"):
        weights.load_decoder(path)


def test_finite_but_huge_encoder_weights_are_refused(published_weights, tmp_path):
    state = torch.load(published_weights[0], weights_only=True)
    path = tmp_path / "vgg.pth"
    torch.save({k: v * 1e30 for k, v in state.items() if int(k.split(".")[0]) < 31}, path)
    with pytest.raises(UserError, match="corrupt VGG encoder weights: the network overflows"):
        weights.load_encoder(path)


def write_deflated_pth(path: Path, numel: int, record_bytes: int | None = None) -> None:
    """A torch.save-style archive whose one tensor's record is compressed: `numel` zero floats in a
    few KB (torch.save never compresses; torch.load inflates whatever a record claims), or
    `record_bytes` zero bytes where given."""
    class Storage:
        pass

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, "0", "cpu", numel) if isinstance(obj, Storage) else None

    class Tensor:
        def __reduce__(self):
            return torch._utils._rebuild_tensor_v2, (Storage(), 0, (numel,), (1,), False, collections.OrderedDict())

    data = io.BytesIO()
    Pickler(data, protocol=2).dump(collections.OrderedDict([("1.weight", Tensor())]))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", data.getvalue())
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")
        archive.writestr("archive/data/0", bytes(4 * numel if record_bytes is None else record_bytes))


def test_a_zip_bomb_pth_is_refused_before_it_is_inflated(tmp_path):
    """8 MiB from a few KB here; the same trick with GBs took 9 GB of memory and 20 s to refuse."""
    path = tmp_path / "decoder.pth"
    write_deflated_pth(path, 2 << 20)
    assert path.stat().st_size < 100_000
    with pytest.raises(UserError, match=r"not a readable weights file \(its archive unpacks to 8,388,\d{3} bytes"):
        weight_files.read_weights(path)


def test_a_small_compressed_pth_still_loads(tmp_path):
    write_deflated_pth(tmp_path / "small.pth", 16)
    assert weight_files.read_weights(tmp_path / "small.pth").state_dict["1.weight"].shape == (16,)


def test_weights_info_keeps_a_newline_in_metadata_on_its_row(published_weights, tmp_path, run_cli, monkeypatch):
    from safetensors.torch import save_file

    monkeypatch.delenv("REALTIME_ADAIN_DECODER", raising=False)
    state = torch.load(published_weights[1], weights_only=True)
    path = tmp_path / "decoder.safetensors"
    save_file(state, str(path), metadata={"architecture": "plain\nstatus  usable"})
    code, out, _ = run_cli("weights", "info", "--vgg", published_weights[0], "--decoder", path)
    assert code == 1
    assert "unknown decoder architecture 'plain\\nstatus  usable'" in out
    assert not any(line.startswith("status") for line in out.splitlines())


def test_a_symlink_loop_as_weights_is_named_as_such(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(UserError, match="a symbolic link to nothing \\(a loop, or its target is gone\\)"):
        weight_paths.resolve("vgg", tmp_path / "a")  # was "no such weights file"


def test_export_to_a_symlink_loop_is_one_line(weights_env, run_cli, tmp_path):
    loop = tmp_path / "adain.onnx"
    loop.symlink_to(loop)
    code, _, err = run_cli("export", "--format", "onnx", "-o", loop)  # was a RuntimeError traceback
    assert code == 2 and one_error_line(err) == f"error: {loop}: is a loop of symbolic links; remove it or give another name"
    assert [p.name for p in tmp_path.iterdir() if p.name != "home"] == ["adain.onnx"] and loop.is_symlink()


# --- the engine cache -----------------------------------------------------------------------------

def test_an_engine_changed_after_its_build_is_rebuilt_not_loaded(tmp_path):
    """A file that still loads but holds other bytes (a damaged disk, a tool writing into it): an
    ONNX export with 4 KB overwritten gave a wholly different image under "already cached"."""
    cache = EngineCache(tmp_path)
    cache.get_or_build(COMPONENTS, ".onnx", lambda p: p.write_text("the weights we built"), Path.read_text)
    entry = cache.entry(COMPONENTS, ".onnx")
    entry.path.write_text("other weights, same size")
    engine, built = cache.get_or_build(COMPONENTS, ".onnx", lambda p: p.write_text("the weights we built"),
                                       Path.read_text)
    assert (engine, built) == ("the weights we built", True)
    assert cache.is_valid(entry)
    assert cache.clear() == (1, len("the weights we built"))
    assert list(tmp_path.iterdir()) == []  # the digest file goes with its engine


def test_engines_clear_during_a_build_leaves_that_build_alone(tmp_path):
    """`engines clear` in another terminal deleted a running export's folder: the export failed at
    its very end with "...onnx: No such file or directory"."""
    cache = EngineCache(tmp_path)

    def build(path: Path) -> None:
        cache.clear()  # as another process would, mid-build
        path.write_text("built")

    assert cache.get_or_build(COMPONENTS, ".onnx", build, Path.read_text) == ("built", True)
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f".build-{process_tag(int(finished.stdout))}-abcd1234"  # a build whose process is gone
    dead.mkdir()
    cache.clear()
    assert not dead.exists()


def test_an_engine_cache_that_is_a_file_is_named_as_one(tmp_path, run_cli, monkeypatch):
    cache = tmp_path / "engines"
    cache.write_text("not a folder")
    with pytest.raises(UserError, match="the engine cache is not writable \\(it is a file, not a folder\\)"):
        EngineCache(cache).store(EngineCache(cache).entry(COMPONENTS, ".onnx"), lambda p: p.write_text("x"))
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(cache))
    for action in ("list", "clear"):  # said "no engines cached" / "removed 0 engines"
        code, _, err = run_cli("engines", action)
        assert code == 2 and one_error_line(err) == f"error: {cache}: the engine cache is not a folder (a file or device is there; check $REALTIME_ADAIN_ENGINES)"
    assert cache.read_text() == "not a folder"


def test_a_home_that_is_a_file_is_named_for_the_engines_and_the_weights(tmp_path, run_cli, monkeypatch):
    """$REALTIME_ADAIN_HOME naming a file: `engines list` said "no engines cached" (exit 0) and a
    missing default weights file sent the user to `weights download`, which cannot write there either."""
    home = tmp_path / "home"
    home.write_text("not a folder")
    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(home))
    monkeypatch.delenv("REALTIME_ADAIN_ENGINES", raising=False)
    for action in ("list", "clear"):
        code, _, err = run_cli("engines", action)
        assert code == 2 and one_error_line(err) == (f"error: {home / 'engines'}: the engine cache cannot be there "
                                                     f"({home} is a file, not a folder; check $REALTIME_ADAIN_HOME)")
    monkeypatch.delenv("REALTIME_ADAIN_VGG", raising=False)
    with pytest.raises(UserError, match=f"the weights folder {re.escape(str(home / 'weights'))} cannot exist "
                                        f"\\({re.escape(str(home))} is a file, not a folder; check \\$REALTIME_ADAIN_HOME\\)"):
        weight_paths.resolve("vgg")
    assert home.read_text() == "not a folder"


@pytest.mark.parametrize("target", ["loop", "gone"])
def test_a_home_behind_a_dead_link_is_named_for_the_weights(target, tmp_path, monkeypatch, run_cli):
    """$REALTIME_ADAIN_HOME a link into a loop or to a drive no longer mounted: the user was sent to
    `weights download`, which cannot write there either."""
    home = tmp_path / "home"
    home.symlink_to(home if target == "loop" else tmp_path / "unmounted")
    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(home))
    monkeypatch.delenv("REALTIME_ADAIN_VGG", raising=False)
    why = (f"{home} is a loop of symbolic links" if target == "loop"
           else f"{home} is a symbolic link to {tmp_path / 'unmounted'}, which does not exist")
    with pytest.raises(UserError, match=f"the weights folder {re.escape(str(home / 'weights'))} cannot exist "
                                        f"\\({re.escape(why)}; check \\$REALTIME_ADAIN_HOME\\)"):
        weight_paths.resolve("vgg")
    code, _, err = run_cli("weights", "download", "--base-url", "http://127.0.0.1:9/")  # refused before connecting
    assert code == 2 and one_error_line(err) == f"error: {home / 'weights'}: the download folder cannot be made ({why})"


# --- the downloader -------------------------------------------------------------------------------

class HostileServer:
    """A web server on 127.0.0.1 answering every path with a web page or a redirect to itself."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.startswith("/loop"):
                    self.send_response(302)
                    self.send_header("Location", self.path)
                    body = b""
                else:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    body = b"<html><body>Sign in to continue</body></html>"
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "HostileServer":
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_web_page_instead_of_the_file_is_named(tmp_path):
    """A login or captive-portal page: was "not a PyTorch or safetensors file, or cut short"."""
    with HostileServer() as server, pytest.raises(UserError, match=r"the server answered with a web page \(text/html\)"):
        download.download_file("decoder", f"{server.url}/decoder.pth", tmp_path / "w", check_checksum=False)
    assert not (tmp_path / "w").exists()


def test_a_redirect_loop_is_one_line(tmp_path, run_cli):
    with HostileServer() as server:
        code, _, err = run_cli("weights", "download", "--dir", tmp_path / "w", "--base-url", f"{server.url}/loop")
    assert code == 2
    loop = f"{server.url}/loop/vgg_normalised.pth"
    # (was 3 lines in one, with \n; then urllib's "would lead to an infinite loop", said of too many hops as well)
    assert one_error_line(err).endswith(f"/loop/vgg_normalised.pth: redirects in a loop (one address reached 4 times); "
                                        f"the last address reached: '{loop}' (HTTP 302 Found)")
    assert not (tmp_path / "w").exists()


def test_download_dir_empty_or_a_symlink_loop_is_refused(tmp_path, run_cli, monkeypatch):
    monkeypatch.setenv(weight_paths.HOME_ENV_VAR, str(tmp_path / "home"))
    url = closed_port_url()
    code, _, err = run_cli("weights", "download", "--dir", "", "--base-url", url)  # went to the default folder
    assert code == 2 and one_error_line(err).startswith("error: --dir '': an empty path (an unset variable?)")
    (tmp_path / "a").symlink_to(tmp_path / "a")
    code, _, err = run_cli("weights", "download", "--dir", tmp_path / "a", "--base-url", url)  # was "File exists"
    assert code == 2 and one_error_line(err) == (f"error: {tmp_path / 'a'}: a symbolic link to nothing (a loop, or "
                                                 "its target is gone), not a directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


# --- doctor ---------------------------------------------------------------------------------------

def test_doctor_keeps_a_path_with_a_newline_on_one_line():
    finding = doctor.Finding("directory", "/home/me/odd\nname/weights; not writable", "problem", "point\nit elsewhere")
    text = render(doctor.Report("0", [doctor.Section("weights", [finding])]))
    assert " ! directory  /home/me/odd\\nname/weights; not writable" in text.splitlines()
    assert "  weights/directory: /home/me/odd\\nname/weights; not writable" in text.splitlines()
    assert "    -> point\\nit elsewhere" in text.splitlines()


# --- tools/evaluate.py ----------------------------------------------------------------------------

@pytest.fixture
def evaluation(published_weights, data_dir, tmp_path):
    """(tool, arguments up to --json, the decoder copy, the content image) of a small evaluation."""
    decoder = tmp_path / "decoder.pth"
    decoder.write_bytes(published_weights[1].read_bytes())
    for what, name in (("content", "cornell.jpg"), ("style", "asheville.jpg")):
        (tmp_path / what).mkdir()
        (tmp_path / what / name).write_bytes((data_dir / what / name).read_bytes())
    args = ["--decoder", str(decoder), "--vgg", str(published_weights[0]), "--content", str(tmp_path / "content"),
            "--style", str(tmp_path / "style"), "--load-size", "64", "--crop-size", "32", "--device", "cpu"]
    return load_tool("evaluate"), args, decoder, tmp_path / "content" / "cornell.jpg"


def test_evaluate_json_never_replaces_an_input(evaluation, capsys):
    """`--json decoder.pth` replaced the decoder weights with the results."""
    tool, args, decoder, image = evaluation
    before = {path: path.read_bytes() for path in (decoder, image)}
    for target in before:
        assert tool.main([*args, "--json", str(target)]) == 2
        assert one_error_line(capsys.readouterr().err) == f"error: {target}: output would overwrite an input"
    assert {path: path.read_bytes() for path in before} == before


def test_evaluate_json_empty_is_refused(evaluation, capsys):
    tool, args, _, _ = evaluation
    assert tool.main([*args, "--json", ""]) == 2  # evaluated, then wrote nothing, silently
    assert one_error_line(capsys.readouterr().err).startswith("error: --json '': an empty path")


def test_evaluate_refuses_a_style_weight_that_overflows_the_total(evaluation, tmp_path, capsys):
    """--style-weight 1e308 overflowed each total to infinity, and the JSON said Infinity (no JSON)."""
    tool, args, _, _ = evaluation
    with pytest.raises(SystemExit) as exited:
        tool.main([*args, "--style-weight", "1e308", "--json", str(tmp_path / "eval.json")])
    assert exited.value.code == 2 and "--style-weight: 1e308 is outside 0..1e+12" in capsys.readouterr().err
    assert not (tmp_path / "eval.json").exists()


def test_evaluate_writes_its_json(evaluation, tmp_path):
    tool, args, _, _ = evaluation
    assert tool.main([*args, "--json", str(tmp_path / "eval.json")]) == 0
    assert '"architecture": "plain"' in (tmp_path / "eval.json").read_text()
    assert os.access(tmp_path / "eval.json", os.R_OK)
