"""The long-memory problems (``adding``, ``copy_memory``) and ``sequence_regression``: the
data is what the papers define, deterministic by seed; the task passes the conformance kit,
learns, and answers sequences written as text; both recipes train."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import seqframe
from seqframe.builtin.data.generated.long_memory import (
    AddingSource,
    CopyMemorySource,
    adding_baseline,
    copy_baseline,
    render_sequence,
)
from seqframe.builtin.tasks.sequence_regression import SequenceRegressionTask, parse_sequence
from seqframe.errors import DataError
from seqframe.interfaces import ExampleSource, SequenceSource
from seqframe.testing import check_data_source, check_task


def test_adding_examples_have_two_markers_one_per_half_and_their_sum_as_target() -> None:
    data = AddingSource(length=10, size=50, valid_size=5, test_size=5)
    assert isinstance(data, SequenceSource) and data.feature_size == 2
    for example in data.examples("train"):
        steps = example["sequence"]
        marked = [i for i, (_, marker) in enumerate(steps) if marker == 1.0]
        assert len(steps) == 10 and len(marked) == 2 and marked[0] < 5 <= marked[1]
        assert all(0.0 <= value < 1.0 and marker in (0.0, 1.0) for value, marker in steps)
        assert example["value"] == pytest.approx(steps[marked[0]][0] + steps[marked[1]][0])


def test_adding_is_deterministic_by_seed_and_splits_differ() -> None:
    a, b = AddingSource(length=6, size=20, seed=3), AddingSource(length=6, size=20, seed=3)
    assert a.examples("train") == b.examples("train")
    assert a.examples("train") != AddingSource(length=6, size=20, seed=4).examples("train")
    assert a.examples("valid")[0] != a.examples("train")[0]
    assert AddingSource(length=6, size=99, seed=3).examples("valid") == a.examples("valid")  # split sizes independent


def test_adding_baseline_is_the_variance_of_two_uniforms() -> None:
    values = torch.tensor([e["value"] for e in AddingSource(length=4, size=20000).examples("train")])
    assert adding_baseline() == pytest.approx(1 / 6)
    assert float(((values - 1.0) ** 2).mean()) == pytest.approx(adding_baseline(), abs=0.01)


def test_copy_memory_layout_is_symbols_blanks_delimiter_then_the_symbols_back() -> None:
    data = CopyMemorySource(length=6, copy_length=3, symbols=4, size=20, valid_size=2, test_size=2)
    assert isinstance(data, ExampleSource) and not isinstance(data, SequenceSource)
    for example in data.examples("train"):
        text, tags = example["text"], example["tags"]
        assert len(text) == len(tags) == 6 + 2 * 3
        word = text[:3]
        assert set(word) <= set("abcd") and text[3:] == "-----" + ":" + "---"
        assert tags == ["-"] * 9 + list(word)
    assert data.texts("valid") == [e["text"] for e in data.examples("valid")]


def test_copy_baseline_is_the_memoryless_cross_entropy() -> None:
    assert copy_baseline(100) == pytest.approx(10 * math.log(8) / 120)
    assert copy_baseline(5, copy_length=3, symbols=4) == pytest.approx(3 * math.log(4) / 11)


@pytest.mark.parametrize("options, message", [
    ({"length": 1}, "length must be an int >= 2"), ({"size": 0}, "size must be an int >= 1"),
    ({"seed": -1}, "seed must be an int >= 0")])
def test_adding_rejects_bad_options(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AddingSource(**options)


def test_copy_memory_rejects_too_many_symbols() -> None:
    with pytest.raises(ValueError, match="symbols must be at most 26"):
        CopyMemorySource(symbols=27)


@pytest.mark.parametrize("factory, options", [(AddingSource, {"length": 5, "size": 20}),
                                              (CopyMemorySource, {"length": 5, "size": 20})])
def test_sources_pass_the_data_kit(factory, options) -> None:
    check_data_source(factory, options=options)


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
    overrides = ["data.length=4", "data.size=512", "data.valid_size=256", "data.test_size=16", "train.steps=150",
                 "train.eval_every=150", "model.topology.hidden_size=16", "model.topology.cell=gru"]
    result = seqframe.run("adding", overrides, out_dir=tmp_path / "run", progress=False)
    final = result.result.final_eval
    assert final["baseline_mse"] == pytest.approx(1 / 6, abs=0.04)
    assert final["mse"] < 0.25 * final["baseline_mse"] and final["loss"] == final["mse"]
    answer = float(seqframe.predict(tmp_path / "run", ["0.9,1 0.1,0 0.6,1 0.2,0"])[0])
    assert answer == pytest.approx(1.5, abs=0.3)
    with pytest.raises(seqframe.SeqframeError, match="takes no options"):
        seqframe.predict(tmp_path / "run", ["0.9,1 0.1,0"], temperature=1.0)


def test_copy_memory_recipe_scores_symbols_only(tmp_path: Path) -> None:
    overrides = ["data.length=3", "data.copy_length=2", "data.symbols=3", "data.size=64", "data.valid_size=8",
                 "data.test_size=8", "train.steps=2", "train.eval_every=0", "model.topology.hidden_size=8"]
    final = seqframe.run("copy-memory", overrides, out_dir=tmp_path / "run", progress=False).result.final_eval
    assert {"loss", "accuracy", "scored_accuracy"} <= set(final)


def test_feature_size_comes_from_the_source_and_is_saved() -> None:
    task = SequenceRegressionTask()
    task.fit(AddingSource(length=3, size=4))
    assert task.state_dict() == {"feature_size": 2, "mean": pytest.approx(task.mean)}
    with pytest.raises(DataError, match="feature_size"):
        SequenceRegressionTask().load_state_dict({"mean": 1.0})
