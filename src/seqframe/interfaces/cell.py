"""The :class:`Cell` base class: one recurrent step, and the state it carries.

Layer 0: imports only torch and the stdlib.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor, nn

__all__ = ["Cell", "CellFactory", "State", "overrides_input_projection"]

State = tuple[Tensor, ...]
"""A recurrent state: always a tuple of ``(B, H)`` tensors, ``(h,)`` or ``(h, c)``."""


class Cell(nn.Module):
    """One recurrent step, ``h_t = f(x_t, h_{t-1})``: the base class of every cell.

    A cell only has to implement :meth:`forward`. The framework unrolls it over time,
    over variable lengths, over layers and directions.

    **Optional fast path (input-projection hoisting).** Most cells apply a linear map to
    ``x_t`` that does not depend on the state. A cell that splits its step into
    :meth:`project_input` (state-free, applied to all time steps at once as one large
    matrix multiply) and :meth:`step_projected` (the state-dependent rest, run once per
    step) lets the runtime hoist that work out of the time loop. Both must be defined
    together and ``step_projected(project_input(x)[:, t], s)`` must equal
    ``forward(x[:, t], s)``.

    Args:
        input_size: number of features of ``x_t``.
        hidden_size: number of features of ``h_t``.

    Class attributes:
        state_size: how many ``(B, hidden_size)`` tensors the state holds (1, or 2 for LSTM).
        fused_mode: name of an equivalent torch fused kernel (``"RNN_TANH"``,
            ``"RNN_RELU"``, ``"LSTM"``, ``"GRU"``) or None. Only cells whose parameters are
            exactly torch's ``weight_ih``/``weight_hh``/``bias_ih``/``bias_hh`` layout set it.

    Shape:
        - x_t: ``(B, input_size)``
        - state: tuple of ``state_size`` tensors ``(B, hidden_size)``
        - output: ``(B, hidden_size)``
    """

    state_size: ClassVar[int] = 1
    fused_mode: ClassVar[str | None] = None

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        for arg, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"{type(self).__name__}: {arg} must be a positive int, got {value!r}"
                )
        self.input_size = input_size
        self.hidden_size = hidden_size

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        """Return the zero state ``h_0 = 0`` as a tuple of ``(batch_size, hidden_size)``.

        ``device`` and ``dtype`` default to those of the cell's first parameter.
        """
        param = next(self.parameters(), None)
        if device is None:
            device = param.device if param is not None else None
        if dtype is None:
            dtype = param.dtype if param is not None else None
        return tuple(
            torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
            for _ in range(self.state_size)
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

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


def overrides_input_projection(cell: nn.Module) -> bool:
    """True when ``cell`` defines both :meth:`Cell.project_input` and :meth:`Cell.step_projected`."""
    cls = type(cell)
    return (
        getattr(cls, "project_input", Cell.project_input) is not Cell.project_input
        and getattr(cls, "step_projected", Cell.step_projected) is not Cell.step_projected
    )


CellFactory = Callable[..., Cell]
"""Anything called as ``factory(input_size, hidden_size, **options)`` returning a Cell."""
