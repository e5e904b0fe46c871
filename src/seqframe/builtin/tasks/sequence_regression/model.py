"""The model of ``sequence_regression``: a topology over the feature vectors, pooled, then a
head giving one number. Plain torch; imports layer 0 and the pooling of the classifiers."""

from __future__ import annotations

from torch import Tensor, nn

from seqframe.builtin.tasks.classification.model import pool
from seqframe.interfaces import directions_of

__all__ = ["POOLINGS", "SequenceRegressor"]

POOLINGS = ("last", "mean")


class SequenceRegressor(nn.Module):
    """Topology over the feature vectors -> pooling -> ``head(output_size, 1)``.

    Shape:
        - steps: ``(B, T, F)`` feature vectors (zero past each length); lengths: ``(B,)``.
        - output: ``(B,)``, one number per sequence.
    """

    def __init__(self, topology: nn.Module, head: nn.Module, pooling: str) -> None:
        super().__init__()
        self.topology, self.head, self.pooling = topology, head, pooling
        self.directions = directions_of(topology)

    def forward(self, steps: Tensor, lengths: Tensor) -> Tensor:
        outputs, _ = self.topology(steps, lengths)  # (B, T, D*H)
        value: Tensor = self.head(pool(outputs, lengths, self.pooling, self.directions)).squeeze(-1)
        return value

    def extra_repr(self) -> str:
        return f"pooling={self.pooling!r}"
