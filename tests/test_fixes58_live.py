"""Session 58: a signal while `live` builds its engine (torch.compile's C++ compiler, in the same
process group, dies of it too) ends the session as the signal, not as a "C++ compile error"
traceback of 120 lines."""

from __future__ import annotations

import os
import signal

from live_support import FAST, copy_styles, write_video
from realtime_adain.stylizer import Stylizer


def test_a_signal_while_the_engine_is_built_ends_the_session_without_a_traceback(run_cli, weights_env, data_dir,
                                                                                  tmp_path, monkeypatch, one_thread):
    def compiler_killed(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # (raised while the engine is built, session 59; else the compiler's error)
        raise RuntimeError("CppCompileError: C++ compile error")

    monkeypatch.setattr(Stylizer, "prepare", compiler_killed)
    clip = write_video(tmp_path / "clip.mp4", frames=6)
    styles = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    code, _, err = run_cli("live", "--source", clip, "--styles", styles, "--no-window", "-o", tmp_path / "out.mp4", *FAST)
    assert "Traceback" not in err and "CppCompileError" not in err, err
    assert code == 143 and err.strip().endswith("terminated"), err  # (as docs/live.md says: before any `live:` line)
    assert not (tmp_path / "out.mp4").exists()  # (no output was opened: the session never began)


def test_an_engine_failing_without_a_signal_is_still_said(run_cli, weights_env, data_dir, tmp_path, monkeypatch, one_thread):
    def broken(self, *args, **kwargs):
        raise RuntimeError("CppCompileError: C++ compile error")

    monkeypatch.setattr(Stylizer, "prepare", broken)
    clip = write_video(tmp_path / "clip.mp4", frames=6)
    styles = copy_styles(data_dir, tmp_path / "styles", names=("trial.jpg",))
    try:
        code, _, err = run_cli("live", "--source", clip, "--styles", styles, "--no-window", "-o", tmp_path / "out.mp4", *FAST)
    except RuntimeError as exc:  # (the command's own handler may turn it into its bug report; never swallowed)
        assert "C++ compile error" in str(exc)
    else:
        assert code != 0 and "C++ compile error" in err
