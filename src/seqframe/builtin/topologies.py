"""Built-in topologies: ``stacked`` (1+ layers, optionally bidirectional) and
``bidirectional`` (the same, two directions by default)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from seqframe.hookspecs import hookimpl
from seqframe.interfaces import Cell, CellFactory, State, state_layout
from seqframe.rnn import run_stack
from seqframe.rnn.attribution import cell_errors

__all__ = ["BidirectionalTopology", "StackedTopology"]


class StackedTopology(nn.Module):
    """Cells unrolled over time from a zero state, stacked in depth, optionally bidirectional.

    Layer ``l`` has its own cells (one per direction); layer ``l+1`` reads layer ``l``'s
    outputs, both directions concatenated. The backward direction starts at each
    sequence's own last real token. Any cell works; cells with a torch fused equivalent
    run in torch's kernels.

    Args:
        cell: factory called as ``cell(input_size, hidden_size)`` for every layer and direction.
        input_size: features of the input.
        hidden_size: the cells' size (each direction's output has the cell's ``output_size``
            features, ``hidden_size`` unless the cell projects, e.g. ``lstm`` with ``proj_size``).
        num_layers: number of stacked layers (>= 1).
        bidirectional: add a backward direction to every layer.
        dropout: dropout on the outputs of every layer except the last.
        compile: opt-in: run cells that have no fused kernel in torch.compile'd chunks of
            steps (compiled once per cell, mode and dtype; the first call pays the compile
            time, tens of seconds on a small CPU). Off by default.

    Shape:
        - x: ``(B, T, input_size)``; lengths: ``(B,)`` or None.
        - outputs: ``(B, T, D * output_size)``, zero at padded positions.
        - state: tuple of ``(num_layers * D, B, width_i)`` tensors, one per tensor of the cell's
          ``initial_state`` (``(h,)``, or ``(h, c)`` for an LSTM).
    """

    def __init__(
        self,
        cell: CellFactory,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        compile: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"{type(self).__name__}: num_layers must be an int >= 1, got {num_layers!r}")
        if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"{type(self).__name__}: dropout must lie in [0, 1), got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"{type(self).__name__}: dropout={dropout} has no effect with num_layers=1 (it applies between layers)",
                stacklevel=2,
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bool(bidirectional)
        self.dropout = float(dropout)
        if not isinstance(compile, bool):
            raise ValueError(f"{type(self).__name__}: compile must be true or false, got {compile!r}")
        self.compile = compile
        self.layers = nn.ModuleList(self._build_layers(cell, 2 if bidirectional else 1))

    def _build_layers(self, cell: CellFactory, directions: int) -> list[nn.ModuleList]:
        """Build every layer's cells; layer ``l+1`` reads ``D * output_size`` features of
        layer ``l``. Every cell must report the asked sizes and share one state layout."""
        layers, width, layout = [], self.input_size, None
        for _ in range(self.num_layers):
            cells = [self._build_cell(cell, width) for _ in range(directions)]
            for built in cells:
                widths = (built.output_size, state_layout(built))
                if layout is not None and widths != layout:
                    raise ValueError(
                        f"{type(self).__name__}: every cell of a stack must have the same output size and "
                        f"state widths; cell {type(built).__name__}(input_size={width}) has {widths}, "
                        f"the first {layout} (output_size, state widths)"
                    )
                layout = widths
            layers.append(nn.ModuleList(cells))
            width = directions * cells[0].output_size
        return layers

    def _build_cell(self, cell: CellFactory, width: int) -> Cell:
        with cell_errors(cell, "__init__", passthrough=(ValueError, TypeError)):
            built = cell(width, self.hidden_size)
        if not isinstance(built, Cell):
            raise TypeError(
                f"{type(self).__name__}: the cell factory returned {type(built).__name__}, not a seqframe.Cell"
            )
        if built.hidden_size != self.hidden_size or built.input_size != width:
            raise ValueError(
                f"{type(self).__name__}: cell {type(built).__name__} was asked for sizes "
                f"({width}, {self.hidden_size}) but reports ({built.input_size}, {built.hidden_size})"
            )
        with cell_errors(built, "initial_state"):
            state_layout(built)
        return built

    @property
    def output_size(self) -> int:
        """Features per output step: ``D * output_size`` of the cells (``D * hidden_size``
        unless the cell projects its output)."""
        last = self.layers[-1][0]
        return int(last.output_size) * (2 if self.bidirectional else 1)

    @property
    def cells(self) -> Sequence[Sequence[Cell]]:
        """The cells, ``[layer][direction]``."""
        return [list(layer) for layer in self.layers]  # type: ignore[arg-type]

    def forward(
        self, x: Tensor, lengths: Tensor | Sequence[int] | None = None, state: State | None = None
    ) -> tuple[Tensor, State]:
        """Run the stack; see the class docstring for shapes."""
        return run_stack(
            self.cells,
            x,
            lengths,
            state,
            dropout=self.dropout,
            training=self.training,
            who=type(self).__name__,
            compile=self.compile,
        )

    def extra_repr(self) -> str:
        parts = [f"{self.input_size}, {self.hidden_size}"]
        if self.num_layers != 1:
            parts.append(f"num_layers={self.num_layers}")
        if self.bidirectional:
            parts.append("bidirectional=True")
        if self.dropout:
            parts.append(f"dropout={self.dropout}")
        if self.compile:
            parts.append("compile=True")
        return ", ".join(parts)


class BidirectionalTopology(StackedTopology):
    """A :class:`StackedTopology` that reads each sequence in both directions.

    Outputs are ``[forward; backward]`` per step; the final state holds both directions of
    every layer (layer-major, forward first), as ``torch.nn.LSTM`` does.
    """

    def __init__(
        self,
        cell: CellFactory,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        bidirectional: bool = True,
        compile: bool = False,
    ) -> None:
        if not bidirectional:
            raise ValueError("BidirectionalTopology: bidirectional must be true (use 'stacked' for one direction)")
        super().__init__(cell, input_size, hidden_size, num_layers, True, dropout, compile)


@hookimpl
def seqframe_topologies() -> Mapping[str, Any]:
    """Built-in topologies."""
    return {"stacked": StackedTopology, "bidirectional": BidirectionalTopology}
