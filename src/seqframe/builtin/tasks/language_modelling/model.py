"""The model of ``language_modelling``: embedding -> topology -> head, carrying the
topology's state. Plain torch over an already-built topology; imports layer 0 only."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from seqframe.interfaces import State

__all__ = ["LanguageModel"]


class LanguageModel(nn.Module):
    """Embedding -> topology -> head.

    Shape:
        - ids: ``(B, T)`` token ids; lengths ``(B,)`` or None.
        - output: logits ``(B, T, V)`` and the topology's final state.
    """

    def __init__(self, vocab_size: int, embedding_dim: int, topology: nn.Module, head: nn.Module, pad_id: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id)
        self.topology = topology
        self.head = head

    def forward(
        self, ids: Tensor, lengths: Tensor | Sequence[int] | None = None, state: State | None = None
    ) -> tuple[Tensor, State]:
        features, state = self.topology(self.embedding(ids), lengths, state)  # (B, T, D*H)
        return self.head(features), state
