"""``build_rnn``: a recurrent module from a cell name (or factory) and torch-style sizes.

Facade-level helper (layer 5): resolves names through a fresh registry.
"""

from __future__ import annotations

import functools
from typing import Any

from seqframe.errors import RecipeError, RecipeIssue
from seqframe.interfaces import CellFactory
from seqframe.plugins import load_plugin_manager
from seqframe.recipe.validate import option_problems
from seqframe.registry import Registry

__all__ = ["build_rnn", "cell_factory"]


def cell_factory(cell: str | CellFactory, registry: Registry | None = None, **options: Any) -> CellFactory:
    """Return ``factory(input_size, hidden_size)`` for a cell name or class plus options.

    Raises:
        UnknownComponentError / AmbiguousComponentError: for a bad name.
        RecipeError: for an option the cell does not accept.
    """
    if isinstance(cell, str):
        registry = registry or Registry.from_plugin_manager(load_plugin_manager())
        component = registry.get("cell", cell)
        factory, label = component.factory, component.name
    else:
        factory, label = cell, str(getattr(cell, "__name__", cell))
    problems = option_problems(factory, "cell", label, options) if options else []
    if problems:
        raise RecipeError([RecipeIssue(f"cell.{key}" if key else "cell", problem) for key, problem, _ in problems])
    return functools.partial(factory, **options) if options else factory


def build_rnn(
    cell: str | CellFactory = "lstm",
    *,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    compile: bool = False,
    registry: Registry | None = None,
    **cell_options: Any,
) -> Any:
    """Build a stacked (optionally bidirectional) RNN from any registered cell.

    Args:
        cell: a registered cell name (built-in or from an installed plugin, ``plugin:name``
            to disambiguate) or a cell class/factory.
        input_size: features of the input.
        hidden_size: the cells' size (features per direction, unless the cell projects its
            output: ``lstm`` with ``proj_size``).
        num_layers: stacked layers.
        bidirectional: add a backward direction per layer.
        dropout: dropout between layers.
        compile: run cells that torch's fused kernels do not cover in torch.compile'd
            chunks of steps (opt-in; compiled once per cell, mode and dtype).
        registry: resolve names here instead of a fresh registry of installed plugins.
        **cell_options: passed to the cell (e.g. ``nonlinearity="relu"`` for ``elman``).

    A cell given by name first passes the fast conformance subset with these sizes and
    options (:func:`seqframe.testing.preflight_cell`; cached per process).

    Returns:
        A :class:`~seqframe.builtin.topologies.StackedTopology`; call it as
        ``outputs, state = rnn(x, lengths=None, state=None)`` with ``x`` ``(B, T, F)``,
        ``outputs`` ``(B, T, D*output_size)`` and ``state`` a tuple of ``(L*D, B, width_i)``
        tensors, one per tensor of the cell's ``initial_state``.

    Raises:
        PluginError: a named cell failed the check (naming its plugin, the check and why).
        UnknownComponentError / AmbiguousComponentError: for a bad name.
        RecipeError: for an option the cell does not accept.

    Example:
        >>> rnn = build_rnn("gru", input_size=8, hidden_size=16, num_layers=2)
        >>> out, (h,) = rnn(torch.randn(4, 10, 8), lengths=[10, 7, 3, 1])
    """
    from seqframe.api.preflight import check_registered_cell, plugin_errors
    from seqframe.builtin.topologies import StackedTopology

    if not isinstance(cell, str):  # the caller's own class: nothing to look up or blame
        factory = cell_factory(cell, **cell_options)
        return StackedTopology(factory, input_size, hidden_size, num_layers, bidirectional, dropout, compile=compile)
    registry = registry or Registry.from_plugin_manager(load_plugin_manager())
    component = registry.get("cell", cell)
    factory = cell_factory(cell, registry, **cell_options)  # unknown options: a RecipeError
    check_registered_cell(component, input_size=input_size, hidden_size=hidden_size, options=cell_options)
    provenance = {
        "kind": "cell",
        "name": component.name,
        "plugin": component.plugin,
        "distribution": component.distribution,
        "version": component.version,
    }
    with plugin_errors({"cell": provenance}):
        return StackedTopology(factory, input_size, hidden_size, num_layers, bidirectional, dropout, compile=compile)
