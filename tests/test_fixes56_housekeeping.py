"""Session 56's housekeeping fixes: doctor imports onnx and onnxscript to grade the onnx engine (found
is not loadable: it said "onnx on cpu  runs", "problems: none" while every export failed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def _cli(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "realtime_adain", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120, **kwargs)


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


def test_export_names_the_import_problem_and_the_install(weights_env, broken_onnx, tmp_path):
    result = _cli("export", "--format", "onnx", env=broken_onnx, cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip() == ("error: onnx is installed but does not load: No module named 'onnx'; "
                                     "pip install 'realtime-adain[onnx]'")
