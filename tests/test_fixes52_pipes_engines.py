"""How two runs end: `video --json` whose reader went away says how far it got, as `image` does;
`engines clear` on a read-only cache names the file it could not remove and how many engines went."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from video_samples import gradient_frames, write_video


def test_video_json_with_its_reader_gone_says_what_was_written(run_cli, weights_env, tmp_path, monkeypatch, one_thread):
    """`video clips/ -s st.png -o out --json | head -1` exited 141 with nothing on stderr, where
    `image` says "stopped: standard output was closed; 2 of 3 results written, 1 not tried"."""
    clips = tmp_path / "clips"
    clips.mkdir()
    for name in ("a", "b"):
        write_video(clips / f"{name}.mp4", gradient_frames(2, 32, 24))
    style = tmp_path / "st.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (24, 24, 3), np.uint8)).save(style)
    read_end, write_end = os.pipe()
    os.close(read_end)  # (the reader gone before the first report)
    monkeypatch.setattr(sys, "stdout", open(write_end, "w"))
    code, _, err = run_cli("video", clips, "-s", style, "--device", "cpu", "--size", "24", "--style-size", "24",
                           "--frames", "2", "--stabilize", "off", "-o", tmp_path / "out", "--json")
    sys.stdout.close()
    assert code == 141
    assert err.splitlines()[-1] == "stopped: standard output was closed; 1 of 2 outputs written, 1 not tried", err
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["a_stylized_st.mp4"]


@contextlib.contextmanager
def read_only(folder: Path):
    """`folder` made read-only for real: a read-only bind mount of itself for root (whom no
    permission stops), else its permissions."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if subprocess.run(["mount", "--bind", folder, folder], capture_output=True).returncode != 0:
        pytest.skip("mount --bind is not permitted here")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", folder], check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["umount", folder], check=True)


def test_engines_clear_on_a_read_only_cache_names_the_engine_and_how_many_went(run_cli, tmp_path, monkeypatch):
    """It said "error: .../onnx-....onnx.sha256: Read-only file system": a sidecar, and not whether
    any engine was removed."""
    cache = tmp_path / "eng"
    cache.mkdir()
    for key in ("0" * 20, "1" * 20):
        engine = cache / f"onnx-fp32-dynamic-{key}.onnx"
        engine.write_bytes(b"graph")
        Path(f"{engine}.json").write_text('{"kind": "onnx"}')
        Path(f"{engine}.sha256").write_text("0" * 64)
    monkeypatch.setenv("REALTIME_ADAIN_ENGINES", str(cache))
    with read_only(cache):
        code, out, err = run_cli("engines", "clear")
    assert code == 2 and out == "", (out, err)
    assert err in (f"error: cannot remove {cache}/onnx-fp32-dynamic-{'0' * 20}.onnx ({why}); 0 of 2 engines removed\n"
                   for why in ("Read-only file system", "Permission denied")), err
    assert len(list(cache.iterdir())) == 6
