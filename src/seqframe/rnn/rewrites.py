"""Rewrites of a traced cell step that let more of it be hoisted, what each node depends
on, and which nodes a value is computed from. Imports only torch.

- :func:`split_concatenations`: a linear layer over ``cat([h, x_t])`` becomes one linear map
  per side, so the input side can run for all steps at once;
- :func:`fold_additions`: ``input_part + linear(state)`` becomes one ``addmm`` with the bias
  folded into the input part (into its own linear layer's bias when it is one).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import Any, cast

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import TensorMetadata
from torch.nn import functional as F

__all__ = ["S", "X", "ancestors", "describe", "fold_additions", "masks", "meta", "split_concatenations"]

X, S = 1, 2  # dependence bits: on the input x_t, on the state
_LINEAR_FNS = (F.linear, torch._C._nn.linear)
_ADD_FNS = (operator.add, torch.add)


def meta(node: Any) -> TensorMetadata | None:
    """The shape and dtype shape propagation recorded on ``node``, if any."""
    found = node.meta.get("tensor_meta") if isinstance(node, fx.Node) else None
    return found if isinstance(found, TensorMetadata) else None


def masks(gm: fx.GraphModule) -> dict[fx.Node, int]:
    """Each node's dependence bits: :data:`X` (on ``x_t``, the first placeholder), :data:`S`
    (on the state, the other placeholders), both, or neither (parameters only)."""
    found: dict[fx.Node, int] = {}
    for node in gm.graph.nodes:
        if node.op == "placeholder":  # the first is x_t, the others the state tensors
            found[node] = S if found else X
        else:
            found[node] = 0
            for parent in node.all_input_nodes:
                found[node] |= found[parent]
    return found


def ancestors(roots: Iterable[fx.Node]) -> set[fx.Node]:
    """``roots`` and every node they are computed from."""
    seen: set[fx.Node] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(node.all_input_nodes)
    return seen


def _as_linear(gm: fx.GraphModule, node: fx.Node) -> tuple[fx.Node, fx.Node, fx.Node | None] | None:
    """``(input, weight, bias)`` nodes of a linear layer call, inserting get_attr nodes."""
    if node.op == "call_module":
        module = gm.get_submodule(cast(str, node.target))  # a call_module target is its path
        if type(module) is not nn.Linear or len(node.args) != 1 or node.kwargs:
            return None
        with gm.graph.inserting_before(node):
            weight = gm.graph.get_attr(f"{node.target}.weight")
            bias = gm.graph.get_attr(f"{node.target}.bias") if module.bias is not None else None
        return node.args[0], weight, bias  # type: ignore[return-value]
    if node.op == "call_function" and node.target in _LINEAR_FNS:
        args = [*node.args, *(node.kwargs.get(k) for k in ("weight", "bias")[len(node.args) - 1 :])]
        inp, w, b = (args + [None])[:3]
        if isinstance(inp, fx.Node) and isinstance(w, fx.Node) and (b is None or isinstance(b, fx.Node)):
            return inp, w, b
    return None


def split_concatenations(gm: fx.GraphModule) -> bool:
    """Turn ``linear(cat([h, x]))`` into ``linear(x, W_x, b) + linear(h, W_h)``."""
    changed = False
    dependence = masks(gm)
    graph = gm.graph
    for node in list(graph.nodes):
        if node.op not in ("call_module", "call_function") or not node.users:
            continue
        cat = node.args[0] if node.args else None
        if not (isinstance(cat, fx.Node) and cat.target is torch.cat and dependence[cat] & S and dependence[cat] & X):
            continue
        parts, dim = cat.args[0], cat.args[1] if len(cat.args) > 1 else cat.kwargs.get("dim", 0)
        if not isinstance(parts, (list, tuple)):
            continue
        metas = [meta(p) for p in parts]
        if dim not in (1, -1) or any(m is None or len(m.shape) != 2 for m in metas):
            continue
        linear = _as_linear(gm, node)
        if linear is None:
            continue
        _, weight, bias = linear
        sides: dict[bool, tuple[list[fx.Node], list[tuple[int, int]]]] = {True: ([], []), False: ([], [])}
        offset = 0
        for part, part_meta in zip(parts, metas):
            width = part_meta.shape[1]  # type: ignore[union-attr]
            side = sides[bool(dependence[part] & S)]
            side[0].append(part)
            side[1].append((offset, width))
            offset += width
        with graph.inserting_before(node):
            maps = {}
            for recurrent, (side_parts, spans) in sides.items():
                pieces = [graph.call_function(torch.narrow, (weight, 1, start, width)) for start, width in spans]
                w = pieces[0] if len(pieces) == 1 else graph.call_function(torch.cat, (pieces, 1))
                inp = side_parts[0] if len(side_parts) == 1 else graph.call_function(torch.cat, (side_parts, 1))
                maps[recurrent] = (inp, w)
            x_part = graph.call_function(F.linear, (*maps[False], bias))
            x_part.meta["hoisted_as"] = (
                describe(gm, node).removesuffix(")") + ", input columns" + (")" if node.op == "call_module" else "")
            )
            s_part = graph.call_function(F.linear, maps[True])
            node.replace_all_uses_with(graph.call_function(operator.add, (x_part, s_part)))
        changed = True
    return _tidy(gm) if changed else False


def fold_additions(gm: fx.GraphModule) -> bool:
    """Turn ``input_part + linear(state)`` into ``addmm(input_part + b, state, W.t())``."""
    changed = False
    dependence = masks(gm)
    graph = gm.graph
    for node in list(graph.nodes):
        if not (node.op == "call_function" and node.target in _ADD_FNS and len(node.args) == 2 and not node.kwargs):
            continue
        for other, lin in (node.args, node.args[::-1]):
            if not (isinstance(lin, fx.Node) and isinstance(other, fx.Node) and len(lin.users) == 1):
                continue
            if not dependence.get(lin, 0) & S or dependence.get(other, 0) & S:
                continue
            m_lin, m_other = meta(lin), meta(other)
            if m_lin is None or m_other is None or len(m_lin.shape) != 2 or m_lin.shape != m_other.shape:
                continue
            linear = _as_linear(gm, lin)
            if linear is None:
                continue
            inp, weight, bias = linear
            with graph.inserting_before(node):
                base = other if bias is None else _plus_bias(gm, other, bias)
                transposed = graph.call_function(torch.t, (weight,))
                node.replace_all_uses_with(graph.call_function(torch.addmm, (base, inp, transposed)))
            changed = True
            break
    return _tidy(gm) if changed else False


def _plus_bias(gm: fx.GraphModule, node: fx.Node, bias: fx.Node) -> fx.Node:
    """``node + bias``; a linear layer used only there takes the bias into its own, so the
    addition is over the bias vector, not over every row of the input part."""
    graph = gm.graph
    linear = _as_linear(gm, node) if len(node.users) == 1 else None
    if linear is None:
        return graph.call_function(operator.add, (node, bias))
    inp, weight, own = linear
    total = bias if own is None else graph.call_function(operator.add, (own, bias))
    folded = graph.call_function(F.linear, (inp, weight, total))
    folded.meta["hoisted_as"] = describe(gm, node)
    return folded


def _tidy(gm: fx.GraphModule) -> bool:
    gm.graph.eliminate_dead_code()
    gm.graph.lint()
    gm.recompile()
    return True


def describe(gm: fx.GraphModule, node: fx.Node) -> str:
    """A readable name for what ``node`` computes: ``ih (Linear)``, ``linear``, ``add``."""
    if "hoisted_as" in node.meta:
        return str(node.meta["hoisted_as"])
    if node.op == "call_module":
        return f"{str(node.target).removeprefix('cell.')} ({type(gm.get_submodule(cast(str, node.target))).__name__})"
    return str(node.target) if node.op == "call_method" else getattr(node.target, "__name__", str(node.target))
