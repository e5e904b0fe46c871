"""Evaluating a trained pipeline on texts: a split of its data or a text file.

Imports layer 0 only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from seqframe.errors import DataError
from seqframe.interfaces import EvalSettings
from seqframe.interfaces.inputs import read_text as read_text_file  # kept for callers of the old name
from seqframe.pipeline import Pipeline

__all__ = ["evaluate_texts", "read_text_file"]


def evaluate_texts(pipeline: Pipeline, texts: Sequence[Any], *, where: str, hint: str = "") -> dict[str, Any]:
    """The task's metrics over ``texts`` (plain texts, or a structured task's examples),
    encoded with the pipeline's tokenizer, on the model's device (for a language model:
    loss, ppl, bits_per_token, bpc).

    Raises:
        DataError: nothing to evaluate (``where`` names the input, ``hint`` says what to do),
            or the task cannot encode the input (the message starts with ``where``).
    """
    if not any(not isinstance(x, str) or x.strip() for x in texts):
        raise DataError(f"{where}: no text to evaluate{hint}")
    task, model = pipeline.task, pipeline.model
    try:
        ids = task.encode(pipeline.tokenizers, list(texts))
    except DataError as exc:  # e.g. a label the model never saw: say which input holds it
        raise DataError(f"{where}: {exc}") from None
    chars = sum(len(x) for x in texts if isinstance(x, str))
    settings = EvalSettings(pipeline.tokenizers, pipeline.train.batch_size, next(model.parameters()).device, chars)
    return dict(task.evaluate(model, ids, settings))
