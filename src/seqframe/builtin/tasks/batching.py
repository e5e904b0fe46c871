"""The one resumable training batcher of the built-in tasks: seeded length bucketing,
parameterised by a sort key (usually lengths) and a collate function. Each task's
``batching.py`` supplies its collate and sort key; an empty training split is a
:class:`~seqframe.errors.DataError` for every task alike. Imports layer 0 only."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from seqframe.errors import DataError

__all__ = ["BucketedBatches", "bucketed_batches", "padded", "row_starts"]


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


def row_starts(lengths: Tensor) -> Tensor:
    """Where each of the rows of lengths ``lengths (E,)`` starts in their concatenation."""
    return torch.cumsum(lengths, 0) - lengths


def padded(flat: Tensor, starts: Tensor, lengths: Tensor, pad: float) -> Tensor:
    """Rows ``flat[starts[b] : starts[b] + lengths[b]]`` padded with ``pad`` to ``(B, max length, ...)``.

    ``flat`` is ``(N,)`` or ``(N, F)`` (then the result is ``(B, T, F)``): the examples of a
    packed dataset, one after the other.
    """
    steps = int(lengths.max()) if lengths.numel() else 0
    positions = starts.unsqueeze(1) + torch.arange(steps)  # (B, T)
    mask = torch.arange(steps) < lengths.unsqueeze(1)
    out = flat[positions.clamp(max=max(flat.shape[0] - 1, 0))] if flat.numel() else positions
    return out.masked_fill(~mask.view(*mask.shape, *([1] * (out.dim() - 2))), pad)


@dataclass
class BucketedBatches:
    """Endless batches of examples of similar length, resumable from ``(epoch, index)``.

    Each epoch's batches come from :func:`bucketed_batches`: the examples are shuffled
    (seeded by ``seed`` and the epoch), chunks of ``bucket`` batches are sorted by
    ``sort_key`` so a batch wastes little padding, and the batch order is shuffled. The
    position ``(epoch, index)`` is all a checkpoint needs to resume.

    Args:
        sort_key: ``(N,)`` one value per example, usually its length (all ones for
            single vectors).
        batch_size: examples per batch (the last batch of a chunk may be smaller).
        collate: ``(B,)`` example indices -> one batch (a mapping of tensors).
        seed: the shuffle seed.
        bucket: batches per sorted chunk.
        epoch: the epoch to start in.
        index: the batch of that epoch to start at.
        where: who batches, for the error message (e.g. ``"tagging"``).
        what: what the examples are, for the error message (e.g. ``"tagged examples"``).

    Raises:
        ValueError: ``batch_size`` is not an int >= 1.
        DataError: there is no example to batch.
    """

    sort_key: Tensor
    batch_size: int
    collate: Callable[[Tensor], Mapping[str, Any]]
    seed: int = 0
    bucket: int = 50
    epoch: int = 0
    index: int = 0
    where: str = "train_batches"
    what: str = "examples"
    _batches: list[Tensor] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"{self.where}: batch_size must be an int >= 1, got {self.batch_size!r}")
        if not self.sort_key.numel():
            raise DataError(f"{self.where}: the training split has no {self.what} to batch")
        self._load_epoch()

    def _load_epoch(self) -> None:
        self._batches = bucketed_batches(self.sort_key, self.batch_size, self.bucket, self.seed, self.epoch)

    def __iter__(self) -> BucketedBatches:
        return self

    def __next__(self) -> dict[str, Any]:
        if self.index >= len(self._batches):
            self.epoch, self.index = self.epoch + 1, 0
            self._load_epoch()
        rows = self._batches[self.index]
        self.index += 1
        return dict(self.collate(rows))

    def __len__(self) -> int:
        return len(self._batches)

    def state_dict(self) -> dict[str, int]:
        """Position to resume from."""
        return {"epoch": self.epoch, "index": self.index}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume at a saved position."""
        self.epoch, self.index = int(state["epoch"]), int(state["index"])
        self._load_epoch()
