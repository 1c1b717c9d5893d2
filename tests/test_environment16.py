"""The command run where users run it unattended: a C locale without UTF-8 mode (cron, systemd,
Docker), a user with no home (`docker run --user 1234`), file names that are not UTF-8. Each
gives a working run whose output reads right, or one `error:` line."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cli_support import one_error_line
from live_support import cli_env

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
NOBODY_UID = 54321  # a user id with no entry in the password database


def run(args: list, env: dict[str, str], prefix: tuple[str, ...] = (), timeout: float = 120) -> subprocess.CompletedProcess:
    """`realtime-adain ARGS` in a subprocess, its output as bytes (file names need not be UTF-8)."""
    return subprocess.run([*prefix, sys.executable, "-m", "realtime_adain", *args], env=env, capture_output=True,
                          timeout=timeout)


@pytest.fixture
def env(published_weights, tmp_path):
    return cli_env(published_weights, tmp_path / "home")


@pytest.fixture
def style(data_dir):
    return data_dir / "style" / "mondrian.jpg"


@pytest.mark.slow  # (about 10 s alone: several commands in a C locale)
def test_json_names_are_utf8_in_a_c_locale_without_utf8_mode(env, data_dir, tmp_path):
    """`LC_ALL=C PYTHONUTF8=0`: Python reads file names as ASCII, and --json wrote "é" as the
    escapes of its two bytes ("\\udcc3\\udca9"), a name no reader could use; a name's bytes
    that are not UTF-8 stay surrogate escapes, which os.fsencode turns back into those bytes."""
    content = tmp_path / "é日本😀.jpg"
    style = Path(os.fsdecode(os.fsencode(tmp_path) + b"/s\xfe.jpg"))
    shutil.copy(data_dir / "content" / "lenna.jpg", content)
    shutil.copy(data_dir / "style" / "mondrian.jpg", style)
    out = tmp_path / "out"
    done = run(["image", content, "-s", style, "--size", "32", "-o", f"{out}/", "--json"],
               {**env, "LC_ALL": "C", "PYTHONUTF8": "0"})
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    document = json.loads(done.stdout)
    assert document["input"] == str(content)
    assert os.fsencode(document["styles"][0]) == os.fsencode(style)
    written = os.listdir(os.fsencode(out))
    assert len(written) == 1 and os.fsencode(document["output"]) == os.fsencode(out) + b"/" + written[0]
    assert document["output"].startswith(f"{out}/é日本😀_stylized_s")



@pytest.mark.parametrize("command", [["engines", "list", "--json"],
                                     pytest.param(["doctor", "--json"], marks=pytest.mark.slow)])  # (10 s: every probe)
@pytest.mark.slow_cases('command0')  # (default run's time: 5 s)
def test_listings_name_folders_in_utf8_in_a_c_locale_without_utf8_mode(env, tmp_path, command):
    """The same escapes in `engines list --json` and `doctor --json`, for a $REALTIME_ADAIN_HOME
    named "hé": "h\\udcc3\\udca9" in every folder they name."""
    home = tmp_path / "hé"
    settings = {k: v for k, v in env.items() if k != "REALTIME_ADAIN_ENGINES"}  # (the tests' own cache)
    done = run(command, {**settings, "REALTIME_ADAIN_HOME": str(home), "LC_ALL": "C", "PYTHONUTF8": "0"}, timeout=180)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    text = json.dumps(json.loads(done.stdout), ensure_ascii=False)
    assert str(home / "engines") in text and "\\udc" not in json.dumps(json.loads(done.stdout))


def as_user_without_home() -> tuple[str, ...]:
    """Run as a user id the password database does not know (root only: util-linux's setpriv),
    keeping the right to read this checkout and the test weights."""
    if not ROOT or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run as a user with no home")
    try:
        pwd.getpwuid(NOBODY_UID)
        pytest.skip(f"user {NOBODY_UID} exists here")
    except KeyError:
        pass
    return ("setpriv", f"--reuid={NOBODY_UID}", f"--regid={NOBODY_UID}", "--clear-groups",
            "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search")


def without_home(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in ("HOME", "REALTIME_ADAIN_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME")}


@pytest.mark.slow  # (fresh interpreters (5-7 s); test_nohome16 covers a missing home by default)
def test_a_user_without_a_home_still_stylizes_with_weights_given(env, data_dir, style, tmp_path):
    """No $HOME and no home in the password database: platformdirs raised RuntimeError while the
    parser was built (the `weights download --dir` help names the weights folder): a traceback
    for every command, even one given all its weights."""
    prefix = as_user_without_home()
    out = tmp_path / "out"
    out.mkdir()
    os.chown(out, NOBODY_UID, NOBODY_UID)
    done = run(["image", data_dir / "content" / "lenna.jpg", "-s", style, "--size", "32", "-o", out / "r.png"],
               without_home(env), prefix=prefix)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert (out / "r.png").is_file()


@pytest.mark.slow
def test_a_user_without_a_home_is_told_where_weights_cannot_go(env):
    prefix = as_user_without_home()
    no_weights = {k: v for k, v in without_home(env).items() if not k.startswith("REALTIME_ADAIN_")}
    done = run(["weights", "download"], no_weights, prefix=prefix)
    line = one_error_line(done.stderr.decode(errors="replace"), done.returncode)
    assert "no home folder" in line and "$HOME" in line and "$REALTIME_ADAIN_HOME" in line


def test_a_home_holding_a_percent_sign_does_not_break_help(env, tmp_path):
    """argparse formats help with `%`: the weights folder in `weights download --help`, under a
    $REALTIME_ADAIN_HOME named "100%d", was a TypeError (a traceback, exit status 1)."""
    done = run(["weights", "download", "--help"], {**env, "REALTIME_ADAIN_HOME": str(tmp_path / "100%d")})
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"100%d" in done.stdout.replace(b"\n", b"").replace(b" ", b"")



@pytest.mark.slow  # an ONNX export checked against onnxruntime: about 25 s on a busy CPU
def test_an_onnx_export_named_in_bytes_that_are_not_utf8(env, tmp_path):
    """onnxruntime takes a file name only as UTF-8: `export -o b'ex\\xfe.onnx'` (as the engine
    cache in such a folder) was a pybind11 TypeError, a traceback, after the export; no
    temporary file was left."""
    odd = os.fsencode(tmp_path) + b"/\xff"
    done = run(["export", "--format", "onnx", "-o", os.fsdecode(odd + b"/ex\xfe.onnx")], env, timeout=300)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert os.listdir(odd) == [b"ex\xfe.onnx"]


def buffered(env: dict[str, str]) -> dict[str, str]:
    """The environment of a user: stdout to a file or pipe buffered (the tests' PYTHONUNBUFFERED
    hid the failures below)."""
    return {k: v for k, v in env.items() if k != "PYTHONUNBUFFERED"}


@pytest.mark.slow  # (about 15 s alone: two commands, each a fresh interpreter)
def test_standard_output_on_a_full_disk_is_one_line(env, data_dir, style, tmp_path):
    """`>/dev/full` (a log on a full disk): buffered stdout failed only while the interpreter
    exited, "Exception ignored in: <_io.TextIOWrapper name='<stdout>'..." and exit status 120;
    a stylizing command names the output it wrote, as unbuffered."""
    out = tmp_path / "r.png"
    commands = (["engines", "list"], ["image", data_dir / "content" / "lenna.jpg", "-s", style, "--size", "32", "-o", out])
    lines = []
    for args in commands:
        with open("/dev/full", "wb") as full:
            done = subprocess.run([sys.executable, "-m", "realtime_adain", *args], env=buffered(env),
                                  stdout=full, stderr=subprocess.PIPE, timeout=120)
        assert done.returncode == 2
        lines.append(one_error_line(done.stderr.decode(errors="replace"), done.returncode))
    assert lines == ["error: standard output: cannot write (No space left on device)",
                     f"error: standard output: cannot write (No space left on device); {out} was written"]


@pytest.mark.slow  # (about 10 s alone each; test_cli_startup covers a reader gone in the default run)
@pytest.mark.parametrize("command", ["engines", "image"])
def test_a_reader_gone_before_the_output_is_named_stops_quietly(env, data_dir, style, tmp_path, command):
    """`realtime-adain image ... | head -0`: what was printed met a closed pipe at exit, "Exception
    ignored ... BrokenPipeError" and exit status 120; now quiet, 141 as `git log | head`, the
    picture written."""
    out = tmp_path / "r.png"
    args = (["engines", "list"] if command == "engines" else
            ["image", data_dir / "content" / "lenna.jpg", "-s", style, "--size", "32", "-o", out])
    child = subprocess.Popen([sys.executable, "-m", "realtime_adain", *args], env=buffered(env),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()
    err = child.stderr.read()
    assert child.wait(timeout=120) == 141 and err == b"", err
    assert out.is_file() == (command == "image")


@pytest.mark.slow  # (10 s: every probe)
def test_doctor_tells_a_user_without_a_home_what_to_set(env):
    """`doctor` as a user with no home: a traceback like every command, then with the folders
    refused, "this is a bug or a broken install" for what is a setting to fix."""
    prefix = as_user_without_home()
    done = run(["doctor"], without_home(env), prefix=prefix, timeout=180)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"no home folder to keep the weights in" in done.stdout and b"a bug" not in done.stdout, done.stdout


@pytest.mark.slow  # (about 10 s alone each)
@pytest.mark.parametrize("setting", ["XDG_DATA_HOME", "HOME"])
def test_a_file_where_the_weights_folder_goes_names_the_setting_that_put_it_there(env, data_dir, style, tmp_path,
                                                                                  setting):
    """A file at $XDG_DATA_HOME (or $HOME) was blamed on $REALTIME_ADAIN_HOME, which was unset."""
    blocking = tmp_path / "a-file"
    blocking.write_text("not a folder")
    settings = {k: v for k, v in without_home(env).items() if not k.startswith("REALTIME_ADAIN_")}
    settings.update({"HOME": str(tmp_path), setting: str(blocking)})
    done = run(["image", data_dir / "content" / "lenna.jpg", "-s", style, "-o", tmp_path / "r.png"], settings)
    line = one_error_line(done.stderr.decode(errors="replace"), done.returncode)
    assert f"{blocking} is a file, not a folder; check ${setting})" in line
