"""Recipes: YAML (safe loader only) plus command-line overrides -> validated -> Pipeline.

Imports layers 0-1 and PyYAML."""

from seqframe.recipe.build import build_pipeline
from seqframe.recipe.load import Recipe, apply_overrides, load_recipe, parse_recipe
from seqframe.recipe.mapping import recipe_from_mapping
from seqframe.recipe.validate import validate

__all__ = [
    "Recipe",
    "apply_overrides",
    "build_pipeline",
    "load_recipe",
    "parse_recipe",
    "recipe_from_mapping",
    "validate",
]
