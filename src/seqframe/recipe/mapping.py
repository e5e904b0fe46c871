"""A recipe written as a Python mapping (``seqframe.run({...})``, ``seqframe.assemble(...)``)
-> :class:`Recipe`, through the same safe YAML path as a file, so a dict is held to
exactly what a file may contain. Imports layer 0 and PyYAML.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import yaml

from seqframe.errors import RecipeError, RecipeIssue
from seqframe.recipe.load import Recipe, _RecipeDumper, parse_recipe

__all__ = ["DICT_SOURCE", "recipe_from_mapping"]

DICT_SOURCE = "<string>"
"""The source of a recipe given as a mapping: no file, so relative paths resolve against the
current folder and no ``file:line`` is shown."""


def _plain(value: Any, path: str, issues: list[RecipeIssue]) -> Any:
    """``value`` as plain recipe data (mappings, lists, strings, numbers, booleans, None):
    tuples become lists and paths strings; anything else is an issue at ``path``."""
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                issues.append(RecipeIssue(path, f"keys must be strings, got {key!r}"))
                continue
            out[key] = _plain(item, f"{path}.{key}" if path else key, issues)
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{path}.{i}", issues) for i, item in enumerate(value)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, float) and not math.isfinite(value):
        return value  # the validator names the key and the field's range
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    issues.append(
        RecipeIssue(
            path,
            f"expected plain data (a mapping, list, string, number, boolean or None), got "
            f"{type(value).__name__} {value!r:.60}; a recipe names components, it does not "
            "hold objects (pass objects to seqframe.assemble instead)",
        )
    )
    return None


def recipe_from_mapping(data: Mapping[str, Any]) -> Recipe:
    """A :class:`Recipe` from a mapping of sections, checked as a recipe file is (safe YAML
    types, printable text, depth and size limits); the mapping is not changed.

    Raises:
        RecipeError: a value that is not plain data (names its dotted path), or what
            :func:`~seqframe.recipe.parse_recipe` refuses.
    """
    if not isinstance(data, Mapping):
        raise RecipeError([RecipeIssue("", f"a recipe must be a mapping of sections, got {type(data).__name__}")])
    issues: list[RecipeIssue] = []
    plain = _plain(data, "", issues)
    if issues:
        raise RecipeError(issues)
    text = yaml.dump(plain, Dumper=_RecipeDumper, sort_keys=False, allow_unicode=True)
    recipe = parse_recipe(text, DICT_SOURCE)
    return Recipe(recipe.data, DICT_SOURCE)  # no file: no line numbers to show
