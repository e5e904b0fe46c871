"""Batching of labelled examples: shuffled, length-bucketed batches of example indices,
resumable from ``(epoch, index)``, and the padding collate of token sequences."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from seqframe.builtin.tasks.batching import BucketedBatches
from seqframe.errors import DataError

__all__ = ["ExampleBatches", "collate_sequences"]


@dataclass
class ExampleBatches(BucketedBatches):
    """Endless batches of examples of similar length, resumable.

    Each epoch shuffles the examples (seeded by ``seed`` and the epoch), sorts chunks of
    ``bucket`` batches by length so a batch wastes little padding, and shuffles the batch
    order; ``collate(rows)`` turns a ``(B,)`` tensor of example indices into a batch.

    Args:
        lengths: ``(N,)`` length of each example (all ones for single vectors).
        batch_size: examples per batch (the last batch of a chunk may be smaller).
        collate: indices -> batch (a dict of tensors).
        seed: the shuffle seed.
        bucket: batches per length-sorted chunk.
    """

    lengths: Tensor
    batch_size: int
    collate: Callable[[Tensor], dict[str, Tensor]]
    seed: int = 0
    bucket: int = 50
    epoch: int = 0
    index: int = 0
    _batches: list[Tensor] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"ExampleBatches: batch_size must be an int >= 1, got {self.batch_size!r}")
        if not self.lengths.numel():
            raise DataError("ExampleBatches: there are no training examples to batch")
        self._load_epoch()

    def _sort_key(self) -> Tensor:
        return self.lengths

    def _collate(self, rows: Tensor) -> dict[str, Any]:
        return self.collate(rows)


def collate_sequences(encoded: Mapping[str, Tensor], rows: Tensor, pad_id: int) -> dict[str, Tensor]:
    """Examples ``rows`` of joined sequences (``ids``, ``offsets``, ``lengths``, optional
    ``labels``) -> padded ``ids`` ``(B, T)``, ``lengths`` ``(B,)`` and ``labels`` ``(B,)``."""
    lengths = encoded["lengths"][rows]
    steps = torch.arange(int(lengths.max()))
    real = steps < lengths.unsqueeze(1)  # (B, T)
    positions = (encoded["offsets"][rows].unsqueeze(1) + steps).clamp(max=encoded["ids"].numel() - 1)
    batch = {"ids": torch.where(real, encoded["ids"][positions], pad_id), "lengths": lengths}
    if "labels" in encoded:
        batch["labels"] = encoded["labels"][rows]
    return batch
