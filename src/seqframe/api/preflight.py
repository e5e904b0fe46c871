"""Cells checked before anything trains, and errors inside cells blamed on their plugin.

:func:`check_recipe_cells` runs the fast conformance subset
(:func:`seqframe.testing.preflight_cell`) on every cell a recipe names, before any data is
read (and :func:`check_registered_cell` on a cell ``build_rnn`` names); :func:`plugin_errors` turns a :class:`~seqframe.interfaces.CellError` raised while
training into a :class:`~seqframe.errors.PluginError` naming the plugin's distribution.
Facade layer.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

import torch

from seqframe.engine import resolve_device
from seqframe.errors import PluginError, RecipeError
from seqframe.interfaces import CellError
from seqframe.pipeline import Pipeline
from seqframe.recipe import Recipe, build_pipeline, validate
from seqframe.recipe.schema import MODEL_FIELDS, named, split_node
from seqframe.registry import Component, Registry
from seqframe.testing import CheckResult, preflight_cell

__all__ = [
    "build_checked",
    "check_recipe_cells",
    "check_registered_cell",
    "plugin_errors",
    "provider",
]

_TOPOLOGIES = ("model.topology", "model.decoder")


def provider(component: Component | Mapping[str, str]) -> str:
    """``cell 'mycell' (plugin 'mycell', seqframe-mycell 0.1.0)``: a component and who provides it."""
    get = component.get if isinstance(component, Mapping) else functools.partial(getattr, component)
    return f"{get('kind', 'cell')} {get('name')!r} (plugin {get('plugin')!r}, {get('distribution')} {get('version')})"


def _failure(component: Component, result: CheckResult, where: str = "") -> PluginError:
    fix = f"run 'seqframe plugins check {component.qualified_name}' to see every check"
    return PluginError(
        f"{where}{provider(component)} failed the check before training, {result.name}: {result.reason}; {fix}"
    )


def check_registered_cell(
    component: Component,
    *,
    input_size: int,
    hidden_size: int,
    options: Mapping[str, Any] | None = None,
    device: torch.device | str = "cpu",
    where: str = "",
) -> None:
    """Run the fast subset on a registered cell with these sizes and options.

    Raises:
        PluginError: naming the plugin distribution and version, the cell, the failed
            check and its reason (expected vs got).
        ValueError, TypeError: the cell's constructor rejected the options (as it would
            when the model is built; callers report them as option errors).
    """
    result = preflight_cell(
        component.factory, input_size=input_size, hidden_size=hidden_size, options=options, device=device
    )
    if result is None:
        return
    if result.name == "construction" and isinstance(result.error, (ValueError, TypeError)):
        raise result.error  # the options are wrong, not the plugin
    raise _failure(component, result, where) from result.error


def _node(data: Mapping[str, Any], path: str) -> Any:
    node: Any = data
    for key in path.split("."):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def _sizes(registry: Registry, topology: Any, model: Mapping[str, Any]) -> tuple[int, int]:
    """``(input_size, hidden_size)`` the topology will ask its cells for, as far as the recipe says."""
    name = topology if isinstance(topology, str) else topology.get("name", "stacked")
    hidden = None if isinstance(topology, str) else topology.get("hidden_size")
    if hidden is None:
        try:
            default = inspect.signature(registry.get("topology", name).factory).parameters["hidden_size"].default
        except (KeyError, TypeError, ValueError):
            default = inspect.Parameter.empty
        hidden = 16 if default is inspect.Parameter.empty else default
    return int(model.get("embedding_dim", MODEL_FIELDS["embedding_dim"].default)), int(hidden)


def check_recipe_cells(
    recipe: Recipe, registry: Registry, device: torch.device | str = "cpu"
) -> dict[str, dict[str, str]]:
    """Check every cell the recipe names (``model.topology.cell``, ``model.decoder.cell``)
    with the recipe's options and sizes; call after the recipe validated, before data.

    Returns:
        The provenance of each cell by recipe path, as ``Pipeline.components`` holds it.

    Raises:
        PluginError: a cell failed a check (the message starts with the recipe location).
        RecipeError: the cell's constructor rejected the recipe's options.
    """
    model = recipe.data.get("model") or {}
    provenance = {}
    for path in _TOPOLOGIES:
        topology = _node(recipe.data, path)
        if topology is None:
            continue
        cell = "lstm" if isinstance(topology, str) else named(topology.get("cell", "lstm"), "lstm")
        name, options = split_node(cell)
        component = registry.get("cell", cast(str, name))  # validated: the node names its cell
        provenance[f"{path}.cell"] = {
            "kind": "cell",
            "name": component.name,
            "plugin": component.plugin,
            "distribution": component.distribution,
            "version": component.version,
        }
        input_size, hidden_size = _sizes(registry, topology, model)
        where = recipe.where(f"{path}.cell")
        try:
            check_registered_cell(
                component,
                input_size=input_size,
                hidden_size=hidden_size,
                options=options,
                device=device,
                where=f"{where}: {path}.cell: " if where else f"{path}.cell: ",
            )
        except (ValueError, TypeError) as exc:
            raise RecipeError([recipe.issue(f"{path}.cell", str(exc))]) from exc
    return provenance


def build_checked(
    recipe: Recipe, registry: Registry, *, given: Mapping[str, Any] | None = None, **options: Any
) -> Pipeline:
    """:func:`~seqframe.recipe.build_pipeline` after the recipe validated and its cells
    passed the check before training; a cell failing while the model is built is blamed
    on its plugin. ``given``: components built already, by recipe path; ``options`` go to
    ``build_pipeline``."""
    validate(recipe, registry, given=given)
    cells = check_recipe_cells(recipe, registry, _device(recipe))
    with plugin_errors(cells, registry):
        return build_pipeline(recipe, registry, given=given, **options)


def _device(recipe: Recipe) -> torch.device:
    """Where the recipe trains (CPU when its device setting cannot be resolved here)."""
    try:
        return resolve_device(str((recipe.data.get("train") or {}).get("device", "auto")))
    except (ValueError, RuntimeError):
        return torch.device("cpu")


@contextmanager
def plugin_errors(components: Mapping[str, Mapping[str, str]], registry: Registry | None = None) -> Iterator[None]:
    """Re-raise a :class:`CellError` from training as a :class:`PluginError` naming the plugin.

    Args:
        components: provenance by recipe path (``Pipeline.components``); the cell entries
            (``model.topology.cell``, ``model.decoder.cell``) name the plugins.
        registry: where to find the cells' factories, to tell an encoder's cell from a
            decoder's; without it the first cell entry is blamed.
    """
    try:
        yield
    except CellError as exc:
        cells = [p for path, p in components.items() if path.endswith(".cell")]
        if not cells:
            raise
        blamed = next((p for p in cells if registry is not None and _builds(registry, p, exc.cell_type)), cells[0])
        raise PluginError(f"{provider(blamed)} failed while training: {exc}") from exc


def _builds(registry: Registry, provenance: Mapping[str, str], cell_type: Any) -> bool:
    try:
        factory = registry.get("cell", f"{provenance['plugin']}:{provenance['name']}").factory
    except Exception:  # not resolvable any more: cannot tell
        return False
    return factory is cell_type or (
        isinstance(cell_type, type) and isinstance(factory, type) and issubclass(cell_type, factory)
    )
