"""Assembling a pipeline from Python objects, with no YAML and no registry."""

from __future__ import annotations

from typing import Any

from torch import nn

from seqframe.interfaces import DataSource, Task, Tokenizer
from seqframe.pipeline import Pipeline, TrainConfig

__all__ = ["assemble"]


def assemble(
    *,
    task: Task,
    tokenizer: Tokenizer,
    topology: nn.Module,
    head: Any,
    embedding_dim: int,
    data: DataSource | None = None,
    train: TrainConfig | None = None,
) -> Pipeline:
    """Build a :class:`Pipeline` from objects, with no YAML and no registry.

    Args:
        task: a task object (e.g. ``LanguageModellingTask(seq_len=64)``).
        tokenizer: a tokenizer; fitted on ``data``'s train split here if it is not yet.
        topology: any topology module, e.g. ``seqframe.build_rnn(...)`` with
            ``input_size=embedding_dim``.
        head: a head factory called as ``head(in_features, num_outputs)`` (e.g. ``LinearHead``).
        embedding_dim: token embedding size.
        data: the data source (needed to train).
        train: training settings.
    """
    if not isinstance(task, Task):
        raise TypeError(f"assemble: task must be a seqframe.Task (subclass it), got {type(task).__name__!r}")
    if not getattr(tokenizer, "is_fitted", True):
        if data is None:
            raise ValueError("assemble: the tokenizer is not fitted and no data was given to fit it on")
        tokenizer.fit(data.texts("train"))
    model = task.build_model(tokenizer=tokenizer, topology=topology, head=head, embedding_dim=embedding_dim)
    return Pipeline(task, tokenizer, model, data, train or TrainConfig())
