"""``loss.png``: training and validation loss against the step, redrawn at each evaluation
and at the end of training.

Drawn with matplotlib's Agg canvas directly (no pyplot, so no global figure state and no
display needed) and written atomically. The plot is for people, not for resuming: a plot
that cannot be written (disk full) is reported with a warning and training goes on, so the
error that matters (a checkpoint, the metrics) is the one reported. Imports layer 0 only.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from seqframe.engine.callbacks import Callback
from seqframe.files import write_file

__all__ = ["LossPlot", "render_loss_plot"]


def render_loss_plot(train: list[tuple[int, float]], valid: list[tuple[int, float]]) -> bytes:
    """A PNG of the two loss curves (``(step, loss)`` pairs; non-finite values left out)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    for points, label, style in ((train, "training", "-"), (valid, "validation", "o-")):
        points = [(s, v) for s, v in points if math.isfinite(v)]
        if points:
            axes.plot([s for s, _ in points], [v for _, v in points], style, label=label, markersize=4)
    axes.set_xlabel("step")
    axes.set_ylabel("loss (nats per token)")
    axes.grid(True, alpha=0.3)
    if train or valid:
        axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


class LossPlot(Callback):
    """Keeps the logged training losses and every validation loss, and draws ``path``.

    Args:
        path: where the PNG goes (``<run>/loss.png``).
        log_every: record a training point every N steps (and at step 1), as
            :class:`~seqframe.engine.callbacks.MetricsWriter` logs them.
        history: earlier ``metrics.jsonl`` rows (a resumed run continues the curves).
    """

    def __init__(
        self, path: str | os.PathLike[str], log_every: int = 10, history: Iterable[Mapping[str, Any]] = ()
    ) -> None:
        self.path = Path(path)
        self.log_every = max(1, log_every)
        self.train: list[tuple[int, float]] = []
        self.valid: list[tuple[int, float]] = []
        for row in history:
            if isinstance(row.get("loss"), (int, float)):
                (self.valid if row.get("split") == "valid" else self.train).append(
                    (int(row["step"]), float(row["loss"]))
                )

    def on_train_batch_end(self, step: int, row: dict[str, Any]) -> None:
        if step % self.log_every == 0 or step == 1:
            self.train.append((step, float(row["loss"])))

    def on_eval_end(self, step: int, row: dict[str, Any]) -> None:
        self.valid.append((step, float(row["loss"])))
        self.draw()

    def on_train_end(self, step: int) -> None:
        self.draw()

    def draw(self) -> None:
        """Write the PNG now (atomically; a failure only warns, see the module docstring)."""
        try:
            write_file(self.path, render_loss_plot(self.train, self.valid))
        except OSError as exc:
            warnings.warn(
                f"{self.path}: could not write the loss plot ({exc.strerror or exc}); the previous one, if "
                "any, is kept",
                stacklevel=2,
            )
