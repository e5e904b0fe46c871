"""The generic path: any :class:`~seqframe.interfaces.Cell` over packed sequences.

Sequences are sorted by decreasing length once, so at step ``t`` only the first
``batch_sizes[t]`` rows are still running; the active batch shrinks as sequences end (as
torch's packed sequences do) instead of masking full-width updates. The part of the step
that depends on the input alone is applied to every real token at once before the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from seqframe.interfaces import Cell, CellContractError, State, overrides_input_projection
from seqframe.rnn.chunked import unroll_chunked
from seqframe.rnn.hoist import hoist_plan
from seqframe.rnn.runtime import runtime_of
from seqframe.rnn.steps import time_loop

__all__ = ["unroll_packed"]


def _check_step(cell: Cell, result: object, rows: int, widths: Sequence[int]) -> None:
    """Check what one step returned, naming the cell (run on the first step only)."""
    name = type(cell).__name__
    shapes = ", ".join(f"({rows}, {w})" for w in widths)
    expected = (
        f"(h_t, state) with h_t of shape ({rows}, {cell.output_size}) (output_size) and state a tuple "
        f"of {len(widths)} tensor(s) of shapes {shapes}, as initial_state returns"
    )

    def fail(got: str) -> CellContractError:
        return CellContractError(type(cell), f"cell {name}: forward must return {expected}; got {got}")

    if not (isinstance(result, tuple) and len(result) == 2):
        raise fail(type(result).__name__ if not isinstance(result, tuple) else f"a tuple of {len(result)}")
    h, state = result
    if not isinstance(h, Tensor) or tuple(h.shape) != (rows, cell.output_size):
        raise fail(f"h_t {tuple(h.shape) if isinstance(h, Tensor) else type(h).__name__}")
    if not (isinstance(state, tuple) and all(isinstance(s, Tensor) for s in state)):
        raise fail(
            "a bare Tensor as the state (wrap it: return h, (h,))"
            if isinstance(state, Tensor)
            else f"state {type(state).__name__}"
        )
    if len(state) != len(widths):
        raise fail(f"a state of {len(state)} tensor(s)")
    got = [tuple(s.shape) for s in state]
    if got != [(rows, w) for w in widths]:
        raise fail(f"state shapes {got}")


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
        state: initial state in sorted order, tensors ``(B, width_i)`` with ``B = batch_sizes[0]``.
        compile: run the steps in torch.compile'd chunks (:mod:`seqframe.rnn.chunked`).

    Returns:
        Packed outputs ``(N, output_size)`` in the same row order, and the final state of
        each sequence (at its own last step), sorted order, tensors ``(B, width_i)``.
    """
    invariants: Sequence[Any] = ()
    key: object  # what the compiled chunks are cached under: a plan, or how the step runs
    step: Callable[..., Any]
    if overrides_input_projection(cell):
        key, columns, step = "declared", [cell.project_input(data).split(batch_sizes)], _Declared(cell)
    elif (plan := hoist_plan(cell)) is not None:
        rows, invariants = plan.pre(data)
        key, columns, step = plan, [data.split(batch_sizes), *(v.split(batch_sizes) for v in rows)], plan.step.forward
    else:
        key, columns, step = "plain", [data.split(batch_sizes)], _Plain(cell)
    if compile and batch_sizes:
        runtime = runtime_of(cell)
        if not runtime.checked:  # once per cell: a checked step stays valid for later calls
            _check_first_step(cell, step, [c[0] for c in columns], invariants, state)
            runtime.checked = True
        return unroll_chunked(cell, key, step, list(zip(*columns)), invariants, batch_sizes, state)
    widths = [s.shape[1] for s in state]

    def call(inputs: Sequence[Any], state: State) -> Any:
        return step(*inputs, *invariants, *state)

    def check(result: object, rows: int) -> None:
        _check_step(cell, result, rows, widths)

    return time_loop(call, zip(*columns), batch_sizes, state, check)


def _check_first_step(
    cell: Cell, step: Callable[..., Any], inputs: list[Tensor], invariants: Sequence[Any], state: State
) -> None:
    """Validate one eager step before compiling, so mistakes get the cell's own error."""
    rows = inputs[0].shape[0]
    with torch.no_grad():
        _check_step(cell, step(*inputs, *invariants, *(s[:rows] for s in state)), rows, [s.shape[1] for s in state])


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
