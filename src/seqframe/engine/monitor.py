"""Watching one validation metric: the best value so far and evaluations since it improved.

Used for the ``best`` checkpoint, early stopping and reduce-on-plateau. NaN and infinite
values are ignored: they neither improve the best nor count as a bad evaluation.
Imports layer 0 only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from seqframe.errors import RecipeError, RecipeIssue, suggest

__all__ = ["MetricMonitor"]


class MetricMonitor:
    """Tracks ``metric`` over evaluations.

    Args:
        metric: the key of the evaluation row to watch.
        mode: ``min`` (lower is better) or ``max``.
        min_delta: the smallest change that counts as an improvement.
        patience: evaluations without improvement after which :attr:`exhausted` is true
            (None: never).
        where: the recipe key that named the metric, for error messages.
    """

    def __init__(
        self,
        metric: str = "loss",
        mode: str = "min",
        min_delta: float = 0.0,
        patience: int | None = None,
        where: str = "metric",
    ) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"MetricMonitor: mode must be 'min' or 'max', got {mode!r}")
        self.metric, self.mode, self.min_delta, self.patience, self.where = metric, mode, min_delta, patience, where
        self.best: float | None = None
        self.bad_evaluations = 0

    def value(self, metrics: Mapping[str, Any]) -> float:
        """The watched value in ``metrics``.

        Raises:
            RecipeError: the evaluation has no such metric (names the ones it has).
        """
        if self.metric not in metrics:
            close = suggest(self.metric, list(metrics))
            hint = f"; did you mean {close!r}?" if close else ""
            raise RecipeError(
                [
                    RecipeIssue(
                        self.where,
                        f"the task's evaluation has no metric {self.metric!r}{hint} (it reports: {', '.join(metrics)})",
                    )
                ]
            )
        return float(metrics[self.metric])

    def update(self, metrics: Mapping[str, Any]) -> bool:
        """Record one evaluation; returns True when it is a new best."""
        value = self.value(metrics)
        if not math.isfinite(value):
            return False
        if self.best is None or self._better(value, self.best):
            self.best, self.bad_evaluations = value, 0
            return True
        self.bad_evaluations += 1
        return False

    def _better(self, value: float, best: float) -> bool:
        return value < best - self.min_delta if self.mode == "min" else value > best + self.min_delta

    @property
    def exhausted(self) -> bool:
        """True when ``patience`` evaluations in a row brought no improvement."""
        return self.patience is not None and self.bad_evaluations >= self.patience

    def state_dict(self) -> dict[str, Any]:
        """Best value and counter (primitives only)."""
        return {"metric": self.metric, "best": self.best, "bad_evaluations": self.bad_evaluations}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; a different metric starts afresh."""
        if state.get("metric") == self.metric:
            self.best = None if state["best"] is None else float(state["best"])
            self.bad_evaluations = int(state["bad_evaluations"])
