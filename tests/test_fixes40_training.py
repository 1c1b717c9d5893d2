"""Fixes of the training findings of session 40 (tester h4): `--temporal-weight` added its term
to the loss, but log.csv and TensorBoard had only the content, style and total losses, so nobody
could tell from the log whether the term did anything."""

from __future__ import annotations

import csv

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from realtime_adain.training import checkpoint
from realtime_adain.training.config import TrainConfig
from realtime_adain.training.run_files import CSV_FIELDS
from realtime_adain.training.trainer import Trainer
from test_fixes39_training import drop_checkpoint
from test_train_hostile_checkpoints import copy_run, dataset, edit_state, finished_run  # noqa: F401  (fixtures)
from train_support import load_tool, tiny_args, train_tool  # noqa: F401  (fixtures)

TEMPORAL_WEIGHT = 5.0
LOSSES = ("content_loss", "style_loss", "temporal_loss", "total_loss")


def log_rows(run) -> list[dict[str, str]]:
    with open(run / "log.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def without_speed(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Rows without iterations_per_s (a clock's, never the same twice)."""
    return [{name: value for name, value in row.items() if name != "iterations_per_s"} for row in rows]


@pytest.fixture(scope="module")
def temporal_run(dataset, published_weights, tmp_path_factory):  # noqa: F811
    """Two iterations with a temporal weight, a log row and a checkpoint after each."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("runs") / "temporal"
    try:
        assert load_tool("train").main(tiny_args(dataset, published_weights[0], run, 2, "--temporal-weight",
                                                 str(TEMPORAL_WEIGHT), "--log-every", "1", "--save-every", "1")) == 0
    finally:
        torch.set_num_threads(before)
    return run


def test_the_log_has_the_weighted_temporal_term_as_recomputed(temporal_run, tmp_path, one_thread):
    """The first row's temporal_loss is the term of the first batch, computed again from the same
    seed, data and decoder; total_loss is the sum of the three; TensorBoard has it too."""
    first = log_rows(temporal_run)[0]
    settings = checkpoint.load_checkpoint(temporal_run).trainer.config
    trainer = Trainer(TrainConfig(**{**settings, "out": str(tmp_path / "again")}))  # as the run was at iteration 0
    try:
        content, style = trainer.next_batch()
        with torch.no_grad():
            loss_c, loss_s, loss_t, _ = trainer.training.net(content, style, temporal=True)
    finally:
        trainer.close()
    assert float(loss_t) > 0
    for name, value in zip(LOSSES, (loss_c, loss_s, loss_t, loss_c + loss_s + loss_t)):
        assert float(first[name]) == pytest.approx(float(value), rel=1e-5), name
    events = EventAccumulator(str(temporal_run / "tensorboard"))
    events.Reload()
    assert [event.step for event in events.Scalars("loss/temporal")] == [1, 2]
    assert events.Scalars("loss/temporal")[0].value == pytest.approx(float(loss_t), rel=1e-6)


def test_a_run_without_the_weight_logs_a_zero_term(finished_run):  # noqa: F811
    assert [row["temporal_loss"] for row in log_rows(finished_run)] == ["0"]


def log_before_the_temporal_column(run) -> None:
    """log.csv as an earlier version wrote it: the same rows without temporal_loss."""
    rows = log_rows(run)
    with open(run / "log.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, [name for name in CSV_FIELDS if name != "temporal_loss"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def without_temporal_sum(tensors, document):
    """The loss window as an earlier version kept it: content, style, total."""
    del document["loss_window"]["sums"][2]


def three_loss_sums(tensors, document):
    document["loss_window"] = {"sums": [1.0, 2.0, 3.5], "iterations": 1}  # (sums over 0 iterations are refused)


@pytest.mark.slow  # (default run's time: a run and its resume)
def test_a_run_logged_before_the_column_resumes(train_tool, temporal_run, tmp_path, one_thread):
    """A log.csv (and trainer state) of an earlier version: the resumed run's log gets the column,
    empty in the rows logged before, and goes on with the rows an uninterrupted run logs."""
    run = copy_run(temporal_run, tmp_path)
    drop_checkpoint(run, 2)
    log_before_the_temporal_column(run)
    edit_state(run, without_temporal_sum)
    code, _, err = train_tool("--resume", run)
    assert code == 0, err
    assert (run / "log.csv").read_text().splitlines()[0] == ",".join(CSV_FIELDS)
    straight, resumed = without_speed(log_rows(temporal_run)), without_speed(log_rows(run))
    assert resumed == [{**straight[0], "temporal_loss": ""}, straight[1]]


def test_an_earlier_loss_window_gets_the_temporal_sum_from_its_total(finished_run, tmp_path):  # noqa: F811
    """A trainer state whose loss window has three sums (content, style, total): the temporal sum
    is what the total has beyond the other two."""
    run = copy_run(finished_run, tmp_path)
    edit_state(run, three_loss_sums)
    assert checkpoint.load_checkpoint(run).trainer.loss_window == [1.0, 2.0, 0.5, 3.5]
