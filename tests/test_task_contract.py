"""The declared task and data contracts: ``seqframe.Task`` defaults and flags, what the
engine, CLI and API read instead of probing for methods, and the errors a task or data
source that breaks the contract gets."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest
import torch

import seqframe
from seqframe.builtin.heads import LinearHead
from seqframe.builtin.tasks.classification import ClassificationTask, OneToOneTask
from seqframe.builtin.tasks.language_modelling import LanguageModellingTask
from seqframe.builtin.tasks.one_to_many import OneToManyTask
from seqframe.builtin.tasks.tagging import TaggingTask
from seqframe.builtin.tasks.translation import TranslationTask
from seqframe.builtin.tokenizers import CharTokenizer
from seqframe.errors import DataError, RecipeError
from seqframe.interfaces import (
    Batches,
    ExampleSource,
    FeatureSource,
    ModelParts,
    TargetSource,
    Task,
    TextSource,
    Tokenizers,
)

BUILTIN_TASKS = [LanguageModellingTask, ClassificationTask, OneToOneTask, TaggingTask, OneToManyTask, TranslationTask]
TINY = [
    "model.topology.hidden_size=8",
    "model.embedding_dim=4",
    "model.topology.num_layers=1",
    "train.batch_size=4",
    "train.steps=2",
    "train.eval_every=0",
    "train.sample=null",
]


def test_every_builtin_task_subclasses_the_public_base() -> None:
    assert seqframe.Task is Task
    for task in BUILTIN_TASKS:
        assert issubclass(task, seqframe.Task), task


def test_flags_say_what_each_builtin_task_does() -> None:
    flags = {
        task.name: (task.causal, task.continues_prompt, task.generates_targets, task.needs_examples)
        for task in BUILTIN_TASKS
    }
    assert flags == {
        "language_modelling": (True, True, False, False),
        "classification": (False, False, False, True),
        "one_to_one": (False, False, False, True),
        "tagging": (False, False, False, True),
        "one_to_many": (True, False, True, True),
        "translation": (False, False, True, True),
    }


def test_the_base_task_has_documented_defaults() -> None:
    class Minimal(Task):
        name = "minimal"

    task = Minimal()
    assert task.state_dict() == {} and task.topology_input_size(7) == 7 and task.sample_data() is None
    task.fit(object())  # nothing to learn
    task.load_state_dict({})
    with pytest.raises(DataError, match="keeps no state"):
        task.load_state_dict({"labels": ["a"]})
    with pytest.raises(NotImplementedError, match="'minimal'.*build_model"):
        task.build_model(ModelParts(Tokenizers(CharTokenizer()), torch.nn.Identity(), LinearHead, 4))


def test_default_encode_settings_are_the_public_attributes() -> None:
    class Settled(Task):
        def __init__(self) -> None:
            self.window, self.layer, self._private = 8, torch.nn.Linear(1, 1), 3

    assert Settled().encode_settings() == {"window": 8, "layer": "<Linear>"}


def test_default_inputs_read_texts_or_examples_and_name_a_missing_capability() -> None:
    class Texts:
        def texts(self, split: str) -> list[str]:
            return [f"{split} text"]

    assert LanguageModellingTask().inputs(Texts(), "valid") == ["valid text"]
    with pytest.raises(
        DataError,
        match=r"task 'tagging' needs a source of examples with fields text, tags "
        r"\(e.g. capitalisation or tagged_files\); data source Texts only has texts",
    ):
        TaggingTask().inputs(Texts(), "train")


def test_builtin_sources_declare_which_protocols_they_implement() -> None:
    from seqframe.builtin.data.generated.numbers import (
        NumberLanguageFeaturesSource,
        NumberLanguageIdSource,
        NumberSpellingSource,
        NumberTranslationSource,
    )
    from seqframe.builtin.datasets import PydocTopicsSource

    def declares(cls: type, protocol: type) -> bool:
        return protocol in cls.__mro__  # named as a base, not merely matching

    assert declares(PydocTopicsSource, TextSource) and not declares(PydocTopicsSource, ExampleSource)
    assert declares(NumberLanguageIdSource, ExampleSource) and not declares(NumberLanguageIdSource, TargetSource)
    assert declares(NumberTranslationSource, TargetSource)
    assert declares(NumberSpellingSource, TargetSource) and declares(NumberSpellingSource, FeatureSource)
    assert declares(NumberLanguageFeaturesSource, FeatureSource)


def _snapshot(task: Task) -> dict[str, Any]:
    return copy.deepcopy(vars(task))


@pytest.mark.parametrize("factory", BUILTIN_TASKS, ids=lambda t: t.name)
def test_build_model_does_not_change_the_task(factory: type[Task]) -> None:
    task = factory()
    data = task.sample_data()
    if data is not None:
        task.fit(data)
    tokenizer = CharTokenizer()
    tokenizer.fit((data or _corpus()).texts("train") + (data.target_texts("train") if task.generates_targets else []))
    before = _snapshot(task)
    width = task.topology_input_size(4)
    topology = seqframe.build_rnn("gru", input_size=width, hidden_size=6)
    extra = {"decoder": seqframe.build_rnn("gru", input_size=4, hidden_size=6)} if factory is TranslationTask else {}
    task.build_model(ModelParts(Tokenizers(tokenizer), topology, LinearHead, 4), **extra)
    assert _snapshot(task).keys() == before.keys()
    assert repr(_snapshot(task)) == repr(before)


def _corpus() -> Any:
    class Corpus:
        def texts(self, split: str) -> list[str]:
            return ["the cat sat on the mat\n" * 20]

    return Corpus()


def test_translation_encodes_targets_with_the_target_tokenizer_before_any_model_is_built() -> None:
    """Before: encode used the source tokenizer for targets unless build_model had run."""
    pairs = [{"source": "one", "target": "eins"}, {"source": "two", "target": "zwei"}]
    source, target = CharTokenizer(), CharTokenizer()
    source.fit(["onetw"])
    target.fit(["zweins", "xyz"])
    encoded = TranslationTask().encode(Tokenizers(source, target), pairs)
    first = encoded["target"][: len("eins") + 2].tolist()
    assert target.decode(first) == "eins" and first[0] == target.bos_id


def test_language_model_predict_is_its_only_way_to_continue_a_prompt() -> None:
    task = LanguageModellingTask()
    assert not hasattr(task, "generate")
    tokenizer = CharTokenizer()
    tokenizer.fit(["abc"])
    tokenizers = Tokenizers(tokenizer)
    model = task.build_model(
        ModelParts(tokenizers, seqframe.build_rnn("gru", input_size=4, hidden_size=6), LinearHead, 4),
    )
    assert task.predict(model, tokenizers, []) == []
    [text] = task.predict(model, tokenizers, ["ab"], max_tokens=3, temperature=0)
    assert isinstance(text, str)


def test_a_registered_task_that_is_not_a_task_class_is_a_recipe_error(task_registry: Any) -> None:
    def make_task(**options: Any) -> LanguageModellingTask:
        return LanguageModellingTask(**options)

    registry = task_registry("loose", make_task)
    with pytest.raises(
        RecipeError,
        match=r"task: task 'loose' from plugin 'loose' \(dist-loose 1.0\) is .*"
        r"not a subclass of seqframe.Task",
    ):
        seqframe.api.validate("lm", ["task=loose"], registry=registry)


def test_a_task_writing_targets_with_a_text_only_source_is_a_data_error() -> None:
    """Before: an AttributeError ('PydocTopicsSource' object has no attribute 'target_texts')."""
    with pytest.raises(
        DataError,
        match="task 'translation' writes the target texts of examples, but data source "
        "PydocTopicsSource has no target_texts",
    ):
        seqframe.build("translate", ["data=pydoc_topics", *TINY])


class _GeneratorBatches(LanguageModellingTask):
    def train_batches(self, ids: torch.Tensor, batch_size: int, seed: int, tokenizers: Tokenizers) -> Any:
        stream = super().train_batches(ids, batch_size, seed, tokenizers)
        return (batch for batch in stream)


def test_a_stream_that_is_not_resumable_batches_is_refused_before_training(tmp_path) -> None:
    pipeline = seqframe.build("lm", [*TINY, "task.seq_len=8", "data.valid_fraction=0.01"])
    pipeline.task = _GeneratorBatches(seq_len=8)
    with pytest.raises(
        TypeError, match="train_batches returned a 'generator', which is not a seqframe.interfaces.Batches"
    ):
        seqframe.train(pipeline, out_dir=tmp_path / "run", progress=False)


def test_builtin_batches_follow_the_batches_protocol() -> None:
    task, tokenizer = LanguageModellingTask(seq_len=4), CharTokenizer()
    tokenizer.fit(["abcdefgh" * 10])
    tokenizers = Tokenizers(tokenizer)
    stream = task.train_batches(task.encode(tokenizers, ["abcdefgh" * 10]), 2, 0, tokenizers)
    assert isinstance(stream, Batches) and isinstance(next(stream), Mapping)


def test_a_task_without_state_writes_no_task_json(tmp_path) -> None:
    result = seqframe.run("lm", [*TINY, "task.seq_len=8"], out_dir=tmp_path / "run", progress=False)
    assert not (result.out_dir / "task.json").exists() and result.pipeline.extra_state()["task"] is None


# --- the conformance kit -------------------------------------------------------------------

from seqframe.testing import TASK_CHECKS, CheckResult, check_task, run_task_checks  # noqa: E402

KIT_CASES = [
    (LanguageModellingTask, {}),
    (LanguageModellingTask, {"mode": "sentences", "seq_len": 16}),
    (ClassificationTask, {}),
    (OneToOneTask, {}),
    (TaggingTask, {}),
    (OneToManyTask, {"max_len": 8}),
    (TranslationTask, {"max_len": 8, "eval_decode": 4}),
]


@pytest.mark.parametrize(("factory", "options"), KIT_CASES, ids=lambda v: getattr(v, "name", None) or str(v))
def test_every_builtin_task_passes_the_conformance_kit(factory: type[Task], options: dict[str, Any]) -> None:
    results = check_task(factory, options=options)
    assert [r.name for r in results] == list(TASK_CHECKS) and all(r.passed for r in results)


def _failed(results: list[CheckResult]) -> dict[str, str]:
    return {r.name: r.reason for r in results if not r.passed}


class _Mutating(ClassificationTask):
    """The bug translation had: build_model stores what encode later reads."""

    def build_model(self, parts: ModelParts, **kwargs: Any) -> torch.nn.Module:
        self._pad = parts.tokenizers.source.pad_id
        return super().build_model(parts, **kwargs)


def test_the_kit_catches_a_build_model_that_changes_the_task() -> None:
    failed = _failed(run_task_checks(_Mutating))
    assert list(failed) == ["build_model_pure"]
    assert "build_model changed the task's attribute(s) _pad" in failed["build_model_pure"]


class _Forgetful(ClassificationTask):
    """Batches that restart from the first epoch whatever state they are given."""

    def train_batches(self, encoded: Any, batch_size: int, seed: int, tokenizers: Tokenizers) -> Any:
        stream = super().train_batches(encoded, batch_size, seed, tokenizers)
        stream.load_state_dict = lambda state: None  # type: ignore[method-assign]
        return stream


def test_the_kit_catches_batches_that_do_not_resume() -> None:
    assert "the 6 batches after loading the state saved after 3" in _failed(run_task_checks(_Forgetful))["resume"]


class _Unsaveable(ClassificationTask):
    def state_dict(self) -> dict[str, Any]:
        return {"labels": set(self.labels)}


def test_the_kit_requires_a_json_state_and_skips_what_depends_on_it() -> None:
    failed = _failed(run_task_checks(_Unsaveable))
    assert "state_dict() must be JSON-able" in failed["fit_state"]
    assert failed["reload"] == "not run: 'fit_state' failed" and len(failed) == len(TASK_CHECKS) - 2


class _Careless(ClassificationTask):
    """Leaves the model in eval mode and raises in training_step."""

    def evaluate(self, model: torch.nn.Module, *args: Any, **kwargs: Any) -> dict[str, float]:
        metrics = super().evaluate(model, *args, **kwargs)
        model.eval()
        return metrics

    def training_step(self, model: torch.nn.Module, batch: Mapping[str, Any], carry: Any) -> Any:
        raise KeyError("ids")


def test_the_kit_reports_a_task_error_as_a_failed_check() -> None:
    failed = _failed(run_task_checks(_Careless))
    assert failed["training_step"] == "raised KeyError: 'ids'"
    assert "evaluate left the model in eval mode" in failed["evaluate"]
    with pytest.raises(AssertionError, match=r"task '_Careless': 2 of 12 checks failed: training_step"):
        check_task(_Careless)


def test_the_kit_refuses_a_factory_that_does_not_make_a_task() -> None:
    failed = _failed(run_task_checks(lambda: object()))
    assert "not a subclass of seqframe.Task" in failed["construct"]
    assert all(reason == "not run: 'construct' failed" for name, reason in failed.items() if name != "construct")


def test_an_example_task_without_sample_data_is_told_to_give_some() -> None:
    class NoSample(ClassificationTask):
        def sample_data(self) -> None:
            return None

    assert "sample_data() is None and no data was given" in _failed(run_task_checks(NoSample))["data"]


def test_plugins_check_runs_the_kit_for_a_task_name(capsys: pytest.CaptureFixture[str]) -> None:
    from seqframe.cli import main

    assert main(["plugins", "check", "tagging"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"task 'tagging' (plugin 'builtin.tagging', seqframe {seqframe.__version__}): all checks passed"
    assert [line.split()[0] for line in lines[1:]] == ["pass"] * len(TASK_CHECKS)
    assert [line.split()[1].rstrip(":") for line in lines[1:]] == list(TASK_CHECKS)


def test_plugins_check_of_a_broken_task_exits_1_with_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], task_registry: Any
) -> None:
    import json

    import seqframe.api.checks
    from seqframe.cli import main

    monkeypatch.setattr(seqframe.api.checks, "default_registry", lambda **_: task_registry("mutating", _Mutating))
    assert main(["plugins", "check", "mutating", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is False
    assert report["subject"].startswith("task 'mutating' (plugin ") and "dist-mutating" in report["subject"]
    assert [c["name"] for c in report["checks"] if not c["passed"]] == ["build_model_pure"]


def test_assemble_refuses_a_task_that_is_not_a_task() -> None:
    class Duck:
        def build_model(self, **kwargs: Any) -> torch.nn.Module:
            return torch.nn.Identity()

    with pytest.raises(
        TypeError, match="assemble: task must be a task name, a recipe node or a seqframe.Task .*got 'Duck'"
    ):
        seqframe.assemble(
            task=Duck(),
            tokenizer=CharTokenizer(),
            topology=torch.nn.Identity(),
            head=LinearHead,
            embedding_dim=4,
            data=_corpus(),
        )
