"""The models of the label tasks: :class:`SequenceClassifier` (embedding, topology, pooling,
head) for ``classification`` and :class:`VectorClassifier` (a vector as a length-1 sequence)
for ``one_to_one``, and :func:`pool`. Imports layer 0 and torch only."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqframe.interfaces import directions_of

__all__ = ["POOLINGS", "SequenceClassifier", "VectorClassifier", "pool"]

POOLINGS = ("last", "mean", "max")
"""How ``classification`` turns the topology's outputs into one vector per sequence."""


def pool(outputs: Tensor, lengths: Tensor, pooling: str, directions: int = 1) -> Tensor:
    """One vector per sequence from a topology's ``outputs (B, T, D*H)``.

    ``last``: the outputs of every direction at its own end, concatenated: forward at each
    sequence's last real token, backward at its first (read from the outputs, so any cell's
    state layout does). ``mean`` / ``max``: over each sequence's real steps; padding never
    counts.

    Args:
        outputs: ``(B, T, D*H)``, forward features first.
        lengths: real lengths ``(B,)``, each in ``[1, T]``.
        pooling: one of :data:`POOLINGS`.
        directions: ``D`` (:func:`~seqframe.interfaces.directions_of` the topology).

    Returns:
        ``(B, D*H)``.
    """
    lengths = lengths.to(outputs.device)
    if pooling == "last":
        width = outputs.shape[-1] // directions
        rows = torch.arange(outputs.shape[0], device=outputs.device)
        forward = outputs[rows, lengths - 1, :width]  # (B, H)
        return forward if directions == 1 else torch.cat([forward, outputs[:, 0, width:]], 1)
    mask = (torch.arange(outputs.shape[1], device=outputs.device) < lengths.unsqueeze(1)).unsqueeze(-1)  # (B, T, 1)
    if pooling == "mean":
        return (outputs * mask).sum(1) / lengths.unsqueeze(1).to(outputs.dtype)
    return outputs.masked_fill(~mask, float("-inf")).amax(1)


class SequenceClassifier(nn.Module):
    """Embedding -> topology (with lengths) -> :func:`pool` -> head.

    Shape:
        - ids: ``(B, T)`` token ids, padded; lengths: ``(B,)``.
        - output: logits ``(B, num_labels)``.
    """

    def __init__(
        self, vocab_size: int, embedding_dim: int, topology: nn.Module, head: nn.Module, pad_id: int, pooling: str
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id)
        self.topology = topology
        self.head = head
        self.pooling = pooling
        self.directions = directions_of(topology)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        outputs, _ = self.topology(self.embedding(ids), lengths)  # (B, T, D*H)
        return self.head(pool(outputs, lengths, self.pooling, self.directions))

    def extra_repr(self) -> str:
        return f"pooling={self.pooling!r}"


class VectorClassifier(nn.Module):
    """A feature vector as a length-1 sequence: topology -> its one output step -> head.

    Shape:
        - features: ``(B, F)``.
        - output: logits ``(B, num_labels)``.
    """

    def __init__(self, topology: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.topology = topology
        self.head = head

    def forward(self, features: Tensor) -> Tensor:
        outputs, _ = self.topology(features.unsqueeze(1))  # (B, 1, D*H): every direction read the one step
        return self.head(outputs[:, 0])
