"""Optimizers by recipe name, and the checks that turn a bad optimizer option into a recipe
error instead of a torch traceback at step 1.

Layer 0 (torch and the stdlib only), so that recipe validation (layer 3) and the trainer
(layer 4) share one table: ``validate`` accepts exactly the options the trainer can build.
Options are checked against the optimizer's own signature, then by torch's own constructor
(which raises ``ValueError`` for out-of-range values) and one step on a one-element
parameter, so every documented range of torch applies without being copied here.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from seqframe.errors import RecipeError, RecipeIssue, suggest, unknown_key

__all__ = ["OPTIMIZERS", "build_optimizer", "non_finite", "optimizer_options", "optimizer_problems"]

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}
"""Recipe name -> torch optimizer class (``train.optimizer.name``)."""

_UNSUPPORTED = {
    "params": "seqframe passes the model's parameters itself",
    "differentiable": "seqframe's training loop does not differentiate through optimizer steps",
    "capturable": "it is for CUDA graphs, which seqframe's training loop does not use",
}


def non_finite(value: Any) -> str | None:
    """What is wrong when ``value`` (or a number inside a list) is NaN, infinite, or an
    integer too large for a float; None otherwise."""
    if isinstance(value, (list, tuple)):
        return next((p for p in map(non_finite, value) if p), None)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        finite = math.isfinite(float(value))
    except OverflowError:
        return f"expected a finite number, got an integer of {len(str(abs(value)))} digits"
    return None if finite else f"expected a finite number, got {value!r}"


def optimizer_options(name: str) -> dict[str, inspect.Parameter]:
    """The options ``train.optimizer`` may set for optimizer ``name`` (its torch signature,
    less what seqframe manages)."""
    parameters = inspect.signature(OPTIMIZERS[name]).parameters
    return {k: p for k, p in parameters.items() if k not in _UNSUPPORTED and p.kind is not p.VAR_KEYWORD}


def _try(cls: type[torch.optim.Optimizer], options: Mapping[str, Any]) -> str | None:
    """Build ``cls`` on a one-element parameter and take one step; what torch objects, or None."""
    param = torch.zeros(1, requires_grad=True)
    try:
        optimizer = cls([param], **options)
        param.grad = torch.ones(1)
        optimizer.step()
    except Exception as exc:  # torch raises ValueError, TypeError, RuntimeError or AssertionError
        return f"torch.optim.{cls.__name__} rejects it: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    return None


def _blame(options: Mapping[str, Any], fails: Callable[[Mapping[str, Any]], bool]) -> list[str]:
    """The options without which ``fails`` no longer fails (leave one out): the ones to name
    when torch rejects a set of options. Empty when no single option is to blame."""
    return [key for key in options if not fails({k: v for k, v in options.items() if k != key})]


def optimizer_problems(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(option, what is wrong)`` for every problem of ``{"name": ..., **options}``
    (option ``""`` when only the combination fails); empty when the optimizer builds."""
    name = settings.get("name", "adam")
    if not isinstance(name, str) or name not in OPTIMIZERS:
        close = suggest(name, OPTIMIZERS) if isinstance(name, str) else None
        hint = f"; did you mean {close!r}?" if close else ""
        return [("name", f"expected one of {', '.join(OPTIMIZERS)}, got {name!r}{hint}")]
    cls, accepted = OPTIMIZERS[name], optimizer_options(name)
    options = {k: v for k, v in settings.items() if k != "name"}
    problems = []
    for key, value in options.items():
        if key in _UNSUPPORTED:
            problems.append((key, f"{key!r} cannot be set: {_UNSUPPORTED[key]}"))
        elif key not in accepted:
            problems.append(
                (key, unknown_key("option", key, f"optimizer {name!r}", [k for k in accepted if k != "params"]))
            )
        elif problem := non_finite(value):
            problems.append((key, problem))
    if problems or not (problem := _try(cls, options)):
        return problems
    keys = _blame(options, lambda subset: _try(cls, subset) is not None) or [""]
    return [(key, problem) for key in keys]


def build_optimizer(params: Iterable[Any], settings: Mapping[str, Any]) -> torch.optim.Optimizer:
    """An optimizer from ``{"name": ..., **torch options}`` (``train.optimizer``).

    Raises:
        RecipeError: an unknown optimizer or option, or a value torch rejects, each at its
            ``train.optimizer`` key.
    """
    problems = optimizer_problems(settings)
    if problems:
        raise RecipeError([RecipeIssue(f"train.optimizer.{k}" if k else "train.optimizer", p) for k, p in problems])
    options = dict(settings)
    return OPTIMIZERS[options.pop("name", "adam")](params, **options)
