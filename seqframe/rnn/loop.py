"""The generic path: any :class:`~seqframe.interfaces.Cell` over packed sequences.

Sequences are sorted by decreasing length once, so at step ``t`` only the first
``batch_sizes[t]`` rows are still running; the active batch shrinks as sequences end (as
torch's packed sequences do) instead of masking full-width updates. The part of the step
that depends on the input alone is applied to every real token at once before the loop.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

from seqframe.interfaces import Cell, State, overrides_input_projection
from seqframe.rnn.hoist import hoist_plan
from seqframe.rnn.steps import StepFn, time_loop

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

    The input-only part of the step runs once over all rows before the loop: the cell's
    declared :meth:`~Cell.project_input`, or else the part found by tracing its ``forward``
    (:mod:`seqframe.rnn.hoist`); a cell that can be neither runs the plain per-step loop.

    Args:
        cell: the cell to unroll.
        data: packed input ``(N, F)``, time-major rows of sequences sorted by decreasing length.
        batch_sizes: active rows per step, non-increasing, summing to ``N``.
        state: initial state in sorted order, tensors ``(B, H)`` with ``B = batch_sizes[0]``.

    Returns:
        Packed outputs ``(N, H)`` in the same row order, and the final state of each
        sequence (at its own last step), sorted order, tensors ``(B, H)``.
    """
    steps: Iterator[Sequence[Any]]
    call: StepFn
    if overrides_input_projection(cell):
        steps = zip(torch.split(cell.project_input(data), batch_sizes))
        call = _declared_step(cell)
    elif (plan := hoist_plan(cell)) is not None:
        steps, call = plan.prepare(data, batch_sizes)
    else:
        steps = zip(torch.split(data, batch_sizes))
        call = _plain_step(cell)
    n_state = len(state)

    def check(result: object, rows: int) -> None:
        _check_step(cell, result, rows, n_state)

    return time_loop(call, steps, batch_sizes, state, check)


def _declared_step(cell: Cell) -> StepFn:
    step = cell.step_projected
    return lambda inputs, state: step(inputs[0], state)


def _plain_step(cell: Cell) -> StepFn:
    step = cell.forward
    return lambda inputs, state: step(inputs[0], state)
