"""The batches of ``tagging``: padded token ids and tags cut from a packed dataset (the task
feeds :func:`collate_tagged` to the shared length-bucketed, resumable batcher). Imports
layer 0 and the shared batcher only."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from seqframe.builtin.tasks.batching import padded, row_starts

__all__ = ["UNSEEN", "collate_tagged"]

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
