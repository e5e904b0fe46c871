"""Recipes, for scripts: load, validate, build, and the shipped ones."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from seqframe.api.plugins import default_registry
from seqframe.api.preflight import build_checked
from seqframe.engine import write_atomic
from seqframe.errors import CheckpointError, RecipeError, RecipeIssue, suggest
from seqframe.pipeline import Pipeline
from seqframe.recipe import Recipe, apply_overrides, recipe_from_mapping
from seqframe.recipe import load_recipe as _load_recipe_file
from seqframe.registry import Registry

__all__ = ["RECIPES_DIR", "RecipeLike", "build", "copy_recipe", "load_recipe", "shipped_recipes", "validate"]

RecipeLike = Recipe | str | Path | Mapping[str, Any]
"""What every function that takes a recipe accepts: a :class:`Recipe`, a file path, a
shipped recipe's name (``"lm"``), or the recipe as a mapping of sections."""

RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"


def validate(
    recipe: RecipeLike, overrides: Sequence[str] = (), *, registry: Registry | None = None, processes: int = 1
) -> Recipe:
    """Load (if needed) and check a recipe (object, path, shipped name or mapping) without
    building anything; returns it resolved.

    ``processes``: how many processes will train it together (``train.batch_size`` must be
    at least that).

    Raises:
        RecipeError: every problem at once, each with dotted path and ``file:line``.
    """
    from seqframe.recipe import validate as _validate

    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, overrides)
    elif overrides:
        recipe = apply_overrides(recipe, overrides)
    _validate(recipe, registry or default_registry(), processes=processes)
    return recipe


def shipped_recipes() -> dict[str, str]:
    """Shipped recipe names -> their first comment line (the description)."""
    out = {}
    for path in sorted(RECIPES_DIR.glob("*.yaml")):
        first = path.read_text(encoding="utf-8").splitlines()[0] if path.stat().st_size else ""
        out[path.stem] = first.lstrip("# ").strip()
    return out


def copy_recipe(name: str, dest: str | Path, *, overwrite: bool = False) -> Path:
    """Copy a shipped recipe to ``dest`` (a file, or a folder to copy ``<name>.yaml`` into).
    The copy is written atomically; with ``overwrite`` an existing file (or a symbolic link,
    which is replaced, never followed) gives way to it.

    Raises:
        RecipeError: unknown recipe name (with a suggestion).
        CheckpointError: the destination exists (a broken symbolic link too) and
            ``overwrite`` is false, or it cannot be written (named, with the reason).
    """
    names = shipped_recipes()
    if name not in names:
        close = suggest(name, list(names))
        hint = f"; did you mean {close!r}?" if close else ""
        raise RecipeError([RecipeIssue("", f"no shipped recipe {name!r}{hint} (shipped: {', '.join(names)})")])
    target = Path(dest)
    if target.is_dir():
        target = target / f"{name}.yaml"
    if (target.exists() or target.is_symlink()) and not overwrite:
        link = " (a symbolic link)" if target.is_symlink() else ""
        raise CheckpointError(f"{target}: already exists{link}; choose another destination or pass --overwrite")
    write_atomic(target, (RECIPES_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    return target


def load_recipe(recipe: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()) -> Recipe:
    """Load a recipe file, a shipped recipe by name (``lm``), or a recipe written as a
    mapping (``{"task": "language_modelling", ...}``, held to what a file may contain), and
    apply overrides.

    Raises:
        RecipeError: missing file (with the shipped names), invalid YAML, a mapping value that
            is not plain data, or a bad override.
    """
    if isinstance(recipe, Mapping):
        return apply_overrides(recipe_from_mapping(recipe), overrides)
    path = Path(recipe)
    if not path.exists() and isinstance(recipe, str) and "/" not in recipe and not recipe.endswith((".yaml", ".yml")):
        path = RECIPES_DIR / f"{recipe}.yaml"
    if not path.exists():
        names = list(shipped_recipes())
        close = suggest(Path(str(recipe)).stem, names)
        hint = f"; did you mean {close!r}?" if close else ""
        raise RecipeError(
            [
                RecipeIssue(
                    "",
                    f"no recipe file here and no shipped recipe of that name{hint} (shipped: {', '.join(names)})",
                    str(recipe),
                    close,
                )
            ]
        )
    return _load_recipe_file(path, overrides)


def build(recipe: RecipeLike, overrides: Sequence[str] = (), *, registry: Registry | None = None) -> Pipeline:
    """Build a :class:`Pipeline` from a recipe (object, path, shipped name or mapping)."""
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, overrides)
    elif overrides:
        recipe = apply_overrides(recipe, overrides)
    return build_checked(recipe, registry or default_registry())  # cells checked before data is read
