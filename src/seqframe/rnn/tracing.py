"""Tracing a cell's step with torch.fx without leaving a trace on the cell, and the reasons
a step cannot be hoisted. Imports only layer 0, torch and :mod:`seqframe.rnn.attribution`.

- :func:`trace_step`: ``cell(x_t, (s_0, ..., s_n))`` traced with one placeholder per state
  tensor, so ``h, c = state`` and any arity trace;
- :func:`attributes_kept`: undoes what ``forward`` stores on the module while it is traced
  or checked;
- a ``torch.autograd.Function`` the step applies stays one call in the graph, so its own
  backward still runs (traced through, its forward's operations would be differentiated
  instead);
- :class:`NotHoistable`: why a step runs the plain loop, with the line of the cell's code
  to blame and what to change.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, fx, nn
from torch.utils._pytree import tree_leaves

from seqframe.interfaces import Cell
from seqframe.rnn.attribution import user_frame, where_raised

__all__ = ["OTHERWISE", "NotHoistable", "attributes_kept", "refuse_in_place", "trace_step"]

OTHERWISE = (
    "or declare the split yourself (project_input and step_projected); auto_hoist = False on "
    "the class keeps the plain loop without this notice"
)
"""The alternatives every notice ends with."""

_MODULE_DICTS = ("_parameters", "_buffers", "_modules")


class NotHoistable(Exception):
    """Why a cell's step is not hoisted; ``notice`` is False for "nothing to hoist"."""

    def __init__(self, reason: str, notice: bool = True) -> None:
        super().__init__(reason)
        self.notice = notice


class _Step(nn.Module):
    """``cell(x, (s_0, ..., s_n))`` with the state spread as arguments."""

    def __init__(self, cell: Cell) -> None:
        super().__init__()
        self.cell = cell

    def forward(self, *args: Tensor) -> Any:
        return self.cell(args[0], tuple(args[1:]))


def trace_step(cell: Cell, states: int) -> fx.GraphModule:
    """The step of ``cell`` as a graph with placeholders ``x_t`` and ``states`` state tensors.

    Raises:
        NotHoistable: the trace failed, or ``forward`` stored values on the module.
    """
    root = _Step(cell)
    tracer = fx.Tracer()
    tracer.record_stack_traces = True  # each node's stack: the cell's line in a notice
    try:
        with attributes_kept(cell) as changed, _functions_kept_whole():  # tracing leaves no trace on the cell
            # torch.fx exports PH without listing it in __all__, and Tracer.trace handles a tuple of
            # concrete_args (one per positional argument) though it annotates them as a dict
            graph = tracer.trace(root, concrete_args=(fx.PH,) * (1 + states))  # type: ignore[attr-defined, arg-type]
            gm = fx.GraphModule(root, graph)
    except Exception as exc:  # any tracing failure means: use the plain loop
        raise _untraceable(exc) from None
    if changed:  # a trace would freeze what forward reads back from these on later calls
        raise NotHoistable(
            f"its forward stores values on the module ({', '.join(changed)}); keep them in "
            f"the state instead, {OTHERWISE}"
        )
    return gm


@contextmanager
def _functions_kept_whole() -> Iterator[None]:
    """While tracing, ``SomeFunction.apply`` on traced values records one node calling it.

    torch.fx would otherwise run the Function's ``forward`` on its proxies and record those
    operations, and autograd would differentiate them: a custom backward (a straight-through
    estimator, a fused kernel's gradient) would silently be replaced.
    """
    original = torch.autograd.Function.__dict__["apply"]

    def apply(cls: type, *args: Any, **kwargs: Any) -> Any:
        call = original.__get__(None, cls)
        proxy = next((a for a in tree_leaves((args, kwargs)) if isinstance(a, fx.Proxy)), None)
        if proxy is None:
            return call(*args, **kwargs)

        def whole(*args: Any, **kwargs: Any) -> Any:  # a name of this module's, not torch's: fx
            return call(*args, **kwargs)  # would write torch.autograd.function.apply in the code

        whole.__name__ = whole.__qualname__ = f"{cls.__name__}_apply"
        return proxy.tracer.create_proxy("call_function", whole, args, kwargs)

    torch.autograd.Function.apply = classmethod(apply)  # type: ignore[assignment, method-assign]
    try:
        yield
    finally:
        torch.autograd.Function.apply = original  # type: ignore[method-assign]


def _untraceable(exc: Exception) -> NotHoistable:
    """Why tracing failed, at which line of the cell, and what to change."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    where = where_raised(exc.__traceback__)
    at = f" at {where}" if where else ""
    if isinstance(exc, fx.proxy.TraceError) and "control flow" in first:
        fix = "Python control flow (if/while/bool()) on a tensor value; use torch.where or arithmetic instead"
        return NotHoistable(f"torch.fx cannot trace its forward{at}: {fix}, {OTHERWISE}")
    return NotHoistable(
        f"torch.fx cannot trace its forward{at} ({type(exc).__name__}: {first}); make that line traceable, {OTHERWISE}"
    )


@contextmanager
def attributes_kept(cell: Cell) -> Iterator[list[str]]:
    """Undo attribute assignments made by ``cell.forward`` while it is traced or checked.

    A forward that stores something on the module (``self.last = h``) would otherwise keep
    a tracing proxy, or a value from the check's random inputs. Yields a list that holds,
    on exit, the names of the attributes that were assigned.
    """
    saved = [
        (m, dict(m.__dict__), {k: dict(v) for k, v in m.__dict__.items() if k in _MODULE_DICTS}) for m in cell.modules()
    ]
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


def refuse_in_place(gm: fx.GraphModule) -> None:
    """Raise :class:`NotHoistable` naming the first in-place operation of the step."""
    for node in gm.graph.nodes:
        name = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "")
        in_place = node.op in ("call_method", "call_function") and name.endswith("_") and not name.endswith("__")
        if node.op == "call_module" and getattr(gm.get_submodule(node.target), "inplace", False):
            in_place = True
        if in_place:
            where = _node_line(node)
            raise NotHoistable(
                f"it updates a tensor in place ({name or node.target}{' at ' + where if where else ''}); "
                f"use the out-of-place operation (x.tanh() for x.tanh_()), {OTHERWISE}"
            )


def _node_line(node: fx.Node) -> str:
    """``file:line`` in the cell's code that created ``node`` (from the trace's stack), or ``""``."""
    stack = node.meta.get("stack_trace") or node.stack_trace or ""
    frames = [traceback.FrameSummary(f, int(n), "") for f, n in re.findall(r'File "([^"]+)", line (\d+)', stack)]
    return user_frame(frames)
