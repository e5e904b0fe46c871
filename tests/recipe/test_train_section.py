"""The recipe's ``train`` section: scheduler, checkpoint, early stopping, non-finite policy and
determinism keys are typed, ranged, documented and turned into :class:`TrainConfig`."""

from __future__ import annotations

import dataclasses

import pytest

import seqframe
from seqframe.errors import RecipeError
from seqframe.pipeline import CheckpointConfig, EarlyStoppingConfig, SchedulerConfig, TrainConfig
from seqframe.recipe.build import _train_config
from seqframe.recipe.schema import (
    CHECKPOINT_FIELDS,
    EARLY_STOPPING_FIELDS,
    SCHEDULER_FIELDS,
    TRAIN_FIELDS,
    TRAIN_SUBSECTIONS,
)


def _problems(*overrides: str) -> str:
    with pytest.raises(RecipeError) as info:
        seqframe.api.validate("lm", list(overrides))
    return str(info.value)


def test_new_train_keys_validate_and_build() -> None:
    recipe = seqframe.api.validate(
        "lm",
        [
            "train.scheduler={name: cosine, warmup_steps: 10, min_lr: 1.0e-5}",
            "train.checkpoint={every: 50, keep_last: 3}",
            "train.early_stopping={metric: bpc, patience: 4, mode: min, min_delta: 0.001}",
            "train.on_nonfinite=skip",
            "train.max_consecutive_skips=5",
            "train.deterministic=true",
        ],
    )
    config = _train_config(recipe.data["train"])
    assert config.scheduler == SchedulerConfig(name="cosine", warmup_steps=10, min_lr=1e-5)
    assert config.checkpoint == CheckpointConfig(every=50, keep_last=3)
    assert config.early_stopping == EarlyStoppingConfig(metric="bpc", patience=4, min_delta=0.001)
    assert (config.on_nonfinite, config.max_consecutive_skips, config.deterministic) == ("skip", 5, True)


def test_defaults_when_the_keys_are_absent() -> None:
    config = _train_config({})
    assert config.scheduler == SchedulerConfig() and config.checkpoint == CheckpointConfig()
    assert config.early_stopping is None and config.on_nonfinite == "error" and not config.deterministic


def test_scheduler_may_be_given_by_name() -> None:
    recipe = seqframe.api.validate("lm", ["train.scheduler=linear_warmup", "train.scheduler.warmup_steps=5"])
    assert _train_config(recipe.data["train"]).scheduler == SchedulerConfig(name="linear_warmup", warmup_steps=5)
    assert "expected one of constant, cosine, linear_warmup, reduce_on_plateau, got 'cosin'" in _problems(
        "train.scheduler=cosin"
    )


def test_wrong_types_ranges_and_unknown_keys_are_all_reported() -> None:
    text = _problems(
        "train.scheduler.factor=1.5",
        "train.checkpoint.keep_last=0",
        "train.early_stopping.patiense=3",
        "train.on_nonfinite=ignore",
        "train.deterministic=maybe",
        "train.checkpoint.every=-1",
    )
    assert "train.scheduler.factor: expected a value < 1.0, got 1.5" in text
    assert "train.checkpoint.keep_last: expected a value >= 1, got 0" in text
    assert "train.checkpoint.every: expected a value >= 0, got -1" in text
    assert "unknown key 'patiense' in train.early_stopping; did you mean 'patience'?" in text
    assert "train.on_nonfinite: expected one of error, skip, got 'ignore'" in text
    assert "train.deterministic: expected bool, got str 'maybe'" in text


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["train.scheduler=linear_warmup"], "train.scheduler: linear_warmup needs warmup_steps >= 1"),
        (
            ["train.scheduler=reduce_on_plateau", "train.eval_every=0"],
            "reduce_on_plateau lowers the rate after evaluations",
        ),
        (
            ["train.early_stopping={patience: 2}", "train.eval_every=0"],
            "train.early_stopping: early stopping watches evaluations",
        ),
        (
            ["train.scheduler={name: cosine, min_lr: 0.01}"],
            "train.scheduler.min_lr: expected a value below train.optimizer.lr (0.003), got 0.01",
        ),
    ],
)
def test_settings_that_cannot_work_together(overrides: list[str], expected: str) -> None:
    assert expected in _problems(*overrides)


def test_keep_last_null_keeps_everything() -> None:
    recipe = seqframe.api.validate("lm", ["train.checkpoint.keep_last=null"])
    assert _train_config(recipe.data["train"]).checkpoint.keep_last is None


def test_every_field_is_documented() -> None:
    tables = {"train": TRAIN_FIELDS, **{f"train.{k}": v for k, v in TRAIN_SUBSECTIONS.items()}}
    undocumented = [
        f"{table}.{key}"
        for table, fields in tables.items()
        for key, spec in fields.items()
        if len(spec.doc.strip()) < 10
    ]
    assert undocumented == []


@pytest.mark.parametrize(
    ("fields", "config"),
    [
        (SCHEDULER_FIELDS, SchedulerConfig),
        (CHECKPOINT_FIELDS, CheckpointConfig),
        (EARLY_STOPPING_FIELDS, EarlyStoppingConfig),
    ],
)
def test_schema_defaults_match_the_config_dataclasses(fields, config) -> None:
    defaults = {f.name: f.default for f in dataclasses.fields(config)}
    assert set(fields) == set(defaults)
    assert {k: spec.default for k, spec in fields.items()} == defaults


def test_train_fields_match_train_config() -> None:
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}
    assert set(TRAIN_FIELDS) == {f.name for f in dataclasses.fields(TrainConfig)}
    for key, value in defaults.items():
        assert TRAIN_FIELDS[key].default == value, key


def test_train_config_accepts_mappings_for_nested_settings() -> None:
    config = TrainConfig(scheduler={"name": "cosine"}, early_stopping={"patience": 1})  # type: ignore[arg-type]
    assert config.scheduler.name == "cosine" and config.early_stopping == EarlyStoppingConfig(patience=1)
    with pytest.raises(ValueError, match="on_nonfinite must be 'error' or 'skip', got 'warn'"):
        TrainConfig(on_nonfinite="warn")
