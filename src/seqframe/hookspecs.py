"""Every pluggy hook seqframe defines, and the markers plugins use. Nothing else.

The project name, the marker prefix and the entry-point group are all ``seqframe``. Each
hook takes no argument and returns a mapping from component name (``[a-z][a-z0-9_]*``) to
a factory; built-in components register through these same hooks. No hook is
``firstresult``: every provider is kept, and the registry reports clashes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pluggy

__all__ = ["HOOK_KINDS", "PROJECT", "hookimpl", "hookspec"]

PROJECT = "seqframe"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Factory = Callable[..., Any]


@hookspec
def seqframe_cells() -> Mapping[str, Factory]:
    """Return the recurrent cells this plugin provides, keyed by name.

    Each value is a :class:`seqframe.Cell` subclass (or factory) called as
    ``factory(input_size, hidden_size, **options)``; the options are what a recipe writes
    beside the cell's ``name``.
    """


@hookspec
def seqframe_topologies() -> Mapping[str, Factory]:
    """Return the topologies (wirings of cells over time and depth) this plugin provides.

    Each value is called as ``factory(cell, input_size=..., hidden_size=..., **options)``
    where ``cell`` is a cell factory taking ``(input_size, hidden_size)``; the result
    follows :class:`seqframe.interfaces.Topology`.
    """


@hookspec
def seqframe_heads() -> Mapping[str, Factory]:
    """Return the output heads this plugin provides.

    Each value is called as ``factory(in_features, num_outputs, **options)`` and returns
    an ``nn.Module`` mapping ``(..., in_features)`` to logits ``(..., num_outputs)``.
    """


@hookspec
def seqframe_tasks() -> Mapping[str, Factory]:
    """Return the tasks (problem shapes) this plugin provides.

    Each value is a :class:`seqframe.Task` subclass, called with the recipe's ``task``
    options (the recipe builder reads its flags and ``build_model`` signature first).
    """


@hookspec
def seqframe_tokenizers() -> Mapping[str, Factory]:
    """Return the tokenizers this plugin provides.

    Each value is called with the recipe's ``tokenizer`` options and returns an object
    following :class:`seqframe.interfaces.Tokenizer`.
    """


@hookspec
def seqframe_datasets() -> Mapping[str, Factory]:
    """Return the data sources this plugin provides.

    Each value is called with the recipe's ``data`` options and returns a
    :class:`seqframe.interfaces.TextSource` (and, for tasks that read examples, an
    ``ExampleSource``, ``TargetSource`` or ``FeatureSource``).
    """


@hookspec
def seqframe_loggers() -> Mapping[str, Factory]:
    """Return the experiment loggers this plugin provides (``train.loggers`` in a recipe).

    Each value is called as ``factory(log_dir, **options)`` with ``log_dir`` the run's
    ``logs/<name>/`` folder and the recipe's options, and returns a
    :class:`seqframe.interfaces.Logger` (a training callback that also receives the final
    text sample and is closed at the end). Only rank 0 logs.
    """


HOOK_KINDS: Mapping[str, str] = {
    "seqframe_cells": "cell",
    "seqframe_topologies": "topology",
    "seqframe_heads": "head",
    "seqframe_tasks": "task",
    "seqframe_tokenizers": "tokenizer",
    "seqframe_datasets": "dataset",
    "seqframe_loggers": "logger",
}
"""Hook name -> the component kind it provides."""
