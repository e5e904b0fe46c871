"""The batches of ``one_to_many``: padded targets (and their feature vectors) cut from a
packed dataset, in length-bucketed, resumable batches. Imports layer 0 and the shared
batcher only."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from seqframe.builtin.tasks.batching import BucketedBatches, padded, row_starts

__all__ = ["collate_targets", "target_batches"]


def collate_targets(encoded: Mapping[str, Tensor], rows: Tensor, pad_id: int) -> dict[str, Tensor]:
    """``features (B, F)``, ``target_in``/``target_out (B, T)`` and ``target_lengths (B,)``:
    targets are stored as ``bos + ids + eos``; inputs drop the last token, outputs the first."""
    starts = row_starts(encoded["target_lengths"])[rows]
    steps = encoded["target_lengths"][rows] - 1
    return {
        "features": encoded["features"][rows],
        "target_in": padded(encoded["target"], starts, steps, pad_id),
        "target_out": padded(encoded["target"], starts + 1, steps, pad_id),
        "target_lengths": steps,
    }


def target_batches(
    encoded: Mapping[str, Tensor], batch_size: int, pad_id: int = 0, seed: int = 0, bucket: int = 50
) -> BucketedBatches:
    """Endless batches of similar target length, resumable from ``(epoch, index)`` (see
    :class:`~seqframe.builtin.tasks.batching.BucketedBatches`)."""
    return BucketedBatches(
        encoded["target_lengths"],
        batch_size,
        lambda rows: collate_targets(encoded, rows, pad_id),
        seed,
        bucket,
        where="one_to_many",
        what="examples",
    )
