"""Global attention over encoder outputs: Luong ``dot`` and ``general``, Bahdanau ``additive``.

Plain torch; imports nothing from seqframe. Keys can be projected once per source batch
(:meth:`Attention.project_keys`) and reused at every decoding step.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["ATTENTION_KINDS", "Attention"]

ATTENTION_KINDS = ("dot", "general", "additive")
"""The score functions :class:`Attention` accepts."""


class Attention(nn.Module):
    """Score every source position against every query, softmax over real positions, and
    return the weighted sum of the keys.

    Score functions, for a query ``q`` and a key ``k``:

    - ``dot`` (Luong 2015): ``q . k``; needs ``query_size == key_size``.
    - ``general`` (Luong 2015): ``q . (W_a k)``.
    - ``additive`` (Bahdanau 2015): ``v . tanh(W_q q + W_k k + b)``.

    Padded source positions get exactly zero weight, and a row whose positions are all
    padding gets all-zero weights and a zero context (never NaN).

    Args:
        query_size: features of a query (the decoder output), ``Hq``.
        key_size: features of a key (the encoder output), ``Hk``.
        kind: ``"dot"``, ``"general"`` or ``"additive"``.
        attention_size: hidden size ``A`` of the additive scorer (default: ``query_size``).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Raises:
        ValueError: for an unknown ``kind``, a non-positive size, or ``dot`` with
            ``query_size != key_size``.

    Shape:
        - query: ``(B, Tq, Hq)``; keys: ``(B, Ts, Hk)``; key_mask: ``(B, Ts)`` bool, True on
          real tokens.
        - context: ``(B, Tq, Hk)``; weights: ``(B, Tq, Ts)``, each row summing to 1 over its
          real positions.

    Example:
        >>> attention = Attention(16, 32, "general")
        >>> mask = torch.arange(7) < torch.tensor([[7], [4]])  # (2, 7): lengths 7 and 4
        >>> context, weights = attention(torch.randn(2, 5, 16), torch.randn(2, 7, 32), mask)
    """

    def __init__(
        self,
        query_size: int,
        key_size: int,
        kind: str = "general",
        attention_size: int | None = None,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if kind not in ATTENTION_KINDS:
            raise ValueError(f"Attention: unknown kind {kind!r}; expected one of {', '.join(ATTENTION_KINDS)}")
        for arg, value in (("query_size", query_size), ("key_size", key_size), ("attention_size", attention_size)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"Attention: {arg} must be a positive int, got {value!r}")
        if kind == "dot" and query_size != key_size:
            raise ValueError(
                f"Attention: 'dot' attention needs query_size == key_size, got {query_size} and "
                f"{key_size}; use 'general' or 'additive' when the sizes differ"
            )
        self.query_size = query_size
        self.key_size = key_size
        self.kind = kind
        kw: dict[str, Any] = {"device": device, "dtype": dtype}
        if kind == "general":
            self.key_proj = nn.Linear(key_size, query_size, bias=False, **kw)  # W_a
        elif kind == "additive":
            self.attention_size = attention_size or query_size
            self.key_proj = nn.Linear(key_size, self.attention_size, bias=True, **kw)  # W_k, b
            self.query_proj = nn.Linear(query_size, self.attention_size, bias=False, **kw)  # W_q
            self.v = nn.Linear(self.attention_size, 1, bias=False, **kw)

    def project_keys(self, keys: Tensor) -> Tensor:
        """The query-independent part of the score, computed once per source batch.

        Args:
            keys: ``(B, Ts, Hk)``.

        Returns:
            ``(B, Ts, Hk)`` for dot (the keys themselves), ``(B, Ts, Hq)`` for general,
            ``(B, Ts, A)`` for additive.
        """
        return keys if self.kind == "dot" else self.key_proj(keys)

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        """Unnormalised scores ``(B, Tq, Ts)`` of ``query (B, Tq, Hq)`` against projected keys."""
        if self.kind != "additive":
            return torch.bmm(query, projected_keys.transpose(1, 2))
        # (B, Tq, 1, A) + (B, 1, Ts, A) -> (B, Tq, Ts, A) -> (B, Tq, Ts)
        hidden = torch.tanh(self.query_proj(query).unsqueeze(2) + projected_keys.unsqueeze(1))
        scores: Tensor = self.v(hidden).squeeze(-1)
        return scores

    def attend(self, query: Tensor, keys: Tensor, projected_keys: Tensor, key_mask: Tensor) -> tuple[Tensor, Tensor]:
        """Like :meth:`forward`, with keys already passed through :meth:`project_keys`.

        Args:
            query: ``(B, Tq, Hq)``.
            keys: ``(B, Ts, Hk)``, the values that are averaged.
            projected_keys: ``project_keys(keys)``.
            key_mask: ``(B, Ts)`` bool, True on real tokens.

        Returns:
            ``context (B, Tq, Hk)`` and ``weights (B, Tq, Ts)``.
        """
        mask = key_mask.unsqueeze(1)  # (B, 1, Ts)
        scores = self.score(query, projected_keys)
        # A finite fill keeps an all-padding row free of NaN (it becomes uniform, then zero).
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1).masked_fill(~mask, 0.0)
        return torch.bmm(weights, keys), weights

    def forward(self, query: Tensor, keys: Tensor, key_mask: Tensor) -> tuple[Tensor, Tensor]:
        """Attend from each query to the real positions of ``keys``.

        Args:
            query: ``(B, Tq, Hq)``.
            keys: ``(B, Ts, Hk)``.
            key_mask: ``(B, Ts)`` bool, True on real tokens.

        Returns:
            ``context (B, Tq, Hk)`` and ``weights (B, Tq, Ts)``.
        """
        return self.attend(query, keys, self.project_keys(keys), key_mask)

    def extra_repr(self) -> str:
        return f"{self.query_size}, {self.key_size}, kind={self.kind!r}"
