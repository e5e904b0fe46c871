"""A sweep's results: each run's final validation metrics and curve read back from its run
directory (``run.json``, ``metrics.jsonl``), aggregated over seeds per setting, and written
as ``results.json``, ``results.md`` and one plot per setting. Facade layer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seqframe.api.lab_plots import render_seed_curves
from seqframe.api.sweep_spec import SweepPlan
from seqframe.engine import write_atomic

__all__ = [
    "SeedRun",
    "SettingResult",
    "SweepResult",
    "collect",
    "mean_std",
    "results_table",
    "run_status",
    "write_results",
]


@dataclass
class SeedRun:
    """One run of a setting: its seed, folder (relative to the sweep), status, final
    validation metrics and validation curve ``[[step, {metric: value}], ...]``."""

    seed: int
    run_dir: str
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    curve: list[tuple[int, dict[str, float]]] = field(default_factory=list)


@dataclass
class SettingResult:
    """One setting: its swept values, its runs, and the mean and standard deviation (over
    the finished seeds; None with fewer than two) of every final metric."""

    values: dict[str, Any]
    slug: str
    runs: list[SeedRun]
    mean: dict[str, float]
    std: dict[str, float | None]

    @property
    def finished(self) -> int:
        """How many seeds finished."""
        return sum(run.status == "finished" for run in self.runs)


@dataclass
class SweepResult:
    """What :func:`~seqframe.api.sweep.sweep` returns (and ``results.json`` holds)."""

    out_dir: Path
    recipe: str
    swept: list[str]
    fixed: list[str]
    seeds: list[int]
    metrics: list[str]
    settings: list[SettingResult]

    def to_json(self) -> dict[str, Any]:
        """JSON-able data, non-finite numbers as None."""
        data = asdict(self)
        data["out_dir"] = str(self.out_dir)
        return {key: _finite(value) for key, value in data.items()}


def run_status(run_dir: str | Path) -> str:
    """Where a run directory stands: ``"finished"`` (its final files, ``run.json`` and
    ``model.safetensors``, are there), ``"interrupted"`` (a ``checkpoints`` folder to resume
    from) or ``"new"`` (nothing of a run yet). The one place a sweep decides what to do with
    a folder."""
    out = Path(run_dir)
    if (out / "run.json").is_file() and (out / "model.safetensors").is_file():
        return "finished"
    if (out / "checkpoints").is_dir() and any(p.name.startswith("step_") for p in (out / "checkpoints").iterdir()):
        return "interrupted"
    return "new"


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """The mean and the sample standard deviation (None for fewer than two values)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _numbers(row: Mapping[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in row.items()
        if k not in ("step", "split") and isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def _read_run(out: Path, folder: Path, seed: int) -> SeedRun:
    run = SeedRun(seed, str(folder.relative_to(out)), run_status(folder))
    if run.status == "finished":
        try:
            final = json.loads((folder / "run.json").read_text(encoding="utf-8")).get("final_eval") or {}
        except (OSError, ValueError):
            final = {}
        run.metrics = _numbers(final)
    if (folder / "metrics.jsonl").is_file():
        for line in (folder / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and row.get("split") == "valid" and isinstance(row.get("step"), int):
                run.curve.append((row["step"], _numbers(row)))
    return run


def collect(recipe: str, plan: SweepPlan, out: Path, metrics: Sequence[str] | None = None) -> SweepResult:
    """Read every run of ``plan`` under ``out`` and aggregate each setting over its seeds."""
    settings, seen = [], []
    for setting in plan.settings:
        runs = [_read_run(out, plan.run_dir(out, setting, seed), seed) for seed in plan.seeds]
        names = sorted({k for run in runs for k in run.metrics}, key=lambda k: (k != "loss", k))
        mean, std = {}, {}
        for name in names:
            values = [run.metrics[name] for run in runs if name in run.metrics and math.isfinite(run.metrics[name])]
            if values:
                mean[name], std[name] = mean_std(values)
        seen += [n for n in names if n not in seen]
        settings.append(SettingResult(setting.parsed(), setting.slug, runs, mean, std))
    chosen = list(metrics) if metrics else seen
    return SweepResult(out, recipe, list(plan.swept), list(plan.fixed), list(plan.seeds), chosen, settings)


def _cell(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "—"
    return f"{mean:.4g}" + (f" ± {std:.2g}" if std is not None else "")


def _written(value: Any) -> str:
    """A swept value as a recipe writes it (``gru``, ``0.001``, ``{name: indrnn, recurrent_max_abs: 1.0}``)."""
    if isinstance(value, str):
        return value
    dumped: str = yaml.safe_dump(value, default_flow_style=True, width=10**6)  # a str: no stream given
    return dumped.strip().removesuffix("...").strip()


def results_table(result: SweepResult) -> str:
    """The Markdown table of ``results.md``: one row per setting, ``mean ± std`` per metric."""
    head = [*(key.rsplit(".", 1)[-1] for key in result.swept), "seeds", *result.metrics]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for setting in result.settings:
        values = [_written(setting.values[key]) for key in result.swept]
        cells = [_cell(setting.mean.get(m), setting.std.get(m)) for m in result.metrics]
        lines.append("| " + " | ".join([*values, f"{setting.finished}/{len(setting.runs)}", *cells]) + " |")
    return "\n".join(lines) + "\n"


def write_results(result: SweepResult, plot_metric: str = "loss") -> None:
    """Write ``results.json``, ``results.md`` and ``plots/<setting>.png`` into the sweep folder."""
    out = result.out_dir
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "results.json", json.dumps(result.to_json(), indent=1, allow_nan=False) + "\n")
    fixed = ", ".join(f"`{word}`" for word in result.fixed) or "none"
    text = (
        f"# Sweep of `{result.recipe}`\n\nSwept: {', '.join(f'`{k}`' for k in result.swept) or 'nothing'}; "
        f"seeds {', '.join(map(str, result.seeds))}; fixed: {fixed}.\nFinal validation metrics, mean ± "
        "sample standard deviation over the finished seeds.\n\n" + results_table(result)
    )
    failed = [(s.slug, run) for s in result.settings for run in s.runs if run.status != "finished"]
    if failed:
        text += "\nNot finished: " + ", ".join(f"{run.run_dir} ({run.status})" for _, run in failed) + "\n"
    write_atomic(out / "results.md", text)
    (out / "plots").mkdir(exist_ok=True)
    for setting in result.settings:
        curves = [[(step, row[plot_metric]) for step, row in run.curve if plot_metric in row] for run in setting.runs]
        if any(curves):
            title = f"{result.recipe}: {setting.slug}"
            write_atomic(out / "plots" / f"{setting.slug}.png", render_seed_curves(title, plot_metric, curves))
