"""The export contract: what a task declares so that its model runs outside the training
code (ONNX, TorchScript), and what the exported model looks like to the task again.

A task's :meth:`~seqframe.Task.export_plan` returns an :class:`ExportPlan`: named
:class:`Graph` s, each a module whose ``forward`` takes and returns plain tensors (the
recurrent state as explicit inputs and outputs), plus JSON-able ``meta``. seqframe exports
every graph and saves the meta beside them. To answer with the exported model,
:meth:`~seqframe.Task.exported_model` receives a :class:`GraphRunner` over the exported
graphs (onnxruntime or TorchScript; the eager modules in tests) and returns a stand-in for
the model that the task's own ``predict`` accepts, so decoding (greedy, sampling, beam
search) is the same code whichever runtime computes the graphs.

Recurrent topologies are exported one step at a time (:mod:`seqframe.interfaces.stepwise`):
a runtime drives the time loop, which makes any cell that passes the conformance kit
exportable, whatever its state. Layer 0: imports only torch and the stdlib.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from torch import Tensor, nn

from seqframe.interfaces.cell import Cell

__all__ = ["ExportPlan", "ExportedModel", "Graph", "GraphRunner", "StepwiseTopology"]


@dataclass(frozen=True)
class Graph:
    """One function to export: ``module(*inputs.values()) -> outputs``.

    Attributes:
        module: an ``nn.Module`` in eval mode whose ``forward`` takes the inputs in order
            and returns one tensor or a tuple of tensors, one per name in ``outputs``.
        inputs: example inputs by name, in ``forward`` 's order (their dtypes and sizes
            other than the dynamic axes are those of every later call); batch axes of at
            least 2, so no size is mistaken for a constant.
        outputs: the names of the outputs, in order.
        dynamic: per input name, its axes whose size varies, ``{axis: symbol}`` (``"B"``
            batch, ``"T"`` time...).
        cells: the cells the graph runs (named when one cannot be exported).
    """

    module: nn.Module
    inputs: Mapping[str, Tensor]
    outputs: Sequence[str]
    dynamic: Mapping[str, Mapping[int, str]] = field(default_factory=dict)
    cells: Sequence[nn.Module] = ()


@dataclass(frozen=True)
class ExportPlan:
    """What a runtime needs to answer with a model: its graphs and their meta.

    Attributes:
        graphs: the graphs by name (``step``, ``encoder.layer0``, ...); names are made of
            ``[a-z0-9_.]`` and become file names.
        meta: JSON-able facts the task reads back in :meth:`~seqframe.Task.exported_model`
            (sizes, state layouts, options).
    """

    graphs: Mapping[str, Graph]
    meta: Mapping[str, Any] = field(default_factory=dict)

    def merged(self, other: ExportPlan) -> ExportPlan:
        """This plan with ``other`` 's graphs and meta added (names must not clash)."""
        clash = sorted(set(self.graphs) & set(other.graphs))
        if clash:
            raise ValueError(f"ExportPlan: graph names {', '.join(clash)} are used twice")
        return ExportPlan({**self.graphs, **other.graphs}, {**self.meta, **other.meta})


@runtime_checkable
class GraphRunner(Protocol):
    """Runs exported graphs by name: what :meth:`~seqframe.Task.exported_model` receives.

    ``run(name, *inputs)`` takes tensors in the order of the graph's inputs and returns its
    outputs as a tuple of tensors on ``device`` (CPU for onnxruntime); ``meta`` is the
    plan's meta as saved.
    """

    meta: Mapping[str, Any]

    device: Any

    def run(self, name: str, *inputs: Tensor) -> tuple[Tensor, ...]: ...


@runtime_checkable
class StepwiseTopology(Protocol):
    """A topology that can be exported one step at a time: cells ``[layer][direction]``
    stacked in depth (layer ``l+1`` reads layer ``l`` 's outputs, directions concatenated),
    the backward direction reading each sequence from its own last real token, outputs zero
    past each length, as :class:`seqframe.builtin.topologies.StackedTopology` does."""

    output_size: int

    @property
    def cells(self) -> Sequence[Sequence[Cell]]: ...


class ExportedModel:
    """Base of the stand-ins that :meth:`~seqframe.Task.exported_model` returns: holds the
    runner and a ``training`` flag that ``eval()`` and ``train()`` set, as an ``nn.Module``
    does (tasks read and restore it around predictions). A subclass adds the methods the
    task's ``predict`` calls (``__call__``, ``encode``, ``decode_step``...), computed with
    ``self.graphs.run`` only.
    """

    def __init__(self, graphs: GraphRunner) -> None:
        self.graphs = graphs
        self.training = False

    def eval(self) -> ExportedModel:
        """Set ``training`` to False (exported graphs always run in inference mode)."""
        return self.train(False)

    def train(self, mode: bool = True) -> ExportedModel:
        """Record ``mode`` in ``training`` (exported graphs have no training mode)."""
        self.training = bool(mode)
        return self
