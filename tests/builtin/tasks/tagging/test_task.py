"""The tagging task (many-to-many in step): alignment, masked loss, padding, rendering, runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import seqframe
from seqframe.builtin.heads import LinearHead
from seqframe.builtin.tasks.tagging import TaggingTask
from seqframe.builtin.tasks.tagging.batching import collate_tagged
from seqframe.builtin.tokenizers import CharTokenizer, WordTokenizer
from seqframe.errors import DataError, SeqframeError
from seqframe.interfaces import EvalSettings, ModelParts, Tokenizers

EXAMPLES = [
    {"text": "hi you", "tags": list("ULOLLL")},
    {"text": "ok", "tags": list("LL")},
    {"text": "a python", "tags": list("LOULLLLL")},
]
TINY = [
    "model.topology.hidden_size=8",
    "model.topology.num_layers=1",
    "model.topology.dropout=0.0",
    "model.embedding_dim=4",
    "data.max_chars=40",
    "train.batch_size=4",
    "train.steps=2",
    "train.eval_every=0",
]


class _Examples:
    """A stand-in data source serving EXAMPLES for every split."""

    def examples(self, split: str) -> list[dict]:
        return [dict(e, tags=list(e["tags"])) for e in EXAMPLES]

    def texts(self, split: str) -> list[str]:
        return [e["text"] for e in EXAMPLES]


class _Fixed(nn.Module):
    """A stand-in model that answers the given tag ids at every position, whatever the input."""

    def __init__(self, tag_ids: list[int], num_tags: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.nn.functional.one_hot(torch.tensor(tag_ids), num_tags).float())

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.logits[: ids.shape[1]].expand(ids.shape[0], -1, -1)


def _setup(render: str = "tags", ignore_tags: tuple[str, ...] = ()) -> tuple[TaggingTask, CharTokenizer, nn.Module]:
    task = TaggingTask(ignore_tags=ignore_tags, render=render)
    task.fit(_Examples())
    tokenizer = CharTokenizer()
    tokenizer.fit(_Examples().texts("train"))
    torch.manual_seed(0)
    topology = seqframe.build_rnn("lstm", input_size=4, hidden_size=6, bidirectional=True)
    return (
        task,
        tokenizer,
        task.build_model(ModelParts(Tokenizers(tokenizer), topology, LinearHead, 4)),
    )


def test_fit_learns_the_sorted_tag_list_and_it_round_trips() -> None:
    task, _, _ = _setup()
    assert task.tags == ["L", "O", "U"]
    restored = TaggingTask()
    restored.load_state_dict(json.loads(json.dumps(task.state_dict())))
    assert restored.tags == task.tags


def test_tags_that_do_not_align_with_tokens_name_the_example() -> None:
    task, _, _ = _setup()
    words = WordTokenizer()
    words.fit(["hi you ok a python"])
    with pytest.raises(
        DataError,
        match=r"example 0 \('hi you'\) has 6 tags but the word tokenizer gives 2 tokens.*"
        r"tokenizer: \{name: char\}",
    ):
        task.encode(Tokenizers(words), EXAMPLES)


def test_masked_loss_ignores_padding() -> None:
    task, tokenizer, model = _setup()
    encoded = task.encode(Tokenizers(tokenizer), EXAMPLES)
    batch = collate_tagged(encoded, torch.tensor([0, 1]), tokenizer.pad_id)  # "ok" is padded to 6 steps
    loss, count, _ = task.training_step(model, batch, None)
    assert count == 8
    alone = [
        task.training_step(model, collate_tagged(encoded, torch.tensor([i]), tokenizer.pad_id), None) for i in (0, 1)
    ]
    expected = (alone[0][0] * 6 + alone[1][0] * 2) / 8
    torch.testing.assert_close(loss, expected, atol=1e-6, rtol=1e-5)


def test_outputs_at_real_steps_do_not_depend_on_padding() -> None:
    task, tokenizer, model = _setup()
    model.eval()
    encoded = task.encode(Tokenizers(tokenizer), EXAMPLES)
    batch = collate_tagged(encoded, torch.tensor([2, 1]), tokenizer.pad_id)  # "ok" padded to 8 steps
    padded = model(batch["ids"], batch["lengths"])
    alone = model(torch.tensor([tokenizer.encode("ok")]), torch.tensor([2]))
    torch.testing.assert_close(padded[1, :2], alone[0], atol=1e-6, rtol=1e-5)


def test_render_case_restores_capitals_and_render_tags_gives_the_tags() -> None:
    text = "the python tutorial"
    gold = "ULLOULLLLLOLLLLLLLL"
    for render, expected in (("case", "The Python tutorial"), ("tags", gold)):
        task, tokenizer, _ = _setup(render=render)
        model = _Fixed([task.tags.index(t) for t in gold], len(task.tags))
        assert task.predict(model, Tokenizers(tokenizer), [text, ""], device="cpu") == [expected, ""]


def test_render_case_needs_case_tags() -> None:
    task = TaggingTask(render="case")
    with pytest.raises(ValueError, match="render 'case' needs the tags U, L and O"):
        task.load_state_dict({"tags": ["B-PER", "I-PER", "O"]})


def test_ignore_tags_must_be_training_tags() -> None:
    with pytest.raises(ValueError, match=r"ignore_tags names 'X'.*tags: L, O, U"):
        _setup(ignore_tags=("X",))


def test_predict_rejects_options() -> None:
    task, tokenizer, model = _setup()
    with pytest.raises(SeqframeError, match="takes no options, got beam"):
        task.predict(model, Tokenizers(tokenizer), ["hi"], device="cpu", beam=3)


def test_evaluate_scores_letters_apart_from_ignored_tags() -> None:
    task, tokenizer, _ = _setup(ignore_tags=("O",))
    examples = [{"text": "a python", "tags": list("LOULLLLL")}]
    model = _Fixed([task.tags.index(t) for t in "UOLLLLLL"], len(task.tags))  # two letters wrong
    settings = EvalSettings(Tokenizers(tokenizer), batch_size=4)
    metrics = task.evaluate(model, task.encode(settings.tokenizers, examples), settings)
    assert metrics["accuracy"] == pytest.approx(6 / 8) and metrics["scored_accuracy"] == pytest.approx(5 / 7)
    assert metrics["f1_U"] == 0.0 and metrics["f1_L"] == pytest.approx(2 * 5 / 12)
    assert metrics["macro_f1"] == pytest.approx((2 * 5 / 12) / 2) and "f1_O" not in metrics


def test_batches_resume_exactly() -> None:
    task, tokenizer, _ = _setup()
    tokenizers = Tokenizers(tokenizer)
    encoded = task.encode(tokenizers, EXAMPLES * 5)
    straight = task.train_batches(encoded, 2, 3, tokenizers)
    expected = [next(straight)["ids"] for _ in range(12)]
    resumed = task.train_batches(encoded, 2, 3, tokenizers)
    for _ in range(5):
        next(resumed)
    fresh = task.train_batches(encoded, 2, 3, tokenizers)
    fresh.load_state_dict(resumed.state_dict())
    for ids in expected[5:]:
        assert torch.equal(next(fresh)["ids"], ids)


def test_capitalisation_recipe_runs_predicts_and_reloads(tmp_path: Path) -> None:
    result = seqframe.run("many-to-many", TINY, out_dir=tmp_path / "run", progress=False)
    assert {"loss", "accuracy", "scored_accuracy", "macro_f1", "f1_U"} <= set(result.final_eval)
    assert json.loads((tmp_path / "run" / "task.json").read_text()) == {"tags": ["L", "O", "U"]}
    [answer] = seqframe.predict(tmp_path / "run", ["the python tutorial"])
    assert answer.lower() == "the python tutorial"
    loaded = seqframe.load_run(tmp_path / "run")
    assert loaded.task.tags == ["L", "O", "U"]
    text = ["the python tutorial"]
    assert seqframe.predict(loaded, text) == seqframe.predict(result.pipeline, text)
