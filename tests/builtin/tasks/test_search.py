"""Greedy and batched beam search: agreement, batching, optimality on a crafted model,
end-of-sentence, maximum length and length penalty."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from seqframe.builtin.cells import GRUCell, LSTMCell
from seqframe.builtin.tasks.search import beam_search, greedy_decode, length_penalty_factor
from seqframe.builtin.tasks.translation.model import Seq2Seq
from seqframe.builtin.topologies import StackedTopology

PAD, BOS, EOS, A, B = 0, 1, 2, 3, 4


def _model(scale: float = 1.0, eos_bias: float = 0.0) -> Seq2Seq:
    """A random model; ``scale`` and ``eos_bias`` make its outputs depend on the source and
    end at varied lengths (a fresh model's distributions are nearly flat and constant)."""
    torch.manual_seed(0)
    encoder = StackedTopology(GRUCell, 6, 5, 2, bidirectional=True)
    model = Seq2Seq(11, 9, 6, encoder, StackedTopology(LSTMCell, 6, 8, 2), "general", pad_id=PAD)
    with torch.no_grad():
        for param in model.parameters():
            param.mul_(scale)
        model.output.bias[EOS] += eos_bias
    return model


def _source() -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([5, 2, 4, 1])
    src = torch.randint(3, 11, (4, 5), generator=torch.Generator().manual_seed(2))
    return src.masked_fill(torch.arange(5) >= lengths[:, None], PAD), lengths


def _table_model(monkeypatch: pytest.MonkeyPatch, table: dict[int, dict[int, float]]) -> Seq2Seq:
    """A model whose next-token distribution depends only on the last token: ``table[last][next]``."""
    model = _model()
    probs = torch.full((5, 5), 1e-6)
    for last, row in table.items():
        for token, p in row.items():
            probs[last, token] = p
    log_table = (probs / probs.sum(-1, keepdim=True)).log()

    def decode_step(tokens, state, enc):  # (B,) -> (B, V), state unchanged
        return log_table[tokens], state

    monkeypatch.setattr(model, "decode_step", decode_step)
    model.log_table = log_table  # type: ignore[attr-defined]
    return model


def _log_prob(model: Seq2Seq, tokens: list[int]) -> float:
    """Total log-probability of ``tokens + [eos]`` under a table model."""
    path = [BOS, *tokens, EOS]
    return sum(float(model.log_table[a, b]) for a, b in itertools.pairwise(path))  # type: ignore[attr-defined]


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_greedy_equals_beam_of_size_one(length_penalty: float) -> None:
    model = _model(scale=4.0, eos_bias=2.0)
    src, lengths = _source()
    greedy = greedy_decode(model, src, lengths, BOS, EOS, max_len=lambda n: n + 3)
    beam = beam_search(
        model, src, lengths, BOS, EOS, beam_size=1, max_len=lambda n: n + 3, length_penalty=length_penalty
    )
    assert beam == greedy
    assert [len(h) for h in greedy] == [8, 0, 7, 2]  # some end by eos, some at max_len


@pytest.mark.parametrize("length_penalty", [0.0, 0.6])
def test_batched_beam_search_equals_beam_search_per_example(length_penalty: float) -> None:
    model = _model(scale=4.0, eos_bias=2.0)
    src, lengths = _source()
    batched, scores = beam_search(
        model, src, lengths, BOS, EOS, beam_size=3, max_len=8, length_penalty=length_penalty, return_scores=True
    )
    for i, n in enumerate(lengths.tolist()):
        alone, alone_scores = beam_search(
            model,
            src[i : i + 1, :n],
            [n],
            BOS,
            EOS,
            beam_size=3,
            max_len=8,
            length_penalty=length_penalty,
            return_scores=True,
        )
        assert alone == [batched[i]]
        assert alone_scores[0] == pytest.approx(scores[i], abs=1e-5)
    assert len({len(h) for h in batched}) > 1


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_reported_score_is_the_teacher_forced_log_probability_of_the_hypothesis(length_penalty: float) -> None:
    model = _model(scale=4.0, eos_bias=2.0).eval()
    src, lengths = _source()
    found, scores = beam_search(
        model, src, lengths, BOS, EOS, beam_size=4, max_len=8, length_penalty=length_penalty, return_scores=True
    )
    for i, (tokens, score) in enumerate(zip(found, scores)):
        n = int(lengths[i])
        tgt_in = torch.tensor([[BOS, *tokens]])
        log_probs = torch.log_softmax(model(src[i : i + 1, :n], [n], tgt_in), -1)[0]  # (T, V)
        total = float(log_probs.detach().gather(1, torch.tensor([*tokens, EOS]).unsqueeze(1)).sum())
        assert score == pytest.approx(total / length_penalty_factor(len(tokens) + 1, length_penalty), abs=1e-4)


def test_beam_search_beats_myopic_greedy(monkeypatch: pytest.MonkeyPatch) -> None:
    # greedy takes 'a' (0.6) but every continuation of 'a' is unlikely; 'b' then eos is 0.36
    table = {BOS: {A: 0.6, B: 0.4}, A: {EOS: 0.35, A: 0.33, B: 0.32}, B: {EOS: 0.9, A: 0.05, B: 0.05}}
    model = _table_model(monkeypatch, table)
    src, lengths = _source()
    greedy = greedy_decode(model, src, lengths, BOS, EOS, max_len=5)
    beam, scores = beam_search(
        model, src, lengths, BOS, EOS, beam_size=2, max_len=5, length_penalty=0.0, return_scores=True
    )
    assert greedy == [[A]] * 4 and beam == [[B]] * 4
    assert _log_prob(model, beam[0]) > _log_prob(model, greedy[0])
    assert scores[0] == pytest.approx(math.log(0.4 * 0.9), abs=1e-4)


def test_wide_beam_finds_the_exact_best_sequence(monkeypatch: pytest.MonkeyPatch) -> None:
    probs = torch.rand(5, 5, generator=torch.Generator().manual_seed(2))
    probs[:, EOS], probs[B, EOS] = 0.01, 2.0  # ending is likely only after 'b'
    model = _table_model(monkeypatch, {last: dict(enumerate(probs[last].tolist())) for last in range(5)})
    others = [t for t in range(5) if t != EOS]
    candidates = [list(c) for n in range(4) for c in itertools.product(others, repeat=n)]  # max_len 3
    best = max(candidates, key=lambda c: _log_prob(model, c))
    src, lengths = _source()
    found, scores = beam_search(
        model, src, lengths, BOS, EOS, beam_size=64, max_len=3, length_penalty=0.0, return_scores=True
    )
    assert best == [A, B] and found == [best] * 4
    assert greedy_decode(model, src, lengths, BOS, EOS, max_len=3) != found  # greedy misses it
    assert scores[0] == pytest.approx(_log_prob(model, best), abs=1e-4)


def test_eos_ends_hypotheses_and_is_not_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _table_model(monkeypatch, {BOS: {A: 0.9, EOS: 0.1}, A: {B: 0.9, EOS: 0.1}, B: {EOS: 0.9, A: 0.1}})
    src, lengths = _source()
    assert greedy_decode(model, src, lengths, BOS, EOS, max_len=10) == [[A, B]] * 4
    assert beam_search(model, src, lengths, BOS, EOS, beam_size=3, max_len=10, length_penalty=0.0) == [[A, B]] * 4


@pytest.mark.parametrize("max_len,expected", [(3, [3, 3, 3, 3]), (lambda n: 2 * n - 1, [9, 3, 7, 1]), (0, [0] * 4)])
def test_max_len_is_respected(monkeypatch: pytest.MonkeyPatch, max_len, expected: list[int]) -> None:
    model = _table_model(monkeypatch, {BOS: {A: 0.5, B: 0.5}, A: {A: 0.5, B: 0.5}, B: {A: 0.5, B: 0.5}})
    src, lengths = _source()
    greedy = greedy_decode(model, src, lengths, BOS, EOS, max_len=max_len)
    beam = beam_search(model, src, lengths, BOS, EOS, beam_size=2, max_len=max_len)
    assert [len(h) for h in greedy] == expected and [len(h) for h in beam] == expected


def test_length_penalty_favours_longer_hypotheses(monkeypatch: pytest.MonkeyPatch) -> None:
    # [] has probability 0.4 and ['a'] 0.36: raw log-probability prefers the empty output,
    # GNMT's penalty with alpha = 1 (-1.02 / (7/6) > -0.92) prefers the longer one
    model = _table_model(monkeypatch, {BOS: {EOS: 0.4, A: 0.6}, A: {EOS: 0.6, A: 0.4}})
    src, lengths = _source()
    assert beam_search(model, src, lengths, BOS, EOS, beam_size=2, max_len=5, length_penalty=0.0) == [[]] * 4
    best, scores = beam_search(
        model, src, lengths, BOS, EOS, beam_size=2, max_len=5, length_penalty=1.0, return_scores=True
    )
    assert best == [[A]] * 4
    assert scores[0] == pytest.approx(math.log(0.36) / length_penalty_factor(2, 1.0), abs=1e-4)


def test_search_restores_training_mode() -> None:
    model = _model().train()
    src, lengths = _source()
    beam_search(model, src, lengths, BOS, EOS, beam_size=2, max_len=3)
    greedy_decode(model, src, lengths, BOS, EOS, max_len=3)
    assert model.training


@pytest.mark.parametrize("beam_size", [0, True, 2.0])
def test_invalid_beam_size_is_rejected(beam_size) -> None:
    src, lengths = _source()
    with pytest.raises(ValueError, match="beam_size must be an int >= 1"):
        beam_search(_model(), src, lengths, BOS, EOS, beam_size=beam_size)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_search_on_cuda_matches_cpu() -> None:
    model = _model(scale=4.0, eos_bias=2.0)
    src, lengths = _source()
    expected = beam_search(model, src, lengths, BOS, EOS, beam_size=3, max_len=8, length_penalty=0.0)
    greedy = greedy_decode(model, src, lengths, BOS, EOS, max_len=8)
    model.cuda()
    src_cuda = src.cuda()
    assert (
        beam_search(model, src_cuda, lengths.cuda(), BOS, EOS, beam_size=3, max_len=8, length_penalty=0.0) == expected
    )
    assert greedy_decode(model, src_cuda, lengths, BOS, EOS, max_len=8) == greedy
