"""``seqframe inspect``: what the recurrence of a trained run does, read-only.

:func:`inspect` reloads a run directory (its final weights, or its newest checkpoint),
probes its model on a fixed batch (:func:`~seqframe.api.diagnostics.probe_batch`,
:func:`~seqframe.api.recurrence.probe_recurrence`), reads the diagnostics rows that training
wrote into ``metrics.jsonl`` (when ``train.diagnostics`` was on) and words what it finds.
Plots go to a folder outside the run directory, never into it: readers never write there.
Facade layer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqframe.api.diagnostics import probe_batch
from seqframe.api.inference import load_run
from seqframe.api.lab_plots import render_gradient_plot, render_training_diagnostics
from seqframe.api.recurrence import probe_recurrence
from seqframe.engine import write_atomic
from seqframe.errors import SeqframeError
from seqframe.registry import Registry

__all__ = ["InspectReport", "diagnostics_history", "inspect", "readings"]


@dataclass
class InspectReport:
    """What :func:`inspect` found.

    Attributes:
        run_dir: the run directory.
        step: the step of the weights probed (from ``run.json`` or the checkpoint), if known.
        probe_loss: the task's training loss on the probe batch.
        batch_size: rows of the probe batch.
        rows: one row per topology, layer and direction (see
            :func:`~seqframe.api.recurrence.probe_recurrence`).
        readings: one sentence per finding, e.g. ``"layer 2 backward: 38% of units saturated"``.
        history: the ``split: diagnostics`` rows of ``metrics.jsonl`` (empty when training
            did not record any).
        plots: the PNG files written.
    """

    run_dir: Path
    step: int | None
    probe_loss: float
    batch_size: int
    rows: list[dict[str, Any]]
    readings: list[str]
    history: list[dict[str, Any]] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-able data (history left out: it is in ``metrics.jsonl``)."""
        return {
            "run_dir": str(self.run_dir),
            "step": self.step,
            "probe_loss": self.probe_loss,
            "batch_size": self.batch_size,
            "rows": self.rows,
            "readings": self.readings,
            "history_rows": len(self.history),
            "plots": [str(p) for p in self.plots],
        }


def diagnostics_history(run_dir: str | Path) -> list[dict[str, Any]]:
    """The ``split: diagnostics`` rows of a run's ``metrics.jsonl`` (read only; a torn line is skipped)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and row.get("split") == "diagnostics" and "layer" in row:
            rows.append(row)
    return rows


def _name(row: Mapping[str, Any], several: bool) -> str:
    return (f"{row['topology']} " if several else "") + f"layer {row['layer']} {row['direction']}"


def _gradient_reading(slope: float | None) -> str | None:
    """What the slope of ``d s_T / d s_t`` says: the gradient through the recurrence itself."""
    if slope is None:
        return None
    if slope < -0.01:
        return f"the gradient through the recurrence vanishes (10x smaller every {1 / -slope:.0f} steps back)"
    if slope > 0.01:
        return f"the gradient through the recurrence explodes (10x larger every {1 / slope:.0f} steps back)"
    return f"the gradient is carried back through time ({slope:+.4f} log10 per step)"


def readings(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """One sentence per layer and direction: saturation, centring and the gradient through the
    recurrence (``memory_slope``: the loss's own ``grad_slope`` also reflects where the task puts
    its losses, every step for a language model)."""
    several = len({row["topology"] for row in rows}) > 1
    out = []
    for row in rows:
        if "skipped" in row:
            out.append(f"{row['topology']}: not inspected: {row['skipped']}")
            continue
        found = []
        if isinstance(row.get("saturated"), float) and row["saturated"] >= 0.05:
            found.append(f"{row['saturated']:.0%} of units saturated (|h| > 0.99)")
        gates = row.get("gate_saturation") or {}
        if isinstance(row.get("gates_saturated"), float) and row["gates_saturated"] >= 0.1:
            each = ", ".join(f"{name} {share:.0%}" for name, share in gates.items())
            found.append(f"{row['gates_saturated']:.0%} of gate values saturated ({each})")
        if row["std"] < 1e-3:
            found.append(f"units barely move (std {row['std']:.1e})")
        elif abs(row["mean"]) > 0.5 * row["std"] and abs(row["mean"]) > 0.1:
            found.append(f"not zero-centred (mean {row['mean']:+.2f}, std {row['std']:.2f})")
        if not found:
            found.append(
                f"zero-centred (mean {row['mean']:+.2f}, std {row['std']:.2f})"
                + (", no saturation" if row.get("saturated") is not None else "")
            )
        gradient = _gradient_reading(row.get("memory_slope"))
        out.append(f"{_name(row, several)}: " + "; ".join(found + ([gradient] if gradient else [])))
    return out


def _run_step(run_dir: Path) -> int | None:
    try:
        step = json.loads((run_dir / "run.json").read_text(encoding="utf-8")).get("step")
    except (OSError, ValueError):
        return None
    return step if isinstance(step, int) else None


def _plots_folder(run_dir: Path, plots_dir: str | Path) -> Path:
    folder = Path(plots_dir)
    run, target = run_dir.resolve(), folder.resolve()
    if target == run or run in target.parents:
        raise SeqframeError(
            f"--plots: {folder} is inside the run directory {run_dir}; inspecting never writes "
            "into a run directory; choose a folder outside it (the default is "
            f"./{run_dir.resolve().name}-inspect)"
        )
    if folder.exists() and not folder.is_dir():
        raise SeqframeError(f"--plots: {folder} exists and is not a folder; choose another")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def inspect(
    run_dir: str | Path,
    *,
    batch_size: int = 16,
    plots_dir: str | Path | None = None,
    registry: Registry | None = None,
    device: str = "cpu",
) -> InspectReport:
    """Probe a trained run's recurrence and read its diagnostics history; read-only.

    Args:
        run_dir: a run directory (finished, or interrupted: its newest checkpoint).
        batch_size: rows of the probe batch (the first batch of the validation split).
        plots_dir: where to write ``gradient_through_time.png`` and, when training recorded
            diagnostics, ``diagnostics_over_training.png`` (None: no plots). It may not lie
            inside the run directory.
        registry: where component names resolve (default: built-ins and installed plugins).
        device: where to run the model.

    Raises:
        CheckpointError: not a run directory.
        SeqframeError: ``plots_dir`` inside the run directory, or ``batch_size`` below 1.
        ValueError: the model has no topology that shows its cells.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise SeqframeError(f"--batch: expected a number of rows >= 1, got {batch_size!r}")
    out = Path(run_dir)
    folder = _plots_folder(out, plots_dir) if plots_dir is not None else None
    pipeline = load_run(out, registry=registry, device=device, with_data=True)
    batch = probe_batch(pipeline, batch_size, device)
    loss, rows = probe_recurrence(pipeline.task, pipeline.model, batch)
    report = InspectReport(out, _run_step(out), loss, batch_size, rows, readings(rows), diagnostics_history(out))
    if folder is not None:
        measured = [row for row in rows if "skipped" not in row]
        figures: dict[str, Callable[[], bytes]] = {
            "gradient_through_time.png": lambda: render_gradient_plot(
                measured, f"{out.resolve().name}: gradient through time (probe batch of {batch_size})"
            )
        }
        if report.history:
            figures["diagnostics_over_training.png"] = lambda: render_training_diagnostics(
                report.history, f"{out.resolve().name}: diagnostics over training"
            )
        for name, render in figures.items():
            write_atomic(folder / name, render())
            report.plots.append(folder / name)
    return report
