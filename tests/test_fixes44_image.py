"""`image` defects found by tester h6 (session 44).

- A full disk stopped a folder run with the failed output's error alone: nothing said how many
  results were written, nor that the others were never tried.
- A signal right after a result was renamed into place lost its path (its `--json` record).
- `-o .png` and `-o out.` quietly made folders (Path.suffix is '' for both), where `-o out.gif` is
  refused as a likely typo; `video`'s `-o` goes through the same check.
- Options after `--` are file names: `image -- a.png -s s.jpg` said only that --style is missing.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from realtime_adain import atomic
from realtime_adain.commands.jobs import output_paths, plan_jobs
from realtime_adain.errors import UserError
from realtime_adain.imageio import write_image
from realtime_adain.video.containers import CONTAINER_FORMATS
from test_full_disk import tmpfs


def noise(path: Path, width: int, height: int) -> Path:
    """Random pixels: a PNG that does not compress (nor does its result, at its own size)."""
    write_image(path, np.random.default_rng(0).integers(0, 256, (height, width, 3), np.uint8))
    return path


@pytest.mark.slow_cases("last")  # (5 s each: a 300x200 picture through the network)
@pytest.mark.parametrize("big_at, said", [(0, "0 of 3 results written, 2 not tried"), (2, "2 of 3 results written")],
                         ids=["first", "last"])
def test_a_full_disk_stops_the_run_saying_what_was_written_and_not_tried(run_cli, weights_env, data_dir, tmp_path,
                                                                         big_at, said):
    """Only the failed output was named: the user could not tell the others were never tried
    (or, the last failing, that the others were written)."""
    contents = [noise(tmp_path / f"small{n}.png", 16, 16) for n in range(2)]
    contents.insert(big_at, noise(tmp_path / "big.png", 300, 200))  # (its result fills 64 KiB)
    with tmpfs(tmp_path / "disk", "64k") as disk:
        code, out, err = run_cli("image", *contents, "-s", data_dir / "style" / "trial.jpg", "--size", "0",
                                 "--style-size", "64", "-o", f"{disk}/")
        left = sorted(p.name for p in disk.iterdir())
    assert code == 2
    assert err == f"error: {disk}/big_stylized_trial.png: cannot write (No space left on device); stopped there: {said}\n"
    assert left == sorted(Path(line).name for line in out.splitlines()) == (
        ["small0_stylized_trial.png", "small1_stylized_trial.png"] if big_at else [])


def test_a_signal_right_after_a_result_is_renamed_into_place_still_reports_it(run_cli, weights_env, data_dir, tmp_path,
                                                                            monkeypatch):
    """The file was on disk, its --json record never printed: the signal now waits for it."""
    contents = [noise(tmp_path / f"c{n}.png", 16, 16) for n in range(2)]
    publish = atomic.PendingOutput.publish

    def publish_then_signal(self, *args, **kwargs):
        published = publish(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)  # (its handler runs at the next instruction)
        return published

    monkeypatch.setattr(atomic.PendingOutput, "publish", publish_then_signal)
    code, out, err = run_cli("image", *contents, "-s", data_dir / "style" / "trial.jpg", "--size", "16",
                             "--style-size", "32", "-o", tmp_path / "out", "--json")
    assert (code, err) == (130, "interrupted\n")
    assert [json.loads(line)["output"] for line in out.splitlines()] == [str(tmp_path / "out" / "c0_stylized_trial.png")]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["c0_stylized_trial.png"]


@pytest.mark.parametrize("output, said", [(".png", "a name that is only an extension; name the file (e.g. out.png)"),
                                          ("out.", "ends with '.', no format after it (written: .jpg")])
def test_an_output_named_only_an_extension_or_ending_in_a_dot_is_refused(run_cli, weights_env, data_dir, tmp_path,
                                                                         monkeypatch, output, said):
    """`-o .png` made the folder .png/, `-o out.` the folder out./ (as `-o out.gif` is not)."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("image", data_dir / "content" / "cornell.jpg", "-s", data_dir / "style" / "trial.jpg",
                             "-o", output)
    assert code == 2 and not out
    assert err.startswith(f"error: {output}: {said}") and "to make a folder of that name, end it with /" in err, err
    assert not list(tmp_path.iterdir())


def test_video_outputs_named_so_are_refused_too_and_a_slash_still_makes_a_folder():
    jobs = plan_jobs([Path("clip.mp4")], [Path("s.jpg")])
    for output in (".mp4", "clip.", "out/.MKV"):
        with pytest.raises(UserError, match="only an extension|ends with '.'"):
            output_paths(output, jobs, tuple(CONTAINER_FORMATS), "video", None)
    assert output_paths(".mp4/", jobs, tuple(CONTAINER_FORMATS), "video", None) == [Path(".mp4/clip_stylized_s.mp4")]
    assert output_paths("..", jobs, tuple(CONTAINER_FORMATS), "video", None) == [Path("../clip_stylized_s.mp4")]


@pytest.mark.parametrize("args, option", [(["--", "-a.png", "-s", "s.jpg", "-o", "x.png"], "-s"),
                                          (["-s", "s.jpg", "--", "-a.png", "--output=x.png"], "--output=x.png")])
def test_a_required_option_after_dashes_is_said_to_be_a_file_name_there(run_cli, tmp_path, monkeypatch, args, option):
    """Only "the following arguments are required: --style/-s" was said."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-a.png").touch()
    code, _, err = run_cli("image", *args)
    assert code == 2
    assert f"; {option} comes after --, which makes everything after it a file name: put options before --" \
        in err, err
