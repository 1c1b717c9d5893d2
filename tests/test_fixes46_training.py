"""Fixes of the training findings of session 46 (tester h4): a fresh run kept an earlier run's
samples and TensorBoard events beside its own; every loss weight 0 trained nothing and saved the
decoder; the number checks echoed 1e-400 as 0.0 and stated --lr's rule for any option; the docs
promised torchrun the single-process result exactly."""

from __future__ import annotations

import pytest

from cli_support import training_error_line
from test_train_hostile_checkpoints import dataset  # noqa: F401  (a fixture)
from train_support import REPO, tiny_args, train_tool  # noqa: F401  (a fixture)


def test_a_fresh_run_removes_the_samples_and_events_an_earlier_run_left(train_tool, dataset, published_weights,  # noqa: F811
                                                                       tmp_path, one_thread):
    """A run stopped before its first checkpoint left samples/iter_0000002.jpg and its event file:
    the next run into that --out kept them beside its own (TensorBoard showed both runs' curves)."""
    out = tmp_path / "run"
    (out / "samples").mkdir(parents=True)
    (out / "tensorboard").mkdir()
    earlier = [out / "samples" / "iter_0000002.jpg", out / "tensorboard" / "events.out.tfevents.1.earlier.1"]
    for path in earlier:
        path.write_bytes(b"the earlier run's")
    notes = out / "samples" / "notes.txt"  # not a run's file: kept
    notes.write_text("mine")
    code, _, err = train_tool(*tiny_args(dataset, published_weights[0], out, 1, "--sample-every", "1"))
    assert code == 0, err
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["iter_0000001.jpg", "notes.txt"]
    assert not any(path.exists() for path in earlier)


@pytest.mark.parametrize("extra, message", [
    (["--content-weight", "0", "--style-weight", "0"], "--content-weight, --style-weight and --temporal-weight are "
     "all 0: the decoder would learn nothing; give one of them a positive weight"),
    (["--lr", "1e-400"], "--lr must be positive (a number too small for a float, such as 1e-400, reads as 0)"),
    (["--style-weight=-1"], "tools/train.py: argument --style-weight: -1 is outside 0..1e+12 (see `tools/train.py --help`)"),
    (["--lr-decay=-1"], "--lr-decay -1.0: must not be negative (and finite)"),
    (["--lr=-1"], "--lr -1.0: must be positive (and finite)"),
])
def test_numbers_are_refused_with_the_rule_of_the_option_given(train_tool, dataset, published_weights, tmp_path,  # noqa: F811
                                                               extra, message):
    """All three loss weights 0 saved an untrained decoder; 1e-400 was said as "--lr 0.0", and a
    negative weight or decay was told --lr's rule."""
    code, _, err = train_tool(*tiny_args(dataset, published_weights[0], tmp_path / "out", 1), *extra)
    assert training_error_line(code, err) == f"error: {message}"
    assert not (tmp_path / "out").exists()


def test_the_docs_say_torchrun_matches_one_process_up_to_float_rounding():
    """Two Adam steps of a two-process run differed from one process's by 2e-4: not "the single-process one"."""
    text = " ".join((REPO / "docs" / "training.md").read_text().split())
    assert "so the result is the single-process one on the whole batch, up to float rounding" in text
