"""Session 30's fixes to `live`, `engines`, `export` and `doctor`, each found by a hostile try (one
test per finding)."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from live_support import FAST


@pytest.mark.parametrize("target", ["style", "hard link of the source"])
def test_live_output_never_replaces_a_style_image_or_a_hard_link_of_the_source(run_cli, weights_env, data_dir,
                                                                               tmp_path, target):
    """`-o trialcopy.mp4` with `--styles trialcopy.mp4` (a JPEG so named) replaced the style image;
    the check `--log` makes (one entry, or one file under two names) now covers -o too."""
    clip = tmp_path / "clip.mp4"
    shutil.copy(data_dir / "videos" / "cutBunny.mp4", clip)
    style = tmp_path / "trialcopy.mp4"
    shutil.copy(data_dir / "style" / "trial.jpg", style)
    out = style if target == "style" else tmp_path / "linked.mp4"
    if target != "style":
        os.link(clip, out)
    before = out.read_bytes()
    code, _, err = run_cli("live", "--source", clip, "--styles", style, "--no-window", "-o", out,
                           "--max-frames", "2", *FAST)
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"error: {out}: -o would write into"), err
    assert out.read_bytes() == before and (target == "style" or os.path.samefile(out, clip))


def _cached(directory, key_part: str = "", kind: str = "onnx", suffix: str = ".onnx") -> "tuple[object, object]":
    """A cache holding one engine stored as a build stores it (its bytes, sidecar and digest). Its
    bytes are no real graph: `engines list` vouches for an .onnx only where a run would load it,
    so a test of the digest alone stores a TensorRT kind (checked by its digest)."""
    from realtime_adain.engines.cache import EngineCache

    cache = EngineCache(directory)
    components = {"kind": kind, "precision": "fp32", "shape": "dynamic", "weights": f"w{key_part}"}
    entry = cache.store(cache.entry(components, suffix), lambda path: path.write_bytes(bytes(range(256)) * 400))
    return cache, entry


def test_engines_list_flags_an_export_changed_since_its_build(run_cli, monkeypatch, tmp_path):
    """64 bytes overwritten in the middle of a cached export (sidecars intact): `live` and `doctor`
    said it "does not match the record of its build" and rebuilt it, `engines list` showed it as sound."""
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(tmp_path / "engines"))
    _, entry = _cached(tmp_path / "engines", kind="tensorrt", suffix=".ep")
    code, out, _ = run_cli("engines", "list")
    assert code == 0 and "does not match" not in out, out
    with open(entry.path, "r+b") as handle:
        handle.seek(50000)
        handle.write(b"X" * 64)
    code, out, _ = run_cli("engines", "list")
    assert code == 0 and "(does not match the record of its build: will be rebuilt)" in out, out
    code, out, _ = run_cli("engines", "list", "--json")
    assert code == 0 and [row["matches_build"] for row in json.loads(out)["engines"]] == [False], out


def test_engines_clear_removes_orphan_sidecars_and_dangling_links(run_cli, monkeypatch, tmp_path):
    """`clear` left sidecars whose engine was gone and a dangling link named like an engine (which
    `list` did not show), and `list` gave a link to /etc/passwd that file's size."""
    folder = tmp_path / "engines"
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(folder))
    _cached(folder)
    orphan = "onnx-fp32-dynamic-3333333333cccccccccc.onnx"
    for suffix in (".json", ".sha256"):
        (folder / (orphan + suffix)).write_text("{}")
    dangling = folder / "onnx-fp32-dynamic-6666666666ffffffffff.onnx"
    dangling.symlink_to(tmp_path / "nowhere")
    target = tmp_path / "someone's.txt"
    target.write_bytes(b"x" * 5000)
    link = folder / "onnx-fp32-dynamic-1111111111aaaaaaaaaa.onnx"
    link.symlink_to(target)
    (folder / "keep.txt").write_text("not ours")
    code, out, _ = run_cli("engines", "list", "--json")
    rows = {row["path"]: row["bytes"] for row in json.loads(out)["engines"]}
    assert code == 0 and rows[str(dangling)] == os.lstat(dangling).st_size, out
    assert rows[str(link)] == os.lstat(link).st_size < 5000, out
    code, out, _ = run_cli("engines", "clear")
    assert code == 0 and out.startswith("removed 3 engines (0.1 MB)"), out
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"] and target.read_bytes() == b"x" * 5000


@pytest.mark.parametrize("blocking", ["folder at the export", "fifo at its digest"])
def test_export_over_a_foreign_entry_says_the_error_alone(run_cli, weights_env, monkeypatch, tmp_path, blocking):
    """A folder at the cached export's name (or a fifo at its `.sha256`): `export --format onnx`
    first noted that the export "does not match the record of its build", then gave the error."""
    from realtime_adain import weight_digests
    from realtime_adain.engines.cache import EngineCache
    from realtime_adain.engines.onnx import onnx_components
    from realtime_adain import notes

    monkeypatch.setattr(notes, "_said", set())  # (a note said once per process: said by an earlier test)
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(tmp_path / "engines"))
    (tmp_path / "engines").mkdir()
    cache = EngineCache()
    entry = cache.entry(onnx_components(weight_digests.files_id(list(weights_env))), ".onnx")
    if blocking == "folder at the export":
        entry.path.mkdir()
    else:
        entry.path.write_bytes(b"an export")
        entry.sidecar.write_text(json.dumps(entry.components))
        os.mkfifo(entry.digest_file)
    code, _, err = run_cli("export", "--format", "onnx")
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ") and "move it away" in err, err


@pytest.mark.slow  # (default run's time, 2026-12-07: a rarer variant; the corpus and `-m slow` runs keep it)
def test_doctor_names_a_qt_platform_opencv_lacks_as_live_does(run_cli, monkeypatch, data_dir):
    """QT_QPA_PLATFORM=bogus: doctor said OpenCV's Qt "cannot reach a display through its 'bogus'
    platform plugin"; there is no such plugin, as `live` says."""
    import cv2

    from realtime_adain import doctor
    from realtime_adain.doctor.libraries import opencv_gui

    if opencv_gui(cv2.getBuildInformation()) != "QT5":
        pytest.skip("needs opencv-python's Qt")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":97")  # no server: xcb cannot stand in
    monkeypatch.setenv("QT_QPA_PLATFORM", "bogus")
    says = "QT_QPA_PLATFORM=bogus is not a platform OpenCV's Qt has"
    finding, = doctor.display()
    assert finding.level == "problem" and says in finding.value, finding
    monkeypatch.setenv("REALTIME_ADAIN_VGG", "/nonexistent/vgg.pth")  # the window is checked before any weights
    code, _, err = run_cli("live", "--source", data_dir / "videos" / "cutBunny.mp4",
                           "-s", data_dir / "style" / "mondrian.jpg", *FAST)
    assert code == 2 and says in err, err


def test_doctor_says_weights_that_are_a_fifo_are_not_a_regular_file(monkeypatch, tmp_path):
    """$REALTIME_ADAIN_VGG naming a fifo: doctor said "missing: ...", of a file that is there."""
    from realtime_adain.doctor import storage

    fifo = tmp_path / "vgg.pth"
    os.mkfifo(fifo)
    monkeypatch.setenv("REALTIME_ADAIN_VGG", str(fifo))
    finding = storage._check_weights_file("vgg")
    assert finding.level == "problem" and finding.value.startswith(f"not a regular file: {fifo}"), finding
    monkeypatch.setenv("REALTIME_ADAIN_VGG", str(tmp_path / "gone.pth"))
    assert storage._check_weights_file("vgg").value.startswith("missing: ")
