"""``sequence_regression``: the task passes the conformance kit, learns the adding problem,
answers sequences written as text; both long-memory recipes train."""

from __future__ import annotations

from pathlib import Path

import pytest

import seqframe
from seqframe.builtin.data.generated.long_memory import AddingSource, render_sequence
from seqframe.builtin.tasks.sequence_regression import SequenceRegressionTask, parse_sequence
from seqframe.errors import DataError
from seqframe.testing import check_task


def test_sequence_regression_passes_the_task_kit() -> None:
    check_task(SequenceRegressionTask)


def test_rendered_sequences_parse_back() -> None:
    steps = [[0.5, 0.0], [0.25, 1.0]]
    assert render_sequence(steps) == "0.5,0 0.25,1"
    assert parse_sequence(render_sequence(steps), 2) == steps
    with pytest.raises(DataError, match="step 1 .* has 1 features; expected 2"):
        parse_sequence("0.5,0 0.25", 2)
    with pytest.raises(DataError, match="'x,1'; expected 2 comma-separated numbers"):
        parse_sequence("0.5,0 x,1", 2)
    with pytest.raises(DataError, match="has no step"):
        parse_sequence("  ", 2)


def test_sequence_regression_learns_a_short_adding_problem_and_predicts(tmp_path: Path) -> None:
    overrides = [
        "data.length=4",
        "data.size=512",
        "data.valid_size=256",
        "data.test_size=16",
        "train.steps=150",
        "train.eval_every=150",
        "model.topology.hidden_size=16",
        "model.topology.cell=gru",
    ]
    result = seqframe.run("adding", overrides, out_dir=tmp_path / "run", progress=False)
    final = result.final_eval
    assert final["baseline_mse"] == pytest.approx(1 / 6, abs=0.04)
    assert final["mse"] < 0.25 * final["baseline_mse"] and final["loss"] == final["mse"]
    answer = float(seqframe.predict(tmp_path / "run", ["0.9,1 0.1,0 0.6,1 0.2,0"])[0])
    assert answer == pytest.approx(1.5, abs=0.3)
    with pytest.raises(seqframe.SeqframeError, match="takes no options"):
        seqframe.predict(tmp_path / "run", ["0.9,1 0.1,0"], temperature=1.0)


def test_copy_memory_recipe_scores_symbols_only(tmp_path: Path) -> None:
    overrides = [
        "data.length=3",
        "data.copy_length=2",
        "data.symbols=3",
        "data.size=64",
        "data.valid_size=8",
        "data.test_size=8",
        "train.steps=2",
        "train.eval_every=0",
        "model.topology.hidden_size=8",
    ]
    final = seqframe.run("copy-memory", overrides, out_dir=tmp_path / "run", progress=False).final_eval
    assert {"loss", "accuracy", "scored_accuracy"} <= set(final)


def test_feature_size_comes_from_the_source_and_is_saved() -> None:
    task = SequenceRegressionTask()
    task.fit(AddingSource(length=3, size=4))
    assert task.state_dict() == {"feature_size": 2, "mean": pytest.approx(task.mean)}
    with pytest.raises(DataError, match="feature_size"):
        SequenceRegressionTask().load_state_dict({"mean": 1.0})
