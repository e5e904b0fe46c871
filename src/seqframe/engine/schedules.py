"""Learning-rate schedules (constant, linear warm-up, cosine and reduce-on-plateau) on
``torch.optim.lr_scheduler``.

The recipe names map onto torch's schedulers: warm-up is :class:`~torch.optim.lr_scheduler.LinearLR`,
``cosine`` is :class:`~torch.optim.lr_scheduler.CosineAnnealingLR` (after the warm-up, through
:class:`~torch.optim.lr_scheduler.SequentialLR`) and ``reduce_on_plateau`` is
:class:`~torch.optim.lr_scheduler.ReduceLROnPlateau`. Their state (and the optimizer's,
which holds the current rates) is saved with every checkpoint, so a resumed run sets exactly
the rates an uninterrupted one would. Imports layer 0 only.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch.optim import lr_scheduler

from seqframe.engine.monitor import MetricMonitor
from seqframe.errors import CheckpointError
from seqframe.pipeline import SchedulerConfig

__all__ = ["SCHEDULES", "LRSchedule"]

SCHEDULES = ("constant", "cosine", "linear_warmup", "reduce_on_plateau")


def _advance(scheduler: lr_scheduler.LRScheduler) -> None:
    """One scheduler step. The schedule sets the rate *before* each optimizer step (and a
    resumed run steps it before its first optimizer step), which torch warns about as a
    possible mistake: here it is the design, so that warning is silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before", category=UserWarning
        )
        scheduler.step()


def _stepwise(
    optimizer: torch.optim.Optimizer, config: SchedulerConfig, total_steps: int
) -> lr_scheduler.LRScheduler | None:
    """The per-step scheduler whose epoch ``e`` holds the rate of step ``e + 1``, or None
    when the rate never changes with the step.

    Warm-up: step ``s <= w`` gets ``lr * s / w``. Cosine: step ``s > w`` is at progress
    ``(s - w) / (total - w)`` of the decay to ``min_lr``.
    """
    warmup = config.warmup_steps
    ramp = lr_scheduler.LinearLR(optimizer, 1.0 / warmup, 1.0, warmup - 1) if warmup > 1 else None
    if config.name != "cosine":
        return ramp
    cosine = lr_scheduler.CosineAnnealingLR(optimizer, max(1, total_steps - warmup), eta_min=config.min_lr)
    if ramp is None:
        if warmup == 0:  # step 1 already decays by one step
            _advance(cosine)
        return cosine
    # the cosine starts (at its base rate) on the warm-up's last step, whose rate is the base too
    return lr_scheduler.SequentialLR(optimizer, [ramp, cosine], milestones=[warmup - 1])


class LRSchedule:
    """Sets each parameter group's ``lr`` before every optimizer step.

    Args:
        optimizer: its groups' current ``lr`` are the base rates.
        config: which schedule and its settings.
        total_steps: the run's last step (where ``cosine`` reaches ``min_lr``).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, config: SchedulerConfig, total_steps: int) -> None:
        if config.name not in SCHEDULES:
            raise ValueError(f"unknown scheduler {config.name!r}; known: {', '.join(SCHEDULES)}")
        self.optimizer, self.config = optimizer, config
        self.epoch = 0  # steps of the per-step scheduler taken: the rates are those of step epoch + 1
        self.stepwise = _stepwise(optimizer, config, total_steps)
        self.plateau_monitor = MetricMonitor(config.metric, config.mode, where="train.scheduler.metric")
        self.plateau = (
            None
            if config.name != "reduce_on_plateau"
            else lr_scheduler.ReduceLROnPlateau(
                optimizer,
                mode="max" if config.mode == "max" else "min",
                factor=config.factor,
                patience=config.patience,
                threshold=0.0,
                threshold_mode="abs",
                min_lr=[min(config.min_lr, float(group["lr"])) for group in optimizer.param_groups],
            )
        )

    def apply(self, step: int) -> None:
        """Set the learning rates for ``step`` (1-based), the step about to be taken; steps
        come in order (a resumed run continues from its checkpoint's)."""
        while self.stepwise is not None and self.epoch < step - 1:
            _advance(self.stepwise)
            self.epoch += 1

    def observe(self, metrics: Mapping[str, Any]) -> None:
        """Feed a scheduled evaluation (only reduce-on-plateau uses it); NaN and infinite
        values are ignored, as the best checkpoint and early stopping ignore them."""
        if self.plateau is None:
            return
        value = self.plateau_monitor.value(metrics)
        if math.isfinite(value):
            self.plateau.step(value)

    def state_dict(self) -> dict[str, Any]:
        """The schedulers' states and the position (plain values only)."""
        return {
            "name": self.config.name,
            "epoch": self.epoch,
            "stepwise": None if self.stepwise is None else self.stepwise.state_dict(),
            "plateau": None if self.plateau is None else self.plateau.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (the optimizer's own state restores the rates).

        Raises:
            CheckpointError: the state was written before the schedules ran on torch's
                schedulers (it has no ``epoch``), so it cannot set the same rates.
        """
        if "epoch" not in state:
            raise CheckpointError(
                "the checkpoint's learning-rate schedule was saved by an older seqframe (before "
                "the schedules moved to torch.optim.lr_scheduler) and cannot be resumed exactly; "
                "resume it with that version, or start a new run"
            )
        self.epoch = int(state["epoch"])
        if self.stepwise is not None and state.get("stepwise") is not None:
            self.stepwise.load_state_dict(dict(state["stepwise"]))
        if self.plateau is not None and state.get("plateau") is not None:
            self.plateau.load_state_dict(dict(state["plateau"]))
