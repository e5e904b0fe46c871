"""A traced cell step cut in two: :class:`HoistPlan` and :func:`split_step`.

- the *input part*: what depends on ``x_t`` and parameters but not on the state (typically
  ``W_ih x_t + b``), run once over the rows of all time steps together; its results are
  cut per step with one ``split`` (never per-step indexing, which makes the backward
  quadratic in length);
- the *invariant part*: what depends on parameters only (``W.t()``, a slice of a weight),
  run once per unroll;
- the *recurrent part*: the rest, run once per step.

Imports only layer 0, torch and the runtime's graph helpers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor, fx

from seqframe.interfaces import State
from seqframe.rnn.rewrites import S, X, ancestors, describe, masks, meta
from seqframe.rnn.tracing import NotHoistable

__all__ = ["HoistPlan", "split_step"]


@dataclass(frozen=True)
class HoistPlan:
    """A cell's step cut into a batched input part and a per-step recurrent part.

    Attributes:
        pre: ``pre(x (N, F)) -> (row_values, invariants)``: tensors with one row per input
            row, and values computed once per unroll.
        step: ``step(x_t, *row_values_t, *invariants, *state) -> (h_t, state)``.
        hoisted: what runs before the loop, as ``"<module or function>"`` names.
    """

    pre: fx.GraphModule
    step: fx.GraphModule
    hoisted: tuple[str, ...]

    def prepare(self, data: Tensor, batch_sizes: list[int]) -> tuple[Iterator[Sequence[Any]], Callable[..., Any]]:
        """Run the input part over packed ``data``; return per-step inputs and the step call."""
        rows, invariants = self.pre(data)
        columns = [data.split(batch_sizes)] + [value.split(batch_sizes) for value in rows]
        step = self.step

        def call(inputs: Sequence[Any], state: State) -> Any:
            return step(*inputs, *invariants, *state)

        return zip(*columns), call


def _classify(gm: fx.GraphModule, rows: int) -> tuple[set[fx.Node], list[fx.Node], list[fx.Node]]:
    """Nodes of the per-step part, and the per-row and invariant values it reads."""
    dependence = masks(gm)
    nodes = list(gm.graph.nodes)
    in_step: set[fx.Node] = {nodes[-1]}
    row_values: list[fx.Node] = []
    invariants: list[fx.Node] = []
    for node in reversed(nodes):
        if node not in in_step:
            continue
        for parent in node.all_input_nodes:
            if parent in in_step or parent in row_values or parent in invariants:
                continue
            computed = parent.op.startswith("call_")
            shape = meta(parent)
            if dependence[parent] & S or not computed:
                in_step.add(parent)
            elif dependence[parent] == X and shape is not None and len(shape.shape) >= 1 and shape.shape[0] == rows:
                row_values.append(parent)
            elif dependence[parent] == 0:
                invariants.append(parent)
            else:
                in_step.add(parent)  # input-dependent but not per row (e.g. a size): recomputed
    order = {node: i for i, node in enumerate(nodes)}
    return in_step, sorted(row_values, key=order.__getitem__), sorted(invariants, key=order.__getitem__)


def split_step(gm: fx.GraphModule, rows: int) -> HoistPlan:
    """Cut the traced, shape-propagated step (``rows`` rows) into its parts.

    Raises:
        NotHoistable: (without notice) nothing in the step depends on ``x_t`` alone.
    """
    in_step, row_values, invariants = _classify(gm, rows)
    if not any(n.op.startswith("call_") for n in row_values):
        raise NotHoistable("nothing in its step depends on x_t alone", notice=False)
    nodes = list(gm.graph.nodes)
    pre = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    wanted = ancestors(row_values + invariants)
    for node in nodes:
        if node in wanted:
            env[node] = pre.placeholder("x") if node.op == "placeholder" else pre.node_copy(node, env.__getitem__)
    pre.output(([env[n] for n in row_values], [env[n] for n in invariants]))

    step = fx.Graph()
    inputs = {node: step.placeholder("x_t") for node in nodes[:1]}
    for i, node in enumerate(row_values):
        inputs[node] = step.placeholder(f"row_{i}")
    for i, node in enumerate(invariants):
        inputs[node] = step.placeholder(f"invariant_{i}")
    for node in nodes[1:]:
        if node.op == "placeholder":
            inputs[node] = step.placeholder(str(node.target))
    for node in nodes:
        if node in in_step and node not in inputs:
            inputs[node] = step.node_copy(node, inputs.__getitem__)
    dependence = masks(gm)
    calls = ("call_module", "call_function", "call_method")
    hoisted = tuple(
        dict.fromkeys(describe(gm, n) for n in nodes if n in wanted and n.op in calls and dependence[n] & X)
    )  # what runs per row (weight slicing is not news)
    return HoistPlan(fx.GraphModule(gm, pre), fx.GraphModule(gm, step), hoisted)
