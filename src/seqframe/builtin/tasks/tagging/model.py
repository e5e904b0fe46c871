"""The model of ``tagging``: embedding -> topology -> head at every step. Plain torch over
an already-built topology; imports layer 0 only."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["Tagger"]


class Tagger(nn.Module):
    """Embedding -> topology -> head: tag logits at every step.

    Shape:
        - ids: ``(B, T)`` token ids; lengths ``(B,)`` or None.
        - output: logits ``(B, T, K)`` over the ``K`` tags (meaningless past each length).
    """

    def __init__(self, vocab_size: int, embedding_dim: int, topology: nn.Module, head: nn.Module, pad_id: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id)
        self.topology = topology
        self.head = head

    def forward(self, ids: Tensor, lengths: Tensor | Sequence[int] | None = None) -> Tensor:
        features, _ = self.topology(self.embedding(ids), lengths, None)  # (B, T, D*H)
        logits: Tensor = self.head(features)
        return logits
