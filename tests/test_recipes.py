"""Every shipped recipe validates against the installed plugins, builds, and trains a few
steps at tiny sizes."""

from __future__ import annotations

from pathlib import Path

import pytest

import seqframe
from seqframe.api import RECIPES_DIR
from seqframe.plugins import load_plugin_manager
from seqframe.recipe import validate
from seqframe.registry import Registry

RECIPES = sorted(RECIPES_DIR.glob("*.yaml"))
TINY = [
    "model.topology.hidden_size=8",
    "model.embedding_dim=4",
    "model.decoder.hidden_size=8",
    "task.seq_len=8",
    "task.eval_decode=4",
    "train.batch_size=2",
    "train.steps=2",
    "train.eval_every=0",
    "train.sample.max_tokens=3",
    "data.size=32",
    "data.valid_size=8",
    "data.test_size=8",
]
NEEDS_USER_FILES = {
    "multi30k",
    "shakespeare",
}  # data the user supplies; tests/test_translate_recipe.py runs it when present


def _tiny(recipe: seqframe.recipe.Recipe) -> list[str]:
    """The TINY overrides that fit ``recipe``: ``train.*`` settings, and other keys only
    where the recipe sets them (each task has its own keys)."""

    def sets(path: str) -> bool:
        node: object = recipe.data
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    keys = [override.split("=", 1)[0] for override in TINY]
    return [o for o, k in zip(TINY, keys) if sets(k) or (k.startswith("train.") and k.count(".") == 1)]


@pytest.fixture(scope="module")
def installed() -> Registry:
    """Built-ins plus installed plugins (the README's install command installs plugins/*)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("SEQFRAME_DISABLE_PLUGIN_AUTOLOAD", raising=False)
        return Registry.from_plugin_manager(load_plugin_manager())


def test_recipes_folder_is_the_packaged_one() -> None:
    top = Path(__file__).resolve().parents[1] / "recipes"
    assert sorted(p.name for p in top.glob("*.yaml")) == [p.name for p in RECIPES]


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_shipped_recipe_validates(path: Path, installed: Registry) -> None:
    validate(seqframe.load_recipe(path), installed)


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_shipped_recipe_describes_itself(path: Path) -> None:
    assert path.read_text().startswith("# ") and seqframe.api.shipped_recipes()[path.stem]


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_shipped_recipe_trains_two_tiny_steps(path: Path, installed: Registry, tmp_path: Path) -> None:
    if path.stem in NEEDS_USER_FILES:
        pytest.skip(f"{path.name} reads files the user supplies")
    tiny = _tiny(seqframe.load_recipe(path))
    result = seqframe.run(path, tiny, out_dir=tmp_path / "run", progress=False, registry=installed)
    assert result.step == 2 and result.final_eval is not None
