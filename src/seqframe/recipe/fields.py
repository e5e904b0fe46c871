"""Checks of one recipe node against a fixed table of fields or a factory's annotations:
the pieces every section's validation shares. Imports layers 0-1.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from seqframe.errors import RecipeIssue, suggest
from seqframe.recipe.load import Recipe
from seqframe.recipe.schema import Field, annotation_types, check_value

__all__ = ["check_fields", "option_problem", "unknown_keys"]


def unknown_keys(recipe: Recipe, path: str, node: Mapping[str, Any], known: list[str], what: str) -> list[RecipeIssue]:
    """One issue per key of ``node`` not in ``known`` (with a close match when there is one)."""
    issues = []
    for key in node:
        if key not in known:
            close = suggest(key, known, cutoff=0.7)
            hint = f"; did you mean {close!r}?" if close else ""
            issues.append(
                recipe.issue(
                    f"{path}.{key}" if path else key,
                    f"unknown key {key!r} in {what}{hint} (accepted: {', '.join(known)})",
                    close,
                )
            )
    return issues


def check_fields(
    recipe: Recipe, path: str, node: Any, fields: Mapping[str, Field], what: str, extra: list[str] = ()
) -> list[RecipeIssue]:  # type: ignore[assignment]
    """``node`` is a mapping whose keys are ``fields`` (or ``extra``) and whose values fit them."""
    if not isinstance(node, dict):
        return [recipe.issue(path, f"expected a mapping for {what}, got {type(node).__name__} {node!r}")]
    issues = unknown_keys(recipe, path, node, [*fields, *extra], what)
    for key, spec in fields.items():
        if key in node and (problem := check_value(node[key], spec)):
            issues.append(recipe.issue(f"{path}.{key}", problem))
    return issues


def option_problem(factory: Any, param: inspect.Parameter, key: str, value: Any) -> str | None:
    """What the annotation of ``key`` says is wrong with ``value`` (an infinite value is
    accepted where the default is infinite)."""
    types_ = annotation_types(factory, key)
    if not types_:
        return None
    problem = check_value(value, Field(types_, None, ""))
    if problem and isinstance(value, float) and isinstance(param.default, float) and value == param.default:
        return None
    return problem
