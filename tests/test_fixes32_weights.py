"""Session 32's weights findings: state dicts keyed by other than names and float8 tensors (both
tracebacks), `weights download|info` and `doctor` for a user with no home, a folder where the ONNX
export goes and garbage in the engine cache as `doctor` saw them, doctor's fix texts, the resume
hint, raw paths in the download's lines, a redirect from https down to http, and a few messages
that named the wrong thing. Real files, a real HTTP(S) server on 127.0.0.1, the real CLI."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from cli_support import one_error_line
from live_support import cli_env
from realtime_adain import doctor, download, download_transfer, weight_digests, weight_paths, weights
from realtime_adain.doctor import storage
from realtime_adain.errors import UserError
from test_environment16 import NOBODY_UID, as_user_without_home, run, without_home
from weights_server import WeightsServer, release_bytes, synthetic_release  # noqa: F401


@pytest.fixture
def server(release_bytes):
    with WeightsServer(release_bytes) as running:
        yield running


def test_a_state_dict_keyed_by_other_than_names_is_one_line(published_weights, run_cli, tmp_path):
    """`{0: tensor}` (and tuple keys): `weights info` gave an AttributeError traceback, and a
    download of it a traceback that left its `.part` behind."""
    for name, state in (("intkeys.pth", {0: torch.zeros(3)}), ("tuplekeys.pth", {("0", "weight"): torch.zeros(3)})):
        torch.save(state, tmp_path / name)
        code, out, err = run_cli("weights", "info", "--vgg", tmp_path / name, "--decoder", tmp_path / name)
        assert code == 1 and "Traceback" not in err, err
        assert out.count("not usable: not a state dict of tensors") == 2, out
    folder = tmp_path / "d"
    code, out, err = run_cli("weights", "download", "--vgg-url", (tmp_path / "intkeys.pth").as_uri(),
                             "--decoder-url", published_weights[1].as_uri(), "--no-checksum", "--dir", folder)
    assert "rejected the download (deleted it): not a state dict of tensors" in one_error_line(err, code)
    assert code == 2 and not list(folder.glob("*.part")), sorted(folder.iterdir())


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_float8_weights_are_refused_in_one_line_and_16_and_64_bit_ones_load(published_weights, tmp_path, suffix):
    """A decoder stored as float8_e4m3fn: torch has no isfinite for it (NotImplementedError)."""
    from safetensors.torch import save_file

    state = torch.load(published_weights[1], weights_only=True)
    for dtype in (torch.float8_e4m3fn, torch.float16, torch.bfloat16, torch.float64):
        path = tmp_path / f"decoder-{str(dtype).removeprefix('torch.')}{suffix}"
        converted = {key: value.to(dtype) for key, value in state.items()}
        save_file(converted, path) if suffix == ".safetensors" else torch.save(converted, path)
        if dtype == torch.float8_e4m3fn:
            with pytest.raises(UserError, match="holds float8_e4m3fn values, not 16-, 32- or 64-bit floating-point"):
                weights.load_decoder(path)
        else:
            assert weights.load_decoder(path).loaded_sha256  # (loads, checked finite)


@pytest.mark.slow  # (every weights command in a fresh interpreter (15-31 s))
def test_weights_commands_work_without_a_home_where_they_need_none(published_weights, server, tmp_path):
    """No $HOME, no home in the password database, no $REALTIME_ADAIN_HOME: `weights download
    --dir` said "no home folder" after both files had landed, `weights info` with only the decoder
    given said that alone, and `doctor` said "weights/check failed" with both weights given."""
    prefix = as_user_without_home()
    env = without_home(cli_env(published_weights, tmp_path / "unused"))
    folder = tmp_path / "mine"
    folder.mkdir()
    os.chown(folder, NOBODY_UID, NOBODY_UID)
    done = run(["weights", "download", "--base-url", server.url, "--no-checksum", "--dir", folder / "w"], env, prefix=prefix)
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert out.count("downloaded") == 2 and "note: " in out, out

    only_decoder = {k: v for k, v in env.items() if k != "REALTIME_ADAIN_VGG"}
    done = run(["weights", "info"], only_decoder, prefix=prefix)
    out = done.stdout.decode()
    assert done.returncode == 1 and not done.stderr, done.stderr.decode(errors="replace")
    assert "missing: no home folder" in out and f"path     {published_weights[1]}" in out and "holds" in out, out

    done = run(["doctor", "--json"], env, prefix=prefix)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    found = {f["name"]: f for f in json.loads(done.stdout)["sections"]["weights"]}
    assert found["vgg"]["level"] == found["decoder"]["level"] == "ok", found
    assert found["directory"]["level"] == "note" and "no home folder" in found["directory"]["value"], found
    caches = {f["name"]: f for f in json.loads(done.stdout)["sections"]["caches"]}
    assert "check failed" not in caches and caches["styles"]["level"] == "note", caches


@pytest.mark.parametrize("blocking", ["folder", "fifo"])
def test_doctor_reports_something_in_the_way_of_the_onnx_export(weights_env, run_cli, monkeypatch, tmp_path, blocking):
    """A folder (or fifo) where the export of these weights goes: `export` refuses to replace it,
    yet doctor said "problems: none" (a note on stderr said export would make it again)."""
    pytest.importorskip("onnx")
    from realtime_adain.engines.cache import EngineCache
    from realtime_adain.engines.onnx import onnx_components

    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(tmp_path / "engines"))
    monkeypatch.setattr(doctor, "CHECKS", {"caches": doctor.caches})
    files_id = weight_digests.files_id([weight_paths.resolve("vgg"), weight_paths.resolve("decoder")])
    path = EngineCache().entry(onnx_components(files_id), ".onnx").path
    path.parent.mkdir()
    path.mkdir() if blocking == "folder" else os.mkfifo(path)
    code, out, err = run_cli("doctor")
    assert code == 0 and f"-> move {path} away" in out and "problems: 1" in out, out
    code, out, err = run_cli("doctor", "--json")
    problems = json.loads(out)["problems"]
    assert [(p["section"], p["fix"]) for p in problems] == [("caches", f"move {path} away")], problems


def test_doctor_counts_usable_engines_and_their_size_on_disk(run_cli, monkeypatch, tmp_path):
    """A 50 GB sparse file, garbage and a dangling link named like engines: "3 engines, 53687.1 MB"
    while they take a few KB and `engines list` says each "will be rebuilt"."""
    folder = tmp_path / "engines"
    folder.mkdir()
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(folder))
    monkeypatch.setattr(doctor, "CHECKS", {"caches": doctor.caches})
    with open(folder / "tensorrt-fp16-b-eeeeeeeeeeeeeeeeeeee.ep", "wb") as sparse:
        sparse.truncate(50 << 30)
    (folder / "onnx-fp32-dynamic-aaaaaaaaaaaaaaaaaaaa.onnx").write_bytes(os.urandom(3000))
    (folder / "onnx-fp32-dynamic-bbbbbbbbbbbbbbbbbbbb.onnx").symlink_to(tmp_path / "nowhere")
    code, out, err = run_cli("doctor")
    assert code == 0 and f"{folder}: 3 engines (0 usable), 0.0 MB" in out, out
    code, out, err = run_cli("engines", "list", "--json")
    rows = json.loads(out)["engines"]
    assert code == 0 and sum(row["bytes"] for row in rows) < 100_000 and not any(r["matches_build"] for r in rows), rows


def test_doctors_fix_for_a_bad_file_in_the_weights_folder_is_the_download_alone(monkeypatch, tmp_path):
    """`-> run \\`realtime-adain weights download\\` --force`: --force outside the command's quotes,
    and not needed (a file that is not the published one is replaced anyway)."""
    for variable in weight_paths.ENV_VAR.values():
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(tmp_path))
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "decoder.pth").write_bytes(b"not a checkpoint" * 100)
    finding = storage._check_weights_file("decoder")
    assert finding.level == "problem" and finding.fix == storage.DOWNLOAD, finding


def test_the_resume_hint_asks_for_the_same_command(synthetic_release, server, tmp_path):
    """"run `realtime-adain weights download` again to resume", run as written, went to GitHub and
    the default folder (not this mirror, nor this --dir) and never resumed the `.part`."""
    server.cuts["decoder.pth"] = [1000] * download_transfer.ATTEMPTS
    with pytest.raises(UserError) as caught:
        download.download_file("decoder", f"{server.url}/decoder.pth", tmp_path / "w")
    assert "run `realtime-adain weights download` again with the same options (URLs, --dir, --no-checksum) to resume" in str(caught.value)
    assert (tmp_path / "w" / "decoder.pth.part").stat().st_size == 1000 * download_transfer.ATTEMPTS


@pytest.mark.slow  # (default run's time: two downloads)
def test_download_lines_show_a_path_with_a_newline_escaped(published_weights, server, tmp_path):
    """A weights folder holding a newline split the success lines and the note."""
    env = cli_env(published_weights, tmp_path / "bad\nhome")
    done = run(["weights", "download", "--base-url", server.url, "--no-checksum", "--dir", tmp_path / "w\nx"], env)
    lines = done.stdout.decode().splitlines()
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert len(lines) == 3 and all("w\\nx" in line for line in lines), lines


class _ToPlainHttp(BaseHTTPRequestHandler):
    """An https mirror that redirects every file to the same name on `target` (plain http)."""

    target = ""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", f"{self.target}{self.path}")
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_a_redirect_from_https_to_plain_http_is_refused(synthetic_release, server, monkeypatch, tmp_path):
    """It was followed without a word: the file asked for over TLS came unencrypted."""
    write_pair = pytest.importorskip("test_serve_tls").write_pair
    cert, key = write_pair(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # (the client trusts this certificate alone)
    handler = type("Handler", (_ToPlainHttp,), {"target": server.url})
    https = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    https.socket = context.wrap_socket(https.socket, server_side=True)
    thread = threading.Thread(target=https.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{https.server_address[1]}/decoder.pth"
        with pytest.raises(UserError, match="a redirect from https to plain http .* is not followed; give that http URL"):
            download.download_file("decoder", url, tmp_path / "w")
    finally:
        https.shutdown()
        https.server_close()
        thread.join(5)
    assert server.requests == [] and not (tmp_path / "w").exists()


def test_messages_name_what_is_wrong(published_weights, run_cli, monkeypatch, tmp_path):
    """A blank $REALTIME_ADAIN_WEIGHTS_URL named no variable; `http:///x` said "cannot reach  (no
    host given)"; a folder named by $REALTIME_ADAIN_DECODER was "missing"."""
    monkeypatch.setenv(download.BASE_URL_ENV_VAR, " ")
    code, out, err = run_cli("weights", "download", "--dir", tmp_path / "w")
    assert one_error_line(err, code) == f"error: ${download.BASE_URL_ENV_VAR} is empty: give a URL"
    monkeypatch.delenv(download.BASE_URL_ENV_VAR)
    code, out, err = run_cli("weights", "download", "--base-url", "http:///x", "--dir", tmp_path / "w")
    assert one_error_line(err, code) == "error: http:///x/vgg_normalised.pth (from --base-url): no host in the URL (http://HOST/...)"
    monkeypatch.setenv("REALTIME_ADAIN_VGG", str(published_weights[0]))
    monkeypatch.setenv("REALTIME_ADAIN_DECODER", str(tmp_path))
    code, out, err = run_cli("weights", "info")
    assert code == 1 and f"path    {tmp_path}\n" in out and "status  not usable: a folder, not a weights file" in out, out


@pytest.mark.slow  # (default run's time: 3 s)
def test_doctor_with_a_read_only_weights_folder_says_where_a_download_can_go(published_weights, tmp_path):
    """It said to run `weights download`, which cannot save in that folder."""
    prefix = as_user_without_home()
    home = tmp_path / "home"
    (home / "weights").mkdir(parents=True)
    os.chmod(home / "weights", 0o555)  # (root writes anyway: the check runs as another user)
    env = {k: v for k, v in cli_env(published_weights, home).items() if k not in weight_paths.ENV_VAR.values()}
    code = "from realtime_adain import doctor; print([f.fix for f in doctor.weight_files()][1:])"
    done = subprocess.run([*prefix, sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == repr([storage.DOWNLOAD_ELSEWHERE] * 2), done.stdout
    assert "--dir DIR" in storage.DOWNLOAD_ELSEWHERE and "$REALTIME_ADAIN_HOME" in storage.DOWNLOAD_ELSEWHERE


def test_a_folder_where_the_weights_directory_file_goes_is_unusable_not_missing(published_weights, run_cli,
                                                                                 monkeypatch, tmp_path):
    """As a folder named by $REALTIME_ADAIN_DECODER is: the reviewer's find, one case of two."""
    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("REALTIME_ADAIN_VGG", raising=False)
    monkeypatch.setenv("REALTIME_ADAIN_DECODER", str(published_weights[1]))
    (tmp_path / "home" / "weights" / "vgg_normalised.pth").mkdir(parents=True)
    code, out, err = run_cli("weights", "info")
    assert code == 1 and "status  not usable: a folder, not a weights file; move it away" in out, out
