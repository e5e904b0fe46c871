"""Seeded length bucketing shared by the tasks' resumable batchers."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["bucketed_batches"]


def bucketed_batches(sort_key: Tensor, batch_size: int, bucket: int, seed: int, epoch: int) -> list[Tensor]:
    """The row indices of every batch of one epoch.

    Rows are shuffled (seeded by ``seed`` and ``epoch``), chunks of ``bucket`` batches are
    sorted by ``sort_key`` (stable) so a batch holds examples of similar length, and the
    batch order is shuffled. Depends only on its arguments, so any ``(epoch, index)``
    position can be resumed.
    """
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(sort_key.numel(), generator=generator)
    batches: list[Tensor] = []
    for chunk in order.split(batch_size * bucket):
        batches += list(chunk[torch.sort(sort_key[chunk], stable=True).indices].split(batch_size))
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
