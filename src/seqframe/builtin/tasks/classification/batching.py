"""The batches of ``classification``: the padding collate of token sequences (with their
labels). The batches themselves come from the shared
:class:`~seqframe.builtin.tasks.batching.BucketedBatches`. Imports layer 0 only."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from seqframe.builtin.tasks.batching import padded

__all__ = ["collate_sequences"]


def collate_sequences(encoded: Mapping[str, Tensor], rows: Tensor, pad_id: int) -> dict[str, Tensor]:
    """Examples ``rows`` of joined sequences (``ids``, ``offsets``, ``lengths``, optional
    ``labels``) -> padded ``ids`` ``(B, T)``, ``lengths`` ``(B,)`` and ``labels`` ``(B,)``."""
    lengths = encoded["lengths"][rows]
    batch = {"ids": padded(encoded["ids"], encoded["offsets"][rows], lengths, pad_id), "lengths": lengths}
    if "labels" in encoded:
        batch["labels"] = encoded["labels"][rows]
    return batch
