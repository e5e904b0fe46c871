"""Recurrent topologies exported one step at a time, and the time loop that runs them.

Export side: :class:`StackStep` (one step of a unidirectional stack, for decoders and
language models) and :class:`LayerStep` (one step of one layer's directions, for encoders),
built from a :class:`~seqframe.interfaces.export.StepwiseTopology` 's cells, and
:func:`topology_graphs`, the encoder graphs of a topology with their meta.

Runtime side: :func:`run_topology` drives those layer graphs over a padded batch exactly as
:func:`seqframe.rnn.run_stack` defines the result: each sequence keeps its state once it has
ended (masking), the backward direction reads each sequence reversed within its own length
(a per-row gather), outputs are zero past each length, and the final state is each
sequence's own. Layer 0: imports only torch and the other contracts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from seqframe.errors import ExportError
from seqframe.interfaces.cell import Cell, state_layout
from seqframe.interfaces.export import ExportPlan, Graph, StepwiseTopology

__all__ = [
    "LayerStep",
    "StackStep",
    "reverse_index",
    "run_topology",
    "stepwise_cells",
    "topology_graphs",
    "topology_meta",
]

RunGraph = Callable[..., tuple[Tensor, ...]]
"""``run(name, *inputs) -> outputs``, e.g. :meth:`GraphRunner.run`."""


def stepwise_cells(topology: nn.Module, where: str) -> list[list[Cell]]:
    """The cells ``[layer][direction]`` of a topology that can be exported step by step.

    Raises:
        ExportError: the topology does not expose its cells (it is not a
            :class:`~seqframe.interfaces.export.StepwiseTopology`).
    """
    if not isinstance(topology, StepwiseTopology):
        raise ExportError(
            f"{where}: topology {type(topology).__name__} does not expose its cells ([layer][direction], "
            "as seqframe.interfaces.StepwiseTopology declares), so it cannot be exported step by step; "
            "use the 'stacked' or 'bidirectional' topology"
        )
    return [list(layer) for layer in topology.cells]


def topology_meta(topology: nn.Module, where: str) -> dict[str, Any]:
    """The facts :func:`run_topology` needs: layers, directions, state widths, sizes."""
    cells = stepwise_cells(topology, where)
    first = cells[0][0]
    return {
        "layers": len(cells),
        "directions": len(cells[0]),
        "state_widths": list(state_layout(first)),
        "input_size": int(first.input_size),
        "output_size": int(first.output_size) * len(cells[0]),
    }


class StackStep(nn.Module):
    """One time step of a unidirectional stack of cells, in one graph.

    Shape:
        - x: ``(B, F)``; state: tensors ``(L, B, W_i)``.
        - output: ``h (B, O)`` of the last layer and the new state, tensors ``(L, B, W_i)``.
    """

    def __init__(self, topology: nn.Module, where: str = "model.topology") -> None:
        super().__init__()
        cells = stepwise_cells(topology, where)
        if len(cells[0]) != 1:
            raise ExportError(
                f"{where}: a step of a bidirectional topology needs the whole sequence; only a "
                "unidirectional topology can be stepped token by token"
            )
        self.cells = nn.ModuleList(layer[0] for layer in cells)

    def forward(self, x: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        new: list[list[Tensor]] = [[] for _ in state]
        for layer, cell in enumerate(self.cells):
            x, carried = cell(x, tuple(s[layer] for s in state))
            for i, s in enumerate(carried):
                new[i].append(s)
        return (x, *(torch.stack(s) for s in new))


class LayerStep(nn.Module):
    """One time step of one layer: each direction's cell on its own input.

    Shape:
        - x: ``(D, B, F)`` (direction ``d`` reads ``x[d]``); state: tensors ``(D, B, W_i)``.
        - output: ``h (D, B, O)`` and the new state, tensors ``(D, B, W_i)``.
    """

    def __init__(self, cells: Sequence[Cell]) -> None:
        super().__init__()
        self.cells = nn.ModuleList(cells)

    def forward(self, x: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        outputs, new = [], [[] for _ in state]
        for direction, cell in enumerate(self.cells):
            h, carried = cell(x[direction], tuple(s[direction] for s in state))
            outputs.append(h)
            for i, s in enumerate(carried):
                new[i].append(s)
        return (torch.stack(outputs), *(torch.stack(s) for s in new))


def topology_graphs(prefix: str, topology: nn.Module, *, batch: int = 2, where: str = "model.topology") -> ExportPlan:
    """The graphs ``{prefix}.layer{l}`` (:class:`LayerStep`) of an encoder topology, with
    its :func:`topology_meta` under ``meta[prefix]``."""
    cells = stepwise_cells(topology, where)
    meta = topology_meta(topology, where)
    param = next(topology.parameters())
    generator = torch.Generator().manual_seed(0)
    graphs, width = {}, meta["input_size"]
    directions = meta["directions"]
    for layer, layer_cells in enumerate(cells):
        inputs = {"x": torch.randn(directions, batch, width, generator=generator).to(param)}
        inputs.update(
            {
                f"state{i}": torch.randn(directions, batch, w, generator=generator).to(param) * 0.5
                for i, w in enumerate(meta["state_widths"])
            }
        )
        graphs[f"{prefix}.layer{layer}"] = Graph(
            LayerStep(layer_cells).eval(),
            inputs,
            ("h", *(f"state{i}_out" for i in range(len(meta["state_widths"])))),
            {name: {1: "B"} for name in inputs},
            tuple(layer_cells),
        )
        width = meta["output_size"]
    return ExportPlan(graphs, {prefix: meta})


def reverse_index(lengths: Tensor, steps: int) -> Tensor:
    """``(B, T)`` positions that reverse each row within its own length (positions past a
    length map to themselves); applying the gather twice is the identity."""
    t = torch.arange(steps, device=lengths.device).unsqueeze(0)
    return torch.where(t < lengths.unsqueeze(1), lengths.unsqueeze(1) - 1 - t, t)


def _gather_time(x: Tensor, index: Tensor) -> Tensor:
    """``x (B, T, F)`` reordered along time per row by ``index (B, T)``."""
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


def _zero_state(meta: Mapping[str, Any], batch: int, like: Tensor) -> tuple[Tensor, ...]:
    rows = meta["layers"] * meta["directions"]
    return tuple(like.new_zeros(rows, batch, w) for w in meta["state_widths"])


def run_topology(
    run: RunGraph,
    prefix: str,
    meta: Mapping[str, Any],
    x: Tensor,
    lengths: Tensor | None = None,
    state: Sequence[Tensor] | None = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run an exported encoder topology over a padded batch, as the topology itself would.

    Args:
        run: runs a graph by name (``GraphRunner.run``).
        prefix: the graphs' prefix given to :func:`topology_graphs`.
        meta: the topology's meta (``plan.meta[prefix]``).
        x: ``(B, T, F)``.
        lengths: real lengths ``(B,)`` in ``[1, T]``, or None for all ``T``.
        state: initial state, tensors ``(L*D, B, W_i)``, or None for zeros.

    Returns:
        ``outputs (B, T, D*O)`` (zero past each length) and the final state, tensors
        ``(L*D, B, W_i)``: each sequence's state after its own last step (backward: first).
    """
    batch, steps = x.shape[0], x.shape[1]
    lengths = torch.full((batch,), steps) if lengths is None else torch.as_tensor(lengths).to("cpu", torch.int64)
    lengths = lengths.to(x.device)
    state = tuple(state) if state is not None else _zero_state(meta, batch, x)
    directions = meta["directions"]
    mask = torch.arange(steps, device=x.device).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
    reverse = reverse_index(lengths, steps) if directions == 2 else None
    finals: list[list[Tensor]] = [[] for _ in state]
    data = x
    for layer in range(meta["layers"]):
        rows = slice(layer * directions, (layer + 1) * directions)
        carried = [s[rows] for s in state]  # (D, B, W_i)
        inputs = torch.stack([data] if reverse is None else [data, _gather_time(data, reverse)])  # (D, B, T, F)
        outputs = []
        for t in range(steps):
            keep = mask[:, t].view(1, batch, 1)
            h, *new = run(f"{prefix}.layer{layer}", inputs[:, :, t].contiguous(), *carried)
            carried = [torch.where(keep, n, c) for n, c in zip(new, carried)]
            outputs.append(torch.where(keep, h, torch.zeros_like(h)))
        out = torch.stack(outputs, 2)  # (D, B, T, O)
        parts = [out[0]] if reverse is None else [out[0], _gather_time(out[1], reverse)]
        data = torch.cat(parts, -1)  # (B, T, D*O)
        for i, c in enumerate(carried):
            finals[i].append(c)
    return data, tuple(torch.cat(f, 0) for f in finals)
