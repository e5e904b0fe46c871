"""The generic time loop: any :class:`~seqframe.interfaces.Cell` over packed sequences.

Sequences are sorted by decreasing length once, so at step ``t`` only the first
``batch_sizes[t]`` rows are still running; the active batch shrinks as sequences end (as
torch's packed sequences do) instead of masking full-width updates. A cell that defines the
input-projection fast path gets it applied to every real token at once before the loop.
"""

from __future__ import annotations

import torch
from torch import Tensor

from seqframe.interfaces import Cell, State, overrides_input_projection

__all__ = ["unroll_packed"]


def _check_step(cell: Cell, result: object, rows: int, n_state: int) -> None:
    """Check what one step returned, naming the cell (run on the first step only)."""
    name = type(cell).__name__
    expected = (
        f"(h_t, state) with h_t of shape ({rows}, {cell.hidden_size}) and state a tuple "
        f"of {n_state} tensor(s) of shape ({rows}, {cell.hidden_size})"
    )
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError(f"cell {name}: forward must return {expected}; got {type(result).__name__}")
    h, state = result
    if not isinstance(h, Tensor) or tuple(h.shape) != (rows, cell.hidden_size):
        got = tuple(h.shape) if isinstance(h, Tensor) else type(h).__name__
        raise TypeError(f"cell {name}: forward must return {expected}; got h_t {got}")
    if not (isinstance(state, tuple) and all(isinstance(s, Tensor) for s in state)):
        got = type(state).__name__
        if isinstance(state, Tensor):
            got = "a bare Tensor (wrap it: return h, (h,))"
        raise TypeError(f"cell {name}: forward must return {expected}; got state {got}")
    if len(state) != n_state:
        raise TypeError(
            f"cell {name}: state must keep {n_state} tensor(s) (as initial_state returns), "
            f"got {len(state)}"
        )
    shapes = [tuple(s.shape) for s in state]
    if any(shape != (rows, cell.hidden_size) for shape in shapes):
        raise TypeError(f"cell {name}: forward must return {expected}; got state shapes {shapes}")


def unroll_packed(
    cell: Cell, data: Tensor, batch_sizes: list[int], state: State
) -> tuple[Tensor, State]:
    """Run ``cell`` over packed sequences.

    Args:
        cell: the cell to unroll.
        data: packed input ``(N, F)``, time-major rows of sequences sorted by decreasing length.
        batch_sizes: active rows per step, non-increasing, summing to ``N``.
        state: initial state in sorted order, tensors ``(B, H)`` with ``B = batch_sizes[0]``.

    Returns:
        Packed outputs ``(N, H)`` in the same row order, and the final state of each
        sequence (at its own last step), sorted order, tensors ``(B, H)``.
    """
    if overrides_input_projection(cell):
        steps = torch.split(cell.project_input(data), batch_sizes)
        step = cell.step_projected
    else:
        steps = torch.split(data, batch_sizes)
        step = cell.forward
    n_state = len(state)
    outputs: list[Tensor] = []
    finished: list[State] = []  # states of rows that ended, latest-ending first is last
    active = batch_sizes[0] if batch_sizes else 0
    for t, x_t in enumerate(steps):
        rows = batch_sizes[t]
        if rows < active:
            finished.append(tuple(s[rows:] for s in state))
            state = tuple(s[:rows] for s in state)
            active = rows
        result = step(x_t, state)
        if t == 0:
            _check_step(cell, result, rows, n_state)
        h, state = result
        outputs.append(h)
    finished.append(state)
    final = tuple(torch.cat([chunk[i] for chunk in reversed(finished)], 0) for i in range(n_state))
    return torch.cat(outputs, 0), final
