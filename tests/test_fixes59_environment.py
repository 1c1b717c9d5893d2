"""Environment variables and command-line conventions as tester h6 found them (session 59): with no
writable temporary folder `bench` and a Radiance picture's decode said Python's "No usable
temporary directory found in [...]" (folders never named, nothing to do); an $OMP_NUM_THREADS
libgomp cannot read was its blank line and "libgomp: Invalid value ...", in no words of ours."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np
import pytest

from realtime_adain.cli import check_library_settings
from realtime_adain.opencv_stills import opencv_decode
from realtime_adain.writable_folders import NO_TEMPORARY_FOLDER


@pytest.fixture
def no_temporary_folder(monkeypatch, tmp_path):
    """tempfile finding no writable temporary folder, as in a read-only container (its one candidate
    a missing folder; nothing found before is kept)."""
    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.setattr(tempfile, "_candidate_tempdir_list", lambda: [str(tmp_path / "missing")])


def test_bench_model_without_a_temporary_folder_says_so_as_compile_does(run_cli, weights_env, no_temporary_folder):
    code, out, err = run_cli("bench", "model", "--engine", "eager", "-r", "16x16", "--device", "cpu", "--iters", "1",
                             "--warmup", "0")
    assert (code, out, err) == (2, "", f"error: {NO_TEMPORARY_FOLDER}\n")


def test_a_radiance_picture_without_a_temporary_folder_says_what_to_set(tmp_path, no_temporary_folder):
    path = tmp_path / "sky.hdr"
    assert cv2.imwrite(str(path), np.full((4, 6, 3), 0.5, np.float32))
    image, why = opencv_decode(np.fromfile(path, np.uint8), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    assert image is None and why == f"cannot be decoded without a temporary copy: {NO_TEMPORARY_FOLDER}"


OMP_NOTE = "is not a thread count (a whole number from 1, or a list of them: 4,2); it is ignored\n"


@pytest.mark.slow  # (a fresh process loading torch: 5-20 s)
def test_an_unreadable_omp_num_threads_is_one_note_and_no_libgomp_lines(weights_env):
    """In a fresh process: libgomp reads the variable as torch loads."""
    done = subprocess.run([sys.executable, "-m", "realtime_adain", "weights", "info"], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "abc"}, timeout=120)
    assert (done.returncode, done.stderr) == (0, f"note: $OMP_NUM_THREADS='abc' {OMP_NOTE}")


@pytest.mark.parametrize("value", ["0", "-1", "abc", "", "2,", "4,0", "1e3"])
def test_an_unreadable_omp_num_threads_is_unset_with_a_note(capsys, monkeypatch, value):
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    check_library_settings()
    err = capsys.readouterr().err
    assert (err, "OMP_NUM_THREADS" in os.environ) == (f"note: $OMP_NUM_THREADS={value!r} {OMP_NOTE}", False)


@pytest.mark.parametrize("value", ["4", " 3 ", "4,2", "4, 2", "+2", "04"])
def test_a_readable_omp_num_threads_is_kept(capsys, monkeypatch, value):
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    check_library_settings()
    assert (capsys.readouterr().err, os.environ["OMP_NUM_THREADS"]) == ("", value)


@pytest.mark.parametrize("variable", ["REALTIME_ADAIN_ENGINES", "REALTIME_ADAIN_HOME"])
@pytest.mark.parametrize("blocker", ["file", "loop"])
def test_an_engine_cache_in_the_way_names_the_variable_that_placed_it(run_cli, tmp_path, monkeypatch, variable, blocker):
    """`engines list` said what was in the way but not which setting put the cache there."""
    place = tmp_path / "place"
    if blocker == "file":
        place.write_text("not a folder")
    else:
        os.symlink(tmp_path / "other", place)
        os.symlink(place, tmp_path / "other")
    monkeypatch.delenv("REALTIME_ADAIN_ENGINES", raising=False)
    monkeypatch.setenv(variable, str(place))
    code, _, err = run_cli("engines", "list")
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert err.endswith(f"; check ${variable})\n"), err


@pytest.mark.parametrize("url", ["file:rel", "file:/mnt/share/adain"])
def test_a_file_url_without_slashes_is_refused_as_given(run_cli, tmp_path, monkeypatch, url):
    """`file:rel` was fetched as file:///rel/vgg_normalised.pth, a URL never given, naming no variable."""
    monkeypatch.setenv("REALTIME_ADAIN_WEIGHTS_URL", url)
    code, _, err = run_cli("weights", "download", "--dir", tmp_path / "w")
    assert (code, err) == (2, f"error: {url} (from $REALTIME_ADAIN_WEIGHTS_URL): a file URL is written with three "
                              "slashes: file:///folder/name\n")


def test_a_file_url_to_a_file_names_the_variable_it_came_from(run_cli, tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("not a folder")
    monkeypatch.setenv("REALTIME_ADAIN_WEIGHTS_URL", (tmp_path / "afile").as_uri())
    code, _, err = run_cli("weights", "download", "--dir", tmp_path / "w")
    assert (code, err) == (2, f"error: {(tmp_path / 'afile').as_uri()}/vgg_normalised.pth (from "
                              "$REALTIME_ADAIN_WEIGHTS_URL): Not a directory\n")


@pytest.mark.parametrize("args, prog, unknown", [
    (["-V"], "realtime-adain", "-V"), (["--bogus"], "realtime-adain", "--bogus"),
    (["weights", "--bogus"], "realtime-adain weights", "--bogus"),
    (["image", "--version"], "realtime-adain image", "--version"),
    (["image", "--bogus", "a.jpg"], "realtime-adain image", "--bogus"),
    (["engines", "--bogus"], "realtime-adain engines", "--bogus"),
])
def test_an_unknown_option_is_named_before_a_missing_argument(run_cli, args, prog, unknown):
    """argparse said "the following arguments are required: COMMAND" (or ACTION, or CONTENT,
    --style/-s) of `realtime-adain -V`, not the option it did not know."""
    code, out, err = run_cli(*args)
    assert (code, out, err) == (2, "", f"error: {prog}: unrecognized arguments: {unknown} (see `{prog} --help`)\n")


def test_a_missing_argument_alone_is_still_said(run_cli):
    code, _, err = run_cli("image", "-s", "s.jpg")
    assert (code, err) == (2, "error: realtime-adain image: the following arguments are required: CONTENT "
                              "(see `realtime-adain image --help`)\n")


@pytest.mark.parametrize("args", [["doctor", "--json", "--"], ["engines", "list", "--"], ["weights", "info", "--"]],
                         ids=["doctor", "engines list", "weights info"])
@pytest.mark.slow_cases('doctor')  # (default run's time: a whole doctor run; the others take the same path)
def test_a_closing_double_dash_is_taken_by_commands_without_file_names(run_cli, weights_env, args):
    """`doctor --` and `engines list --` were "unrecognized arguments: --"."""
    code, _, err = run_cli(*args)
    assert code == 0 and "unrecognized" not in err, err


@pytest.mark.parametrize("args, missing", [(["--"], "COMMAND"), (["engines", "--"], "ACTION"),
                                           (["image", "-s", "s.jpg", "--"], "CONTENT")])
def test_a_closing_double_dash_leaves_a_missing_argument_said(run_cli, args, missing):
    code, _, err = run_cli(*args)
    assert code == 2 and f"the following arguments are required: {missing} (see" in err, err


def test_words_after_a_double_dash_are_still_refused_where_no_file_is_taken(run_cli):
    code, _, err = run_cli("engines", "list", "--", "x")
    assert code == 2 and "unrecognized arguments: -- x (see" in err, err
