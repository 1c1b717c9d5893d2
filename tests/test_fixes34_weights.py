"""Session 34's weights and engine-cache findings: `doctor` said "onnx on cpu runs" and "problems:
none" where the engine cache could not take an export (read-only, full, a file in its place), and
`--engine onnx` and `export --format onnx` then failed; `weights download` put the VGG in place
without a word before failing on the decoder; "the server sends more than N bytes, expected N";
a closing note offering $REALTIME_ADAIN_HOME for any folder. Real files, real tmpfs mounts (root
only), the real CLI."""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path

import pytest
import torch

from cli_support import one_error_line
from test_full_disk import tmpfs
from realtime_adain import doctor, download, engines
from realtime_adain.doctor import onnx_export
from weights_server import WeightsServer, release_bytes, synthetic_release  # noqa: F401

VGG, DECODER = "vgg_normalised.pth", "decoder.pth"


@pytest.fixture
def engine_checks(weights_env, monkeypatch):
    """doctor's engines and caches sections only (the camera and window probes take seconds)."""
    # (the dev extra installs onnxruntime: a missing one is an install to fix, not a skip)
    assert not engines.unavailable("onnx", torch.device("cpu"), torch.float32), "the onnx engine is not installed"
    monkeypatch.setattr(doctor, "CHECKS", {"engines": doctor.engine_support, "caches": doctor.caches})


def read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)


def findings(run_cli) -> tuple[dict[str, dict], list[dict]]:
    """doctor --json: the engines and caches findings by name, and the problems."""
    code, out, err = run_cli("doctor", "--json")
    assert code == 0, err
    report = json.loads(out)
    by_name = {f["name"]: f for section in report["sections"].values() for f in section}
    return by_name, report["problems"]


def assert_onnx_cannot_run(run_cli, data_dir, tmp_path, why: str, image: bool = True) -> None:
    """What doctor said is what the commands do: `export --format onnx` and (`image`) a run with
    --engine onnx refuse (a full disk only after the export's 10-30 s: the export alone then)."""
    code, _, err = run_cli("export", "--format", "onnx")
    assert why in one_error_line(err, code, ignoring=("note: exporting",)), err
    if image:
        code, _, err = run_cli("image", data_dir / "content" / "cornell.jpg", "-s", data_dir / "style" / "asheville.jpg",
                               "--size", "64", "-o", tmp_path / "out.jpg", "--engine", "onnx")
        assert why in one_error_line(err, code), err


@pytest.mark.slow  # (default run's time: 3 s)
def test_doctor_says_onnx_cannot_be_built_where_a_file_is_the_engine_cache(engine_checks, run_cli, data_dir, monkeypatch, tmp_path):
    """The cache was flagged, but the engines section still said "onnx on cpu  runs"."""
    (tmp_path / "engines").write_text("x")
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(tmp_path / "engines"))
    found, problems = findings(run_cli)
    onnx = found["onnx on cpu"]
    assert onnx["value"].startswith(f"no: the engine cache {tmp_path / 'engines'} holds no export") and "a file" in onnx["value"], onnx
    assert found["auto on cpu"]["value"] == "eager"
    assert [p["name"] for p in problems] == ["engines"], problems
    assert_onnx_cannot_run(run_cli, data_dir, tmp_path, "not writable")


@pytest.mark.slow  # (default run's time: 3 s)
def test_doctor_calls_a_read_only_engine_cache_a_problem(engine_checks, run_cli, data_dir, monkeypatch, tmp_path):
    """A read-only cache was a note ("-"), "onnx on cpu runs" and "problems: none"; then
    `--engine onnx` and `export` failed: "the engine cache is not writable"."""
    with tmpfs(tmp_path / "engines", "2m") as cache:
        read_only(cache)
        monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(cache))
        found, problems = findings(run_cli)
        assert found["onnx on cpu"]["value"].startswith("no: ") and "Read-only file system" in found["onnx on cpu"]["value"]
        assert [(p["name"], p["level"]) for p in problems] == [("engines", "problem")], problems
        assert "Read-only file system" in problems[0]["value"] and "REALTIME_ADAIN_ENGINES" in problems[0]["fix"]
        assert_onnx_cannot_run(run_cli, data_dir, tmp_path, "not writable (Read-only file system)")


@pytest.mark.slow
def test_doctor_reports_the_room_for_an_export(engine_checks, run_cli, data_dir, monkeypatch, tmp_path):
    """A cache on a 2 MB disk: "runs", "problems: none", and the export failed for want of space.
    The free bytes are reported and below ONNX_EXPORT_BYTES a problem."""
    with tmpfs(tmp_path / "engines", "2m") as cache:
        monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(cache))
        found, problems = findings(run_cli)
        assert f"{cache}: 0 engines, 0.0 MB, 2.1 MB free; an ONNX export needs up to 32 MB" in found["engines"]["value"]
        assert found["engines"]["level"] == "problem" and "free 32 MB there" in found["engines"]["fix"]
        assert "only 2.1 MB free" in found["onnx on cpu"]["value"] and [p["name"] for p in problems] == ["engines"]
        assert_onnx_cannot_run(run_cli, data_dir, tmp_path, "No space left on device", image=False)


@pytest.mark.slow  # (an ONNX export onto a tmpfs (6 s); doctor's room for one is checked by default)
def test_a_cached_export_runs_from_a_full_cache(engine_checks, run_cli, monkeypatch, tmp_path):
    """With the export of these weights in place, a full cache is no problem (onnx runs from it),
    and its free bytes are reported."""
    with tmpfs(tmp_path / "engines", "40m") as cache:
        monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(cache))
        code, _, err = run_cli("export", "--format", "onnx")
        assert code == 0, err
        with open(cache / "filler", "wb", buffering=0) as out, contextlib.suppress(OSError):
            while True:
                out.write(b"\0" * (1 << 20))
        found, problems = findings(run_cli)
        assert found["onnx on cpu"]["value"] == "runs" and found["auto on cpu"]["value"] == "onnx"
        assert found["engines"]["level"] == "ok" and " MB free" in found["engines"]["value"], found["engines"]
        assert problems == [], problems


def test_the_room_an_export_needs_bounds_every_decoder():
    """ONNX_EXPORT_BYTES: the encoder to relu4_1 and the largest decoder in fp32, and 1 MB of graph."""
    from realtime_adain.networks import Encoder
    from realtime_adain.weights import DECODER_BUILDERS

    with torch.device("meta"):
        sizes = [sum(p.numel() * 4 for p in module.parameters())
                 for module in (Encoder(), *(build() for build in DECODER_BUILDERS.values()))]
    assert sizes[0] + max(sizes[1:]) + 1_000_000 <= onnx_export.ONNX_EXPORT_BYTES


@pytest.fixture
def mirror(synthetic_release, tmp_path) -> Path:
    """A file:// mirror folder holding the release."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    for name, body in synthetic_release.items():
        (folder / name).write_bytes(body)
    return folder


def test_both_places_are_checked_before_anything_is_downloaded(mirror, run_cli, tmp_path):
    """A folder where the decoder goes was refused after the 80 MB VGG had landed, unsaid."""
    (tmp_path / "wd" / DECODER).mkdir(parents=True)
    code, out, err = run_cli("weights", "download", "--base-url", mirror.as_uri(), "--dir", tmp_path / "wd")
    assert "a folder is where the weights file goes" in one_error_line(err, code)
    assert sorted(p.name for p in (tmp_path / "wd").iterdir()) == [DECODER] and out == ""


@pytest.mark.slow  # (default run's time: two downloads)
def test_a_file_that_landed_is_reported_before_a_later_failure(mirror, run_cli, tmp_path):
    """A decoder failing verification: only the error was printed, the VGG in place unsaid."""
    (mirror / DECODER).write_bytes(b"not weights")
    code, out, err = run_cli("weights", "download", "--base-url", mirror.as_uri(), "--dir", tmp_path / "wd", "--no-checksum")
    assert "rejected the download" in one_error_line(err, code)
    assert out.startswith(f"{tmp_path / 'wd' / VGG}: downloaded (") and (tmp_path / "wd" / VGG).is_file(), out


def test_a_file_larger_than_the_release_says_its_size(mirror, run_cli, synthetic_release, tmp_path):
    """"the server sends more than 80102481 bytes, expected 80102481" for a file of 80109653."""
    size = len(synthetic_release[VGG])
    (mirror / VGG).write_bytes(synthetic_release[VGG] + b"\0" * 10)
    code, _, err = run_cli("weights", "download", "--base-url", mirror.as_uri(), "--dir", tmp_path / "wd")
    assert f"the server sends {size + 10} bytes, expected {size} ({VGG} of the release)" in one_error_line(err, code)


def test_a_server_sending_on_past_the_size_is_not_a_contradiction(synthetic_release, tmp_path):
    """No length announced: cut off at the known size, said without "more than N, expected N"."""
    size = len(synthetic_release[DECODER])
    with WeightsServer(synthetic_release) as server:
        server.endless.add(DECODER)
        with pytest.raises(download.UserError, match=f"sends more than the expected {size} bytes, the size of {DECODER}"):
            download.download_file("decoder", f"{server.url}/{DECODER}", tmp_path)


@pytest.mark.parametrize("home", [True, False])
@pytest.mark.slow_cases('False', 'True')  # (default run's time: False stays)
def test_the_closing_note_names_settings_that_find_the_files(mirror, run_cli, monkeypatch, tmp_path, home):
    """$REALTIME_ADAIN_HOME was offered for any --dir; it finds only HOME/weights."""
    for variable in ("REALTIME_ADAIN_VGG", "REALTIME_ADAIN_DECODER"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("REALTIME_ADAIN_HOME", str(tmp_path / "home"))
    target = tmp_path / "portable" / ("weights" if home else "wdl")
    code, out, err = run_cli("weights", "download", "--base-url", mirror.as_uri(), "--dir", target)
    assert code == 0, err
    note = out.strip().splitlines()[-1]
    assert note.startswith(f"note: {target} is not the default weights directory") and "--vgg" in note
    assert ("REALTIME_ADAIN_HOME=" in note) == home, note
    if home:
        assert f"REALTIME_ADAIN_HOME={tmp_path / 'portable'} " in note, note
        monkeypatch.setenv("REALTIME_ADAIN_HOME", str(tmp_path / "portable"))
    else:
        assert f"REALTIME_ADAIN_VGG={target / VGG} and REALTIME_ADAIN_DECODER={target / DECODER}" in note, note
        monkeypatch.setenv("REALTIME_ADAIN_VGG", str(target / VGG))
        monkeypatch.setenv("REALTIME_ADAIN_DECODER", str(target / DECODER))
    code, out, err = run_cli("weights", "info")  # the settings named find the files
    assert code == 0 and str(target / VGG) in out, out + err
