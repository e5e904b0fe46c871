"""Tests of the seqframe-regression plugin: its data, its metrics against hand-computed
values, seqframe's task contract (the conformance kit), the hooks and entry point, and the
whole life of a run through the ``seqframe`` command line in subprocesses: train,
evaluate, predict, checkpoint and resume exactly."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import torch
from num2words import num2words
from torch import nn

from seqframe.builtin.tokenizers import CharTokenizer
from seqframe.errors import DataError, RecipeError, SeqframeError
from seqframe.interfaces import EvalSettings, Tokenizers
from seqframe.plugins import PluginInfo, load_plugin_manager
from seqframe.registry import Registry
from seqframe.testing import check_task
from seqframe_regression import SpelledNumbersDataset, TextRegressionTask, plugin

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "spelled-numbers.yaml"
TINY = [
    "data.max_number=120",
    "data.valid_size=10",
    "data.test_size=10",
    "model.embedding_dim=4",
    "model.topology.hidden_size=8",
    "train.batch_size=8",
    "train.eval_every=0",
    "train.log_every=1",
    "train.device=cpu",
]


def test_spelled_numbers_splits_are_disjoint_deterministic_and_spelt_by_num2words() -> None:
    data = SpelledNumbersDataset(max_number=50, valid_size=5, test_size=5, seed=3)
    splits = {split: data.examples(split) for split in ("train", "valid", "test")}
    values = [e["value"] for split in splits.values() for e in split]
    assert [len(s) for s in splits.values()] == [40, 5, 5] and sorted(values) == [float(n) for n in range(50)]
    assert all(e["text"] == num2words(int(e["value"])) for e in splits["train"])
    assert SpelledNumbersDataset(max_number=50, valid_size=5, test_size=5, seed=3).examples("valid") == splits["valid"]
    assert data.texts("test") == [e["text"] for e in splits["test"]]


def test_spelled_numbers_rejects_an_unknown_language_by_name() -> None:
    with pytest.raises(ValueError, match="num2words has no language 'xx'"):
        SpelledNumbersDataset(lang="xx")


class _Constant(nn.Module):
    """Predicts the same standardized value for every text."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.tensor(value))

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.value.expand(ids.shape[0])


def test_metrics_are_in_the_targets_units() -> None:
    task, tokenizer = TextRegressionTask(), CharTokenizer()
    task.load_state_dict({"mean": 10.0, "std": 2.0})
    tokenizer.fit(["one two three"])
    examples = [{"text": "one", "value": 11.0}, {"text": "two", "value": 14.0}, {"text": "three", "value": 10.0}]
    model = _Constant(0.5)  # predicts 10 + 0.5 * 2 = 11 for every text
    tokenizers = Tokenizers(tokenizer)
    metrics = task.evaluate(model, task.encode(tokenizers, examples), EvalSettings(tokenizers, batch_size=2))
    errors = [0.0, -3.0, 1.0]
    assert metrics["mse"] == pytest.approx(sum(e * e for e in errors) / 3)
    assert metrics["mae"] == pytest.approx(4 / 3) and metrics["rmse"] == pytest.approx(math.sqrt(10 / 3))
    assert metrics["loss"] == pytest.approx(metrics["mse"] / 4)  # standardized: divided by std squared
    assert metrics["rounded_accuracy"] == pytest.approx(1 / 3)
    assert task.predict(model, tokenizers, ["two", "one"], decimals=1) == ["11.0", "11.0"]


def test_fit_learns_mean_and_std_and_refuses_bad_values() -> None:
    task = TextRegressionTask()
    task.fit(SpelledNumbersDataset(max_number=5, valid_size=1, test_size=1, seed=0))
    values = [e["value"] for e in SpelledNumbersDataset(max_number=5, valid_size=1, test_size=1).examples("train")]
    mean = sum(values) / len(values)
    assert task.state_dict() == pytest.approx(
        {"mean": mean, "std": math.sqrt(sum((v - mean) ** 2 for v in values) / 3)}
    )
    tokenizer = CharTokenizer()
    tokenizer.fit(["x"])
    with pytest.raises(DataError, match=r"example 0 \('x'\) has value 'ten'; expected a finite number"):
        task.encode(Tokenizers(tokenizer), [{"text": "x", "value": "ten"}])


def test_predict_rejects_options_it_does_not_take() -> None:
    with pytest.raises(SeqframeError, match="predict takes only decimals; got temperature"):
        TextRegressionTask().predict(_Constant(0.0), Tokenizers(CharTokenizer()), ["x"], temperature=0.5)


def test_the_task_passes_seqframes_conformance_kit() -> None:
    check_task(TextRegressionTask)


@pytest.fixture
def registry() -> Registry:
    """The built-ins plus this plugin, independent of what is installed."""
    pm = load_plugin_manager(entry_points=False)
    pm.add_plugin(plugin, PluginInfo("regression", plugin.__name__, "seqframe-regression", "0.1.0"))
    return Registry.from_plugin_manager(pm)


def test_the_hooks_register_the_task_and_the_data_source(registry: Registry) -> None:
    assert registry.get("task", "text_regression").factory is TextRegressionTask
    assert registry.get("dataset", "spelled_numbers").distribution == "seqframe-regression"


def test_the_entry_point_names_the_plugin_module() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["seqframe"] == {"regression": "seqframe_regression.plugin"}


def test_the_recipe_validates_and_a_bad_pooling_is_a_recipe_error(registry: Registry) -> None:
    import seqframe

    seqframe.api.validate(RECIPE, registry=registry)
    with pytest.raises(
        RecipeError, match="model.pooling: text_regression: pooling must be one of last, mean, got 'max'"
    ):
        seqframe.build(RECIPE, [*TINY, "model.pooling=max"], registry=registry)


def _seqframe(*args: str | Path, cache: Path) -> subprocess.CompletedProcess[str]:
    """``python -m seqframe ARGS`` with installed plugins loaded, whatever this process's environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQFRAME_")}
    env["SEQFRAME_CACHE_DIR"] = str(cache)
    done = subprocess.run(
        [sys.executable, "-m", "seqframe", *map(str, args)], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.mark.slow
def test_a_run_trains_evaluates_predicts_and_resumes_exactly_through_the_cli(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    _seqframe("run", RECIPE, *TINY, "train.steps=6", "--out", straight, cache=cache)
    _seqframe("run", RECIPE, *TINY, "train.steps=3", "--out", resumed, cache=cache)
    _seqframe("run", RECIPE, *TINY, "train.steps=6", "--out", resumed, "--resume", cache=cache)
    assert json.loads((resumed / "checkpoints" / "latest.json").read_text())["step"] == 6
    state = json.loads((resumed / "task.json").read_text())
    assert set(state) == {"mean", "std"} and state["std"] > 0
    metrics = [json.loads(_seqframe("eval", run, "--json", cache=cache).stdout) for run in (straight, resumed)]
    assert metrics[0] == metrics[1] and {"loss", "mse", "mae", "rmse", "rounded_accuracy"} <= set(metrics[0])
    answers = _seqframe("predict", resumed, "forty-two", "seven", cache=cache).stdout.splitlines()
    assert len(answers) == 2 and all(math.isfinite(float(a)) for a in answers)
