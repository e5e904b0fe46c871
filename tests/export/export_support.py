"""Helpers of the export tests: the natural plugin cells and tiny trained runs."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import seqframe
from seqframe.registry import Registry
from test_recipes import _tiny

ROOT = Path(__file__).resolve().parents[2]
REGRESSION = ROOT / "plugins" / "seqframe-regression" / "recipes" / "spelled-numbers.yaml"
REGRESSION_TINY = [
    "data.max_number=120",
    "data.valid_size=10",
    "data.test_size=10",
    "model.embedding_dim=4",
    "model.topology.hidden_size=8",
    "train.batch_size=8",
    "train.eval_every=0",
]


def _module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NATURAL = _module("export_natural_cells", ROOT / "tests" / "plugins_samples" / "natural_cells.py")
"""Plugin cells written naturally; ``ProjectedCell`` has ``(h, c)`` of widths H/2 and H."""


def tiny_run(out: Path, recipe: str, overrides: list[str], registry: Registry, steps: int = 8) -> Path:
    """Train the shipped ``recipe`` (or the regression plugin's, for ``text_regression``) at
    tiny sizes for ``steps`` steps into ``out``."""
    if recipe == "text_regression":
        source, tiny = REGRESSION, REGRESSION_TINY
    else:
        source, tiny = recipe, _tiny(seqframe.load_recipe(recipe))
    seqframe.run(source, [*tiny, *overrides, f"train.steps={steps}"], out_dir=out, progress=False, registry=registry)
    return out
