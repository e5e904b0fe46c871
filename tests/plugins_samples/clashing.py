"""A sample plugin that clashes: ``fast`` (also in good.py) and ``lstm`` (a built-in)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from seqframe import Cell, State, hookimpl


class OtherFastCell(Cell):
    """Another cell called ``fast``."""

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        return state[0], state


class ShadowLSTMCell(Cell):
    """A cell that reuses the built-in name ``lstm``."""

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        return state[0], state


@hookimpl
def seqframe_cells() -> Mapping[str, Any]:
    return {"fast": OtherFastCell, "lstm": ShadowLSTMCell}
