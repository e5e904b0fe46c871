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

from seqframe.version import __version__ as __version__

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

__all__ = list(_HOME) + ["__version__"]


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


if TYPE_CHECKING:  # the same names for type checkers, re-exported explicitly ("X as X")
    from seqframe.api import assemble as assemble
    from seqframe.api import build as build
    from seqframe.api import inspect as inspect
    from seqframe.api import load_recipe as load_recipe
    from seqframe.api import load_run as load_run
    from seqframe.api import predict as predict
    from seqframe.api import run as run
    from seqframe.api import sweep as sweep
    from seqframe.api import train as train
    from seqframe.errors import AmbiguousComponentError as AmbiguousComponentError
    from seqframe.errors import CheckpointError as CheckpointError
    from seqframe.errors import DataError as DataError
    from seqframe.errors import PluginError as PluginError
    from seqframe.errors import PluginLoadError as PluginLoadError
    from seqframe.errors import RecipeError as RecipeError
    from seqframe.errors import SeqframeError as SeqframeError
    from seqframe.errors import UnknownComponentError as UnknownComponentError
    from seqframe.hookspecs import hookimpl as hookimpl
    from seqframe.interfaces import Cell as Cell
    from seqframe.interfaces import State as State
    from seqframe.interfaces import Task as Task
    from seqframe.pipeline import Pipeline as Pipeline
    from seqframe.pipeline import SampleConfig as SampleConfig
    from seqframe.pipeline import TrainConfig as TrainConfig
    from seqframe.rnn_builder import build_rnn as build_rnn
