"""``train.diagnostics``: the recurrence measured while training. Every ``every`` steps (and
at step 0 of a fresh run), on one fixed probe batch, :func:`~seqframe.api.recurrence.probe_recurrence`
gives a row per topology, layer and direction, appended to ``metrics.jsonl`` with ``split:
diagnostics`` by :class:`RecurrenceDiagnostics`, a training callback (rank 0 only, as every
callback). Off by default; when off, nothing is built or run. Facade layer.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from seqframe.api.recurrence import probe_recurrence
from seqframe.cache import cached_encode
from seqframe.engine import Callback, MetricsWriter
from seqframe.errors import DataError
from seqframe.pipeline import Pipeline

__all__ = ["RecurrenceDiagnostics", "diagnostics_rows", "probe_batch"]


def probe_batch(pipeline: Pipeline, batch_size: int, device: torch.device | str = "cpu") -> dict[str, Any]:
    """The fixed probe batch: the first batch the task makes of its validation split (the
    training split when there is none), ``batch_size`` rows, shuffle seed 0, on ``device``.
    The same pipeline always gives the same batch, whatever the training seed or step.

    Raises:
        DataError: the pipeline has no data, or neither split has anything to batch.
    """
    task, data = pipeline.task, pipeline.data
    if data is None:
        raise DataError("diagnostics: the pipeline has no data source to take a probe batch from")
    inputs = list(task.inputs(data, "valid")) or list(task.inputs(data, "train"))
    if not inputs:
        raise DataError("diagnostics: the validation and training splits are empty; nothing to probe with")
    batches = task.train_batches(cached_encode(task, pipeline.tokenizers, inputs), batch_size, 0, pipeline.tokenizers)
    batch = next(iter(batches))
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def diagnostics_rows(pipeline: Pipeline, batch: Mapping[str, Any], step: int) -> list[dict[str, Any]]:
    """The ``metrics.jsonl`` rows of one probe at ``step``: :func:`probe_recurrence`'s rows
    with ``step``, ``split: diagnostics`` and the probe batch's loss as ``probe_loss`` (not
    ``loss``, which readers of training curves take for a training loss)."""
    loss, rows = probe_recurrence(pipeline.task, pipeline.model, batch)
    return [{"step": step, "split": "diagnostics", "probe_loss": loss, **row} for row in rows]


class RecurrenceDiagnostics(Callback):
    """Probe the recurrence every ``every`` steps and append the rows to ``path``.

    A fresh run (starting at step 0) is probed before its first step too. Rows go straight to
    the file (one line each, flushed), so a resumed run, whose ``metrics.jsonl`` keeps the
    rows up to its checkpoint, writes each step's rows exactly once. Without ``path`` the rows
    are only kept in :attr:`rows`.

    Args:
        pipeline: the pipeline being trained (its model is probed in place, unchanged).
        every: probe every N steps.
        batch_size: rows of the probe batch.
        path: the ``metrics.jsonl`` to append to, or None.
    """

    def __init__(
        self, pipeline: Pipeline, every: int = 100, batch_size: int = 16, path: str | os.PathLike[str] | None = None
    ) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"RecurrenceDiagnostics: every must be an int >= 1, got {every!r}")
        self.pipeline, self.every, self.batch_size = pipeline, every, batch_size
        self.path = None if path is None else Path(path)
        self.rows: list[dict[str, Any]] = []
        self._batch: dict[str, Any] | None = None
        self._writer = None if path is None else MetricsWriter(path)  # appends, never through a symbolic link
        self._off = False

    def on_train_start(self, total_steps: int, start_step: int) -> None:
        try:
            device = next(self.pipeline.model.parameters()).device
            self._batch = probe_batch(self.pipeline, self.batch_size, device)
        except Exception as exc:  # diagnostics never stop a training run: say why they are off
            self._off = True
            warnings.warn(
                f"train.diagnostics: no probe batch ({type(exc).__name__}: {exc}); no diagnostics are recorded",
                stacklevel=2,
            )
            return
        if start_step == 0:
            self._probe(0)

    def on_train_batch_end(self, step: int, row: dict[str, Any]) -> None:
        if step % self.every == 0:
            self._probe(step)

    def _probe(self, step: int) -> None:
        if self._off or self._batch is None:
            return
        try:
            rows = diagnostics_rows(self.pipeline, self._batch, step)
        except Exception as exc:  # e.g. no cell stack in the model: say so once, then stay out of the way
            self._off = True
            warnings.warn(
                f"train.diagnostics: stopped at step {step} ({type(exc).__name__}: {exc}); no more "
                "diagnostics are recorded",
                stacklevel=3,
            )
            return
        self.rows += rows
        if self._writer is not None:
            for row in rows:
                self._writer.write_row(_finite(row))

    def on_train_end(self, step: int) -> None:
        if self._writer is not None:
            self._writer.on_train_end(step)


def _finite(value: Any) -> Any:
    """Non-finite floats as None (strict JSON), through lists and mappings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
