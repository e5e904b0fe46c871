"""The options of a prediction, shared by ``seqframe predict`` and ``seqframe serve``: their
names and types, and the defaults a language model gets (a task that continues its prompt
samples 200 tokens at temperature 0.8 with seed 0 unless told otherwise). Facade layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seqframe.interfaces import Task

__all__ = ["PREDICT_OPTIONS", "predict_options"]

PREDICT_OPTIONS: Mapping[str, tuple[type, ...]] = {
    "max_tokens": (int,), "temperature": (int, float), "top_k": (int,), "top_p": (int, float), "seed": (int,),
    "beam": (int,),
}
"""The options ``seqframe predict`` passes to a task's ``predict``, with the JSON types they take."""

_CONTINUATION_DEFAULTS = {"max_tokens": 200, "temperature": 0.8, "seed": 0}


def predict_options(task: Task, given: Mapping[str, Any]) -> dict[str, Any]:
    """The options a task's ``predict`` receives: those given (None meaning not given);
    for a task that continues its prompt, the sampling defaults and no ``beam``."""
    options = {k: v for k, v in given.items() if v is not None}  # each task has its own defaults
    if task.continues_prompt:
        options = {**_CONTINUATION_DEFAULTS, **options}
        options.pop("beam", None)
    return options
