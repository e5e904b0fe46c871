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
import os
import sys
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

import torch

from seqframe.engine import resolve_device
from seqframe.errors import PluginError, RecipeError, SeqframeError
from seqframe.interfaces import CellError
from seqframe.pipeline import Pipeline
from seqframe.recipe import Recipe, build_pipeline, validate
from seqframe.recipe.schema import MODEL_FIELDS, named, split_node
from seqframe.registry import Component, Registry
from seqframe.rnn.attribution import user_frame
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
    """Re-raise a :class:`CellError` from training as a :class:`PluginError` naming the plugin;
    so too an error raised in a third-party cell's code outside its forward step (its
    backward pass above all: an ``autograd.Function`` of the plugin's), found by the file of
    the innermost frame outside torch and the standard library.

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
    except SeqframeError:
        raise
    except Exception as exc:
        frames = traceback.extract_tb(exc.__traceback__)
        where = user_frame(frames)
        culprit = _raised_in_cell(where, [p for path, p in components.items() if path.endswith(".cell")], registry)
        if culprit is None:
            raise
        doing = " in backward" if any(f.name == "_engine_run_backward" for f in frames) else ""
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise PluginError(
            f"{provider(culprit)} failed while training: {type(exc).__name__}{doing} at {where}: {first}"
        ) from exc


def _raised_in_cell(where: str, cells: list[Mapping[str, str]], registry: Registry | None) -> Mapping[str, str] | None:
    """The third-party cell whose package (or module) holds ``where`` (``file:line``), or None."""
    if not where or registry is None:
        return None
    raised = os.path.realpath(where.rsplit(":", 1)[0])
    for provenance in cells:
        if provenance.get("plugin", "").startswith("builtin."):
            continue  # a built-in's error is seqframe's own: it keeps its traceback
        try:
            factory = registry.get("cell", f"{provenance['plugin']}:{provenance['name']}").factory
        except Exception:  # not resolvable any more: cannot tell
            continue
        root = _code_root(factory)
        if root is not None and (raised == root or raised.startswith(root + os.sep)):
            return provenance
    return None


def _code_root(factory: Any) -> str | None:
    """Where a factory's code lives: its top-level package's folder, or its module's file."""
    while isinstance(factory, functools.partial):
        factory = factory.func
    module = sys.modules.get(getattr(factory, "__module__", None) or "")
    top = sys.modules.get(module.__name__.partition(".")[0]) if module is not None else None
    file = getattr(top, "__file__", None)
    if not isinstance(file, str):
        return None
    path = os.path.realpath(file)
    return os.path.dirname(path) if os.path.basename(path) == "__init__.py" else path


def _builds(registry: Registry, provenance: Mapping[str, str], cell_type: Any) -> bool:
    try:
        factory = registry.get("cell", f"{provenance['plugin']}:{provenance['name']}").factory
    except Exception:  # not resolvable any more: cannot tell
        return False
    return factory is cell_type or (
        isinstance(cell_type, type) and isinstance(factory, type) and issubclass(cell_type, factory)
    )
