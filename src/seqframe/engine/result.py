"""What a training call returns (:class:`TrainResult`). Imports nothing from seqframe."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TrainResult"]


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        step: the last completed step.
        loss: the last training loss.
        evaluations: every validation row of this call (``step`` plus the task's metrics).
        start_step: the step training resumed from (0 for a fresh run).
        stopped_early: early stopping ended the run before ``train.steps``.
        skipped_steps: non-finite steps dropped under ``on_nonfinite: skip``.
        empty_batches: batches with no real target token, skipped without an optimizer step.
        checkpoint: the last checkpoint folder written, if any.
        deterministic: torch's deterministic algorithms were on.
        effective_batch: rows per optimizer step, all processes together (batch_size x accumulate).
        world_size: processes that trained together.
        overflow_steps: fp16 steps the gradient scaler skipped because a gradient overflowed.
    """

    step: int = 0
    loss: float = math.nan
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    start_step: int = 0
    stopped_early: bool = False
    skipped_steps: int = 0
    empty_batches: int = 0
    checkpoint: str | None = None
    deterministic: bool = False
    effective_batch: int = 0
    world_size: int = 1
    overflow_steps: int = 0

    @property
    def final_eval(self) -> dict[str, Any] | None:
        """The last validation row, if any."""
        return self.evaluations[-1] if self.evaluations else None
