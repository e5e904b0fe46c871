"""The :class:`Cell` base class: one recurrent step, the state it carries, and the errors
the runtime raises about a cell.

Layer 0: imports only torch and the stdlib.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor, nn

__all__ = [
    "Cell",
    "CellContractError",
    "CellError",
    "CellFactory",
    "State",
    "overrides_input_projection",
    "state_layout",
]

State = tuple[Tensor, ...]
"""A recurrent state: always a tuple of ``(B, width_i)`` tensors, ``(h,)`` or ``(h, c)``."""


class Cell(nn.Module):
    """One recurrent step, ``h_t = f(x_t, state)``: the base class of every cell.

    A cell only has to implement :meth:`forward`. The framework unrolls it over time,
    over variable lengths, over layers and directions.

    **The state.** Its structure (how many tensors, each one's width) is what
    :meth:`initial_state` returns: by default ``state_size`` (or one) zero tensors of
    width ``hidden_size``. A cell whose state tensors differ in width, such as an LSTM
    with a projection (``h`` of ``output_size``, ``c`` of ``hidden_size``), overrides
    :meth:`initial_state`; ``forward`` must return a state of the same structure.

    **The output.** ``h_t`` has ``output_size`` features (default ``hidden_size``): what
    the next layer, the other direction's concatenation and heads read. Set
    ``self.output_size`` in ``__init__`` for a cell whose output is narrower or wider.

    **Optional fast path (input-projection hoisting).** Most cells apply a linear map to
    ``x_t`` that does not depend on the state. A cell that splits its step into
    :meth:`project_input` (state-free, applied to all time steps at once as one large
    matrix multiply) and :meth:`step_projected` (the state-dependent rest, run once per
    step) lets the runtime hoist that work out of the time loop. Both must be defined
    together and ``step_projected(project_input(x)[:, t], s)`` must equal
    ``forward(x[:, t], s)``. Cells that define only ``forward`` are traced and hoisted
    automatically when possible (:mod:`seqframe.rnn.hoist`).

    Args:
        input_size: number of features of ``x_t``.
        hidden_size: the cell's size (the width of its memory).

    **Optional diagnostics.** ``seqframe inspect`` and ``train.diagnostics`` measure every
    cell from outside (its outputs and its state at each step). Two declarations let them say
    more: ``output_bound`` (1.0 for a cell whose ``h_t`` lies in [-1, 1], like a tanh) makes
    the share of saturated units (``|h| > 0.99``) meaningful, and :meth:`gate_activations`
    exposes sigmoid gates, whose values near 0 or 1 count as saturated.

    Class attributes:
        state_size: optional: how many tensors the state holds. When set it is checked
            against :meth:`initial_state`; the default :meth:`initial_state` returns that
            many ``(B, hidden_size)`` zero tensors (one when unset).
        fused_mode: name of an equivalent torch fused kernel (``"RNN_TANH"``,
            ``"RNN_RELU"``, ``"LSTM"``, ``"GRU"``) or None. Only cells whose parameters are
            exactly torch's ``weight_ih``/``weight_hh``/``bias_ih``/``bias_hh`` (and
            ``weight_hr``) layout set it.
        auto_hoist: whether the runtime may trace ``forward`` to hoist its input part
            (default True); False keeps the plain per-step loop, without notice.
        output_bound: optional: the bound of ``|h_t|`` when the output is squashed (1.0 for
            tanh-range outputs), or None (default: unbounded or unknown, so diagnostics do not
            report output saturation). A cell whose bound depends on its options makes it a
            property.
        rnn_runtime: reserved: where the runtime keeps what it learned about the cell.

    Shape:
        - x_t: ``(B, input_size)``
        - state: tuple of tensors ``(B, width_i)``, as :meth:`initial_state` returns
        - output: ``(B, output_size)``
    """

    state_size: ClassVar[int | None] = None
    """How many tensors the state holds, checked against :meth:`initial_state` when set."""

    fused_mode: ClassVar[str | None] = None
    """The torch fused kernel equivalent to this cell's step, or None."""

    auto_hoist: ClassVar[bool] = True
    """Whether the runtime may trace :meth:`forward` with torch.fx to hoist its input part
    out of the time loop (:mod:`seqframe.rnn.hoist`). A class sets it to False to keep the
    plain per-step loop, without notice."""

    rnn_runtime: object | None = None
    """The recurrent runtime's record of this cell (hoisting plan, compiled chunks, checks,
    state layout: a :class:`seqframe.rnn.runtime.CellRuntime`), attached on first use.
    Reserved for the runtime: not a parameter, not saved, empty in a copy."""

    output_bound: ClassVar[float | None] = None
    """Bound of ``|h_t|`` when the output is squashed (diagnostics' saturation), or None."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        for arg, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            _check_size(type(self).__name__, arg, value)
        self.input_size = input_size
        self.hidden_size = hidden_size

    @property
    def output_size(self) -> int:
        """Features of ``h_t`` (default ``hidden_size``); assign it to change it."""
        return int(self.__dict__.get("_output_size", self.hidden_size))

    @output_size.setter
    def output_size(self, value: int) -> None:
        _check_size(type(self).__name__, "output_size", value)
        self.__dict__["_output_size"] = value

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        """Return the zero state: ``state_size`` (default 1) tensors ``(batch_size, hidden_size)``.

        ``device`` and ``dtype`` default to those of the cell's first parameter. Override
        it for a state of other widths; its result defines the state's structure.
        """
        param = next(self.parameters(), None)
        if device is None:
            device = param.device if param is not None else None
        if dtype is None:
            dtype = param.dtype if param is not None else None
        return tuple(
            torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype) for _ in range(self.state_size or 1)
        )

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        """Take one step: return ``(h_t, new_state)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(x_t, state)")

    def project_input(self, x: Tensor) -> Tensor:
        """Optional: the state-free part of the step for all steps, ``(B, T, F) -> (B, T, G)``."""
        raise NotImplementedError

    def step_projected(self, xp_t: Tensor, state: State) -> tuple[Tensor, State]:
        """Optional: the rest of the step from a projected input ``(B, G)``."""
        raise NotImplementedError

    def gate_activations(self, x_t: Tensor, state: State) -> dict[str, Tensor]:
        """Optional, for diagnostics: the gates this step would compute from ``x_t`` and
        ``state``, by name, each ``(B, width)`` with values in [0, 1] (sigmoid gates; a gate
        below 0.01 or above 0.99 counts as saturated). Called only by diagnostics, with the
        same arguments as :meth:`forward`, under ``torch.no_grad``. Default: no gates."""
        return {}

    def extra_repr(self) -> str:
        extra = "" if self.output_size == self.hidden_size else f", output_size={self.output_size}"
        return f"{self.input_size}, {self.hidden_size}{extra}"


def _check_size(owner: str, arg: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}: {arg} must be a positive int, got {value!r}")


class CellError(RuntimeError):
    """A cell raised, or broke the cell contract, while the runtime built or ran it.

    The runtime knows no plugins; it names the cell's class, and the facade, which knows
    which plugin provided the cell, turns this into a :class:`~seqframe.errors.PluginError`.

    Attributes:
        cell_type: the class of the failing cell (or the factory that failed to build one).
        where: ``file:line`` of the cell's code that raised, or ``""``.
    """

    def __init__(self, cell_type: Callable[..., object], message: str, where: str = "") -> None:
        super().__init__(message)
        self.cell_type = cell_type
        self.where = where

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:  # copy and pickle (sent between ranks)
        return type(self), (self.cell_type, str(self), self.where)


class CellContractError(CellError, TypeError):
    """A cell returned something the contract does not allow (a wrong shape, arity, type)."""


def state_layout(
    cell: Cell, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None
) -> tuple[int, ...]:
    """The width of each state tensor, read from ``cell.initial_state(1)`` and checked.

    Raises:
        CellContractError: ``initial_state`` does not return a non-empty tuple of 2-D
            tensors with one row, or its length differs from a declared ``state_size``.
    """
    name = type(cell).__name__
    state = cell.initial_state(1, device=device, dtype=dtype)
    expected = "a non-empty tuple of (batch_size, width) tensors"
    if isinstance(state, Tensor):
        raise CellContractError(
            type(cell), f"cell {name}: initial_state must return {expected}; got a bare Tensor (wrap it: return (h,))"
        )
    if not isinstance(state, tuple) or not state or not all(isinstance(s, Tensor) for s in state):
        got = type(state).__name__ if not isinstance(state, tuple) else [type(s).__name__ for s in state]
        raise CellContractError(type(cell), f"cell {name}: initial_state must return {expected}; got {got}")
    shapes = [tuple(s.shape) for s in state]
    if any(len(shape) != 2 or shape[0] != 1 for shape in shapes):
        raise CellContractError(
            type(cell),
            f"cell {name}: initial_state(1) must return {expected} with batch_size=1 rows; got shapes {shapes}",
        )
    declared = cell.state_size
    if declared is not None and declared != len(state):
        raise CellContractError(
            type(cell),
            f"cell {name}: state_size={declared} but initial_state returns "
            f"{len(state)} tensor(s); drop state_size or make them agree",
        )
    return tuple(shape[1] for shape in shapes)


def overrides_input_projection(cell: nn.Module) -> bool:
    """True when ``cell`` defines both :meth:`Cell.project_input` and :meth:`Cell.step_projected`."""
    cls = type(cell)
    return (
        getattr(cls, "project_input", Cell.project_input) is not Cell.project_input
        and getattr(cls, "step_projected", Cell.step_projected) is not Cell.step_projected
    )


CellFactory = Callable[..., Cell]
"""Anything called as ``factory(input_size, hidden_size, **options)`` returning a Cell."""
