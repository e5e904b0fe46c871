"""The batches of ``sequence_regression``: padded feature-vector sequences (and their values)
cut from a packed dataset. Imports layer 0 and the shared batching helpers."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from seqframe.builtin.tasks.batching import padded, row_starts

__all__ = ["collate_steps"]


def collate_steps(encoded: Mapping[str, Tensor], rows: Tensor) -> dict[str, Tensor]:
    """Examples ``rows (B,)`` of joined steps -> padded ``steps (B, T, F)`` (zeros past each
    length), ``lengths (B,)`` and ``values (B,)`` when the encoded data has them."""
    lengths = encoded["lengths"][rows]
    steps = padded(encoded["steps"], row_starts(encoded["lengths"])[rows], lengths, 0.0)  # (B, T, F)
    batch = {"steps": steps, "lengths": lengths}
    if "values" in encoded:
        batch["values"] = encoded["values"][rows]
    return batch
