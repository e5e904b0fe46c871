"""Automatic input hoisting for cells that define only ``forward(x_t, state)``.

The first time a cell runs in a mode (training or eval), its step is traced once with
torch.fx and cut in three parts:

- the *input part*: what depends on ``x_t`` and parameters but not on the state (typically
  ``W_ih x_t + b``). It runs once, over the rows of all time steps together, as one batched
  call before the loop; its results are cut per step with one ``split`` (never per-step
  indexing, which makes the backward quadratic in length).
- the *invariant part*: what depends on parameters only (``W.t()``, a slice of a weight),
  run once per unroll.
- the *recurrent part*: the rest, run once per step.

The step is traced with one placeholder per state tensor, as many as ``initial_state``
returns, so ``h, c = state`` and any arity trace. Two rewrites
(:mod:`seqframe.rnn.rewrites`) let more of the step be hoisted: a linear layer over
``cat([h, x_t])`` becomes one linear map per side; and ``input_part + linear(h)`` becomes
one ``addmm`` with the bias folded into the input part.

A split is used only after it is checked: on random inputs with shrinking batches, the
hoisted loop must reproduce the plain loop's outputs and final states (both run with the
same random seed and without gradients; the global random state and the cell's buffers are
restored afterwards; dropout modules, elementwise and so safe to hoist, are checked in eval
mode). A cell that cannot be traced (Python control flow on tensor values,
...), that updates tensors in place, or that fails the check runs the plain loop, with a
one-line :class:`SlowPathWarning` saying why, at which line of the cell's code when one is
to blame, and what to change (once per cell class and reason). A cell opts
out with the class attribute ``auto_hoist = False``.
"""

from __future__ import annotations

import re
import traceback
import warnings
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from seqframe.interfaces import Cell, State, overrides_input_projection, state_layout
from seqframe.rnn.attribution import user_frame, where_raised
from seqframe.rnn.rewrites import S, X, describe, fold_additions, masks, meta, split_concatenations
from seqframe.rnn.steps import time_loop

__all__ = ["HoistPlan", "SlowPathWarning", "describe_path", "forget", "hoist_plan"]

_SAMPLE_LENGTHS = (5, 5, 3, 2)  # verification batch: 4, 4, 3, 2, 2 rows per step


class SlowPathWarning(UserWarning):
    """A cell runs the plain per-step loop because its step could not be hoisted."""


class _NotHoistable(Exception):
    """Why a cell's step is not hoisted; ``notice`` is False for "nothing to hoist"."""

    def __init__(self, reason: str, notice: bool = True) -> None:
        super().__init__(reason)
        self.notice = notice


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


class _Step(nn.Module):
    """``cell(x, (s_0, ..., s_n))`` with the state spread as arguments, traced with one
    placeholder per state tensor (any arity: the count comes from ``initial_state``)."""

    def __init__(self, cell: Cell) -> None:
        super().__init__()
        self.cell = cell

    def forward(self, *args: Tensor) -> Any:
        return self.cell(args[0], tuple(args[1:]))


_PLANS: weakref.WeakKeyDictionary[Cell, tuple[Any, HoistPlan | None, str]] = weakref.WeakKeyDictionary()
_NOTIFIED: set[tuple[type, str]] = set()


def _fingerprint(cell: Cell) -> tuple[Any, ...]:
    """Identity of everything a trace captures: mode, submodules, parameters, buffers."""
    return (cell.training, *map(id, cell.modules()), *map(id, cell.parameters()), *map(id, cell.buffers()))


def hoist_plan(cell: Cell) -> HoistPlan | None:
    """The hoisting plan of ``cell`` in its current mode, or None to run the plain loop.

    Traced and checked on first use per mode; cached while the cell's submodules,
    parameters and buffers stay the same objects (call :func:`forget` after changing
    anything else a trace bakes in, such as a Python attribute read by ``forward``).
    """
    if not cell.auto_hoist:
        return None
    key = _fingerprint(cell)
    cached = _PLANS.get(cell)
    if cached is not None and cached[0] == key:
        return cached[1]
    plan: HoistPlan | None
    reason = ""
    try:
        plan = _build(cell)
    except _NotHoistable as exc:
        plan, reason = None, str(exc)
        if exc.notice:
            _notify(cell, reason)
    _PLANS[cell] = (key, plan, reason)
    return plan


def describe_path(cell: Cell) -> str:
    """One line saying how the runtime runs ``cell``'s time loop, and why."""
    fused = cell.fused_mode
    if fused is not None:
        return (f"torch's fused {fused} kernel (its weights are in torch's layout); on CPU, variable-length "
                "batches with gradients run the shrinking-batch loop with its declared input projection instead")
    if overrides_input_projection(cell):
        return ("declared input projection hoisted out of the time loop (the cell defines project_input and "
                "step_projected)")
    if not cell.auto_hoist:
        return "plain per-step loop (the cell sets auto_hoist = False)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SlowPathWarning)
        plan = hoist_plan(cell)
    if plan is not None:
        return (f"input part traced from forward and hoisted out of the time loop (checked against the plain "
                f"loop): {', '.join(plan.hoisted)}")
    return f"plain per-step loop: {_PLANS[cell][2]}"


def forget(cell: Cell) -> None:
    """Drop ``cell``'s cached plan, so that the next run traces it again."""
    _PLANS.pop(cell, None)


def _notify(cell: Cell, reason: str) -> None:
    name = type(cell).__name__
    if (type(cell), reason) in _NOTIFIED:
        return
    _NOTIFIED.add((type(cell), reason))
    warnings.warn(f"cell {name} runs the plain per-step loop, without input hoisting: {reason}",
                  SlowPathWarning, stacklevel=2)


_OTHERWISE = ("or declare the split yourself (project_input and step_projected); auto_hoist = False on "
              "the class keeps the plain loop without this notice")


def _build(cell: Cell) -> HoistPlan:
    sample = _Sample(cell)
    root = _Step(cell)
    tracer = fx.Tracer()
    tracer.record_stack_traces = True  # each node's stack: the cell's line in a notice
    try:
        with _attributes_kept(cell) as changed:  # tracing and checking must leave no trace on the cell
            gm = fx.GraphModule(root, tracer.trace(root, concrete_args=(fx.PH,) * (1 + len(sample.state))))
    except Exception as exc:  # any tracing failure means: use the plain loop
        raise _untraceable(exc) from None
    if changed:  # a trace would freeze what forward reads back from these on later calls
        raise _NotHoistable(f"its forward stores values on the module ({', '.join(changed)}); keep them in "
                            f"the state instead, {_OTHERWISE}")
    _refuse_in_place(gm)
    with _attributes_kept(cell):
        _propagate(gm, sample)
    for rewrite in (split_concatenations, fold_additions):
        if rewrite(gm):
            with _attributes_kept(cell):
                _propagate(gm, sample)
    plan = _split(gm, rows=len(_SAMPLE_LENGTHS))
    with _attributes_kept(cell):
        _verify(cell, plan, sample)
    return plan


def _untraceable(exc: Exception) -> _NotHoistable:
    """Why tracing failed, at which line of the cell, and what to change."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    where = where_raised(exc.__traceback__)
    at = f" at {where}" if where else ""
    if isinstance(exc, fx.proxy.TraceError) and "control flow" in first:
        fix = "Python control flow (if/while/bool()) on a tensor value; use torch.where or arithmetic instead"
        return _NotHoistable(f"torch.fx cannot trace its forward{at}: {fix}, {_OTHERWISE}")
    return _NotHoistable(f"torch.fx cannot trace its forward{at} ({type(exc).__name__}: {first}); make that "
                         f"line traceable, {_OTHERWISE}")


@contextmanager
def _attributes_kept(cell: Cell) -> Iterator[list[str]]:
    """Undo attribute assignments made by ``cell.forward`` while it is traced or checked.

    A forward that stores something on the module (``self.last = h``) would otherwise keep
    a tracing proxy, or a value from the check's random inputs. Yields a list that holds,
    on exit, the names of the attributes that were assigned.
    """
    saved = [(m, dict(m.__dict__), {k: dict(v) for k, v in m.__dict__.items() if k in _MODULE_DICTS})
             for m in cell.modules()]
    changed: list[str] = []
    try:
        yield changed
    finally:
        for (name, module), (_, attributes, tables) in zip(cell.named_modules(), saved):
            now = {**module.__dict__, **{k: v for t in _MODULE_DICTS for k, v in module.__dict__[t].items()}}
            before = {**attributes, **{k: v for t in tables.values() for k, v in t.items()}}
            changed += [f"{name}.{k}" if name else k for k in now if k not in before or now[k] is not before[k]]
        for module, attributes, tables in saved:
            module.__dict__.clear()
            module.__dict__.update(attributes)
            for name, table in tables.items():
                attributes[name].clear()
                attributes[name].update(table)


_MODULE_DICTS = ("_parameters", "_buffers", "_modules")


def _refuse_in_place(gm: fx.GraphModule) -> None:
    for node in gm.graph.nodes:
        name = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "")
        in_place = node.op in ("call_method", "call_function") and name.endswith("_") and not name.endswith("__")
        if node.op == "call_module" and getattr(gm.get_submodule(node.target), "inplace", False):
            in_place = True
        if in_place:
            where = _node_line(node)
            raise _NotHoistable(f"it updates a tensor in place ({name or node.target}{' at ' + where if where else ''}); "
                                f"use the out-of-place operation (x.tanh() for x.tanh_()), {_OTHERWISE}")


def _node_line(node: fx.Node) -> str:
    """``file:line`` in the cell's code that created ``node`` (from the trace's stack), or ``""``."""
    stack = node.meta.get("stack_trace") or node.stack_trace or ""
    frames = [traceback.FrameSummary(f, int(n), "") for f, n in re.findall(r'File "([^"]+)", line (\d+)', stack)]
    return user_frame(frames)


@dataclass
class _Sample:
    """Random packed inputs for shape propagation and verification."""

    x: Tensor
    state: State
    batch_sizes: list[int]

    def __init__(self, cell: Cell) -> None:
        param = next(cell.parameters(), None)
        kind = {"device": param.device, "dtype": param.dtype} if param is not None else {}
        if param is not None and not param.dtype.is_floating_point:
            kind["dtype"] = torch.float32
        steps = max(_SAMPLE_LENGTHS)
        self.batch_sizes = [sum(1 for n in _SAMPLE_LENGTHS if n > t) for t in range(steps)]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1234)
            self.x = torch.randn(sum(self.batch_sizes), cell.input_size).to(**kind)
            self.state = tuple(0.5 * torch.randn(len(_SAMPLE_LENGTHS), width).to(**kind)
                               for width in state_layout(cell, **kind))


def _propagate(gm: fx.GraphModule, sample: _Sample) -> None:
    rows = sample.batch_sizes[0]
    try:
        with torch.no_grad(), _preserved(gm):
            ShapeProp(gm).propagate(sample.x[:rows], *sample.state)
    except Exception as exc:
        raise _NotHoistable(f"its traced step fails on a sample input ({type(exc).__name__}: {exc})") from None


def _split(gm: fx.GraphModule, rows: int) -> HoistPlan:
    """Cut the traced step into the input/invariant part and the per-step part."""
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
    if not any(n.op.startswith("call_") for n in row_values):
        raise _NotHoistable("nothing in its step depends on x_t alone", notice=False)
    order = {node: i for i, node in enumerate(nodes)}
    row_values.sort(key=order.__getitem__)
    invariants.sort(key=order.__getitem__)

    pre = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    wanted = _ancestors(row_values + invariants)
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
    calls = ("call_module", "call_function", "call_method")
    hoisted = tuple(dict.fromkeys(describe(gm, n) for n in nodes if n in wanted and n.op in calls
                                  and dependence[n] & X))  # what runs per row (weight slicing is not news)
    return HoistPlan(fx.GraphModule(gm, pre), fx.GraphModule(gm, step), hoisted)


def _ancestors(roots: list[fx.Node]) -> set[fx.Node]:
    seen: set[fx.Node] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(node.all_input_nodes)
    return seen


@contextmanager
def _preserved(module: nn.Module) -> Iterator[None]:
    """Restore ``module``'s buffers (e.g. running statistics) and the random state on exit."""
    buffers = [(b, b.detach().clone()) for b in module.buffers()]
    devices = sorted({b.device.index or 0 for b in module.buffers() if b.device.type == "cuda"})
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)


def _verify(cell: Cell, plan: HoistPlan, sample: _Sample) -> None:
    """Check the hoisted loop against the plain loop on ``sample``."""
    sizes = sample.batch_sizes
    for module in cell.modules():  # elementwise, so hoistable, but its draws differ by batch shape
        if isinstance(module, nn.modules.dropout._DropoutNd):
            module.training = False  # restored by the caller (_attributes_kept)
    try:
        with torch.no_grad(), _preserved(cell):
            torch.manual_seed(0)
            plain = time_loop(lambda inp, s: cell.forward(inp[0], s), ((t,) for t in sample.x.split(sizes)),
                              sizes, sample.state)
            torch.manual_seed(0)
            steps, call = plan.prepare(sample.x, sizes)
            hoisted = time_loop(call, steps, sizes, sample.state)
    except Exception as exc:
        raise _NotHoistable(f"its hoisted step fails on a sample input ({type(exc).__name__}: {exc})") from None
    tolerance = {"rtol": 1e-4, "atol": 1e-5} if sample.x.dtype in (torch.float32, torch.float64) else {
        "rtol": 2e-2, "atol": 2e-2}
    pairs = [(plain[0], hoisted[0]), *zip(plain[1], hoisted[1])]
    if not all(a.shape == b.shape and torch.allclose(a, b, equal_nan=True, **tolerance) for a, b in pairs):
        raise _NotHoistable("computing its input part for all steps at once changes the results (an operation "
                            "across the batch, or random numbers drawn outside a dropout module)")
