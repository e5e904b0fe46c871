"""The options of a prediction, shared by ``seqframe predict`` and ``seqframe serve``: their
names and types, which each task takes (its ``Task.predict_options``), and the defaults a
language model gets (a task that continues its prompt samples 200 tokens at temperature 0.8
with seed 0 unless told otherwise). Facade layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from seqframe.api.plugins import default_registry
from seqframe.cache import cache_dir
from seqframe.interfaces import MAX_TOKENS, Task, is_task_class
from seqframe.registry import Registry

__all__ = [
    "PREDICT_OPTIONS",
    "history_path",
    "option_problem",
    "predict_options",
    "task_options",
    "unsupported_options",
]

PREDICT_OPTIONS: Mapping[str, tuple[type, ...]] = {
    "max_tokens": (int,),
    "temperature": (int, float),
    "top_k": (int,),
    "top_p": (int, float),
    "seed": (int,),
    "beam": (int,),
    "length_penalty": (int, float),
}
"""The options ``seqframe predict`` passes to a task's ``predict``, with the JSON types they take."""

_CONTINUATION_DEFAULTS = {"max_tokens": 200, "temperature": 0.8, "seed": 0}

_RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "max_tokens": (lambda v: 1 <= v <= MAX_TOKENS, f"an integer in [1, {MAX_TOKENS}]"),
    "temperature": (lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0 (0: greedy)"),
    "top_k": (lambda v: v >= 1, "an integer >= 1"),
    "top_p": (lambda v: 0 < v <= 1, "a number in (0, 1]"),  # NaN fails both comparisons
    "seed": (lambda v: 0 <= v < 2**32, "an integer in [0, 2**32)"),
    "beam": (lambda v: v >= 1, "an integer >= 1"),
    "length_penalty": (lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0 (0: no length normalisation)"),
}


def option_problem(key: str, value: Any) -> str | None:
    """What is wrong with ``value`` for the prediction option ``key`` (its type, then its
    range), as ``expected <what>, got <value>``; None when it is fine or not given."""
    if value is None:
        return None
    valid, expected = _RANGES[key]
    if isinstance(value, bool) or not isinstance(value, PREDICT_OPTIONS[key]) or not valid(value):
        return f"expected {expected}, got {value!r}"
    return None


def predict_options(task: Task, given: Mapping[str, Any]) -> dict[str, Any]:
    """The options a task's ``predict`` receives: those given (None meaning not given);
    for a task that continues its prompt, the sampling defaults and no ``beam``."""
    options = {k: v for k, v in given.items() if v is not None}  # each task has its own defaults
    if task.continues_prompt:
        options = {**_CONTINUATION_DEFAULTS, **options}
        options.pop("beam", None)
    return options


def unsupported_options(task: Task, given: Mapping[str, Any]) -> list[str]:
    """The options given (not None) that ``task`` does not take, by its declared
    ``predict_options`` (none when it declares nothing)."""
    if task.predict_options is None:
        return []
    return [key for key, value in given.items() if value is not None and key not in task.predict_options]


def task_options(registry: Registry | None = None) -> dict[str, tuple[str, ...] | None]:
    """Each registered task's prediction options (None: not declared), by task name."""
    reg = registry or default_registry()
    found: dict[str, tuple[str, ...] | None] = {}
    for component in reg.components():
        if component.kind == "task" and is_task_class(component.factory):
            declared = component.factory.predict_options
            found[component.name] = None if declared is None else tuple(declared)
    return found


def history_path() -> Path:
    """Where ``seqframe predict -i`` keeps its input history (in seqframe's cache folder:
    ``$SEQFRAME_CACHE_DIR``, else ``$XDG_CACHE_HOME/seqframe``, else ``~/.cache/seqframe``)."""
    return cache_dir() / "predict_history"
