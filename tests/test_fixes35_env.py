"""Fixes of the hostile campaign on the process environment of session 35 (task h4)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from live_support import cli_env
from realtime_adain.atomic import PendingOutput
from realtime_adain.errors import UserError
from test_fixes34_live import TINY, clip, style  # noqa: F401  (fixtures)
from video_samples import probe


@pytest.mark.slow
def test_a_soft_cpu_time_limit_keeps_the_partial_video(published_weights, data_dir, tmp_path):
    """SIGXCPU (`ulimit -S -t`, as batch schedulers set it) killed `video` with a core dump: no
    line, status 152, the work lost and the hidden temporary file left. Now it stops the run as
    SIGTERM does, said as the CPU time limit."""
    def limit_cpu() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (8, resource.RLIM_INFINITY))  # (the kernel repeats it each second)

    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run([sys.executable, "-m", "realtime_adain", "video", data_dir / "videos/cutBunny.mp4", "-s",
                           data_dir / "style/trial.jpg", "--size", "90", "--style-size", "64", "--stabilize", "off",
                           "--device", "cpu", "-o", out / "clip.mp4"],
                          env=cli_env(published_weights, tmp_path / "home"), capture_output=True, text=True,
                          preexec_fn=limit_cpu, timeout=240)
    assert done.returncode == 152 and done.stderr.strip().splitlines()[-1].startswith(
        "CPU time limit reached: "), done.stderr
    assert "Traceback" not in done.stderr
    kept = list(out.iterdir())
    assert [p.name for p in kept] == ["clip.partial.mp4"], done.stderr  # (8 s of CPU: torch loads in about 3)
    assert f"CPU time limit reached: {len(probe(kept[0]).pts)} frames kept in" in done.stderr


@pytest.mark.slow
def test_torch_compile_in_a_deleted_folder_says_so(published_weights, tmp_path):
    """torch._dynamo's import fails on getcwd there: `export` and `doctor` said
    `None: torch.compile's cache cannot be made there (...); set TORCHINDUCTOR_CACHE_DIR ...`."""
    gone = tmp_path / "gone"
    gone.mkdir()

    def enter_then_delete() -> None:
        os.chdir(gone)
        os.rmdir(gone)

    done = subprocess.run([sys.executable, "-m", "realtime_adain", "doctor"], env=cli_env(published_weights, tmp_path / "home"),
                          capture_output=True, text=True, preexec_fn=enter_then_delete, timeout=120)
    line = next(line for line in done.stdout.splitlines() if "compile on cpu" in line)
    assert line.endswith("no: torch.compile cannot start: the current folder was deleted; give absolute paths or cd "
                         "to a folder that exists"), done.stdout
    assert "None" not in done.stdout + done.stderr


def test_an_output_folder_renamed_and_made_anew_mid_run_is_said_so(tmp_path):
    """`mv d d2; mkdir d` during a run said `d/v.mp4: cannot write (No such file or directory)` of
    a folder that is there; a folder only renamed or removed was already said so."""
    folder = tmp_path / "d"
    folder.mkdir()
    pending = PendingOutput(folder / "v.mp4")
    pending.path.write_bytes(b"frames")
    folder.rename(tmp_path / "d2")
    folder.mkdir()
    with pytest.raises(UserError, match=r"^.*/d/v\.mp4: cannot write \(its folder .*/d was removed or renamed during the run\)$"):
        pending.publish()
    assert not list(folder.iterdir()) and not list((tmp_path / "d2").iterdir())


@pytest.mark.parametrize("output", ["-v.mp4", "-x.png"])
def test_an_output_named_with_a_dash_gets_the_hint_for_the_option(run_cli, tmp_path, monkeypatch, output):
    """`-o -v.mp4 -- -in.mp4` was told `-in.mp4 is a file: write ./-in.mp4, or put -- before it`
    (it was after --), and `-o -x.png` got no hint."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-in.mp4").write_bytes(b"")
    code, _, err = run_cli("video", "-s", "s.jpg", "-o", output, "--", "-in.mp4")
    assert code == 2 and f"expected one argument; a value starting with '-' is written -o={output}" in err, err
    assert "-in.mp4 is a file" not in err


@pytest.mark.parametrize("option, says", [
    ("-o", "error: -o/--output '': empty (an unset variable?); give a value, or leave -o out"),
    ("--log", "error: --log '': empty (an unset variable?); give a value, or leave --log out"),
    ("--stream", "error: --stream '': empty (an unset variable?); give a value, or leave --stream out"),
])
def test_an_empty_live_output_option_is_refused(run_cli, weights_env, clip, style, tmp_path, option, says):
    """`live -o "$OUT"` with OUT unset recorded nothing without a word (an empty value read as not
    given), `--log ''` and `--stream ''` likewise (found by the review of session 35)."""
    written = tmp_path / "written"
    written.mkdir()
    extra = ["--stream", "udp://127.0.0.1:9"] if option == "-o" else ["-o", written / "out.mp4"]
    code, _, err = run_cli("live", "--source", clip, "--styles", style, "--no-window", option, "", *extra,
                           "--max-frames", "2", *TINY)
    assert code == 2 and err.strip() == says, err
    assert not any(written.iterdir())
