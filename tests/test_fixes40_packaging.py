"""Session 40's packaging fixes: the PyAV floor said in one place and a too-old PyAV named as such,
`--help` texts that `python -OO` keeps, and .ci/run refusing at once without the test material.
(The sdist's contents: tests/test_wheel.py.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from realtime_adain import doctor
from realtime_adain.errors import OLDEST_PYAV, environment_failure, too_old_pyav

REPO = Path(__file__).resolve().parents[1]
PYAV_16_TOO_OLD = "PyAV 16.1.0 is too old for realtime-adain: pip install -U 'av>=17.1'"


def test_pyproject_asks_for_the_pyav_the_code_names():
    """pyproject.toml allowed av>=12, though PyAV 12.0-16.1 cannot import video/hdr.py and 17.0
    fails every `video` run."""
    floor = re.search(r'^\s*"av>=([\d.]+)[,"]', (REPO / "pyproject.toml").read_text(), re.M)
    assert floor and floor.group(1) == OLDEST_PYAV == "17.1"


@pytest.mark.parametrize("version, said", [
    ("16.1.0", PYAV_16_TOO_OLD),
    ("12.0.0", "PyAV 12.0.0 is too old for realtime-adain: pip install -U 'av>=17.1'"),
    ("17.0.1", "PyAV 17.0.1 is too old for realtime-adain: pip install -U 'av>=17.1'"),
    ("17.1.0", None), ("18.1.0", None), ("18.0.0rc1", None), ("17.1", None), (None, None), ("unknown", None),
])
def test_too_old_pyav_names_the_upgrade(version, said):
    assert too_old_pyav(version) == said


@pytest.fixture
def pyav_16_metadata(tmp_path, monkeypatch):
    """PyAV 16.1.0's metadata first on sys.path, as pip leaves it: the version importlib.metadata
    reports (the imported module stays the installed one)."""
    info = tmp_path / "av-16.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: av\nVersion: 16.1.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))


def test_pyav_too_old_to_import_is_named_so(pyav_16_metadata):
    """PyAV 12-16 lack ColorPrimaries (video/hdr.py): every command, --help and doctor too, said
    "cannot load av (...); reinstall it", and reinstalling gave the same version."""
    failed = ImportError("cannot import name 'ColorPrimaries' from 'av.video.reformatter'",
                         name="av.video.reformatter")
    assert environment_failure(failed) == PYAV_16_TOO_OLD
    assert environment_failure(ImportError("no module named 'cv2'", name="cv2")) == \
        "cannot load cv2 (no module named 'cv2'); reinstall it"


def test_doctor_reports_a_too_old_pyav(pyav_16_metadata):
    """PyAV 17.0 imports, so `doctor` runs, and said nothing while every `video` run failed."""
    [pyav] = [finding for finding in doctor.versions() if finding.name == "av"]
    assert (pyav.level, pyav.fix) == ("problem", PYAV_16_TOO_OLD)


# (`bench temporal --help`, 9 s, is slow: `bench --help`'s summaries already check the benchmarks' texts)
@pytest.mark.parametrize("command", [("bench",), pytest.param(("bench", "temporal"), marks=pytest.mark.slow), ("export",)])
@pytest.mark.slow_cases('command0')  # (default run's time: 7 s)
def test_help_texts_survive_python_OO(command, run_cli):
    """`python -OO` drops docstrings, which were `bench --help`'s summaries, `bench TARGET --help`'s
    and `export --help`'s descriptions: they were missing."""
    code, full, _ = run_cli(*command, "--help")
    optimized = subprocess.run([sys.executable, "-OO", "-m", "realtime_adain", *command, "--help"],
                               capture_output=True, text=True, timeout=120)
    assert code == optimized.returncode == 0, optimized.stderr
    assert " ".join(optimized.stdout.split()) == " ".join(full.split())  # (wrapped to another width)


@pytest.mark.parametrize("variable", [None, "elsewhere/material", "a file", "an empty folder"])
def test_ci_run_refuses_at_once_without_the_test_material(tmp_path, variable):
    """Without ../shared/data, .ci/run installed the tools and the package, then every test that
    reads the material failed, one by one. A relative $REALTIME_ADAIN_TEST_DATA is where it was
    given from (it was read from the repository's folder), and a file or an empty folder is no
    material (h9)."""
    checkout = tmp_path / "clone"
    (checkout / ".ci").mkdir(parents=True)
    shutil.copy2(REPO / ".ci" / "run", checkout / ".ci" / "run")
    (tmp_path / "a file").write_text("x")
    (tmp_path / "an empty folder").mkdir()
    env = {name: value for name, value in os.environ.items() if name != "REALTIME_ADAIN_TEST_DATA"}
    if variable is None:
        said = f"{tmp_path}/shared/data, with content/, mask/, style/ and videos/ (beside this repository, or set " \
               "$REALTIME_ADAIN_TEST_DATA to where it is)"
    else:
        env["REALTIME_ADAIN_TEST_DATA"] = variable
        said = f"{tmp_path}/{variable}, with content/, mask/, style/ and videos/ (where $REALTIME_ADAIN_TEST_DATA points)"
    done = subprocess.run(["bash", str(checkout / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", f"error: the test material is missing: the tests need it in {said}\n")
