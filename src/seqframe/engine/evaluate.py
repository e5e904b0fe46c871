"""Evaluating a trained pipeline on texts: a split of its data or a text file.

Imports layer 0 only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seqframe.errors import DataError
from seqframe.pipeline import Pipeline

__all__ = ["evaluate_texts", "read_text_file"]


def read_text_file(path: str | os.PathLike[str]) -> str:
    """A UTF-8 text file's content.

    Raises:
        DataError: unreadable, or not UTF-8 (names the line).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not valid UTF-8 (byte {exc.start}: {exc.reason})") from exc


def evaluate_texts(pipeline: Pipeline, texts: Sequence[Any], *, where: str, hint: str = "") -> dict[str, Any]:
    """The task's metrics over ``texts`` (plain texts, or a structured task's examples),
    encoded with the pipeline's tokenizer, on the model's device (for a language model:
    loss, ppl, bits_per_token, bpc).

    Raises:
        DataError: nothing to evaluate (``where`` names the input, ``hint`` says what to do).
    """
    if not any(not isinstance(x, str) or x.strip() for x in texts):
        raise DataError(f"{where}: no text to evaluate{hint}")
    task, model = pipeline.task, pipeline.model
    tokenizers = {"tokenizer": pipeline.tokenizer, "target_tokenizer": pipeline.target_tokenizer}
    ids = task.encode(pipeline.tokenizer, list(texts), target_tokenizer=pipeline.target_tokenizer)
    device = next(model.parameters()).device
    chars = sum(len(x) for x in texts if isinstance(x, str))
    return dict(task.evaluate(model, ids, pipeline.train.batch_size, device, chars, **tokenizers))
