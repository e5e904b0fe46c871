"""The plugin cells the ``plugins`` section runs: what a user writes as ten lines of Python.

- :class:`PythonElmanCell`: two ``nn.Linear`` and ``tanh``, only ``forward(x_t, state)``.
- :class:`PythonGatedCell`: LSTM equations (gates ``i, f, g, o`` as torch orders them) with
  an ``(h, c)`` state, only ``forward`` and ``initial_state`` (written naturally: ``h, c =
  state``, no ``state_size``).
- :class:`PythonProjectedCell`: the same with a projection ``h = W_hr (o * tanh(c))`` as
  ``nn.LSTM(proj_size=P)`` has: ``h`` of ``P`` features, ``c`` of ``H``, ``output_size = P``.
- ``Loop*Cell``: the same cells opted out of automatic hoisting (``auto_hoist = False``):
  the plain per-step loop, the "no technique" baseline.
- ``Split*Cell``: the same cells declaring the input-projection split themselves
  (``project_input`` / ``step_projected``).

Parameters are ``ih`` (``W_ih``, ``b_ih``), ``hh`` (``W_hh``, ``b_hh``) and ``hr``
(``W_hr``), laid out as in ``nn.RNN``/``nn.LSTM`` so :func:`copy_from_torch` can give them a
torch module's weights.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from seqframe.interfaces import Cell, State

__all__ = [
    "LoopElmanCell",
    "LoopGatedCell",
    "LoopProjectedCell",
    "PythonElmanCell",
    "PythonGatedCell",
    "PythonProjectedCell",
    "SplitElmanCell",
    "SplitGatedCell",
    "SplitProjectedCell",
    "copy_from_torch",
]


class PythonElmanCell(Cell):
    """``h_t = tanh(W_ih x_t + b_ih + W_hh h + b_hh)``, written as a user would."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.ih = nn.Linear(input_size, hidden_size)
        self.hh = nn.Linear(hidden_size, hidden_size)

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h = torch.tanh(self.ih(x_t) + self.hh(state[0]))
        return h, (h,)


class PythonGatedCell(Cell):
    """An LSTM step (``c = f*c + i*g``, ``h = o*tanh(c)``) written as a user would: its
    ``(h, c)`` state comes from ``initial_state``, no ``state_size`` declared."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.ih = nn.Linear(input_size, 4 * hidden_size)
        self.hh = nn.Linear(hidden_size, 4 * hidden_size)

    def initial_state(self, batch_size: int, *, device: Any = None, dtype: Any = None) -> State:
        kw = {"device": device or self.ih.weight.device, "dtype": dtype or self.ih.weight.dtype}
        return torch.zeros(batch_size, self.hidden_size, **kw), torch.zeros(batch_size, self.hidden_size, **kw)

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h, c = state
        i, f, g, o = (self.ih(x_t) + self.hh(h)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


class LoopElmanCell(PythonElmanCell):
    """:class:`PythonElmanCell` run by the plain per-step loop (automatic hoisting off)."""

    auto_hoist = False


class LoopGatedCell(PythonGatedCell):
    """:class:`PythonGatedCell` run by the plain per-step loop (automatic hoisting off)."""

    auto_hoist = False


class SplitElmanCell(PythonElmanCell):
    """:class:`PythonElmanCell` declaring its input projection."""

    def project_input(self, x: Tensor) -> Tensor:
        return self.ih(x)

    def step_projected(self, xp_t: Tensor, state: State) -> tuple[Tensor, State]:
        h = torch.tanh(xp_t + self.hh(state[0]))
        return h, (h,)


class SplitGatedCell(PythonGatedCell):
    """:class:`PythonGatedCell` declaring its input projection."""

    def project_input(self, x: Tensor) -> Tensor:
        return self.ih(x)

    def step_projected(self, xp_t: Tensor, state: State) -> tuple[Tensor, State]:
        h, c = state
        i, f, g, o = (xp_t + self.hh(h)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


class PythonProjectedCell(Cell):
    """An LSTM step with a projection, ``h = W_hr (o * tanh(c))``, written as a user would:
    ``h, c = state``, ``output_size = proj_size``, ``initial_state`` of two widths."""

    def __init__(self, input_size: int, hidden_size: int, proj_size: int = 0) -> None:
        super().__init__(input_size, hidden_size)
        self.output_size = proj_size or hidden_size // 2
        self.ih = nn.Linear(input_size, 4 * hidden_size)
        self.hh = nn.Linear(self.output_size, 4 * hidden_size)
        self.hr = nn.Linear(hidden_size, self.output_size, bias=False)

    def initial_state(self, batch_size: int, *, device: Any = None, dtype: Any = None) -> State:
        kw = {"device": device or self.ih.weight.device, "dtype": dtype or self.ih.weight.dtype}
        return torch.zeros(batch_size, self.output_size, **kw), torch.zeros(batch_size, self.hidden_size, **kw)

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h, c = state
        i, f, g, o = (self.ih(x_t) + self.hh(h)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = self.hr(torch.sigmoid(o) * torch.tanh(c))
        return h, (h, c)


class LoopProjectedCell(PythonProjectedCell):
    """:class:`PythonProjectedCell` run by the plain per-step loop (automatic hoisting off)."""

    auto_hoist = False


class SplitProjectedCell(PythonProjectedCell):
    """:class:`PythonProjectedCell` declaring its input projection."""

    def project_input(self, x: Tensor) -> Tensor:
        return self.ih(x)

    def step_projected(self, xp_t: Tensor, state: State) -> tuple[Tensor, State]:
        h, c = state
        i, f, g, o = (xp_t + self.hh(h)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = self.hr(torch.sigmoid(o) * torch.tanh(c))
        return h, (h, c)


@torch.no_grad()
def copy_from_torch(rnn: nn.Module, ref: nn.RNNBase) -> None:
    """Give every cell of a one-direction ``build_rnn`` stack the weights of ``ref``'s layers
    (the built-in cells under torch's names, the cells here as ``ih``/``hh``/``hr``)."""
    for layer, (cell,) in enumerate(rnn.layers):
        names = [n.removesuffix(f"_l{layer}") for n, _ in ref.named_parameters() if n.endswith(f"_l{layer}")]
        for name in names:
            ours = getattr(cell, name, None)
            if ours is None:  # ih.weight for weight_ih, hr.weight for weight_hr, ...
                kind, which = name.split("_")
                ours = getattr(getattr(cell, which), kind)
            ours.copy_(getattr(ref, f"{name}_l{layer}"))
