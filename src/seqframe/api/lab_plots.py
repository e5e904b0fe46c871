"""The lab's figures, drawn with matplotlib's Agg canvas directly (no pyplot: no global
figure state, no display), as :mod:`seqframe.engine.plot` draws ``loss.png``: validation
curves of a sweep setting (mean with a band over seeds), the gradient through time of each
layer, and the diagnostics rows over training. Each function returns PNG bytes. Facade layer.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["render_gradient_plot", "render_seed_curves", "render_training_diagnostics"]


def _figure(rows: int = 1, height: float = 4.0) -> tuple[Any, list[Any]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, height * rows), dpi=100)
    FigureCanvasAgg(figure)
    return figure, [figure.add_subplot(rows, 1, i + 1) for i in range(rows)]


def _png(figure: Any) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _finite(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]


def render_seed_curves(
    title: str, metric: str, curves: Sequence[Sequence[tuple[int, float]]], baseline: float | None = None
) -> bytes:
    """One setting's validation ``metric`` against the step: the mean over seeds with a band
    of one standard deviation (and each seed faintly), plus an optional baseline line."""
    figure, (axes,) = _figure()
    steps = sorted({step for curve in curves for step, _ in curve})
    for curve in curves:
        points = [(s, v) for s, v in curve if math.isfinite(v)]
        axes.plot([s for s, _ in points], [v for _, v in points], "-", color="tab:blue", alpha=0.25, linewidth=1)
    means, lows, highs, kept = [], [], [], []
    for step in steps:
        values = _finite([v for curve in curves for s, v in curve if s == step])
        if values:
            mean = sum(values) / len(values)
            std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
            kept.append(step)
            means.append(mean)
            lows.append(mean - std)
            highs.append(mean + std)
    if kept:
        axes.plot(kept, means, "o-", color="tab:blue", markersize=3, label=f"mean of {len(curves)} seed(s)")
        axes.fill_between(kept, lows, highs, color="tab:blue", alpha=0.2, label="± 1 std")
    if baseline is not None:
        axes.axhline(baseline, color="tab:red", linestyle="--", linewidth=1, label="baseline")
    axes.set_title(title, fontsize=9)
    axes.set_xlabel("step")
    axes.set_ylabel(f"validation {metric}")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    return _png(figure)


def _label(row: Mapping[str, Any], several: bool) -> str:
    where = f"{row['topology']} " if several else ""
    return f"{where}layer {row['layer']} {row['direction']}"


def render_gradient_plot(rows: Sequence[Mapping[str, Any]], title: str) -> bytes:
    """``||dL/dh_t||`` (solid) and ``||d h_T / d h_t||`` through the recurrence alone (dashed)
    against the step ``t`` (each direction in its own reading order), one colour per layer and
    direction, on a log scale."""
    figure, (axes,) = _figure()
    several = len({row["topology"] for row in rows}) > 1
    for index, row in enumerate(rows):
        for key, style in (("grad_norms", "-"), ("memory_norms", "--")):
            norms = row.get(key) or []
            points = [(t, n) for t, n in enumerate(norms) if isinstance(n, (int, float)) and n > 0]
            if points:
                axes.plot(
                    [t for t, _ in points],
                    [n for _, n in points],
                    style,
                    color=f"C{index % 10}",
                    label=_label(row, several) if key == "grad_norms" else None,
                )
    axes.set_yscale("log")
    axes.set_title(title, fontsize=9)
    axes.set_xlabel("step t (in the direction's reading order)")
    axes.set_ylabel("mean ||dL/dh_t|| (solid)\n||d h_T/d h_t|| (dashed)")
    axes.grid(True, alpha=0.3)
    if rows:
        axes.legend(fontsize=8)
    return _png(figure)


def render_training_diagnostics(history: Sequence[Mapping[str, Any]], title: str) -> bytes:
    """From ``metrics.jsonl``'s diagnostics rows: the share of saturated units (solid) and
    gate values (dashed), the mean of ``h_t`` with a band of one std, and the slopes of the
    gradient through the recurrence (solid) and of the loss (dashed), against the training
    step, one colour per layer and direction."""
    figure, axes = _figure(3, 2.8)
    several = len({row["topology"] for row in history}) > 1
    series: dict[str, list[Mapping[str, Any]]] = {}
    for row in history:
        series.setdefault(_label(row, several), []).append(row)
    for index, (label, rows) in enumerate(series.items()):
        color = f"C{index % 10}"
        steps = [int(r["step"]) for r in rows]
        labelled = False
        for key, style in (("saturated", "-"), ("gates_saturated", "--")):
            points = [(s, r[key]) for s, r in zip(steps, rows) if isinstance(r.get(key), (int, float))]
            if points:
                axes[0].plot(
                    [s for s, _ in points],
                    [100 * v for _, v in points],
                    style,
                    color=color,
                    label=None if labelled else label,
                )
                labelled = True
        mean, std = [float(r["mean"]) for r in rows], [float(r["std"]) for r in rows]
        axes[1].plot(steps, mean, "-", color=color, label=label)
        axes[1].fill_between(
            steps, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)], color=color, alpha=0.12
        )
        for key, style in (("memory_slope", "o-"), ("grad_slope", "x--")):
            slopes = [(s, r[key]) for s, r in zip(steps, rows) if isinstance(r.get(key), (int, float))]
            axes[2].plot(
                [s for s, _ in slopes],
                [v for _, v in slopes],
                style,
                color=color,
                markersize=3,
                label=label if key == "memory_slope" else None,
            )
    axes[0].set_title(title, fontsize=9)
    axes[0].set_ylabel("saturated %\n(units solid, gates dashed)")
    axes[1].set_ylabel("mean h_t (± std)")
    axes[2].set_ylabel("log10 change per step back\n(recurrence solid, loss dashed)")
    axes[2].axhline(0.0, color="grey", linewidth=0.8)
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.set_xlabel("training step")
        if series:
            ax.legend(fontsize=7)
    return _png(figure)
