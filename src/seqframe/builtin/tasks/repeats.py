"""Blocking repeated n-grams while decoding (``no_repeat_ngram``).

A hypothesis may not contain the same ``n`` consecutive tokens twice: at each step, every
token that would complete an ``n``-gram already present in the hypothesis is given a
log-probability of ``-inf``. With ``n = 3`` a subword piece occurs at most three times in a
row and a two-piece loop ("ri ri ri ...") is cut after it first repeats. Vectorised over
the rows being decoded. Imports only torch.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["banned_tokens", "block_repeats"]


def banned_tokens(history: Tensor, n: int, vocab_size: int) -> Tensor:
    """Which next tokens would repeat an ``n``-gram of each row's history.

    Args:
        history: tokens generated so far ``(N, t)`` (``bos`` excluded).
        n: the n-gram length (>= 1; 1 bans every token already generated).
        vocab_size: ``V``.

    Returns:
        A bool mask ``(N, V)``, True where the token is banned.

    Example:
        >>> banned_tokens(torch.tensor([[5, 6, 5]]), 2, 8).nonzero().tolist()  # "5 6" seen: ban 6 after 5
        [[0, 6]]
    """
    rows, steps = history.shape
    counts = torch.zeros(rows, vocab_size, dtype=torch.int64, device=history.device)
    if steps < n or n < 1:
        return counts > 0
    windows = history.unfold(1, n, 1)  # (N, t - n + 1, n): every n-gram so far
    prefix = history[:, steps - n + 1 :]  # (N, n - 1): the tokens the next one would follow
    match = (windows[:, :, :-1] == prefix.unsqueeze(1)).all(-1)  # (N, t - n + 1); all True for n = 1
    return counts.scatter_add_(1, windows[:, :, -1], match.to(torch.int64)) > 0


def block_repeats(log_probs: Tensor, history: Tensor, n: int, keep: int) -> Tensor:
    """``log_probs (N, V)`` with the tokens that would repeat an ``n``-gram set to ``-inf``.

    Args:
        log_probs: next-token log-probabilities of ``N`` rows.
        history: their tokens so far ``(N, t)``.
        n: the n-gram length; 0 leaves ``log_probs`` as it is.
        keep: a token never banned (``eos``: a hypothesis can always end).
    """
    if n <= 0:
        return log_probs
    banned = banned_tokens(history, n, log_probs.shape[-1])
    banned[:, keep] = False
    return log_probs.masked_fill(banned, float("-inf"))
