"""The one-to-many task: a vector conditions a generated sequence (number -> spelling)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import seqframe
from seqframe.builtin.heads import LinearHead
from seqframe.builtin.metrics import char_accuracy
from seqframe.builtin.tasks.one_to_many import OneToManyTask
from seqframe.builtin.tokenizers import CharTokenizer
from seqframe.errors import DataError, RecipeError, SeqframeError
from seqframe.interfaces import ModelParts, Tokenizers

TINY = [
    "model.topology.hidden_size=8",
    "model.embedding_dim=4",
    "data.max_number=100",
    "data.valid_size=8",
    "data.test_size=8",
    "train.batch_size=8",
    "train.steps=2",
    "train.eval_every=0",
    "task.max_len=12",
]


class _Numbers:
    """A stand-in source: 3 one-hot 'digits' spell a word."""

    feature_size = 3
    feature_spec = None
    _examples = [
        {"features": [1.0, 0.0, 0.0], "text": "0", "target": "zero"},
        {"features": [0.0, 1.0, 0.0], "text": "1", "target": "one"},
        {"features": [0.0, 0.0, 1.0], "text": "2", "target": "two hundred"},
    ]

    def examples(self, split: str) -> list[dict]:
        return [dict(e) for e in self._examples]

    def texts(self, split: str) -> list[str]:
        return [e["text"] for e in self._examples]


def _setup(feed_features: bool = True) -> tuple[OneToManyTask, CharTokenizer, torch.nn.Module]:
    task = OneToManyTask(max_len=15, feed_features=feed_features)
    task.fit(_Numbers())
    tokenizer = CharTokenizer()
    tokenizer.fit([e["target"] for e in _Numbers().examples("train")])
    torch.manual_seed(0)
    width = task.topology_input_size(4)
    topology = seqframe.build_rnn("lstm", input_size=width, hidden_size=6, num_layers=2)
    return (
        task,
        tokenizer,
        task.build_model(ModelParts(Tokenizers(tokenizer), topology, LinearHead, 4)),
    )


@pytest.mark.parametrize("feed_features", [True, False])
def test_teacher_forcing_equals_step_by_step_decoding(feed_features: bool) -> None:
    _task, tokenizer, model = _setup(feed_features)
    model.eval()
    features = torch.tensor([[0.0, 1.0, 0.0]])
    tokens = torch.tensor([[tokenizer.bos_id, *tokenizer.encode("one")]])
    full = torch.log_softmax(model(features, tokens), -1)[0]  # (T, V)
    condition = model.encode(features)
    state, steps = condition.state, []
    for t in range(tokens.shape[1]):
        log_probs, state = model.decode_step(tokens[:, t], state, condition)
        steps.append(log_probs[0])
    torch.testing.assert_close(torch.stack(steps), full, atol=1e-5, rtol=1e-5)


def test_masked_loss_ignores_padding() -> None:
    task, tokenizer, model = _setup()
    encoded = task.encode(Tokenizers(tokenizer), _Numbers().examples("train"))
    batches = task.train_batches(encoded, 3, 0, Tokenizers(tokenizer))
    batch = next(batches)
    loss, count, _ = task.training_step(model, batch, None)
    assert count == sum(len(e["target"]) + 1 for e in _Numbers().examples("train"))  # + eos each
    per_row = []
    for row in range(3):
        n = int(batch["target_lengths"][row])
        single = {
            "features": batch["features"][row : row + 1],
            "target_in": batch["target_in"][row : row + 1, :n],
            "target_out": batch["target_out"][row : row + 1, :n],
            "target_lengths": batch["target_lengths"][row : row + 1],
        }
        per_row.append(task.training_step(model, single, None)[0] * n)
    torch.testing.assert_close(loss, sum(per_row) / count, atol=1e-6, rtol=1e-5)


def test_a_wrong_feature_count_names_the_example() -> None:
    task, tokenizer, _ = _setup()
    with pytest.raises(DataError, match=r"example 1 \('x'\) has 2 features; the model reads 3"):
        task.encode(
            Tokenizers(tokenizer), [_Numbers._examples[0], {"features": [1.0, 0.0], "text": "x", "target": "one"}]
        )


def test_without_a_feature_spec_predict_reads_json_vectors() -> None:
    task, tokenizer, model = _setup()
    [answer] = task.predict(model, Tokenizers(tokenizer), ["[0, 1, 0]"], device="cpu", beam=2)
    assert isinstance(answer, str) and len(answer) <= 15
    with pytest.raises(DataError, match="a JSON list of 3 numbers"):
        task.predict(model, Tokenizers(tokenizer), ["24"], device="cpu")
    with pytest.raises(SeqframeError, match="predict takes beam, max_tokens, length_penalty; got temperature"):
        task.predict(model, Tokenizers(tokenizer), ["[0, 1, 0]"], device="cpu", temperature=0.5)
    with pytest.raises(SeqframeError, match="predict option beam must be an int >= 1, got 0"):
        task.predict(model, Tokenizers(tokenizer), ["[0, 1, 0]"], device="cpu", beam=0)


def test_char_accuracy_counts_missing_and_extra_characters() -> None:
    assert char_accuracy(["one", "tw"], ["one", "two"]) == pytest.approx(5 / 6)
    assert char_accuracy(["ones"], ["one"]) == pytest.approx(3 / 4)


def test_a_model_decoder_key_is_refused() -> None:
    task, tokenizer, _ = _setup()
    decoder = seqframe.build_rnn("lstm", input_size=4, hidden_size=6)
    with pytest.raises(ValueError, match="model.topology is the decoder; remove model.decoder"):
        task.build_model(ModelParts(Tokenizers(tokenizer), decoder, LinearHead, 4), decoder=decoder)


def test_bidirectional_decoder_fails_validation() -> None:
    with pytest.raises(RecipeError, match="model.topology.bidirectional"):
        seqframe.api.validate("one-to-many", ["model.topology.bidirectional=true"])


def test_number_spelling_recipe_runs_predicts_and_reloads(tmp_path: Path) -> None:
    result = seqframe.run("one-to-many", TINY, out_dir=tmp_path / "run", progress=False)
    assert {"loss", "exact_match", "char_accuracy"} <= set(result.final_eval)
    state = json.loads((tmp_path / "run" / "task.json").read_text())
    assert state == {"feature_size": 20, "feature_spec": {"kind": "digits", "digits": 2}}
    [answer] = seqframe.predict(tmp_path / "run", ["24"])
    assert isinstance(answer, str) and len(answer) <= 12
    loaded = seqframe.load_run(tmp_path / "run")
    assert loaded.task.state_dict() == state
    assert seqframe.predict(loaded, ["24", "7"], beam=3) == seqframe.predict(result.pipeline, ["24", "7"], beam=3)
