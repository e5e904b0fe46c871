"""Automatic input hoisting for cells that define only ``forward(x_t, state)``.

The first time a cell runs in a mode (training or eval), its step is traced once with
torch.fx (:mod:`seqframe.rnn.tracing`: one placeholder per state tensor, as many as
``initial_state`` returns, so ``h, c = state`` and any arity trace) and cut into an input
part run once over all time steps, an invariant part run once per unroll, and a recurrent
part run per step (:mod:`seqframe.rnn.plan`). Two rewrites
(:mod:`seqframe.rnn.rewrites`) let more of the step be hoisted: a linear layer over
``cat([h, x_t])`` becomes one linear map per side; and ``input_part + linear(h)`` becomes
one ``addmm`` with the bias folded into the input part.

A split is used only after it is checked against the plain loop on random inputs
(:mod:`seqframe.rnn.verify`). A cell that cannot be traced (Python control flow on tensor values,
...), that updates tensors in place, or that fails the check runs the plain loop, with a
one-line :class:`SlowPathWarning` saying why, at which line of the cell's code when one is
to blame, and what to change (once when the plan is made, and once per class and reason
among the cells of one stack). A cell opts out with the class attribute ``auto_hoist = False``. The plan is kept
in the cell's :class:`~seqframe.rnn.runtime.CellRuntime`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from seqframe.interfaces import Cell, overrides_input_projection
from seqframe.rnn.plan import HoistPlan, split_step
from seqframe.rnn.rewrites import fold_additions, split_concatenations
from seqframe.rnn.runtime import CellRuntime, runtime_of
from seqframe.rnn.tracing import NotHoistable, attributes_kept, refuse_in_place, trace_step
from seqframe.rnn.verify import SAMPLE_LENGTHS, Sample, propagate, verify

__all__ = ["HoistPlan", "SlowPathWarning", "describe_path", "fingerprint", "forget", "hoist_plan", "hoist_plans"]


class SlowPathWarning(UserWarning):
    """A cell runs the plain per-step loop because its step could not be hoisted."""


def fingerprint(cell: Cell) -> tuple[Any, ...]:
    """Identity of everything a trace captures: mode, submodules, parameters, buffers."""
    return (cell.training, *map(id, cell.modules()), *map(id, cell.parameters()), *map(id, cell.buffers()))


def hoist_plan(cell: Cell) -> HoistPlan | None:
    """The hoisting plan of ``cell`` in its current mode, or None to run the plain loop.

    Traced and checked on first use per mode; kept in the cell's runtime record while its
    submodules, parameters and buffers stay the same objects (call :func:`forget` after
    changing anything else a trace bakes in, such as a Python attribute read by ``forward``).
    A cell that cannot be hoisted gives one :class:`SlowPathWarning` when its plan is made.
    """
    return hoist_plans([cell])[0]


def hoist_plans(cells: Sequence[Cell]) -> list[HoistPlan | None]:
    """:func:`hoist_plan` of several cells (a stack's), with one notice per class and reason."""
    plans: list[HoistPlan | None] = []
    pending: dict[tuple[type[Cell], str], list[CellRuntime]] = {}
    for cell in cells:
        plans.append(_plan(cell))
        runtime = runtime_of(cell)
        if runtime.notice:
            pending.setdefault((type(cell), runtime.notice), []).append(runtime)
    for (cls, reason), runtimes in pending.items():
        warnings.warn(
            f"cell {cls.__name__} runs the plain per-step loop, without input hoisting: {reason}",
            SlowPathWarning,
            stacklevel=3,
        )
        for runtime in runtimes:
            runtime.notice = ""
    return plans


def _plan(cell: Cell) -> HoistPlan | None:
    if not cell.auto_hoist:
        return None
    runtime = runtime_of(cell)
    key = fingerprint(cell)
    if runtime.plan is not None and runtime.plan[0] == key:
        return runtime.plan[1]  # type: ignore[no-any-return]
    plan: HoistPlan | None
    reason = notice = ""
    try:
        plan = _build(cell)
    except NotHoistable as exc:
        plan, reason = None, str(exc)
        notice = reason if exc.notice else ""
    runtime.plan, runtime.notice = (key, plan, reason), notice
    return plan


def describe_path(cell: Cell) -> str:
    """One line saying how the runtime runs ``cell``'s time loop, and why."""
    fused = cell.fused_mode
    if fused is not None:
        return (
            f"torch's fused {fused} kernel (its weights are in torch's layout); on CPU, variable-length "
            "batches take its unpacked kernel span by span, the per-step loop or its packed kernel, "
            "whichever the cost model expects to be fastest"
        )
    if overrides_input_projection(cell):
        return (
            "declared input projection hoisted out of the time loop (the cell defines project_input and step_projected)"
        )
    if not cell.auto_hoist:
        return "plain per-step loop (the cell sets auto_hoist = False)"
    plan = _plan(cell)
    runtime_of(cell).notice = ""  # this line says it
    from seqframe.rnn.kernels import kernel_of  # it builds on this module's plans

    kernel = kernel_of(cell) if plan is not None else None
    if kernel is not None:
        return (
            f"recognized as torch's {kernel.mode} step (checked against the plain loop): runs as the built-in "
            f"cell does, torch's fused kernel with the cell's own parameters; on CPU, variable-length batches "
            f"take its unpacked kernel span by span, the hoisted per-step loop or its packed kernel, whichever "
            f"the cost model expects to be fastest"
        )
    if plan is not None:
        return (
            f"input part traced from forward and hoisted out of the time loop (checked against the plain "
            f"loop): {', '.join(plan.hoisted)}"
        )
    recorded = runtime_of(cell).plan
    return f"plain per-step loop: {recorded[2] if recorded else ''}"


def forget(cell: Cell) -> None:
    """Drop ``cell``'s plan and the kernel found from it, so that the next run traces it again."""
    runtime = runtime_of(cell)
    runtime.plan = runtime.kernel = None


def _build(cell: Cell) -> HoistPlan:
    sample = Sample(cell)
    gm = trace_step(cell, len(sample.state))
    refuse_in_place(gm)
    with attributes_kept(cell):
        propagate(gm, sample)
    for rewrite in (split_concatenations, fold_additions):
        if rewrite(gm):
            with attributes_kept(cell):
                propagate(gm, sample)
    plan = split_step(gm, rows=len(SAMPLE_LENGTHS))
    with attributes_kept(cell):
        verify(cell, plan, sample)
    return plan
