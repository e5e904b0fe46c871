"""Property-based fuzzing of recipes (Hypothesis, derandomized: the same cases on every run).

Every shipped recipe is mutated (see :mod:`seqframe.testing.mutations`); ``validate`` must
answer each within a time bound with exit 0 or a one-line error (exit 2), never a traceback
or a hang; a sample of the accepted ones must train two tiny steps (exit 0) or stop with a
message (exit 2). ``python -m benchmarks.fuzz`` runs the same generators at scale.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqframe.plugins import load_plugin_manager
from seqframe.registry import Registry
from seqframe.testing.fuzz import campaign, check_validate, tiny_overrides
from seqframe.testing.mutations import FuzzCase, recipe_cases, shipped_recipe_texts

TEXTS = shipped_recipe_texts()


@pytest.fixture(scope="module")
def installed() -> Registry:
    """Built-ins plus installed plugins (lm-indrnn needs the indrnn cell)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("SEQFRAME_DISABLE_PLUGIN_AUTOLOAD", raising=False)
        return Registry.from_plugin_manager(load_plugin_manager())


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


@pytest.mark.slow
@settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_validate_answers_every_mutated_recipe_without_traceback_or_hang(
    data: st.DataObject, installed: Registry, scratch: Path
) -> None:
    case = data.draw(recipe_cases(TEXTS, installed), label="case")
    outcome = check_validate(case, scratch, installed, timeout_s=30.0)
    assert outcome.kind in ("accepted", "rejected"), (outcome, case.mutations, case.overrides)


@pytest.mark.slow
def test_accepted_mutations_train_two_tiny_steps_or_stop_with_a_message(installed: Registry, scratch: Path) -> None:
    report = campaign(120, _fresh(scratch, "campaign"), installed, seed=0, runs=2)
    assert report["validate"]["traceback"] == report["validate"]["hang"] == 0, report["findings"]
    assert report["runs"]["sampled"] == 2 and report["runs"]["exit_0"] + report["runs"]["exit_2"] == 2, report


def test_tiny_overrides_keep_what_a_mutation_touched() -> None:
    case = FuzzCase("lm", TEXTS["lm"], touched=("model.topology.hidden_size", "train"))
    overrides = tiny_overrides(case)
    assert overrides[:2] == ["train.steps=2", "train.log_every=1"]
    assert "model.embedding_dim=4" in overrides and "task.seq_len=8" in overrides
    assert not any(o.startswith(("model.topology.hidden_size=", "train.batch_size=")) for o in overrides)
    assert not any(o.startswith("model.decoder.") for o in overrides)  # lm has no decoder


def test_the_same_seed_draws_the_same_cases(installed: Registry, scratch: Path) -> None:
    first = campaign(15, _fresh(scratch, "a"), installed, seed=7)
    second = campaign(15, _fresh(scratch, "b"), installed, seed=7)
    assert first["validate"] == second["validate"] and first["distinct_accepted"] == second["distinct_accepted"]


def _fresh(root: Path, name: str) -> Path:
    path = root / name
    path.mkdir()
    return path
