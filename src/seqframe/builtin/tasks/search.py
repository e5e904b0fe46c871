"""Decoding a :class:`~seqframe.builtin.tasks.translation.model.Seq2Seq`: greedy and batched beam search.

Both work on a padded source batch in one pass (``B`` or ``B*K`` decoder rows at once) and
return token ids without ``bos`` and ``eos``. They use only the model's ``encode``,
``decode_step``, ``reorder`` and ``reorder_state``. Imports only torch and the stdlib.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeAlias

import torch
from torch import Tensor

from seqframe.builtin.tasks.repeats import block_repeats

__all__ = ["beam_search", "default_max_len", "greedy_decode", "length_penalty_factor", "reorder_layers"]

MaxLen: TypeAlias = int | Callable[[int], int]
"""A maximum output length (tokens, ``eos`` excluded), fixed or a function of the source length."""


def reorder_layers(state: tuple[Tensor, ...], index: Tensor) -> tuple[Tensor, ...]:
    """Select or repeat rows ``index (B',)`` of a decoder state (tensors ``(L, B, H)``): the
    ``reorder_state`` every step-wise decoder offers the search."""
    return tuple(s.index_select(1, index) for s in state)


def default_max_len(src_len: int) -> int:
    """``2 * src_len + 10`` output tokens at most."""
    return 2 * src_len + 10


def length_penalty_factor(length: int | Tensor, alpha: float) -> float | Tensor:
    """GNMT's length penalty ``lp(n) = ((5 + n) / 6) ** alpha`` (Wu et al. 2016).

    A hypothesis of ``n`` generated tokens (its ``eos`` included) scores
    ``log P(y | x) / lp(n)``; ``alpha = 0`` ranks by plain log-probability and larger
    ``alpha`` favours longer outputs.
    """
    return ((5.0 + length) / 6.0) ** alpha


@contextmanager
def _inference(model: Any) -> Iterator[None]:
    """Eval mode and no autograd for the block; the training flag is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _limits(max_len: MaxLen, src: Tensor, src_lengths: Tensor | Sequence[int] | None) -> Tensor:
    """Per-example maximum output lengths ``(B,)`` int64 on ``src.device``."""
    batch, steps = src.shape[0], src.shape[1]
    lengths = [steps] * batch if src_lengths is None else torch.as_tensor(src_lengths).tolist()
    limits = [int(max_len(n)) for n in lengths] if callable(max_len) else [int(max_len)] * batch
    if any(limit < 0 for limit in limits):
        raise ValueError(f"max_len must give lengths >= 0, got {min(limits)}")
    return torch.tensor(limits, dtype=torch.int64, device=src.device)


def _cut(rows: list[list[int]], eos_id: int, limits: list[int]) -> list[list[int]]:
    """Each row up to its first ``eos`` and at most its limit."""
    out = []
    for row, limit in zip(rows, limits):
        end = row.index(eos_id) if eos_id in row else len(row)
        out.append(row[: min(end, limit)])
    return out


def greedy_decode(
    model: Any,
    src: Tensor,
    src_lengths: Tensor | Sequence[int] | None,
    bos_id: int,
    eos_id: int,
    max_len: MaxLen = default_max_len,
    no_repeat_ngram: int = 0,
) -> list[list[int]]:
    """Pick the most likely next token at every step, for a whole padded batch at once.

    Args:
        model: a :class:`Seq2Seq` (or anything with its ``encode``/``decode_step``).
        src: source ids ``(B, S)``.
        src_lengths: real source lengths ``(B,)``, or None for all ``S``.
        bos_id: first decoder input.
        eos_id: end of a hypothesis (not included in the output).
        max_len: most output tokens per example: an int or ``f(source length) -> int``.
        no_repeat_ngram: never repeat an n-gram of this many tokens within an output (0: off;
            :mod:`.repeats`).

    Returns:
        ``B`` lists of token ids, without ``bos`` and ``eos``.
    """
    limits = _limits(max_len, src, src_lengths)
    if src.shape[0] == 0:
        return []
    steps: list[Tensor] = []
    with _inference(model):
        enc = model.encode(src, src_lengths)
        state, tokens = enc.state, torch.full_like(limits, bos_id)
        finished = limits == 0
        for step in range(int(limits.max())):
            if bool(finished.all()):
                break
            log_probs, state = model.decode_step(tokens, state, enc)  # (B, V)
            if no_repeat_ngram and steps:
                log_probs = block_repeats(log_probs, torch.stack(steps, 1), no_repeat_ngram, eos_id)
            tokens = log_probs.argmax(-1)
            steps.append(tokens)
            finished = finished | (tokens == eos_id) | (limits <= step + 1)
    rows = torch.stack(steps, 1).tolist() if steps else [[] for _ in range(src.shape[0])]
    return _cut(rows, eos_id, limits.tolist())


@dataclass
class _Beams:
    """Search state of ``B`` examples with ``K`` beams each; hypotheses hold ``W`` token slots."""

    scores: Tensor  # (B, K) log-probabilities of the live hypotheses, best first
    tokens: Tensor  # (B, K, W) live tokens, eos past the current step
    fin_scores: Tensor  # (B, K) length-penalised scores of finished ones, best first; -inf = empty
    fin_tokens: Tensor  # (B, K, W) finished tokens, eos-terminated
    done: Tensor  # (B,) bool: no live hypothesis can enter the finished list any more

    @classmethod
    def start(cls, batch: int, beams: int, width: int, eos_id: int, device: torch.device) -> _Beams:
        scores = torch.full((batch, beams), float("-inf"), device=device)
        scores[:, 0] = 0.0  # all beams start equal: expand one only, or the K copies would tie
        tokens = torch.full((batch, beams, width), eos_id, dtype=torch.int64, device=device)
        return cls(
            scores,
            tokens,
            torch.full_like(scores, float("-inf")),
            tokens.clone(),
            torch.zeros(batch, dtype=torch.bool, device=device),
        )


def _gather_rows(tokens: Tensor, beam: Tensor) -> Tensor:
    """``tokens (B, K, W)`` rows picked per example by ``beam (B, N)`` -> ``(B, N, W)``."""
    return tokens.gather(1, beam.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


def _finish(beams: _Beams, cand: Tensor, beam: Tensor, token: Tensor, step: int, eos_id: int, alpha: float) -> None:
    """Move ``eos`` candidates ranked in the top ``K`` into each example's finished list."""
    K = beams.scores.shape[1]
    ended = (token[:, :K] == eos_id) & ~beams.done.unsqueeze(1)  # (B, K)
    new_scores = torch.where(ended, cand[:, :K] / length_penalty_factor(step + 1, alpha), float("-inf"))
    new_tokens = _gather_rows(beams.tokens, beam[:, :K])  # eos already sits at column `step`
    scores = torch.cat([beams.fin_scores, new_scores], 1)  # (B, 2K)
    best, order = scores.topk(K, dim=1)
    beams.fin_scores = best
    beams.fin_tokens = _gather_rows(torch.cat([beams.fin_tokens, new_tokens], 1), order)


def _advance(
    beams: _Beams, log_probs: Tensor, step: int, limits: Tensor, eos_id: int, alpha: float
) -> tuple[Tensor, Tensor]:
    """One beam step from ``log_probs (B, K, V)``; returns the flat rows ``(B*K,)`` to keep
    in the decoder state and the next input tokens ``(B*K,)``."""
    B, K, V = log_probs.shape
    at_limit = (limits <= step).view(B, 1, 1)
    not_eos = torch.arange(V, device=log_probs.device) != eos_id
    log_probs = log_probs.masked_fill(at_limit & not_eos, float("-inf"))  # only eos at the limit
    flat = (beams.scores.unsqueeze(-1) + log_probs).view(B, K * V)
    cand, index = flat.topk(min(2 * K, K * V), dim=1)  # (B, 2K), best first
    beam, token = index // V, index % V
    _finish(beams, cand, beam, token, step, eos_id, alpha)
    live, order = cand.masked_fill(token == eos_id, float("-inf")).topk(K, dim=1)  # (B, K)
    beam, token = beam.gather(1, order), token.gather(1, order)
    beams.tokens = _gather_rows(beams.tokens, beam)
    beams.tokens[:, :, step] = token
    beams.scores = live
    # Heuristic stop (exact for alpha = 0): the best live hypothesis, scored at its current
    # length, cannot beat the worst of K finished ones. At the limit every live score is -inf.
    bound = live[:, 0] / length_penalty_factor(step + 1, alpha)
    beams.done = beams.done | (beams.fin_scores[:, -1] >= bound)
    rows = (torch.arange(B, device=beam.device).unsqueeze(1) * K + beam).view(-1)
    return rows, token.view(-1)


def beam_search(
    model: Any,
    src: Tensor,
    src_lengths: Tensor | Sequence[int] | None,
    bos_id: int,
    eos_id: int,
    beam_size: int = 5,
    max_len: MaxLen = default_max_len,
    length_penalty: float = 1.0,
    return_scores: bool = False,
    no_repeat_ngram: int = 0,
) -> list[list[int]] | tuple[list[list[int]], list[float]]:
    """Beam search over a padded batch: ``B * beam_size`` decoder rows advance together.

    Every step expands each live hypothesis by every token and keeps, per example, the
    ``2K`` best continuations by log-probability: ``eos`` continuations among the top ``K``
    enter the example's finished list (the ``K`` best by length-penalised score are kept),
    the ``K`` best others stay live. Scores use GNMT's length penalty,
    ``log P(y | x) / ((5 + |y|) / 6) ** length_penalty`` with ``|y|`` counting ``eos``
    (:func:`length_penalty_factor`); ``length_penalty=0`` ranks by log-probability.
    An example stops once its ``K``-th finished score is at least its best live
    hypothesis's log-probability penalised at the current length (exact for
    ``length_penalty=0``, the usual heuristic otherwise), or when it reaches ``max_len``,
    where every live hypothesis is ended. With ``beam_size=1`` this is greedy decoding.

    Args:
        model: a :class:`Seq2Seq` (``encode``, ``decode_step``, ``reorder``, ``reorder_state``).
        src: source ids ``(B, S)``.
        src_lengths: real source lengths ``(B,)``, or None for all ``S``.
        bos_id: first decoder input.
        eos_id: end of a hypothesis (not included in the output).
        beam_size: hypotheses ``K`` kept per example.
        max_len: most output tokens per example: an int or ``f(source length) -> int``.
        length_penalty: GNMT's ``alpha`` (>= 0).
        return_scores: also return each best hypothesis's length-penalised score.
        no_repeat_ngram: never repeat an n-gram of this many tokens within a hypothesis (0:
            off; :mod:`.repeats`).

    Returns:
        The best hypothesis of each example (token ids, no ``bos``/``eos``), and with
        ``return_scores`` a list of their scores.
    """
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"beam_search: beam_size must be an int >= 1, got {beam_size!r}")
    if length_penalty < 0:
        raise ValueError(f"beam_search: length_penalty must be >= 0, got {length_penalty!r}")
    limits = _limits(max_len, src, src_lengths)
    B, K = src.shape[0], beam_size
    if B == 0:
        return ([], []) if return_scores else []
    with _inference(model):
        enc = model.reorder(model.encode(src, src_lengths), torch.arange(B, device=src.device).repeat_interleave(K))
        state, tokens = enc.state, torch.full((B * K,), bos_id, dtype=torch.int64, device=src.device)
        beams = _Beams.start(B, K, int(limits.max()) + 1, eos_id, src.device)
        for step in range(int(limits.max()) + 1):
            log_probs, state = model.decode_step(tokens, state, enc)  # (B*K, V)
            if no_repeat_ngram and step:
                history = beams.tokens[:, :, :step].reshape(B * K, step)
                log_probs = block_repeats(log_probs, history, no_repeat_ngram, eos_id)
            rows, tokens = _advance(beams, log_probs.view(B, K, -1).float(), step, limits, eos_id, length_penalty)
            state = model.reorder_state(state, rows)
            if bool(beams.done.all()):
                break
    hypotheses = _cut(beams.fin_tokens[:, 0].tolist(), eos_id, limits.tolist())
    return (hypotheses, beams.fin_scores[:, 0].tolist()) if return_scores else hypotheses
