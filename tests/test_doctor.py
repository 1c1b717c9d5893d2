"""`realtime-adain doctor`: a report on a working install, on one without weights, and on a broken one."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import av
import cv2
import pytest

from realtime_adain import doctor
from realtime_adain.doctor import probes, storage
from realtime_adain.doctor.libraries import opencv_gui
from realtime_adain.doctor.report import guarded
from test_live_window import display  # noqa: F401 (a private Xvfb display, as a fixture)

FINDING_KEYS = {"name", "value", "level", "fix"}


@pytest.fixture
def no_weights(monkeypatch, tmp_path):
    """An empty home and no weights variables: what a user has before downloading."""
    for variable in ("REALTIME_ADAIN_VGG", "REALTIME_ADAIN_DECODER"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(tmp_path / "empty-home"))


def weights_findings(report: dict) -> dict[str, dict]:
    return {f["name"]: f for f in report["sections"]["weights"]}


def test_text_report_with_weights(weights_env, run_cli):
    code, out, err = run_cli("doctor")
    assert code == 0, err
    vgg, decoder = weights_env
    for title in doctor.CHECKS:
        assert f"\n{title}:\n" in out
    assert f"{vgg} (from $REALTIME_ADAIN_VGG" in out and f"{decoder} (from $REALTIME_ADAIN_DECODER" in out
    assert out.count("loads and checks out") == 2
    assert "weights download" not in out
    assert re.search(rf"\n +av +{re.escape(av.__version__)} \(.*libavcodec", out)  # PyAV and its FFmpeg
    assert f"GUI: {opencv_gui(cv2.getBuildInformation())}" in out


def test_json_report_with_weights(weights_env, run_cli):
    code, out, err = run_cli("doctor", "--json")
    assert code == 0, err
    report = json.loads(out)  # one JSON object, nothing else on stdout
    assert set(report) == {"realtime_adain", "sections", "problems"}
    assert list(report["sections"]) == list(doctor.CHECKS)
    for findings in report["sections"].values():
        assert findings and all(set(f) == FINDING_KEYS for f in findings)
        assert all(f["level"] in ("ok", "note", "problem") for f in findings)
    found = weights_findings(report)
    assert found["vgg"]["level"] == found["decoder"]["level"] == "ok"
    assert not [p for p in report["problems"] if p["section"] == "weights"]
    engines = {f["name"]: f for f in report["sections"]["engines"]}
    assert engines["eager on cpu"]["value"] == "runs"
    assert engines["tensorrt on cpu"]["level"] == "note" and "CUDA" in engines["tensorrt on cpu"]["value"]


def test_no_weights_is_a_problem_with_the_download_command(no_weights, run_cli, tmp_path):
    code, out, err = run_cli("doctor")
    assert code == 0, err
    assert out.count("-> run `realtime-adain weights download`") == 2
    assert f"looked for {tmp_path / 'empty-home' / 'weights' / 'vgg_normalised.pth'}" in out

    code, out, err = run_cli("doctor", "--json")
    assert code == 0, err
    problems = [p for p in json.loads(out)["problems"] if p["section"] == "weights"]
    assert [p["name"] for p in problems] == ["vgg", "decoder"]
    assert all(p["fix"] == storage.DOWNLOAD for p in problems)


def test_damaged_weights_file_is_reported(weights_env, monkeypatch, tmp_path):
    broken = tmp_path / "decoder.pth"
    broken.write_bytes(b"not a checkpoint" * 100)
    monkeypatch.setenv("REALTIME_ADAIN_DECODER", str(broken))
    found = {f.name: f for f in doctor.weight_files()}
    assert found["vgg"].level == "ok"
    assert found["decoder"].level == "problem" and "not usable" in found["decoder"].value
    assert "$REALTIME_ADAIN_DECODER" in found["decoder"].fix


def test_a_check_that_raises_is_reported_not_crashed(weights_env, run_cli, monkeypatch):
    def broken() -> list[doctor.Finding]:
        raise RuntimeError("camera stack exploded\nsecond line")

    monkeypatch.setitem(doctor.CHECKS, "cameras", broken)
    code, out, err = run_cli("doctor", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["sections"]["cameras"] == [{
        "name": "check failed", "value": "RuntimeError: camera stack exploded", "level": "problem",
        "fix": "this is a bug or a broken install: include this report in an issue",
    }]
    assert report["sections"]["display"], "the checks after the broken one still ran"
    assert "cameras" in [p["section"] for p in report["problems"]]


def test_a_library_that_fails_to_import_is_reported():
    def fails() -> str:
        raise ImportError("libavcodec.so.62: cannot open shared object file")

    finding = guarded("av", fails)
    assert finding.level == "problem" and "installed but broken: ImportError: libavcodec.so.62" in finding.value
    assert guarded("tensorrt", lambda: None) == doctor.Finding("tensorrt", "not installed", "note")


def test_opencv_gui_section():
    assert opencv_gui("  GUI:                           QT5\n    QT: YES\n") == "QT5"
    assert opencv_gui("  GUI:                           NONE\n") == "NONE"
    assert opencv_gui("no such section") == "unknown"


def test_window_without_display_is_a_note(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if opencv_gui(cv2.getBuildInformation()) == "NONE":
        pytest.skip("headless OpenCV build: the display is never consulted")
    [finding] = doctor.display()
    assert finding.level == "note" and "no display" in finding.value and "--no-window" in finding.fix


def test_window_opens_on_a_real_display(display, monkeypatch):  # noqa: F811 (the fixture)
    monkeypatch.setenv("DISPLAY", display)
    if opencv_gui(cv2.getBuildInformation()) == "NONE":
        pytest.skip("headless OpenCV build")
    [finding] = doctor.display()
    assert finding.level == "ok" and finding.value.startswith(f"opens (DISPLAY={display}"), finding


def test_cameras_none_found():
    """No camera hardware here: none is reported, as a note (live can read files)."""
    findings = doctor.cameras()
    assert findings and all(f.level == "note" and f.fix == probes.NO_CAMERA for f in findings)


def test_camera_probe_opens_indices_in_a_subprocess(monkeypatch):
    """Off Linux every index 0..3 is tried (here: none opens, and the probe itself works)."""
    monkeypatch.setattr(probes.sys, "platform", "darwin")
    [finding] = doctor.cameras()
    assert (finding.name, finding.value) == ("cameras", "none of 0, 1, 2, 3 opens")


def test_a_probe_that_hangs_is_cut_off(monkeypatch):
    monkeypatch.setattr(probes, "PROBE_TIMEOUT_S", 1.0)
    out, failure = probes._probe("import time; print('started', flush=True); time.sleep(60)")
    assert failure == "no answer within 1 s"


def test_gpus_are_listed_with_compute_capability_and_memory(monkeypatch):
    """No GPU here: torch.cuda answers as on a machine with one H100."""
    import torch

    props = SimpleNamespace(name="NVIDIA H100 80GB HBM3", major=9, minor=0, total_memory=80 * 2**30)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: props)
    found = {f.name: f for f in doctor.devices()}
    assert found["cuda:0"].value == "NVIDIA H100 80GB HBM3, compute capability 9.0, 80.0 GiB"
    assert "cuda" not in found


def test_auto_on_the_cpu_is_said_as_the_commands_resolve_it(weights_env, monkeypatch):
    """doctor said `auto on cpu  eager` while `image` ran onnx: it asked without the weights' id,
    so the cached export of these weights was never looked for."""
    import os

    from realtime_adain import doctor, weight_digests
    from realtime_adain.engines import onnx

    wanted = weight_digests.files_id([os.environ["REALTIME_ADAIN_VGG"], os.environ["REALTIME_ADAIN_DECODER"]])
    monkeypatch.setattr(onnx, "onnx_cached", lambda weights_id: weights_id == wanted)  # an export of exactly these
    auto = next(f for f in doctor.engine_support() if f.name == "auto on cpu")
    assert auto.value == "onnx"  # (onnxruntime comes with the dev extra)
