"""Seeded length bucketing shared by the tasks' resumable batchers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

__all__ = ["BucketedBatches", "bucketed_batches"]


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


class BucketedBatches:
    """The endless, resumable iteration shared by the tasks' batchers (a mixin).

    A batcher sets ``batch_size``, ``bucket``, ``seed``, ``epoch``, ``index`` and
    ``_batches``, and defines ``_sort_key()`` (a ``(N,)`` tensor, usually lengths) and
    ``_collate(rows)`` (a ``(B,)`` tensor of example indices -> one batch). Each epoch's
    batches come from :func:`bucketed_batches`; the position ``(epoch, index)`` is all a
    checkpoint needs to resume.
    """

    batch_size: int
    bucket: int
    seed: int
    epoch: int
    index: int
    _batches: list[Tensor]

    def _sort_key(self) -> Tensor:
        raise NotImplementedError

    def _collate(self, rows: Tensor) -> dict[str, Any]:
        raise NotImplementedError

    def _load_epoch(self) -> None:
        self._batches = bucketed_batches(self._sort_key(), self.batch_size, self.bucket, self.seed, self.epoch)

    def __iter__(self) -> BucketedBatches:
        return self

    def __next__(self) -> dict[str, Any]:
        if self.index >= len(self._batches):
            self.epoch, self.index = self.epoch + 1, 0
            self._load_epoch()
        rows = self._batches[self.index]
        self.index += 1
        return self._collate(rows)

    def __len__(self) -> int:
        return len(self._batches)

    def state_dict(self) -> dict[str, int]:
        """Position to resume from."""
        return {"epoch": self.epoch, "index": self.index}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume at a saved position."""
        self.epoch, self.index = int(state["epoch"]), int(state["index"])
        self._load_epoch()
