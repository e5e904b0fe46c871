"""The batches of ``one_to_many``: padded targets (and their feature vectors) cut from a
packed dataset (the task feeds :func:`collate_targets` to the shared length-bucketed,
resumable batcher). Imports layer 0 and the shared batcher only."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from seqframe.builtin.tasks.batching import padded, row_starts

__all__ = ["collate_targets"]


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
