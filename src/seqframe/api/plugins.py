"""Plugins and components, for scripts: a fresh registry and a report of what is installed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seqframe.plugins import load_plugin_manager
from seqframe.registry import Registry
from seqframe.runs import versions

__all__ = ["default_registry", "plugin_report", "registry", "version_report"]


def registry(*, entry_points: bool = True, blocked: Sequence[str] = ()) -> Registry:
    """A fresh registry of the built-ins and installed plugins."""
    return Registry.from_plugin_manager(load_plugin_manager(entry_points=entry_points, blocked=blocked))


default_registry = registry
"""The same function under a name that parameters called ``registry`` do not shadow."""


def plugin_report() -> dict[str, Any]:
    """Plugins (name, module, distribution, version, status, hooks, error), every component
    (kind, name, qualified name, provider, summary), name clashes and failures, as plain data."""
    pm = load_plugin_manager()
    reg = Registry.from_plugin_manager(pm)
    plugins = [
        {
            "name": i.name,
            "module": i.module,
            "distribution": i.distribution,
            "version": i.version,
            "status": i.status,
            "hooks": i.hooks,
            "error": i.error,
        }
        for i in pm.infos.values()
    ]
    components = [
        {
            "kind": c.kind,
            "name": c.name,
            "qualified_name": c.qualified_name,
            "plugin": c.plugin,
            "distribution": c.distribution,
            "version": c.version,
            "summary": c.summary,
        }
        for c in reg.components()
    ]
    clashes = [[c.qualified_name for c in group] for group in reg.clashes()]
    return {"plugins": plugins, "components": components, "clashes": clashes, "failures": reg.failures}


def version_report() -> dict[str, Any]:
    """seqframe's version and where it is imported from, torch's (and its CUDA build),
    Python's, and each loaded plugin's distribution and version (``seqframe --version -v``)."""
    import torch

    pm = load_plugin_manager()
    return {
        **versions(),
        "location": str(Path(__file__).resolve().parents[1]),
        "cuda": torch.version.cuda,
        "plugins": [
            {"name": i.name, "distribution": i.distribution, "version": i.version, "status": i.status}
            for i in pm.infos.values()
        ],
    }
