"""The time loop shared by every per-step path: one call per step, the batch shrinking as
sequences end.

Sequences are sorted by decreasing length once (packed order), so at step ``t`` only the
first ``batch_sizes[t]`` rows are still running; the state of rows that ended is set aside
instead of being carried with masked full-width updates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

from seqframe.interfaces import State

__all__ = ["StepFn", "time_loop"]

StepFn = Callable[[Sequence[Any], State], Any]
"""``call(inputs_t, state) -> (h_t, state)``, with ``inputs_t`` this step's input slices."""


def time_loop(
    call: StepFn,
    steps: Iterable[Sequence[Any]],
    batch_sizes: list[int],
    state: State,
    check: Callable[[object, int], None] | None = None,
) -> tuple[Tensor, State]:
    """Run ``call`` once per step over packed rows.

    Args:
        call: takes this step's inputs and the state of the active rows.
        steps: per step, the input slices (``batch_sizes[t]`` rows each).
        batch_sizes: active rows per step, non-increasing.
        state: initial state in sorted order, tensors ``(B, H)``.
        check: called on the first step's result with the number of rows, to validate it.

    Returns:
        Packed outputs ``(N, H)`` and each sequence's state after its own last step.
    """
    n_state = len(state)
    outputs: list[Tensor] = []
    finished: list[State] = []  # states of rows that ended, latest-ending last
    active = batch_sizes[0] if batch_sizes else 0
    for t, inputs in enumerate(steps):
        rows = batch_sizes[t]
        if rows < active:
            finished.append(tuple(s[rows:] for s in state))
            state = tuple(s[:rows] for s in state)
            active = rows
        result = call(inputs, state)
        if t == 0 and check is not None:
            check(result, rows)
        h, state = result
        outputs.append(h)
    finished.append(state)
    final = tuple(torch.cat([chunk[i] for chunk in reversed(finished)], 0) for i in range(n_state))
    return torch.cat(outputs, 0), final
