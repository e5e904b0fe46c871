"""Validation of batch-first inputs and their lengths, and packed-sequence index helpers."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from seqframe.errors import DataError

__all__ = ["check_inputs", "padded_from_packed", "reverse_permutation"]


def check_inputs(x: Tensor, lengths: Tensor | Sequence[int] | None, input_size: int, who: str) -> Tensor:
    """Check ``x`` is ``(B, T, input_size)`` and return ``lengths`` as a CPU int64 ``(B,)``.

    ``lengths=None`` means every sequence has length ``T``.

    Raises:
        DataError: on a wrong shape, a length outside ``[1, T]``, or ``T == 0``.
    """
    if not isinstance(x, Tensor):
        raise DataError(f"{who}: expected a tensor of shape (B, T, {input_size}), got {type(x).__name__}")
    if x.dim() != 3 or x.shape[2] != input_size:
        raise DataError(f"{who}: expected input of shape (B, T, {input_size}) (batch-first), got {tuple(x.shape)}")
    batch, steps = x.shape[0], x.shape[1]
    if lengths is None:
        if steps == 0 and batch > 0:
            raise DataError(f"{who}: input has no time steps (T=0, shape {tuple(x.shape)})")
        return torch.full((batch,), steps, dtype=torch.int64)
    lengths = _lengths_tensor(lengths, who)
    if lengths.shape != (batch,):
        raise DataError(
            f"{who}: expected lengths of shape ({batch},) for a batch of {batch}, got shape {tuple(lengths.shape)}"
        )
    if batch == 0:
        return lengths
    _check_range(lengths, steps, who)
    return lengths


def _lengths_tensor(lengths: Tensor | Sequence[int], who: str) -> Tensor:
    """``lengths`` as a CPU int64 tensor; floats, bools and non-numbers are rejected."""
    if not isinstance(lengths, Tensor):
        try:
            values = list(lengths)  # an empty list would become float32: keep it int64
            lengths = torch.as_tensor(values) if values else torch.zeros(0, dtype=torch.int64)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise DataError(f"{who}: lengths must be a sequence of integers, got {lengths!r}") from exc
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise DataError(f"{who}: lengths must hold integers, got dtype {lengths.dtype}")
    return lengths.detach().to("cpu", torch.int64)


def _check_range(lengths: Tensor, steps: int, who: str) -> None:
    """Raise a DataError naming the first batch index whose length is outside ``[1, T]``."""
    bad = torch.nonzero((lengths < 1) | (lengths > steps)).flatten()
    if not bad.numel():
        return
    i = int(bad[0])
    value = int(lengths[i])
    if value < 1:
        what, fix = "empty sequences cannot be run", "drop empty examples before batching"
    else:
        what, fix = f"longer than the padded length T={steps}", "pad to the longest length"
    raise DataError(
        f"{who}: lengths[{i}] = {value} is invalid ({what}); every length must lie in "
        f"[1, {steps}] ({bad.numel()} bad entr{'y' if bad.numel() == 1 else 'ies'}, "
        f"batch indices {bad[:8].tolist()}); {fix}"
    )


def reverse_permutation(batch_sizes: Tensor, sorted_lengths: Tensor) -> Tensor:
    """Row permutation of packed data that reverses every sequence within its own length.

    Packed rows are time-major: row ``offset[t] + b`` holds sequence ``b`` (in sorted order)
    at step ``t``. The result maps that row to ``offset[L_b - 1 - t] + b``; applying it twice
    is the identity.
    """
    steps = batch_sizes.numel()
    offsets = torch.zeros(steps, dtype=torch.int64)
    offsets[1:] = torch.cumsum(batch_sizes, 0)[:-1]
    batch = int(batch_sizes[0])
    mask = torch.arange(batch).unsqueeze(0) < batch_sizes.unsqueeze(1)  # (T, B)
    t_idx, b_idx = mask.nonzero(as_tuple=True)  # time-major, as packed rows are
    return offsets[sorted_lengths[b_idx] - 1 - t_idx] + b_idx


def padded_from_packed(data: Tensor, batch_sizes: Tensor, unsorted_indices: Tensor, steps: int) -> Tensor:
    """Packed rows ``(N, F)`` as batch-first ``(B, steps, F)`` in the caller's row order,
    zero past each length, by one gather.

    ``torch.nn.utils.rnn.pad_packed_sequence`` copies one block per distinct batch size,
    and its backward clones the whole padded gradient once per block (tens of full copies
    for a batch of varied lengths); the gather's backward is one scatter.

    Args:
        data: packed rows, time-major over sequences sorted by decreasing length.
        batch_sizes: rows per step (CPU int64).
        unsorted_indices: the sorted position of each of the caller's rows.
        steps: the padded length (at least ``batch_sizes.numel()``).
    """
    sizes = torch.zeros(steps, dtype=torch.int64)
    sizes[: batch_sizes.numel()] = batch_sizes
    offsets = torch.cumsum(sizes, 0) - sizes  # (steps,)
    position = unsorted_indices.cpu()[:, None]  # (B, 1)
    index = torch.where(position < sizes[None, :], offsets[None, :] + position, data.shape[0])  # (B, steps)
    rows = torch.cat([data, data.new_zeros(1, data.shape[1])])
    return rows.index_select(0, index.flatten().to(data.device)).view(position.shape[0], steps, data.shape[1])
