"""seqframe: a plugin-based recurrent sequence-modelling framework on PyTorch.

Public surface: the plugin marker :data:`hookimpl`, the :class:`Cell` and :class:`Task` base
classes and interfaces, :func:`build_rnn`, the :class:`Pipeline` and the functions of :mod:`seqframe.api`,
and the error types. Importing seqframe loads no plugin, reads no file and touches no GPU;
it does not even import torch: each name is imported when first used (PEP 562), so the
command line can answer Ctrl-C quietly however early it comes, and a plugin's
``from seqframe import hookimpl`` imports pluggy alone.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from seqframe.version import __version__

_EXPORTS = {
    "seqframe.errors": (
        "AmbiguousComponentError",
        "CheckpointError",
        "DataError",
        "PluginError",
        "PluginLoadError",
        "RecipeError",
        "SeqframeError",
        "UnknownComponentError",
    ),
    "seqframe.hookspecs": ("hookimpl",),
    "seqframe.interfaces": ("Cell", "State", "Task"),
    "seqframe.rnn_builder": ("build_rnn",),
    "seqframe.pipeline": ("Pipeline", "TrainConfig", "SampleConfig"),
    "seqframe.api": ("assemble", "build", "inspect", "load_recipe", "load_run", "predict", "run", "sweep", "train"),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "AmbiguousComponentError",
    "Cell",
    "Pipeline",
    "SampleConfig",
    "TrainConfig",
    "assemble",
    "build",
    "inspect",
    "load_recipe",
    "load_run",
    "predict",
    "run",
    "sweep",
    "train",
    "CheckpointError",
    "DataError",
    "PluginError",
    "PluginLoadError",
    "RecipeError",
    "SeqframeError",
    "State",
    "Task",
    "UnknownComponentError",
    "__version__",
    "build_rnn",
    "hookimpl",
]


def __getattr__(name: str) -> Any:
    """Import a public name (or a subpackage such as ``seqframe.api``) on first use."""
    if name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
        globals()[name] = value
        return value
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:
    from seqframe.api import assemble, build, load_recipe, load_run, predict, run, train
    from seqframe.errors import (
        AmbiguousComponentError,
        CheckpointError,
        DataError,
        PluginError,
        PluginLoadError,
        RecipeError,
        SeqframeError,
        UnknownComponentError,
    )
    from seqframe.hookspecs import hookimpl
    from seqframe.interfaces import Cell, State, Task
    from seqframe.pipeline import Pipeline, SampleConfig, TrainConfig
    from seqframe.rnn_builder import build_rnn
