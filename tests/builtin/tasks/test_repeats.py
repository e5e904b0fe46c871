"""Blocking repeated n-grams in greedy and beam search (``no_repeat_ngram``): the banned
tokens by hand, decoding a model that loops, and the translation task's option."""

from __future__ import annotations

import pytest
import torch

from seqframe.builtin.cells import GRUCell, LSTMCell
from seqframe.builtin.tasks.repeats import banned_tokens, block_repeats
from seqframe.builtin.tasks.search import beam_search, greedy_decode
from seqframe.builtin.tasks.translation import TranslationTask
from seqframe.builtin.tasks.translation.model import Seq2Seq
from seqframe.builtin.topologies import StackedTopology

PAD, BOS, EOS, A, B = 0, 1, 2, 3, 4


def _banned(history: list[list[int]], n: int, vocab: int = 6) -> list[list[int]]:
    mask = banned_tokens(torch.tensor(history), n, vocab)
    return [row.nonzero().flatten().tolist() for row in mask]


def test_banned_tokens_by_hand() -> None:
    # bigrams of [5, 3, 5, 4, 5]: (5,3) (3,5) (5,4) (4,5); the last token 5 was followed by 3 and 4
    assert _banned([[5, 3, 5, 4, 5]], 2) == [[3, 4]]
    # trigrams: the last two (4, 5) never started one, so nothing is banned; (3, 5) did, by 4
    assert _banned([[5, 3, 5, 4, 5]], 3) == [[]]
    assert _banned([[1, 3, 5, 4, 3, 5]], 3) == [[4]]
    assert _banned([[3, 3, 3]], 3) == [[3]]  # a fourth 3 in a row would repeat (3, 3, 3)
    assert _banned([[2, 0, 2], [1, 1, 4]], 1) == [[0, 2], [1, 4]]  # n = 1: every token seen
    assert _banned([[3, 3]], 3) == [[]]  # shorter than n: nothing yet
    assert _banned([[4, 4, 0, 4]], 2) == [[0, 4]]  # token 0 is banned like any other


def test_block_repeats_keeps_eos_and_leaves_n_zero_alone() -> None:
    log_probs = torch.zeros(1, 6)
    blocked = block_repeats(log_probs, torch.tensor([[2, 3, 2]]), 2, keep=2)
    assert blocked[0].tolist() == [0.0, 0.0, 0.0, float("-inf"), 0.0, 0.0]
    assert block_repeats(log_probs, torch.tensor([[3, 3, 3, 3]]), 0, keep=2) is log_probs


def _looping_model(monkeypatch: pytest.MonkeyPatch) -> Seq2Seq:
    """A model that prefers A after anything, then B, and rarely ends."""
    torch.manual_seed(0)
    model = Seq2Seq(7, 5, 4, StackedTopology(GRUCell, 4, 3), StackedTopology(LSTMCell, 4, 5), "general", pad_id=PAD)
    probs = torch.tensor([0.001, 0.001, 0.01, 0.7, 0.288]).log()  # PAD BOS EOS A B

    def decode_step(tokens, state, enc):  # same distribution after every token
        return probs.expand(tokens.shape[0], -1), state

    monkeypatch.setattr(model, "decode_step", decode_step)
    return model


def _trigrams(tokens: list[int]) -> list[tuple[int, ...]]:
    return [tuple(tokens[i : i + 3]) for i in range(len(tokens) - 2)]


def test_greedy_with_blocking_stops_the_loop_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _looping_model(monkeypatch)
    src = torch.tensor([[5, 6, EOS]])
    assert greedy_decode(model, src, [3], BOS, EOS, max_len=8) == [[A] * 8]
    # n = 2: A, A; after A, (A, A) is taken -> B; after B nothing -> A; after A both (A, A)
    # and (A, B) are taken -> only eos (the only token never banned) is left
    assert greedy_decode(model, src, [3], BOS, EOS, max_len=8, no_repeat_ngram=2) == [[A, A, B, A]]
    assert greedy_decode(model, src, [3], BOS, EOS, max_len=8, no_repeat_ngram=1) == [[A, B]]


def test_beam_search_with_blocking_never_repeats_an_ngram(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _looping_model(monkeypatch)
    src = torch.tensor([[5, 6, EOS], [6, EOS, PAD]])
    plain = beam_search(model, src, [3, 2], BOS, EOS, beam_size=3, max_len=12, length_penalty=1.0)
    assert any(len(set(_trigrams(h))) < len(_trigrams(h)) for h in plain)
    blocked = beam_search(model, src, [3, 2], BOS, EOS, beam_size=3, max_len=12, length_penalty=1.0, no_repeat_ngram=3)
    for hyp in blocked:
        assert len(hyp) >= 4 and len(set(_trigrams(hyp))) == len(_trigrams(hyp))
    same = beam_search(model, src, [3, 2], BOS, EOS, beam_size=3, max_len=12, length_penalty=1.0, no_repeat_ngram=0)
    assert same == plain


def test_translation_task_validates_and_uses_no_repeat_ngram() -> None:
    with pytest.raises(ValueError, match="no_repeat_ngram"):
        TranslationTask(no_repeat_ngram=-1)
    with pytest.raises(ValueError, match="no_repeat_ngram"):
        TranslationTask(no_repeat_ngram=True)
    task = TranslationTask(max_len=6, no_repeat_ngram=1)
    with pytest.raises(ValueError, match="no_repeat_ngram"):  # as for a bad beam
        task.predict(None, None, ["x"], device="cpu", no_repeat_ngram=1.5)  # type: ignore[arg-type]
