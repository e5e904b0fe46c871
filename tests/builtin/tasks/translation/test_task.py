"""The translation task: packing, length-bucketed resumable batches, the masked loss,
evaluation metrics and decoding (greedy, beam), with tiny models and data."""

from __future__ import annotations

import pytest
import torch

from seqframe.builtin.cells import GRUCell, LSTMCell
from seqframe.builtin.data.generated.numbers import NumberTranslationSource
from seqframe.builtin.heads import LinearHead
from seqframe.builtin.tasks.losses import masked_cross_entropy
from seqframe.builtin.tasks.search import beam_search
from seqframe.builtin.tasks.translation import TranslationTask
from seqframe.builtin.tasks.translation.batching import collate_pairs, pair_batches, unpack_texts
from seqframe.builtin.tasks.translation.model import Seq2Seq
from seqframe.builtin.tokenizers import CharTokenizer
from seqframe.builtin.topologies import StackedTopology
from seqframe.errors import DataError, SeqframeError
from seqframe.interfaces import EvalSettings, ModelParts, Tokenizers

PAIRS = [
    {"source": "one", "target": "eins"},
    {"source": "two", "target": "zwei"},
    {"source": "twenty-one", "target": "einundzwanzig"},
    {"source": "twenty-two", "target": "zweiundzwanzig"},
    {"source": "thirty", "target": "dreißig"},
    {"source": "ten", "target": "zehn"},
]


def _tokenizers() -> tuple[CharTokenizer, CharTokenizer]:
    source, target = CharTokenizer(), CharTokenizer()
    source.fit(p["source"] for p in PAIRS)
    target.fit(p["target"] for p in PAIRS)
    return source, target


def _task_and_model(**task_options) -> tuple[TranslationTask, Seq2Seq, CharTokenizer, CharTokenizer]:
    torch.manual_seed(0)
    source, target = _tokenizers()
    task = TranslationTask(max_len=20, **task_options)
    encoder = StackedTopology(LSTMCell, 8, 6, bidirectional=True)
    decoder = StackedTopology(GRUCell, 8, 10)
    model = task.build_model(
        ModelParts(Tokenizers(source, target), encoder, LinearHead, 8),
        decoder=decoder,
        attention="additive",
    )
    return task, model, source, target


def test_encode_packs_source_eos_and_bos_target_eos_with_raw_references() -> None:
    task, _, source, target = _task_and_model()
    packed = task.encode(Tokenizers(source, target), PAIRS)
    assert packed["source_lengths"].tolist() == [len(p["source"]) + 1 for p in PAIRS]
    assert packed["target_lengths"].tolist() == [len(p["target"]) + 2 for p in PAIRS]
    first = packed["target"][: len("eins") + 2].tolist()
    assert first[0] == target.bos_id and first[-1] == target.eos_id and target.decode(first) == "eins"
    assert int(packed["source"][len("one")]) == source.eos_id
    assert unpack_texts(packed["reference"], packed["reference_lengths"], [4]) == ["dreißig"]


def test_encode_of_plain_texts_is_a_clear_error() -> None:
    task, _, source, _ = _task_and_model()
    with pytest.raises(DataError, match="must be a pair"):
        task.encode(Tokenizers(source), ["twenty-one"])


def test_a_batch_shifts_targets_and_pads_each_side() -> None:
    task, _, source, target = _task_and_model()
    batch = collate_pairs(
        task.encode(Tokenizers(source, target), PAIRS), torch.tensor([0, 2]), source.pad_id, target.pad_id
    )
    assert batch["source"].shape == (2, len("twenty-one") + 1)
    assert batch["target_lengths"].tolist() == [len("eins") + 1, len("einundzwanzig") + 1]
    assert torch.equal(batch["target_in"][:, 1:5], batch["target_out"][:, :4])
    assert int(batch["target_out"][0, 4]) == target.eos_id and int(batch["target_out"][0, 5]) == target.pad_id


def _number_pairs(n: int = 1200) -> list[dict[str, str]]:
    return NumberTranslationSource(max_number=n + 20, valid_size=10, test_size=10).examples("train")


def test_batches_cover_every_pair_once_per_epoch_with_little_padding() -> None:
    pairs = _number_pairs()
    source, target = CharTokenizer(), CharTokenizer()
    source.fit(p["source"] for p in pairs)
    target.fit(p["target"] for p in pairs)
    task = TranslationTask()
    packed = task.encode(Tokenizers(source, target), pairs)
    batches = task.train_batches(packed, 32, 3, Tokenizers(source, target))
    seen, real, total = [], 0, 0
    for rows in batches._batches:
        seen += rows.tolist()
    for _ in range(len(batches)):
        batch = next(batches)
        real += int(batch["source_lengths"].sum() + batch["target_lengths"].sum())
        total += batch["source"].numel() + batch["target_in"].numel()
    assert sorted(seen) == list(range(len(pairs)))
    assert 1 - real / total < 0.10  # padding share


def test_batches_resume_exactly_from_their_state() -> None:
    task, _, source, target = _task_and_model()
    packed = task.encode(Tokenizers(source, target), PAIRS * 5)
    straight = pair_batches(packed, 4, seed=7, bucket=2)
    expected = [next(straight) for _ in range(20)]  # several epochs
    part = pair_batches(packed, 4, seed=7, bucket=2)
    for _ in range(9):
        next(part)
    resumed = pair_batches(packed, 4, seed=7, bucket=2)
    resumed.load_state_dict(part.state_dict())
    for batch in expected[9:]:
        got = next(resumed)
        assert all(torch.equal(got[k], batch[k]) for k in batch)


def test_masked_loss_ignores_padding() -> None:
    logits = torch.randn(2, 4, 7)
    targets = torch.tensor([[3, 4, 5, 6], [3, 2, 0, 0]])
    lengths = torch.tensor([4, 2])
    loss, tokens = masked_cross_entropy(logits, targets, lengths)
    noisy_logits, noisy_targets = logits.clone(), targets.clone()
    noisy_logits[1, 2:] = 100 * torch.randn(2, 7)
    noisy_targets[1, 2:] = torch.tensor([6, 5])
    assert tokens == 6
    torch.testing.assert_close(masked_cross_entropy(noisy_logits, noisy_targets, lengths)[0], loss)
    real_logits, real_targets = torch.cat([logits[0], logits[1, :2]]), torch.cat([targets[0], targets[1, :2]])
    alone = torch.nn.functional.cross_entropy(real_logits, real_targets)
    torch.testing.assert_close(loss, alone)


def test_training_step_loss_is_finite_and_counts_real_target_tokens() -> None:
    task, model, source, target = _task_and_model(label_smoothing=0.1)
    batch = collate_pairs(
        task.encode(Tokenizers(source, target), PAIRS), torch.arange(len(PAIRS)), source.pad_id, target.pad_id
    )
    loss, tokens, carry = task.training_step(model, batch, None)
    assert torch.isfinite(loss) and carry is None
    assert tokens == sum(len(p["target"]) + 1 for p in PAIRS)
    loss.backward()
    assert model.src_embedding.weight.grad is not None


def test_evaluate_reports_loss_and_translation_scores() -> None:
    task, model, source, target = _task_and_model(eval_decode=4)
    settings = EvalSettings(Tokenizers(source, target), batch_size=4)
    encoded = task.encode(settings.tokenizers, PAIRS)
    metrics = task.evaluate(model, encoded, settings)
    assert set(metrics) == {"loss", "ppl", "bleu", "chrf", "exact_match"}
    assert 0.0 <= metrics["exact_match"] <= 1.0 and 0.0 <= metrics["chrf"] <= 100.0
    task.eval_decode = 0
    assert set(task.evaluate(model, encoded, settings)) == {"loss", "ppl"}


def test_greedy_predictions_equal_beam_search_of_width_one() -> None:
    task, model, source, target = _task_and_model()
    sources = [p["source"] for p in PAIRS]
    greedy = task.predict(model.eval(), Tokenizers(source, target), sources, device="cpu", beam=1)
    ids = [source.encode(s) + [source.eos_id] for s in sources]
    src = torch.zeros(len(ids), max(map(len, ids)), dtype=torch.int64)
    for row, seq in enumerate(ids):
        src[row, : len(seq)] = torch.tensor(seq)
    width_one = beam_search(model, src, [len(s) for s in ids], target.bos_id, target.eos_id, beam_size=1, max_len=20)
    assert greedy == [target.decode(h) for h in width_one]
    wide = task.predict(model, Tokenizers(source, target), sources, device="cpu", beam=3)
    assert len(wide) == len(sources) and all(isinstance(t, str) for t in wide)


def test_predict_rejects_sampling_options() -> None:
    task, model, source, target = _task_and_model()
    with pytest.raises(SeqframeError, match="temperature"):
        task.predict(model, Tokenizers(source, target), ["one"], device="cpu", temperature=0.5)


def test_build_model_needs_a_unidirectional_decoder() -> None:
    source, _ = _tokenizers()
    task = TranslationTask()
    encoder = StackedTopology(LSTMCell, 4, 4)
    with pytest.raises(ValueError, match="model.decoder"):
        task.build_model(ModelParts(Tokenizers(source), encoder, LinearHead, 4), decoder=None)
    both = StackedTopology(LSTMCell, 4, 4, bidirectional=True)
    with pytest.raises(ValueError, match="model.decoder.*bidirectional"):
        task.build_model(ModelParts(Tokenizers(source), encoder, LinearHead, 4), decoder=both)
