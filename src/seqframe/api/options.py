"""The options of a prediction, shared by ``seqframe predict`` and ``seqframe serve``: their
names and types, and the defaults a language model gets (a task that continues its prompt
samples 200 tokens at temperature 0.8 with seed 0 unless told otherwise). Facade layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from seqframe.interfaces import Task

__all__ = ["PREDICT_OPTIONS", "option_problem", "predict_options"]

PREDICT_OPTIONS: Mapping[str, tuple[type, ...]] = {
    "max_tokens": (int,), "temperature": (int, float), "top_k": (int,), "top_p": (int, float), "seed": (int,),
    "beam": (int,),
}
"""The options ``seqframe predict`` passes to a task's ``predict``, with the JSON types they take."""

_CONTINUATION_DEFAULTS = {"max_tokens": 200, "temperature": 0.8, "seed": 0}

_RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "max_tokens": (lambda v: v >= 1, "an integer >= 1"),
    "temperature": (lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0 (0: greedy)"),
    "top_k": (lambda v: v >= 1, "an integer >= 1"),
    "top_p": (lambda v: 0 < v <= 1, "a number in (0, 1]"),  # NaN fails both comparisons
    "seed": (lambda v: 0 <= v < 2**32, "an integer in [0, 2**32)"),
    "beam": (lambda v: v >= 1, "an integer >= 1"),
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
