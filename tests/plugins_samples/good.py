"""A well-behaved sample plugin: one cell ``fast`` and one head ``probe``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from seqframe import Cell, State, hookimpl


class FastCell(Cell):
    """Fast sample cell: ``h_t = tanh(W x_t + h_{t-1})``.

    Used by seqframe's own tests as a third-party cell.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.linear = nn.Linear(input_size, hidden_size)

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h = torch.tanh(self.linear(x_t) + state[0])
        return h, (h,)


def probe_head(in_features: int, num_outputs: int) -> nn.Module:
    return nn.Linear(in_features, num_outputs)


@hookimpl
def seqframe_cells() -> Mapping[str, Any]:
    return {"fast": FastCell}


@hookimpl
def seqframe_heads() -> Mapping[str, Any]:
    return {"probe": probe_head}
