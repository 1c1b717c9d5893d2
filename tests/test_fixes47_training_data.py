"""Fixes of session 47 to the training data's file search (`training.image_listing.list_images`)."""

from __future__ import annotations

from realtime_adain.training import image_listing


def make_run_folder(folder, marker: str) -> None:
    """A training run's --out as the trainer leaves it: checkpoints/, samples/ and `marker`
    (its lock, or its log.csv where no lock is made)."""
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "samples").mkdir()
    (folder / "samples" / "iter_0000001.jpg").write_bytes(b"x")
    (folder / marker).write_bytes(b"")


def test_an_earlier_runs_folder_inside_the_dataset_is_left_out_with_a_note(tmp_path, capsys):
    """An earlier run's --out inside --content (or --style): its stylized samples were taken as
    content to train on, or to evaluate as held-out content. A folder that merely holds a log.csv
    or a checkpoints/ folder is data as before."""
    root = tmp_path / "tc"
    root.mkdir()
    (root / "photo.jpg").write_bytes(b"x")
    make_run_folder(root / "run", ".lock")
    make_run_folder(root / "other_run", "log.csv")
    (root / "notes" / "checkpoints").mkdir(parents=True)  # no lock, no log.csv: not a run
    (root / "notes" / "kept.jpg").write_bytes(b"x")
    assert image_listing.list_images(root, "style") == [root / "notes" / "kept.jpg", root / "photo.jpg"]
    said = capsys.readouterr().err
    assert f"note: {root / 'run'}: left out, it holds a training run" in said
    assert f"note: {root / 'other_run'}: left out, it holds a training run" in said
    assert said.count("left out") == 2
