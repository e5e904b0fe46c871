"""Validation that runs code: each component's constructor with the recipe's options, the
model's size against the device's memory, the optimizer (torch's own checks) and the device.

:func:`~seqframe.recipe.validate` calls these once a node's names, keys and annotated types
are right, so an option without a type annotation (``model.topology.cell.gate_bias: abc``)
is still a recipe error naming its key, found before anything is built or read. The
contract that makes this possible (see ``docs/plugins.md``): a component's constructor is
cheap, reads no data and allocates through torch, so it can be called at validation:
sized components (cells, topologies, heads) are built on torch's ``meta`` device, where no
memory is allocated, after their size has been checked against the device's memory.
``task.build_model`` needs a fitted tokenizer, so model keys are only bind-checked against
its signature (in :mod:`~seqframe.recipe.validate`). Imports layers 0-1 and torch.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch

from seqframe.devices import device_memory, device_problem
from seqframe.errors import DataError, RecipeIssue, SeqframeError
from seqframe.optim import optimizer_problems
from seqframe.recipe.load import Recipe
from seqframe.recipe.schema import split_node
from seqframe.registry import Component

__all__ = [
    "constructed",
    "error_text",
    "model_budget",
    "size_issue",
    "topology_issues",
    "topology_parameters",
    "train_code_issues",
]

_BYTES_PER_PARAMETER = 16
"""float32 weights, their gradients and Adam's two moments."""
_CPU_RETRY_PARAMETERS = 2**22
"""A sized component that fails on the meta device is retried on the CPU up to this size."""


def error_text(exc: BaseException) -> str:
    """An exception as one line: its first line, without C++ frames; an allocation failure
    says how much memory was asked for."""
    text = str(exc).strip()
    wanted = re.search(r"tried to allocate (\d+) bytes", text)
    if wanted:
        return f"not enough memory: building it tried to allocate {_gib(int(wanted.group(1)))}"
    first = text.splitlines()[0] if text else type(exc).__name__
    return re.sub(r"^\[enforce fail at [^\]]*\]\s*", "", first)


def _gib(size: int) -> str:
    return f"{size / 2**30:,.1f} GiB"


def _call(build: Callable[[dict[str, Any]], Any], options: dict[str, Any], meta: bool) -> Any:
    with warnings.catch_warnings():  # the real build shows them once
        warnings.simplefilter("ignore")
        if not meta:
            return build(options)
        with torch.device("meta"):
            return build(options)


def _builds(build: Callable[[dict[str, Any]], Any], options: dict[str, Any], meta: bool) -> bool:
    try:
        _call(build, options, meta)
    except Exception:
        return False
    return True


def constructed(
    recipe: Recipe,
    path: str,
    component: Component,
    build: Callable[[dict[str, Any]], Any],
    options: Mapping[str, Any],
    *,
    parameters: int | None = None,
) -> tuple[Any, list[RecipeIssue]]:
    """Call ``build(options)`` (a component's constructor with the recipe's options) and turn
    what it raises into a recipe issue: at ``path.<option>`` for the option without which it
    builds (left out one at a time), else at ``path``.

    ``parameters``: the component is sized by the recipe (about that many weights), so it is
    built on the meta device, where nothing is allocated; if the meta device itself is what
    fails, a small component is retried for real on the CPU and a large one is left to the
    build (which reports what fails).
    """
    options, meta = dict(options), parameters is not None
    try:
        return _call(build, options, meta), []
    except SeqframeError as exc:
        if isinstance(exc, DataError) and component.kind == "dataset":
            return None, []  # whether the data exists is checked when it is read, not by validate
        text = str(exc)
    except (ValueError, TypeError, OverflowError) as exc:
        text = error_text(exc)
    except Exception as exc:  # a constructor that cannot run on the meta device, or a plugin's bug
        if meta:
            small = parameters is not None and parameters <= _CPU_RETRY_PARAMETERS
            return constructed(recipe, path, component, build, options) if small else (None, [])
        where = (
            f"{component.kind} {component.name!r} (plugin {component.plugin!r}, "
            f"{component.distribution} {component.version})"
        )
        text = f"{where} failed to build with these options: raised {type(exc).__name__}: {error_text(exc)}"
    text = text.rstrip(":")
    culprits = [k for k in options if _builds(build, {o: v for o, v in options.items() if o != k}, meta)]
    if not culprits:
        return None, [recipe.issue(path, text)]
    return None, [
        recipe.issue(f"{path}.{key}", text if repr(options[key]) in text else f"{text}; got {options[key]!r}")
        for key in culprits
    ]


def topology_parameters(input_size: int, hidden_size: int, num_layers: int, directions: int, gates: int = 1) -> int:
    """Weights of a stacked recurrent topology whose cells have ``gates`` gates (at least one
    ``hidden x (input + hidden)`` matrix and bias per gate): a lower bound for any cell."""
    first = directions * gates * hidden_size * (input_size + hidden_size + 2)
    rest = directions * gates * hidden_size * (directions * hidden_size + hidden_size + 2)
    return first + (num_layers - 1) * rest


def model_budget(device: str) -> tuple[int | None, str]:
    """``(most parameters that fit, device description)`` for training on ``device``."""
    name = device if device_problem(device) is None else "auto"
    memory = device_memory(name)
    described = f"{'this machine' if name in ('auto', 'cpu') else name} ({_gib(memory)})" if memory else name
    return (None if memory is None else memory // _BYTES_PER_PARAMETER), described


def size_issue(recipe: Recipe, path: str, parameters: int, device: str, fix: str) -> list[RecipeIssue]:
    """An issue when ``parameters`` weights (with gradients and optimizer state) cannot fit
    in the memory of ``device``."""
    budget, described = model_budget(device)
    if budget is None or parameters <= budget:
        return []
    need = _gib(parameters * _BYTES_PER_PARAMETER)
    return [
        recipe.issue(
            path,
            f"the model would have at least {parameters:,} parameters, which with their "
            f"gradients and optimizer state need {need}; {described} cannot hold them; {fix}",
        )
    ]


def cell_factory(component: Component, options: Mapping[str, Any]) -> Callable[..., Any]:
    """The factory a topology calls as ``cell(input_size, hidden_size)``."""
    return functools.partial(component.factory, **options)


def topology_issues(
    recipe: Recipe, path: str, topology: Any, component: Component, cell: Component, input_size: int, device: str
) -> list[RecipeIssue]:
    """A well-typed topology node (``model.topology`` or ``model.decoder``) and its cell:
    size first (nothing sized by the recipe is built before it fits), then the cell on its
    own (its options' errors name ``<path>.cell``), then the whole topology, whose exact
    weights are counted."""
    options = split_node(topology)[1]
    cell_options = split_node(options.pop("cell", "lstm"))[1]

    def build(kw: dict[str, Any]) -> Any:
        return component.factory(cell=cell_factory(cell, cell_options), input_size=input_size, **kw)

    hidden = options.get("hidden_size")
    if not isinstance(hidden, int) or isinstance(hidden, bool):
        return constructed(recipe, path, component, build, options)[1]
    layers = options.get("num_layers", 1)
    directions = 2 if options.get("bidirectional") is True or component.name == "bidirectional" else 1
    fix = f"lower {path}.hidden_size or {path}.num_layers, or model.embedding_dim"
    estimate = topology_parameters(input_size, hidden, layers if isinstance(layers, int) else 1, directions)
    if issues := size_issue(recipe, path, estimate, device, fix):
        return issues
    _, issues = constructed(
        recipe,
        f"{path}.cell",
        cell,
        lambda kw: cell.factory(input_size, hidden, **kw),
        cell_options,
        parameters=topology_parameters(input_size, hidden, 1, 1),
    )
    if issues:
        return issues
    built, issues = constructed(recipe, path, component, build, options, parameters=estimate)
    if built is None or issues:
        return issues
    exact = sum(p.numel() for p in built.parameters()) if isinstance(built, torch.nn.Module) else 0
    return size_issue(recipe, path, exact, device, fix)


def train_code_issues(
    recipe: Recipe, train: Mapping[str, Any], *, device: bool = True, optimizer: bool = True
) -> list[RecipeIssue]:
    """``train.device`` exists here; ``train.optimizer`` builds (torch's own checks). Each
    is checked only when its fields are well typed (``device``, ``optimizer``)."""
    issues = []
    if device and (problem := device_problem(train.get("device", "auto"))) is not None:
        issues.append(recipe.issue("train.device", problem))
    if optimizer:
        for key, problem in optimizer_problems(train.get("optimizer", {"name": "adam"})):
            issues.append(recipe.issue(f"train.optimizer.{key}" if key else "train.optimizer", problem))
    return issues
