"""The label tasks: ``classification`` (many-to-one) and ``one_to_one``: pooling, padding,
label fitting, resumable batches, end-to-end runs, saved runs and recipe errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import seqframe
from seqframe.builtin.heads import LinearHead
from seqframe.builtin.tasks.batching import BucketedBatches
from seqframe.builtin.tasks.classification import ClassificationTask, OneToOneTask
from seqframe.builtin.tasks.classification.exported import ExportedClassifier, sequence_classifier_plan
from seqframe.builtin.tasks.classification.model import SequenceClassifier, pool
from seqframe.builtin.tokenizers import CharTokenizer
from seqframe.engine.graphs import PlanRunner
from seqframe.errors import DataError, RecipeError
from seqframe.interfaces import ModelParts, Tokenizers, directions_of
from seqframe.interfaces.export import ExportPlan, Graph

LABELS = ["de", "en", "fr"]
TINY_DATA = ["data.max_number=300", "data.size=48", "data.valid_size=16", "data.test_size=16"]
TINY = [
    *TINY_DATA,
    "model.topology.hidden_size=8",
    "model.embedding_dim=4",
    "train.steps=3",
    "train.batch_size=8",
    "train.eval_every=0",
]


class _Source:
    """A structured source from fixed splits."""

    def __init__(self, train: list[dict[str, Any]], valid: list[dict[str, Any]] = (), test: list[dict[str, Any]] = ()):
        self.splits = {"train": list(train), "valid": list(valid), "test": list(test)}

    def examples(self, split: str) -> list[dict[str, Any]]:
        return [dict(e) for e in self.splits[split]]

    def texts(self, split: str) -> list[str]:
        return [e["text"] for e in self.splits[split]]


def _examples(*pairs: str) -> list[dict[str, str]]:
    return [{"text": text, "label": label} for text, label in zip(pairs[::2], pairs[1::2])]


def _classifier(pooling: str, bidirectional: bool = True) -> tuple[ClassificationTask, CharTokenizer, torch.nn.Module]:
    torch.manual_seed(0)
    task = ClassificationTask()
    task.fit(_Source(_examples("eins", "de", "one", "en", "un", "fr")))
    tokenizer = CharTokenizer()
    tokenizer.fit(["einsoneundzwanzig"])
    topology = seqframe.build_rnn("gru", input_size=4, hidden_size=5, num_layers=2, bidirectional=bidirectional)
    return (
        task,
        tokenizer,
        task.build_model(ModelParts(Tokenizers(tokenizer), topology, LinearHead, 4), pooling=pooling),
    )


def test_last_pooling_is_forward_output_at_last_token_and_backward_output_at_first() -> None:
    torch.manual_seed(0)
    topology = seqframe.build_rnn("lstm", input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
    x, lengths = torch.randn(2, 6, 3), torch.tensor([6, 3])
    outputs, _ = topology(x, lengths)
    pooled = pool(outputs, lengths, "last", 2)  # (B, 2H)
    for row, length in enumerate(lengths.tolist()):
        alone, _ = topology(x[row : row + 1, :length])
        expected = torch.cat([alone[0, length - 1, :4], alone[0, 0, 4:]])  # forward at the end, backward at the start
        torch.testing.assert_close(pooled[row], expected)


def test_last_pooling_reads_the_outputs_whatever_the_state_holds() -> None:
    class MemoryFirst(nn.Module):  # a third-party topology: its state starts with a wider memory cell
        bidirectional = True  # declared: seqframe.interfaces.Directional
        input_size, output_size = 3, 4

        def forward(self, x: Tensor, lengths: Tensor | None = None, state: Any = None) -> tuple[Tensor, Any]:
            outputs = torch.arange(x.shape[0] * x.shape[1] * 4, dtype=torch.float32).view(x.shape[0], x.shape[1], 4)
            return outputs, (torch.full((2, x.shape[0], 7), -1.0),)

    topology = MemoryFirst()
    assert directions_of(topology) == 2 and directions_of(nn.Identity()) == 1
    model = SequenceClassifier(10, 3, topology, nn.Identity(), pad_id=0, pooling="last")
    logits = model(torch.ones(2, 5, dtype=torch.long), torch.tensor([5, 2]))
    outputs, _ = topology(torch.zeros(2, 5, 3))
    torch.testing.assert_close(logits[1], torch.cat([outputs[1, 1, :2], outputs[1, 0, 2:]]))
    torch.testing.assert_close(logits[0], torch.cat([outputs[0, 4, :2], outputs[0, 0, 2:]]))


def test_the_exported_classifier_pools_like_the_model_and_still_runs_an_earlier_export() -> None:
    _, _, model = _classifier("last")
    model.eval()
    ids, lengths = torch.tensor([[5, 6, 7, 8], [6, 7, 0, 0]]), torch.tensor([4, 2])
    with torch.no_grad():
        expected = model(ids, lengths)
    plan = sequence_classifier_plan(model)
    runner = PlanRunner(plan)
    torch.testing.assert_close(ExportedClassifier(runner)(ids, lengths), expected)

    class EarlierPoolHead(nn.Module):  # what exports made before pooling read only the outputs hold
        def forward(self, outputs: Tensor, hidden: Tensor, lengths: Tensor) -> Tensor:
            return model.head(hidden[-2:].transpose(0, 1).reshape(hidden.shape[1], -1))

    graphs = dict(plan.graphs, pool_head=Graph(EarlierPoolHead(), {}, ("logits",), {}))
    earlier = ExportPlan(graphs, {k: v for k, v in plan.meta.items() if k != "pool_head"})
    torch.testing.assert_close(ExportedClassifier(PlanRunner(earlier))(ids, lengths), expected)


def test_mean_and_max_pooling_count_only_real_steps() -> None:
    outputs = torch.arange(24, dtype=torch.float32).view(2, 3, 4)
    outputs[1, 2] = 100.0  # padding of the second sequence: must not count
    lengths = torch.tensor([3, 2])
    torch.testing.assert_close(pool(outputs, lengths, "mean")[1], outputs[1, :2].mean(0))
    torch.testing.assert_close(pool(outputs, lengths, "max")[1], outputs[1, :2].amax(0))
    torch.testing.assert_close(pool(outputs, lengths, "mean")[0], outputs[0].mean(0))


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_prediction_is_the_same_alone_and_in_a_padded_batch(pooling: str) -> None:
    task, tokenizer, model = _classifier(pooling)
    model.eval()
    alone = task.encode(Tokenizers(tokenizer), ["eins"])
    batch = task.encode(Tokenizers(tokenizer), ["einsundzwanzig", "eins"])
    one = model(*(task._collate(alone, torch.tensor([0]), tokenizer.pad_id).values()))
    padded = model(*(task._collate(batch, torch.tensor([0, 1]), tokenizer.pad_id).values()))
    torch.testing.assert_close(padded[1], one[0])


def test_fit_learns_the_sorted_labels_and_saves_them() -> None:
    task = ClassificationTask()
    task.fit(_Source(_examples("zwei", "de", "two", "en", "deux", "fr", "drei", "de")))
    assert task.labels == LABELS and task.state_dict() == {"labels": LABELS}
    fresh = ClassificationTask()
    fresh.load_state_dict(json.loads(json.dumps(task.state_dict())))
    assert fresh.labels == LABELS


def test_labels_unseen_in_training_are_a_data_error_listing_them() -> None:
    source = _Source(_examples("zwei", "de", "two", "en"), valid=_examples("deux", "fr"), test=_examples("due", "it"))
    with pytest.raises(DataError, match=r"valid: 'fr' \(first at example 0\); test: 'it'"):
        ClassificationTask().fit(source)


def test_encoding_a_label_the_model_does_not_know_is_a_data_error() -> None:
    task, tokenizer, _ = _classifier("last")
    with pytest.raises(DataError, match="not trained on: 'sv'"):
        task.encode(Tokenizers(tokenizer), _examples("ett", "sv"))


def test_a_source_without_examples_is_a_data_error() -> None:
    class Texts:
        def texts(self, split: str) -> list[str]:
            return ["some text"]

    with pytest.raises(DataError, match="needs a source of examples with fields text, label .*Texts only has texts"):
        ClassificationTask().fit(Texts())


def test_texts_longer_than_max_len_are_cut_with_a_warning() -> None:
    task, tokenizer, _ = _classifier("last")
    task.max_len = 3
    with pytest.warns(UserWarning, match="1 of 2 inputs are longer than max_len=3"):
        encoded = task.encode(Tokenizers(tokenizer), ["einsundzwanzig", "un"])
    assert encoded["lengths"].tolist() == [3, 2]


def test_batches_resume_exactly_and_group_similar_lengths() -> None:
    lengths = torch.randint(1, 30, (50,))

    def make() -> BucketedBatches:
        return BucketedBatches(lengths, 4, lambda rows: {"rows": rows}, seed=3, bucket=3)

    straight = make()
    expected = [next(straight)["rows"] for _ in range(40)]  # crosses epochs (13 batches each)
    partway = make()
    for _ in range(17):
        next(partway)
    resumed = make()
    resumed.load_state_dict(partway.state_dict())
    for rows in expected[17:]:
        assert torch.equal(next(resumed)["rows"], rows)
    assert sorted(torch.cat(expected[:13]).tolist()) == list(range(50))  # one epoch sees every example once
    assert all(torch.equal(lengths[rows], lengths[rows].sort().values) for rows in expected)


def test_many_to_one_runs_end_to_end_and_predicts_a_label(tmp_path: Path) -> None:
    result = seqframe.run("many-to-one", TINY, out_dir=tmp_path / "run", progress=False)
    assert {"loss", "accuracy", "macro_f1"} <= set(result.final_eval)
    labels = json.loads((tmp_path / "run" / "task.json").read_text())["labels"]
    assert labels == ["de", "en", "es", "fr", "it", "nl", "pt", "sv"]
    answer = seqframe.predict(tmp_path / "run", ["vierundzwanzig"])
    assert len(answer) == 1 and answer[0] in labels
    reloaded = seqframe.load_run(tmp_path / "run")  # no data: the labels come from task.json
    assert reloaded.data is None and reloaded.task.labels == labels
    assert seqframe.predict(reloaded, ["vierundzwanzig", "tjugofyra"])[0] == answer[0]


def test_one_to_one_runs_end_to_end_and_predicts_from_raw_text(tmp_path: Path) -> None:
    result = seqframe.run(
        "one-to-one",
        [*TINY_DATA, "model.topology.hidden_size=8", "train.steps=3", "train.batch_size=8", "train.eval_every=0"],
        out_dir=tmp_path / "run",
        progress=False,
    )
    assert {"loss", "accuracy", "macro_f1"} <= set(result.final_eval)
    state = json.loads((tmp_path / "run" / "task.json").read_text())
    assert state["feature_size"] == 60 and state["feature_spec"] == {"kind": "character_counts"}
    answer = seqframe.predict(tmp_path / "run", ["vierundzwanzig", "twenty-four"])
    assert len(answer) == 2 and set(answer) <= set(state["labels"])


def test_one_to_one_reads_the_vector_as_one_step_and_needs_a_spec_to_predict() -> None:
    examples = [
        {"features": [1.0, 0.0], "label": "a", "text": "x"},
        {"features": [0.0, 1.0], "label": "b", "text": "y"},
    ]
    task = OneToOneTask()
    task.fit(_Source(examples))
    assert task.topology_input_size(64) == 2 and task.feature_spec is None
    topology = seqframe.build_rnn("gru", input_size=2, hidden_size=3)
    model = task.build_model(ModelParts(Tokenizers(CharTokenizer()), topology, LinearHead, 64))
    logits = model(torch.tensor([[1.0, 0.0]]))
    outputs, _ = topology(torch.tensor([[[1.0, 0.0]]]))
    torch.testing.assert_close(logits, model.head(outputs[:, 0]))
    with pytest.raises(DataError, match="no feature_spec"):
        task.predict(model, Tokenizers(CharTokenizer()), ["x"])


def test_a_wrong_model_key_is_a_recipe_error_naming_it() -> None:
    with pytest.raises(RecipeError, match=r"model\.poolin: unknown key 'poolin'.*did you mean 'pooling'"):
        seqframe.api.validate("many-to-one", ["model.poolin=mean"])


def test_an_unknown_pooling_is_a_recipe_error() -> None:
    with pytest.raises(RecipeError, match="pooling must be one of last, mean, max; got 'sum'"):
        seqframe.build("many-to-one", [*TINY, "model.pooling=sum"])
