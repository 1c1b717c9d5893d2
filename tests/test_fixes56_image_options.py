"""Session 56 fixes: the image command's options and what it reads and removes (h11's report)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from realtime_adain import stale_temporaries
from realtime_adain.stale_temporaries import process_tag


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_sweep_leaves_a_users_hidden_files_and_folders(run_cli, weights_env, data_dir, tmp_path):
    """`.album.1999-holidays.part.zip` and the folder `.thesis.2022-versions.part` matched the
    temporaries' pattern (ordinary words fill its 8 characters, a year its process id): an output
    into their folder deleted both, the folder with all it held. Only names with our mark go."""
    old = time.time() - 2 * stale_temporaries.STALE_UNKNOWN_AFTER_S
    album, thesis = tmp_path / ".album.1999-holidays.part.zip", tmp_path / ".thesis.2022-versions.part"
    album.write_bytes(b"precious")
    thesis.mkdir()
    (thesis / "draft.tex").write_bytes(b"chapter 1")
    gone = dead_pid()
    ours = tmp_path / f".clip.realtime-adain-{process_tag(gone)}-abcd_123.part.mp4"  # a killed run's leftover
    ours_folder = tmp_path / f".f_0001.realtime-adain-{process_tag(gone)}-abcd1234.part"
    ours.write_bytes(b"x")
    (ours_folder / "f_0001.png").parent.mkdir()
    (ours_folder / "f_0001.png").write_bytes(b"x")
    for path in (album, thesis, ours, ours_folder):
        os.utime(path, (old, old))
    code, _, err = run_cli("image", data_dir / "content" / "brad_pitt.jpg", "-s", data_dir / "style" / "asheville.jpg",
                           "--size", "32", "--style-size", "32", "-o", tmp_path / "out.jpg")
    assert code == 0, err
    assert album.read_bytes() == b"precious" and (thesis / "draft.tex").read_bytes() == b"chapter 1"
    assert not ours.exists() and not ours_folder.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([album.name, thesis.name, "out.jpg"])


def test_earlier_results_in_the_output_folder_are_not_read_back(run_cli, weights_env, data_dir, tmp_path):
    """`image f/ -s A --ext png -o f/` then `image f/ -s A -o f/` wrote x_stylized_A_stylized_A.png
    (with another style, the first result stylized again; with -o the style folder, results became
    styles): only a result that would replace an input was refused. An earlier result found in a
    folder is refused the same way; one named itself is the user's wish."""
    import shutil

    folder, styles = tmp_path / "f6", tmp_path / "styles"
    folder.mkdir()
    styles.mkdir()
    shutil.copy(data_dir / "content" / "brad_pitt.jpg", folder / "x.jpg")
    shutil.copy(data_dir / "style" / "asheville.jpg", styles / "asheville.jpg")
    small = ("--size", "32", "--style-size", "32")
    code, _, err = run_cli("image", folder, "-s", styles / "asheville.jpg", "--ext", "png", "-o", f"{folder}/", *small)
    assert code == 0, err
    for style in (styles / "asheville.jpg", data_dir / "style" / "trial.jpg"):
        code, _, err = run_cli("image", folder, "-s", style, "-o", f"{folder}/", *small)
        assert code == 2 and err.strip() == (f"error: {folder / 'x_stylized_asheville.png'}: an earlier result, found among "
                                             f"the inputs ({folder} holds both); give -o another folder, or move the "
                                             "earlier results away"), err
    assert sorted(p.name for p in folder.iterdir()) == ["x.jpg", "x_stylized_asheville.png"]
    code, _, err = run_cli("image", folder / "x.jpg", "-s", styles, "-o", f"{styles}/", *small)  # results into the styles
    assert code == 0, err
    code, _, err = run_cli("image", folder / "x.jpg", "-s", styles, "-o", f"{styles}/", *small)
    assert code == 2 and "x_stylized_asheville.jpg: an earlier result, found among the inputs" in err, err
    assert sorted(p.name for p in styles.iterdir()) == ["asheville.jpg", "x_stylized_asheville.jpg"]
    result = folder / "x_stylized_asheville.png"  # named itself: stylized again, as asked
    code, _, err = run_cli("image", result, "-s", data_dir / "style" / "trial.jpg", "-o", f"{folder}/", *small)
    assert code == 0 and (folder / "x_stylized_asheville_stylized_trial.png").is_file(), err


def test_a_mask_from_standard_input_is_refused_as_a_content_or_style_from_it(run_cli, weights_env, data_dir, tmp_path):
    """`--mask -` said "-: no such file"; `-` as content or style says why standard input is no input."""
    content, style = data_dir / "content" / "brad_pitt.jpg", data_dir / "style" / "asheville.jpg"
    small = ("--size", "32", "--style-size", "32")
    _, _, said = run_cli("image", "-", "-s", style, "-o", tmp_path / "a.png", *small)
    code, _, err = run_cli("image", content, "-s", style, "-s", data_dir / "style" / "trial.jpg", "--mask", "-",
                           "-o", tmp_path / "b.png", *small)
    assert code == 2 and err == said and err.strip() == ("error: -: standard input cannot be read: every input is "
                                                         "read more than once; save it to a file first"), (err, said)
    assert list(tmp_path.iterdir()) == []


def test_earlier_video_results_in_the_output_folder_are_not_read_back(run_cli, weights_env, data_dir, tmp_path):
    """`video clips/ -s A -o clips/` then `-s B`: the first run's clip_stylized_A.mp4, found in the
    folder, was stylized as a new input; refused as `image` refuses it (one named is the user's wish)."""
    import shutil

    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copy(data_dir / "videos" / "cutBunny.mp4", clips / "clip.mp4")
    shutil.copy(data_dir / "videos" / "cutBunny.mp4", clips / "clip_stylized_asheville.mp4")  # an earlier result
    code, _, err = run_cli("video", clips, "-s", data_dir / "style" / "trial.jpg", "-o", f"{clips}/", "--frames", "1",
                           "--size", "32", "--style-size", "32")
    assert code == 2 and err.strip() == (f"error: {clips / 'clip_stylized_asheville.mp4'}: an earlier result, found "
                                         f"among the inputs ({clips} holds both); give -o another folder, or move the "
                                         "earlier results away"), err
    assert sorted(p.name for p in clips.iterdir()) == ["clip.mp4", "clip_stylized_asheville.mp4"]
