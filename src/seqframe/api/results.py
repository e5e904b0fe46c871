"""What :func:`~seqframe.api.train` and :func:`~seqframe.api.run` return, and the warning
for a run directory that cannot be reloaded by name. Facade layer.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqframe.engine import TrainResult
from seqframe.pipeline import Pipeline

__all__ = ["RunResult", "UnreloadableRunWarning", "as_run_result"]


class UnreloadableRunWarning(UserWarning):
    """A run directory was written without ``recipe.yaml``: its pipeline had components
    given as objects, which cannot be recorded by name."""


@dataclass
class RunResult(TrainResult):
    """What :func:`train` and :func:`run` return: the training outcome (every attribute of
    :class:`~seqframe.engine.TrainResult`: ``step``, ``loss``, ``final_eval``,
    ``evaluations``, ``stopped_early``, ``checkpoint``...) and where it went.

    Attributes:
        out_dir: the run directory (None when nothing was written).
        pipeline: the trained pipeline.
        sample: a language model's continuation of ``train.sample.prompt`` (also written as
            ``sample.txt``), or None.
    """

    out_dir: Path | None = None
    pipeline: Pipeline | None = None
    sample: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The outcome as JSON-able data (``seqframe run --json``): ``run_dir``, ``step``,
        ``start_step``, ``loss`` (None if not finite), ``final_eval``, ``stopped_early``,
        ``skipped_steps``, ``checkpoint``, ``world_size`` and ``sample``."""
        return {
            "run_dir": str(self.out_dir) if self.out_dir is not None else None,
            "step": self.step,
            "start_step": self.start_step,
            "loss": self.loss if math.isfinite(self.loss) else None,
            "final_eval": self.final_eval,
            "stopped_early": self.stopped_early,
            "skipped_steps": self.skipped_steps,
            "checkpoint": self.checkpoint,
            "world_size": self.world_size,
            "sample": self.sample,
        }

    @property
    def result(self) -> RunResult:
        """Deprecated: the result itself (``run(...).step`` is ``run(...).step``)."""
        warnings.warn(
            "RunResult.result is deprecated and goes in the next release: train and run now return one "
            "RunResult, so read its attributes directly (result.step, result.final_eval)",
            DeprecationWarning,
            stacklevel=2,
        )
        return self


def as_run_result(result: TrainResult, out_dir: Path | None, pipeline: Pipeline, sample: str | None) -> RunResult:
    """``result`` with where it went: the run directory, the pipeline and its sample."""
    values = {f.name: getattr(result, f.name) for f in dataclasses.fields(TrainResult)}
    return RunResult(**values, out_dir=out_dir, pipeline=pipeline, sample=sample)
