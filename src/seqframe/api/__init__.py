"""The public Python API: everything the command line does, as functions.

Two styles: from a recipe (:func:`load_recipe`, :func:`build`, :func:`run`,
:func:`load_run`, :func:`predict`) and from objects (:func:`assemble`, :func:`train`).
Facade layer: may import every lower layer.
"""

from __future__ import annotations

from seqframe.api.assemble import assemble
from seqframe.api.average import average
from seqframe.api.checks import check_plugin
from seqframe.api.diagnostics import RecurrenceDiagnostics
from seqframe.api.export import export
from seqframe.api.inference import evaluate, load_run, predict
from seqframe.api.inspection import InspectReport, inspect
from seqframe.api.plugins import plugin_report, registry, version_report
from seqframe.api.recipes import RECIPES_DIR, build, copy_recipe, load_recipe, shipped_recipes, validate
from seqframe.api.runtime import load_exported
from seqframe.api.sweep import sweep
from seqframe.api.sweep_results import SweepResult
from seqframe.api.training import RunResult, launch, run, save_run, train

__all__ = [
    "RECIPES_DIR",
    "InspectReport",
    "RecurrenceDiagnostics",
    "RunResult",
    "SweepResult",
    "assemble",
    "average",
    "build",
    "check_plugin",
    "copy_recipe",
    "evaluate",
    "export",
    "inspect",
    "launch",
    "load_exported",
    "load_recipe",
    "load_run",
    "plugin_report",
    "predict",
    "registry",
    "run",
    "save_run",
    "shipped_recipes",
    "sweep",
    "train",
    "validate",
    "version_report",
]
