"""Learning-rate schedules: constant, linear warm-up, cosine and reduce-on-plateau.

The learning rate of step ``s`` (1-based) is a pure function of ``s``, the total steps and,
for reduce-on-plateau, a multiplier kept in :meth:`LRSchedule.state_dict`, so a resumed
run sets exactly the rates an uninterrupted one would. Imports layer 0 only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from seqframe.engine.monitor import MetricMonitor
from seqframe.pipeline import SchedulerConfig

__all__ = ["SCHEDULES", "LRSchedule"]

SCHEDULES = ("constant", "cosine", "linear_warmup", "reduce_on_plateau")


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
        self.optimizer, self.config, self.total_steps = optimizer, config, total_steps
        self.base_lrs = [float(group["lr"]) for group in optimizer.param_groups]
        self.scale = 1.0  # reduce-on-plateau multiplier
        self.plateau = MetricMonitor(config.metric, config.mode, patience=config.patience,
                                     where="train.scheduler.metric")

    def lrs(self, step: int) -> list[float]:
        """The learning rate of every parameter group at ``step`` (1-based)."""
        warmup, name = self.config.warmup_steps, self.config.name
        if warmup and step <= warmup:
            return [base * step / warmup for base in self.base_lrs]
        if name == "cosine":
            progress = min(1.0, (step - warmup) / max(1, self.total_steps - warmup))
            decay = 0.5 * (1.0 + math.cos(math.pi * progress))
            return [min(self.config.min_lr, base) + (base - min(self.config.min_lr, base)) * decay for base in self.base_lrs]
        if name == "reduce_on_plateau":
            return [max(min(self.config.min_lr, base), base * self.scale) for base in self.base_lrs]
        return list(self.base_lrs)

    def apply(self, step: int) -> None:
        """Set the learning rates for the step about to be taken."""
        for group, lr in zip(self.optimizer.param_groups, self.lrs(step)):
            group["lr"] = lr

    def observe(self, metrics: Mapping[str, Any]) -> None:
        """Feed a scheduled evaluation (only reduce-on-plateau uses it)."""
        if self.config.name != "reduce_on_plateau":
            return
        self.plateau.update(metrics)
        if self.plateau.bad_evaluations > self.config.patience:
            self.scale *= self.config.factor
            self.plateau.bad_evaluations = 0

    def state_dict(self) -> dict[str, Any]:
        """Multiplier and plateau counters (primitives only)."""
        return {"name": self.config.name, "scale": self.scale, "plateau": self.plateau.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.scale = float(state["scale"])
        self.plateau.load_state_dict(state["plateau"])
