"""What the recurrent runtime keeps about one cell between calls: :class:`CellRuntime`.

The runtime holds no module-level state. Everything it learns about a cell (its hoisting
plan, compiled chunks of steps, whether its first step was checked, its state layout) lives
in one :class:`CellRuntime` attached to that cell in the place :class:`~seqframe.interfaces.Cell`
declares for it, ``cell.rnn_runtime``. So a fresh cell starts fresh, the record goes away
with its cell, and nothing has to be reset between tests. A copy of a cell
(``copy.deepcopy``, pickling) gets an empty record: plans and compiled code refer to the
original's modules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from seqframe.interfaces import Cell

__all__ = ["CellRuntime", "compile_times", "runtime_of"]


@dataclass
class CellRuntime:
    """The runtime's record of one cell.

    Attributes:
        plan: ``(fingerprint, plan or None, reason)`` of the last hoisting decision
            (:func:`seqframe.rnn.hoist.hoist_plan`), or None before the first.
        notice: the slow-path notice of that decision, until it is shown.
        kernel: ``(fingerprint, kernel or None)``: the torch kernel found equal to the
            cell's step (:func:`seqframe.rnn.kernels.kernel_of`), or None before the first try.
        compiled: compiled chunks of steps by ``(path, chunk, backend)``
            (:mod:`seqframe.rnn.chunked`).
        compile_log: one entry per first compiled call: ``{"cell", "chunk", "grad",
            "dtype", "backend", "seconds"}``.
        timed: the compiled variants whose first call is in ``compile_log``.
        checked: whether a step was validated before compiling.
        layout: ``((hidden_size, output_size), state widths)`` read from ``initial_state``.
    """

    plan: tuple[Any, Any, str] | None = None
    notice: str = ""
    kernel: tuple[Any, Any] | None = None
    compiled: dict[Any, Callable[..., Any]] = field(default_factory=dict)
    compile_log: list[dict[str, Any]] = field(default_factory=list)
    timed: set[Any] = field(default_factory=set)
    checked: bool = False
    layout: tuple[tuple[int, int], tuple[int, ...]] | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> CellRuntime:
        return CellRuntime()

    def __reduce__(self) -> tuple[type, tuple[()]]:
        return CellRuntime, ()


def runtime_of(cell: Cell) -> CellRuntime:
    """The record of ``cell``, created on first use."""
    runtime = cell.rnn_runtime
    if not isinstance(runtime, CellRuntime):
        runtime = CellRuntime()
        cell.rnn_runtime = runtime
    return runtime


def compile_times(cells: nn.Module | Iterable[Cell]) -> list[dict[str, Any]]:
    """What each first compiled call of these cells cost (:mod:`seqframe.rnn.chunked`).

    Args:
        cells: a module (every :class:`Cell` in it counts) or cells.

    Returns:
        Copies of the entries, ``{"cell", "chunk", "grad", "dtype", "backend", "seconds"}``
        (the seconds include one chunk of real work, which is small beside compiling).
    """
    found = cells.modules() if isinstance(cells, nn.Module) else cells
    return [
        dict(entry)
        for cell in found
        if isinstance(cell, Cell) and isinstance(cell.rnn_runtime, CellRuntime)
        for entry in cell.rnn_runtime.compile_log
    ]
