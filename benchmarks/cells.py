"""Which cells remember: elman, gru, lstm and the indrnn and mgu plugin cells on the adding
and copy problems at a short and a long length, 3 seeds each, under one CPU budget.

One ``seqframe.sweep`` per problem (cells x lengths x seeds); every cell gets the same
topology (2 layers of 64 units), optimizer, steps and data, except IndRNN's recurrent weights,
clamped to [-1, 1] as its paper does. A seed counts as *solved* when its final validation
error is below a tenth of the memoryless baseline (adding: MSE < 0.0167) or its per-symbol
accuracy reaches 90% (copy). Writes ``cells.md`` and ``cells.json`` under ``--results``
(default ``benchmarks/results``) with the CPU time the whole benchmark took; the run
directories go under ``--out``.

Usage:
    python -m benchmarks.cells [--jobs 1] [--threads 1] [--out sweeps/cells] [--results DIR]
    python -m benchmarks.cells --tiny --seeds 1 --out /tmp/cells --results /tmp/cells   # checks the script works
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle threads sleep: CPU time counts work, not spinning
import torch

import seqframe
from seqframe.builtin.data.generated.long_memory import adding_baseline, copy_baseline

CELLS = {
    "elman": "elman",
    "gru": "gru",
    "lstm": "lstm",
    "indrnn": "{name: indrnn, recurrent_max_abs: 1.0}",
    "mgu": "mgu",
}
COMMON = [
    "model.topology.num_layers=2",
    "model.topology.hidden_size=64",
    "train.optimizer.lr=1.0e-2",
    "train.checkpoint.every=0",
    "train.log_every=100",
]
PROBLEMS: dict[str, dict[str, Any]] = {
    "adding": {
        "recipe": "adding",
        "lengths": (10, 100),
        "metrics": ["mse"],
        "settings": [
            "data.size=5000",
            "data.valid_size=500",
            "data.test_size=10",
            "train.batch_size=50",
            "train.steps=1000",
            "train.eval_every=100",
        ],
    },
    "copy": {
        "recipe": "copy-memory",
        "lengths": (5, 40),
        "metrics": ["loss", "scored_accuracy"],
        "settings": [
            "data.copy_length=3",
            "data.size=5000",
            "data.valid_size=500",
            "data.test_size=10",
            "train.batch_size=64",
            "train.steps=1500",
            "train.eval_every=150",
        ],
    },
}
TINY = [
    "data.size=32",
    "data.valid_size=8",
    "train.steps=2",
    "train.eval_every=2",
    "model.topology.hidden_size=4",
    "train.batch_size=8",
]


def _baseline(problem: str, length: int, overrides: list[str]) -> float:
    if problem == "adding":
        return adding_baseline()
    copy_length = next(int(w.split("=")[1]) for w in overrides if w.startswith("data.copy_length="))
    return copy_baseline(length, copy_length, 8)


def _solved(problem: str, metrics: dict[str, float], baseline: float) -> bool:
    if problem == "adding":
        return metrics.get("mse", float("inf")) < 0.1 * baseline
    return metrics.get("scored_accuracy", 0.0) >= 0.9


def _run(problem: str, spec: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    lengths = (3, 4) if args.tiny else spec["lengths"]
    cells = [CELLS["elman"], CELLS["indrnn"]] if args.tiny else list(CELLS.values())
    words = [
        f"model.topology.cell={','.join(cells)}",
        f"data.length={','.join(map(str, lengths))}",
        *COMMON,
        *spec["settings"],
        *(TINY if args.tiny else []),
    ]
    words = list({word.split("=", 1)[0]: word for word in words}.values())  # a later word replaces an earlier one
    result = seqframe.sweep(
        spec["recipe"],
        words,
        seeds=args.seeds,
        out_dir=Path(args.out) / problem,
        jobs=args.jobs,
        threads=args.threads,
        metrics=spec["metrics"],
        plot_metric=spec["metrics"][0],
    )
    rows = []
    names = {value: name for name, value in CELLS.items()}
    for setting in result.settings:
        length = int(setting.values["data.length"])
        cell = setting.values["model.topology.cell"]
        cell = names[cell if isinstance(cell, str) else CELLS["indrnn"]]
        baseline = _baseline(problem, length, spec["settings"])
        finished = [run.metrics for run in setting.runs if run.status == "finished"]
        rows.append(
            {
                "problem": problem,
                "length": length,
                "cell": cell,
                "baseline": baseline,
                "mean": setting.mean,
                "std": setting.std,
                "seeds": len(setting.runs),
                "solved": sum(_solved(problem, m, baseline) for m in finished),
                "per_seed": [run.metrics for run in setting.runs],
            }
        )
    return rows


def _cell(row: dict[str, Any], metric: str, scale: float = 1.0, digits: int = 3) -> str:
    mean, std = row["mean"].get(metric), row["std"].get(metric)
    if mean is None:
        return "—"
    return f"{scale * mean:.{digits}f}" + (f" ± {scale * std:.{digits}f}" if std is not None else "")


def _markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    by = {(r["problem"], r["cell"], r["length"]): r for r in rows}
    lengths = {p: sorted({r["length"] for r in rows if r["problem"] == p}) for p in PROBLEMS}
    head = [
        f"{p} T={t}: {'MSE' if p == 'adding' else 'per-symbol accuracy'} | solved" for p in PROBLEMS for t in lengths[p]
    ]
    lines = [
        "# Which cells remember (`python -m benchmarks.cells`)\n",
        meta["note"],
        "",
        "| cell | " + " | ".join(head) + " |",
        "|---|" + "---|---|" * len(head),
    ]
    for cell in CELLS:
        cells = [cell]
        for problem, metric, scale, digits in (("adding", "mse", 1.0, 4), ("copy", "scored_accuracy", 100.0, 1)):
            for length in lengths[problem]:
                row = by.get((problem, cell, length))
                cells += (
                    [
                        _cell(row, metric, scale, digits) + ("%" if scale == 100 else ""),
                        f"{row['solved']}/{row['seeds']}",
                    ]
                    if row
                    else ["—", "—"]
                )
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Lengths: adding T = {', '.join(map(str, lengths['adding']))} (baseline MSE 0.1667, always "
        "answering 1.0); copy T = "
        + ", ".join(
            f"{t} (baseline loss {_baseline('copy', t, PROBLEMS['copy']['settings']):.3f} nats, chance 12.5%)"
            for t in lengths["copy"]
        )
        + ".",
        "",
        "| problem | T | cell | final validation metrics, mean ± std over seeds | baseline | solved |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        shown = ", ".join(f"{k} {_cell(row, k, 1.0, 4)}" for k in PROBLEMS[row["problem"]]["metrics"])
        lines.append(
            f"| {row['problem']} | {row['length']} | {row['cell']} | {shown} | {row['baseline']:.4f} | "
            f"{row['solved']}/{row['seeds']} |"
        )
    return "\n".join(lines) + "\n"


def note(meta: dict[str, Any]) -> str:
    """The paragraph under the title: the protocol and what the whole benchmark cost."""
    return (
        f"{meta['seeds']} seeds per cell and length; every cell 2 layers x 64 units, Adam 1e-2, batch 50 (adding) "
        "or 64 (copy), 5000 training sequences, 1000 steps (adding) or 1500 (copy); IndRNN's recurrent weights "
        "clamped to [-1, 1]. The copy problem here copies 3 symbols (of 8), not the recipe's 10, which need "
        "more steps than this budget. Solved: final validation MSE below a tenth of the baseline (adding) or "
        f"per-symbol accuracy >= 90% (copy). Whole benchmark: {meta['cpu_minutes']:.1f} CPU-minutes "
        f"({meta['wall_minutes']:.1f} min wall, {meta['jobs']} job(s) x {meta['threads']} thread(s) on 2 cores "
        f"shared with other work, {meta['machine']}, torch {meta['torch']}, {meta['date']})."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (processes)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--out", default="sweeps/cells", help="where the sweeps' run directories go (resumable)")
    parser.add_argument("--results", default="benchmarks/results", help="where cells.md and cells.json go")
    parser.add_argument(
        "--tiny", action="store_true", help="tiny settings, elman and indrnn only: checks the script, measures nothing"
    )
    args = parser.parse_args()
    start, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    rows = [row for problem, spec in PROBLEMS.items() for row in _run(problem, spec, args)]
    end, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (end.ru_utime - start.ru_utime) + (end.ru_stime - start.ru_stime) + children.ru_utime + children.ru_stime
    meta = {
        "cpu_minutes": cpu / 60,
        "wall_minutes": (time.perf_counter() - wall) / 60,
        "jobs": args.jobs,
        "threads": args.threads,
        "seeds": args.seeds,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
        "tiny": args.tiny,
        "cells": CELLS,
        "common": COMMON,
        "problems": {k: {**v, "lengths": list(v["lengths"])} for k, v in PROBLEMS.items()},
    }
    meta["note"] = note(meta)
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    (results / "cells.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n", encoding="utf-8")
    (results / "cells.md").write_text(_markdown(rows, meta), encoding="utf-8")
    print(_markdown(rows, meta))


if __name__ == "__main__":
    main()
