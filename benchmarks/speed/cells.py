"""The plugin cells the ``plugins`` section runs: what a user writes as ten lines of Python.

- :class:`PythonElmanCell`: two ``nn.Linear`` and ``tanh``, only ``forward(x_t, state)``.
- :class:`PythonGatedCell`: LSTM equations (gates ``i, f, g, o`` as torch orders them) with
  an ``(h, c)`` state, only ``forward``.
- :class:`LoopElmanCell`, :class:`LoopGatedCell`: the same cells opted out of automatic
  hoisting (``auto_hoist = False``): the plain per-step loop, the "no technique" baseline.
- :class:`SplitElmanCell`, :class:`SplitGatedCell`: the same cells declaring the
  input-projection split themselves (``project_input`` / ``step_projected``).

Parameters are ``ih`` (``W_ih``, ``b_ih``) and ``hh`` (``W_hh``, ``b_hh``), laid out as in
``nn.RNN``/``nn.LSTM`` so :func:`copy_from_torch` can give them a torch module's weights.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqframe.interfaces import Cell, State

__all__ = [
    "LoopElmanCell", "LoopGatedCell", "PythonElmanCell", "PythonGatedCell", "SplitElmanCell", "SplitGatedCell",
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
    """An LSTM step (``c = f*c + i*g``, ``h = o*tanh(c)``) written as a user would."""

    state_size = 2

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.ih = nn.Linear(input_size, 4 * hidden_size)
        self.hh = nn.Linear(hidden_size, 4 * hidden_size)

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


@torch.no_grad()
def copy_from_torch(rnn: nn.Module, ref: nn.RNNBase) -> None:
    """Give every cell of a one-direction ``build_rnn`` stack the weights of ``ref``'s layers."""
    for layer, (cell,) in enumerate(rnn.layers):
        cell.ih.weight.copy_(getattr(ref, f"weight_ih_l{layer}"))
        cell.ih.bias.copy_(getattr(ref, f"bias_ih_l{layer}"))
        cell.hh.weight.copy_(getattr(ref, f"weight_hh_l{layer}"))
        cell.hh.bias.copy_(getattr(ref, f"bias_hh_l{layer}"))
