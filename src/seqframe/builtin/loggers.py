"""Built-in experiment logger: ``tensorboard`` (``train.loggers: [tensorboard]``).

Writes every training row (each step) and validation row as TensorBoard scalars
(``train/loss``, ``train/lr``, ``valid/loss``, ``valid/bpc``...) and the final text sample
as text, into the run's ``logs/tensorboard/`` folder: ``tensorboard --logdir RUN/logs``. A
resumed run starts its event file with TensorBoard's ``purge_step``, so the steps the
interrupted run logged after its checkpoint are dropped and each step appears once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from seqframe.hookspecs import hookimpl
from seqframe.interfaces import Logger

__all__ = ["TensorBoardLogger"]


def _scalars(row: Mapping[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in row.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "step" and math.isfinite(v)
    }


class TensorBoardLogger(Logger):
    """TensorBoard event files in the run's ``logs/tensorboard``: training and validation rows as scalars, the text sample.

    Args:
        log_dir: the folder (the run's ``logs/tensorboard``).
        flush_secs: how often pending events are written to disk.
    """

    def __init__(self, log_dir: str | Path, flush_secs: int = 10) -> None:
        if isinstance(flush_secs, bool) or not isinstance(flush_secs, int) or flush_secs < 1:
            raise ValueError(f"tensorboard: flush_secs must be an int >= 1, got {flush_secs!r}")
        self.log_dir, self.flush_secs = Path(log_dir), flush_secs
        self._writer: Any = None

    def on_train_start(self, total_steps: int, start_step: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # A resumed run hides whatever the interrupted one logged after its checkpoint.
        self._writer = SummaryWriter(
            str(self.log_dir), purge_step=start_step + 1 if start_step else None, flush_secs=self.flush_secs
        )

    def on_train_batch_end(self, step: int, row: dict[str, Any]) -> None:
        for key, value in _scalars(row).items():
            self._writer.add_scalar(f"train/{key}", value, step)

    def on_eval_end(self, step: int, row: dict[str, Any]) -> None:
        for key, value in _scalars(row).items():
            self._writer.add_scalar(f"valid/{key}", value, step)
        self._writer.flush()

    def on_train_end(self, step: int) -> None:
        if self._writer is not None:
            self._writer.flush()

    def on_sample(self, step: int, text: str) -> None:
        if self._writer is not None:
            self._writer.add_text("sample", text, step)
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


@hookimpl
def seqframe_loggers() -> Mapping[str, Any]:
    """Built-in experiment loggers."""
    return {"tensorboard": TensorBoardLogger}
