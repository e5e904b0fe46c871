"""Registries and tiny trained runs shared by the export, runtime and serving tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from seqframe.plugins import PluginInfo, load_plugin_manager
from seqframe.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
for folder in (ROOT / "tests", Path(__file__).parent):  # the test modules import export_support
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from export_support import NATURAL  # noqa: E402


@pytest.fixture(scope="session")
def export_registry() -> Registry:
    """Built-ins, the indrnn and regression plugins, and the natural cells (``projected``:
    ``(h, c)`` of widths H/2 and H), each named as an installed plugin would be."""
    from seqframe_indrnn import plugin as indrnn
    from seqframe_regression import plugin as regression

    pm = load_plugin_manager(entry_points=False)
    pm.add_plugin(indrnn, PluginInfo("indrnn", indrnn.__name__, "seqframe-indrnn", "0.1.0"))
    pm.add_plugin(regression, PluginInfo("regression", regression.__name__, "seqframe-regression", "0.1.0"))
    pm.add_plugin(NATURAL, PluginInfo("natural", "natural_cells", "seqframe-natural", "0.3.0"))
    return Registry.from_plugin_manager(pm)
