"""The batches of ``tagging``: padded token ids and tags cut from a packed dataset, in
length-bucketed, resumable batches. Imports layer 0 and the shared batcher only."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from seqframe.builtin.tasks.batching import BucketedBatches, padded, row_starts

__all__ = ["UNSEEN", "collate_tagged", "tagged_batches"]

UNSEEN = -1
"""Encoded id of a gold tag the training split never had: no loss, always a wrong answer."""


def collate_tagged(encoded: Mapping[str, Tensor], rows: Tensor, pad_id: int) -> dict[str, Tensor]:
    """The padded batch of examples ``rows (B,)``: ``ids (B, T)`` (``pad_id`` past each
    length), ``tags (B, T)`` (:data:`UNSEEN` past each length) and ``lengths (B,)``."""
    lengths = encoded["lengths"][rows]
    starts = row_starts(encoded["lengths"])[rows]
    return {
        "ids": padded(encoded["ids"], starts, lengths, pad_id),
        "tags": padded(encoded["tags"], starts, lengths, UNSEEN),
        "lengths": lengths,
    }


def tagged_batches(
    encoded: Mapping[str, Tensor], batch_size: int, pad_id: int = 0, seed: int = 0, bucket: int = 50
) -> BucketedBatches:
    """Endless length-bucketed batches of tagged examples, resumable from ``(epoch, index)``
    (see :class:`~seqframe.builtin.tasks.batching.BucketedBatches`)."""
    return BucketedBatches(
        encoded["lengths"],
        batch_size,
        lambda rows: collate_tagged(encoded, rows, pad_id),
        seed,
        bucket,
        where="tagging",
        what="tagged examples",
    )
