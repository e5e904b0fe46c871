"""The generic path: any :class:`~seqframe.interfaces.Cell` over packed sequences.

Sequences are sorted by decreasing length once, so at step ``t`` only the first
``batch_sizes[t]`` rows are still running; the active batch shrinks as sequences end (as
torch's packed sequences do) instead of masking full-width updates. The part of the step
that depends on the input alone is applied to every real token at once before the loop.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from seqframe.interfaces import Cell, State, overrides_input_projection
from seqframe.rnn.chunked import unroll_chunked
from seqframe.rnn.hoist import hoist_plan
from seqframe.rnn.steps import time_loop

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
    cell: Cell, data: Tensor, batch_sizes: list[int], state: State, *, compile: bool = False
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
        compile: run the steps in torch.compile'd chunks (:mod:`seqframe.rnn.chunked`).

    Returns:
        Packed outputs ``(N, H)`` in the same row order, and the final state of each
        sequence (at its own last step), sorted order, tensors ``(B, H)``.
    """
    invariants: Sequence[Any] = ()
    step: Callable[..., Any]
    if overrides_input_projection(cell):
        key, columns, step = "declared", [cell.project_input(data).split(batch_sizes)], _Declared(cell)
    elif (plan := hoist_plan(cell)) is not None:
        rows, invariants = plan.pre(data)
        key, columns, step = plan, [data.split(batch_sizes), *(v.split(batch_sizes) for v in rows)], plan.step.forward
    else:
        key, columns, step = "plain", [data.split(batch_sizes)], _Plain(cell)
    if compile and batch_sizes:
        if cell not in _CHECKED:  # once per cell: a checked step stays valid for later calls
            _check_first_step(cell, step, [c[0] for c in columns], invariants, state)
            _CHECKED.add(cell)
        return unroll_chunked(cell, key, step, list(zip(*columns)), invariants, batch_sizes, state)
    n_state = len(state)

    def call(inputs: Sequence[Any], state: State) -> Any:
        return step(*inputs, *invariants, *state)

    def check(result: object, rows: int) -> None:
        _check_step(cell, result, rows, n_state)

    return time_loop(call, zip(*columns), batch_sizes, state, check)


_CHECKED: weakref.WeakSet[Cell] = weakref.WeakSet()


def _check_first_step(cell: Cell, step: Callable[..., Any], inputs: list[Tensor], invariants: Sequence[Any],
                      state: State) -> None:
    """Validate one eager step before compiling, so mistakes get the cell's own error."""
    rows = inputs[0].shape[0]
    with torch.no_grad():
        _check_step(cell, step(*inputs, *invariants, *(s[:rows] for s in state)), rows, len(state))


class _Plain:
    """``cell.forward`` with the state spread as arguments."""

    def __init__(self, cell: Cell) -> None:
        self.forward = cell.forward

    def __call__(self, x_t: Tensor, *state: Tensor) -> Any:
        return self.forward(x_t, state)


class _Declared:
    """``cell.step_projected`` with the state spread as arguments."""

    def __init__(self, cell: Cell) -> None:
        self.step = cell.step_projected

    def __call__(self, xp_t: Tensor, *state: Tensor) -> Any:
        return self.step(xp_t, state)
