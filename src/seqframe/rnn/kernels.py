"""Which torch kernel runs a cell, with which weights: :func:`kernel_of`.

Built-in cells declare it (``fused_mode``) and hold torch's own parameters. A cell written
by hand may compute exactly what torch's LSTM or tanh/relu RNN step computes: after
hoisting (:mod:`seqframe.rnn.hoist`) its input part is then one linear map of ``x_t``
(``W_ih``, ``b``) and its per-step part reads the state through one matrix (``W_hh^T``).
For such a cell the runtime *tries* torch's kernel with those weights, taken as expressions
of the cell's own parameters so that gradients reach them, on the random batch the
hoisting check uses (shrinking batches, non-zero states); if the kernel reproduces the
cell's plain loop (outputs and final states), the cell runs the kernel as a built-in one
does. Nothing is matched by name: the check decides.

A random sample only proves equality for functions it can probe, so only a per-step part
built from the operations of those steps is tried: products, sums, ``sigmoid``, ``tanh``,
``relu``, chunks of the gates, and nothing else (no parameter, buffer or submodule read
inside the step, whose value training could change after the check; no random operation,
which the check could not see; no threshold such as ``clamp`` that a small sample may never
reach; no use of ``x_t`` beyond its hoisted linear map). Agreement of such a composition
with torch's step at random points is agreement as functions, so gradients agree too. The
decision is kept in the cell's runtime record.

Imports only layer 0, torch and the runtime's hoisting modules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor, fx
from torch.nn import functional as F

from seqframe.interfaces import Cell, overrides_input_projection, state_layout
from seqframe.rnn.hoist import fingerprint, hoist_plan, hoist_plans
from seqframe.rnn.plan import HoistPlan
from seqframe.rnn.rewrites import ancestors
from seqframe.rnn.runtime import runtime_of
from seqframe.rnn.steps import time_loop
from seqframe.rnn.tracing import attributes_kept
from seqframe.rnn.verify import Sample, preserved

__all__ = ["Kernel", "kernel_of", "kernels_of"]

_LINEAR = (F.linear, torch._C._nn.linear)
_STEP_OPERATIONS = frozenset(
    {"add", "mul", "addmm", "mm", "matmul", "sigmoid", "tanh", "relu", "chunk", "split", "unbind", "getitem"}
)
"""What the per-step part of a recognized cell may call (see the module docstring)."""
_VF_KERNELS: Mapping[str, Callable[..., Any]] = MappingProxyType(
    {"LSTM": torch._VF.lstm, "RNN_TANH": torch._VF.rnn_tanh, "RNN_RELU": torch._VF.rnn_relu}
)


@dataclass(frozen=True)
class Kernel:
    """A torch kernel for a cell: its mode, its weight layout, and how to get the weights.

    Attributes:
        mode: ``"LSTM"``, ``"GRU"``, ``"RNN_TANH"`` or ``"RNN_RELU"``.
        bias: whether the weights include ``b_ih, b_hh``.
        projection: whether they end with an LSTM's ``W_hr``.
        weights: returns ``[W_ih, W_hh, (b_ih, b_hh), (W_hr)]``, torch's order, each call
            (expressions of the cell's parameters, so gradients reach them).
        recognized: True for a hand-written cell found equal to the kernel.
    """

    mode: str
    bias: bool
    projection: bool
    weights: Callable[[], list[Tensor]]
    recognized: bool = False


def kernels_of(cells: list[Cell]) -> list[Kernel | None]:
    """:func:`kernel_of` of several cells (a stack's): plans made together, so a cell that
    cannot be hoisted gets one notice per class and reason."""
    hoist_plans([c for c in cells if c.fused_mode is None and c.auto_hoist and not overrides_input_projection(c)])
    return [kernel_of(cell) for cell in cells]


def kernel_of(cell: Cell) -> Kernel | None:
    """The kernel that runs ``cell``: declared by a built-in cell, or recognized (see the
    module docstring), or None."""
    mode = cell.fused_mode
    if mode is not None:
        params = cell._parameters  # direct: nn.Module.__getattr__ costs more than the rest of this
        bias, projection = params.get("bias_ih") is not None, params.get("weight_hr") is not None
        return Kernel(mode, bias, projection, lambda: _own_weights(params))  # type: ignore[arg-type]
    if not cell.auto_hoist or overrides_input_projection(cell):
        return None
    runtime = runtime_of(cell)
    key = fingerprint(cell)
    if runtime.kernel is None or runtime.kernel[0] != key:
        plan = hoist_plan(cell)
        runtime.kernel = (key, _recognize(cell, plan) if plan is not None else None)
    return runtime.kernel[1]


def _own_weights(params: dict[str, Tensor | None]) -> list[Tensor]:
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
    return [params[name] for name in names if params.get(name) is not None]  # type: ignore[misc]


def _recognize(cell: Cell, plan: HoistPlan) -> Kernel | None:
    """Try torch's kernels for ``cell``'s hoisted ``plan``; the one that reproduces its loop."""
    found = _weight_graph(plan)
    if found is None or not _probeable(plan.step):
        return None
    weights_of, bias = found
    widths = state_layout(cell)
    with torch.no_grad():
        shape = weights_of()[0].shape
    gates, rest = divmod(shape[0], cell.hidden_size)
    if rest or cell.output_size != cell.hidden_size:
        return None
    modes = {4: ["LSTM"], 1: ["RNN_TANH", "RNN_RELU"]}.get(gates, [])
    expected_widths = {"LSTM": (cell.hidden_size, cell.hidden_size)}
    for mode in modes:
        if widths == expected_widths.get(mode, (cell.hidden_size,)) and _reproduces(cell, mode, weights_of, bias):
            return Kernel(mode, bias, False, _with_zero_bias(weights_of) if bias else weights_of, recognized=True)
    return None


def _weight_graph(plan: HoistPlan) -> tuple[Callable[[], list[Tensor]], bool] | None:
    """``() -> [W_ih, W_hh, (b)]`` from a plan whose input part is ``linear(x_t, W_ih, b)``
    and whose invariant part is ``W_hh.t()``, and whether there is a bias; else None."""
    nodes = list(plan.pre.graph.nodes)
    rows, invariants = nodes[-1].args[0]
    if len(rows) != 1 or len(invariants) != 1:
        return None
    linear, transposed = rows[0], invariants[0]
    if not (
        linear.op == "call_function"
        and linear.target in _LINEAR
        and linear.args[0] is nodes[0]
        and transposed.op == "call_function"
        and transposed.target is torch.t
    ):
        return None
    args = [*linear.args[1:], *(linear.kwargs.get(k) for k in ("weight", "bias")[len(linear.args) - 1 :])]
    weight, bias = (args + [None])[:2]
    wanted = [weight, transposed.args[0]] + ([bias] if bias is not None else [])
    if not all(isinstance(node, fx.Node) for node in wanted) or nodes[0] in ancestors(wanted):
        return None  # a weight that depends on x_t is no weight
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    needed = ancestors(wanted)
    for node in nodes:
        if node in needed:
            env[node] = graph.node_copy(node, env.__getitem__)
    graph.output([env[node] for node in wanted])
    module = fx.GraphModule(plan.pre, graph)
    return (lambda: [w.contiguous() for w in module()]), bias is not None


def _probeable(step: fx.GraphModule) -> bool:
    """Whether ``step`` only combines its inputs with :data:`_STEP_OPERATIONS` and does not
    read ``x_t`` (its first input) itself."""
    nodes = list(step.graph.nodes)
    if nodes[0].users:
        return False
    for node in nodes:
        if node.op in ("placeholder", "output"):
            continue
        name = node.target if node.op == "call_method" else getattr(node.target, "__name__", None)
        if node.op not in ("call_function", "call_method") or name not in _STEP_OPERATIONS:
            return False
    return True


def _with_zero_bias(weights_of: Callable[[], list[Tensor]]) -> Callable[[], list[Tensor]]:
    """``[W_ih, W_hh, b]`` as torch's ``[W_ih, W_hh, b_ih=b, b_hh=0]``."""

    def weights() -> list[Tensor]:
        w_ih, w_hh, b = weights_of()
        return [w_ih, w_hh, b, torch.zeros_like(b)]

    return weights


def _reproduces(cell: Cell, mode: str, weights_of: Callable[[], list[Tensor]], bias: bool) -> bool:
    """Whether ``mode``'s packed kernel with these weights gives the cell's plain loop on the
    hoisting check's random batch."""
    sample = Sample(cell)
    sizes = sample.batch_sizes
    try:
        with torch.no_grad(), attributes_kept(cell), preserved(cell):
            plain = time_loop(
                lambda inp, s: cell.forward(inp[0], s), ((t,) for t in sample.x.split(sizes)), sizes, sample.state
            )
            weights = (_with_zero_bias(weights_of) if bias else weights_of)()
            hx = tuple(s.unsqueeze(0) for s in sample.state)
            result = _VF_KERNELS[mode](
                sample.x, torch.tensor(sizes), hx if mode == "LSTM" else hx[0], weights, bias, 1, 0.0, False, False
            )
    except Exception:
        return False
    rtol, atol = (1e-4, 1e-5) if sample.x.dtype in (torch.float32, torch.float64) else (2e-2, 2e-2)
    got = (result[0], tuple(s.squeeze(0) for s in result[1:]))
    pairs = [(plain[0], got[0]), *zip(plain[1], got[1])]
    return all(a.shape == b.shape and torch.allclose(a, b, rtol=rtol, atol=atol) for a, b in pairs)
