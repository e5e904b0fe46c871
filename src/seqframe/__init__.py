"""seqframe: a plugin-based recurrent sequence-modelling framework on PyTorch.

Public surface: the plugin marker :data:`hookimpl`, the :class:`Cell` and :class:`Task` base
classes and interfaces, :func:`build_rnn`, the :class:`Pipeline` and the functions of :mod:`seqframe.api`,
and the error types. Importing seqframe loads no plugin, reads no file and touches no GPU.
"""

from __future__ import annotations

__version__ = "0.1.0"

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
from seqframe.rnn_builder import build_rnn
from seqframe.pipeline import Pipeline, TrainConfig, SampleConfig
from seqframe.api import assemble, build, inspect, load_recipe, load_run, predict, run, sweep, train

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
