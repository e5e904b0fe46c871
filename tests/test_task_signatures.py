"""A task written against the old contract (``tokenizer`` and ``target_tokenizer`` passed
separately) is refused with one line per method, never a traceback: in the recipe check,
``seqframe plugins check`` (exit 2) and the conformance kit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import torch

import seqframe
from seqframe.builtin.tasks.classification import ClassificationTask
from seqframe.builtin.tasks.language_modelling import LanguageModellingTask
from seqframe.builtin.tasks.one_to_many import OneToManyTask
from seqframe.builtin.tasks.sequence_regression import SequenceRegressionTask
from seqframe.builtin.tasks.tagging import TaggingTask
from seqframe.builtin.tasks.translation import TranslationTask
from seqframe.builtin.tokenizers import CharTokenizer
from seqframe.errors import RecipeError
from seqframe.interfaces import EvalSettings, ModelParts, Task, Tokenizers, task_signature_problems
from seqframe.testing import run_task_checks


class _OldEncode(LanguageModellingTask):
    """Written for the contract before ``Tokenizers``."""

    name = "old_lm"

    def encode(  # type: ignore[override]
        self, tokenizer: Any, texts: Sequence[str], *, target_tokenizer: Any = None
    ) -> torch.Tensor:
        return super().encode(Tokenizers(tokenizer), texts)


class _OldEvaluate(LanguageModellingTask):
    name = "old_eval"

    def evaluate(  # type: ignore[override]
        self, model: Any, ids: Any, batch_size: int, device: Any, num_chars: int, *, tokenizer: Any
    ) -> dict[str, float]:
        return {"loss": 0.0}


OLD_ENCODE = (
    "task 'old_lm' (_OldEncode): encode(tokenizer, texts, *, target_tokenizer=...) does not fit the Task "
    "contract; expected encode(tokenizers, inputs); take one seqframe.interfaces.Tokenizers (.source, .target) "
    "instead of tokenizer and target_tokenizer"
)


def test_an_override_with_the_old_tokenizer_parameters_is_named_in_one_line() -> None:
    assert task_signature_problems(_OldEncode) == [OLD_ENCODE]
    [line] = task_signature_problems(_OldEvaluate)
    assert line.startswith("task 'old_eval' (_OldEvaluate): evaluate(model, ids, batch_size, device, num_chars, *, ")
    assert "expected evaluate(model, encoded, settings)" in line and "\n" not in line


@pytest.mark.parametrize(
    "factory",
    [
        ClassificationTask,
        LanguageModellingTask,
        OneToManyTask,
        SequenceRegressionTask,
        TaggingTask,
        TranslationTask,
    ],
)
def test_every_builtin_task_fits_the_contract(factory: type[Task]) -> None:
    assert task_signature_problems(factory) == []


def test_renamed_positional_parameters_defaults_and_catch_alls_fit() -> None:
    class Renamed(LanguageModellingTask):
        def encode(self, toks: Tokenizers, texts: Sequence[str], extra: int = 0) -> torch.Tensor:
            return super().encode(toks, texts)

        def evaluate(self, model: Any, *args: Any, **kwargs: Any) -> dict[str, float]:
            return super().evaluate(model, *args, **kwargs)

        def predict(self, model: Any, tokenizers: Tokenizers, inputs: Sequence[str], **options: Any) -> list[str]:
            return []

    assert task_signature_problems(Renamed) == []


def test_a_missing_or_required_extra_parameter_does_not_fit() -> None:
    class Short(LanguageModellingTask):
        def train_batches(self, encoded: Any, batch_size: int, seed: int) -> Any:  # type: ignore[override]
            return super().train_batches(encoded, batch_size, seed, Tokenizers(CharTokenizer()))

        def evaluate(  # type: ignore[override]
            self, model: Any, ids: Any, settings: EvalSettings, *, strict: bool
        ) -> dict[str, float]:
            return {}

    problems = task_signature_problems(Short)
    assert [p.split(": ")[1].split("(")[0] for p in problems] == ["train_batches", "evaluate"]
    assert "match the parameters of seqframe.interfaces.Task" in problems[0]


def test_build_model_takes_model_parts_and_may_require_its_own_keys() -> None:
    class OldBuild(ClassificationTask):
        def build_model(  # type: ignore[override]
            self, *, tokenizer: Any, topology: Any, head: Any, embedding_dim: int, pooling: str = "last"
        ) -> torch.nn.Module:
            return torch.nn.Identity()

    class OwnKeys(ClassificationTask):
        def build_model(self, p: ModelParts, *, decoder: Any, pooling: str = "last") -> torch.nn.Module:
            return torch.nn.Identity()

    [line] = task_signature_problems(OldBuild)
    assert line == (
        "task 'classification' (test_build_model_takes_model_parts_and_may_require_its_own_keys.<locals>.OldBuild): "
        "build_model(*, tokenizer, topology, head, embedding_dim, pooling=...) does not fit the Task contract; "
        "expected build_model(parts); take one seqframe.interfaces.ModelParts (.tokenizers, .topology, .head, "
        ".embedding_dim) instead of tokenizer, topology, head and embedding_dim"
    )
    assert task_signature_problems(OwnKeys) == []


def test_the_kit_fails_construct_with_the_line() -> None:
    results = run_task_checks(_OldEncode)
    assert (results[0].name, results[0].passed, results[0].reason) == ("construct", False, OLD_ENCODE)
    assert all(r.reason == "not run: 'construct' failed" for r in results[1:])


def test_plugins_check_exits_2_with_the_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], task_registry: Any
) -> None:
    import seqframe.api.checks
    from seqframe.cli import main

    monkeypatch.setattr(seqframe.api.checks, "default_registry", lambda **_: task_registry("old_lm", _OldEncode))
    assert main(["plugins", "check", "old_lm", "--kind", "task"]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    [line] = [line for line in captured.err.splitlines() if "does not fit" in line]
    assert "task 'old_lm' (plugin 'old_lm', dist-old_lm 1.0): encode(tokenizer, texts, *, target_tokenizer=...)" in line


def test_a_recipe_naming_an_old_task_is_a_recipe_error(task_registry: Any) -> None:
    with pytest.raises(RecipeError, match=r"task: task 'old_lm' \(_OldEncode\): encode\(tokenizer, texts"):
        seqframe.api.validate("lm", ["task=old_lm"], registry=task_registry("old_lm", _OldEncode))
