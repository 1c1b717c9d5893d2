"""Session 56's housekeeping fixes: doctor imports onnx and onnxscript to grade the onnx engine (found
is not loadable: it said "onnx on cpu  runs", "problems: none" while every export failed); a command
whose result is what it prints (--version, --help, weights info, engines list/clear) fails with
stdout closed (`>&-`: exit 0, nothing printed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _cli(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "realtime_adain", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120, **kwargs)

REPO = Path(__file__).resolve().parents[1]


def closed_stdout_run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`realtime-adain ARGS >&-` by the real interpreter (a pyenv shim would put its script on fd 1)."""
    command = " ".join(f"'{a}'" for a in [sys.executable, "-m", "realtime_adain", *args])
    return subprocess.run(["sh", "-c", f"exec {command} >&-"], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def broken_onnx(tmp_path) -> dict[str, str]:
    """A PYTHONPATH on which onnx is found and fails to import."""
    shim = tmp_path / "shim" / "onnx"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'onnx'\", name='onnx')\n")
    return {"PYTHONPATH": os.pathsep.join([str(shim.parent), *filter(None, [os.environ.get("PYTHONPATH")])])}


@pytest.mark.slow
def test_doctor_grades_an_onnx_that_does_not_import_a_problem(weights_env, broken_onnx):
    result = _cli("doctor", "--json", env=broken_onnx)
    report = json.loads(result.stdout)
    onnx = next(f for f in report["sections"]["engines"] if f["name"] == "onnx on cpu")
    assert onnx["level"] == "problem"
    assert "onnx is installed but does not load: No module named 'onnx'" in onnx["value"]
    assert onnx["fix"] == "pip install 'realtime-adain[onnx]'"
    assert result.returncode != 0 or report["problems"]


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer case; `-m slow` runs keep it)
def test_export_names_the_import_problem_and_the_install(weights_env, broken_onnx, tmp_path):
    result = _cli("export", "--format", "onnx", env=broken_onnx, cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip() == ("error: onnx is installed but does not load: No module named 'onnx'; "
                                     "pip install 'realtime-adain[onnx]'")


@pytest.mark.parametrize("command", ["--version", "--help", "image --help", "engines list --help", "weights info",
                                     "engines list"])
@pytest.mark.slow_cases('weights info', 'engines list', 'image --help', 'engines list --help')  # (default run's time, 2026-12-07: rarer variants of the cases that stay)
def test_a_printed_result_with_stdout_closed_is_an_error(weights_env, command):
    done = closed_stdout_run(*command.split())
    assert (done.returncode, done.stderr) == (2, "error: standard output: cannot write (it is closed)\n")


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer case; `-m slow` runs keep it)
def test_engines_clear_with_stdout_closed_says_what_it_removed(weights_env, tmp_path):
    engines = tmp_path / "engines"
    engines.mkdir()
    done = closed_stdout_run("engines", "clear", env={"REALTIME_ADAIN_ENGINES": str(engines)})
    assert (done.returncode, done.stderr) == (2, f"error: standard output: cannot write (it is closed); removed 0 "
                                                 f"engines (0.0 MB) from {engines}\n")


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_engines_clear_to_a_full_disk_says_what_it_removed(weights_env, tmp_path):
    engines = tmp_path / "engines"
    engines.mkdir()
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "realtime_adain", "engines", "clear"], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=60,
                              env={**os.environ, "REALTIME_ADAIN_ENGINES": str(engines)})
    assert (done.returncode, done.stderr) == (2, "error: standard output: cannot write (No space left on device); "
                                                 f"removed 0 engines (0.0 MB) from {engines}\n")


@pytest.mark.parametrize("name", ["/tmp/x/a\nb", "/tmp/it's here", "/tmp/a\u200bb\x1b\\c", "/tmp/x\x85y", "/tmp/plain"])
def test_a_command_to_paste_names_the_folder_in_a_shell(name):
    """`weights download --dir 'a<newline>b'` suggested `--vgg '/tmp/x/a\\nb/vgg_normalised.pth'`: in single
    quotes \\n is two characters. The note (escaped as every message is) pastes into bash as the name."""
    from realtime_adain.commands.weights import how_to_use
    from realtime_adain.errors import one_line

    note = one_line(how_to_use(Path(name)))
    pasted = note.split("--vgg ", 1)[1].split(" --decoder", 1)[0]
    echoed = subprocess.run(["bash", "-c", f"printf %s {pasted}"], capture_output=True, timeout=10).stdout
    assert echoed == f"{name}/vgg_normalised.pth".encode()


def test_a_home_that_is_a_loop_of_links_is_a_problem_as_a_dangling_one(tmp_path, monkeypatch):
    """A loop was a note ("-"), a link to nowhere or a file a problem ("!"): all are a mistyped path."""
    from realtime_adain.doctor import storage

    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(tmp_path / "a"))
    folder = storage.weight_files()[0]
    assert (folder.level, folder.fix) == ("problem", "point $REALTIME_ADAIN_HOME at a writable folder")
    assert folder.value.endswith(f"({tmp_path / 'a'} is a loop of symbolic links)")


class _Busy:
    """A local HTTP server (127.0.0.1, ports 18900-18999) answering every GET with `code` and `headers`."""

    def __init__(self, code: int, headers: dict[str, str]) -> None:
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(code)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        for port in range(18900, 19000):
            try:
                self.server = http.server.HTTPServer(("127.0.0.1", port), Handler)
                break
            except OSError:
                continue
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.mark.parametrize("code, headers, said", [
    (429, {"Retry-After": "120"}, "HTTP 429 Too Many Requests; the server asks to retry in 120 s"),
    (503, {"Retry-After": "@date+60"}, "HTTP 503 Service Unavailable; the server asks to retry in "),
    (503, {}, "HTTP 503 Service Unavailable"),
])
def test_a_busy_server_says_when_to_retry(run_cli, tmp_path, code, headers, said):
    from email.utils import formatdate
    import time

    headers = {name: formatdate(time.time() + 60, usegmt=True) if value == "@date+60" else value
               for name, value in headers.items()}
    server = _Busy(code, headers)
    try:
        status, _, err = run_cli("weights", "download", "--base-url", server.url, "--dir", tmp_path / "w")
    finally:
        server.close()
    assert status != 0 and err.count("\n") == 1 and err.startswith("error: ")
    assert said in err
    assert err.rstrip().endswith("; try again later, or use a mirror with --base-url or $REALTIME_ADAIN_WEIGHTS_URL"), err
    if code == 503 and headers:
        assert 55 <= int(err.split("retry in ")[1].split(" s")[0]) <= 60


@pytest.mark.parametrize("command, file", [("doctor", "report.json"), ("engines list", "engines.json")])
def test_one_json_object_with_stdout_closed_is_named_so(command, file):
    done = closed_stdout_run(*command.split(), "--json")
    assert (done.returncode, done.stderr) == (2, "error: --json: standard output is closed, so the JSON object would be "
                                                 f"lost; send it to a file (--json > {file}) or leave --json out\n")
