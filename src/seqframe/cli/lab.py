"""``seqframe sweep`` (a recipe over values x seeds, aggregated) and ``seqframe inspect``
(what a trained run's recurrence does)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from seqframe import api
from seqframe.cli.common import DIRECTORY, FILE, add_command, complete

__all__ = ["add_parsers"]


def _cmd_sweep(args: argparse.Namespace) -> int:
    metrics = [m for m in args.metrics.split(",") if m] if args.metrics else None
    result = api.sweep(
        args.recipe,
        args.overrides,
        seeds=args.seeds,
        out_dir=args.out,
        jobs=args.jobs,
        threads=args.threads,
        metrics=metrics,
        plot_metric=args.plot_metric,
        progress=True,
    )
    print(f"results: {result.out_dir / 'results.md'} (and results.json, plots/)")
    print((result.out_dir / "results.md").read_text(encoding="utf-8").split("\n\n", 2)[-1], end="")
    unfinished = [run.run_dir for s in result.settings for run in s.runs if run.status != "finished"]
    if unfinished:
        print(
            f"{len(unfinished)} run(s) did not finish: {', '.join(unfinished)}; run the same command again to "
            "retry them"
        )
        return 1
    return 0


def _table(report: api.InspectReport) -> str:
    rows = [row for row in report.rows if "skipped" not in row]
    several = len({row["topology"] for row in rows}) > 1
    head = (["topology"] if several else []) + [
        "layer",
        "direction",
        "cell",
        "mean",
        "std",
        "saturated",
        "gates sat.",
        "grad slope",
        "memory slope",
        "|dL/dh| first..last",
    ]
    lines = []
    for row in rows:
        norms = row["grad_norms"] or [0.0]
        cells = ([row["topology"]] if several else []) + [
            str(row["layer"]),
            row["direction"],
            row["cell"],
            f"{row['mean']:+.3f}",
            f"{row['std']:.3f}",
            "n/a" if row["saturated"] is None else f"{row['saturated']:.1%}",
            "n/a" if row["gates_saturated"] is None else f"{row['gates_saturated']:.1%}",
            "n/a" if row["grad_slope"] is None else f"{row['grad_slope']:+.4f}",
            "n/a" if row["memory_slope"] is None else f"{row['memory_slope']:+.4f}",
            f"{norms[0]:.1e}..{norms[-1]:.1e}",
        ]
        lines.append(cells)
    widths = [max(len(str(x)) for x in column) for column in zip(head, *lines)]
    return "\n".join("  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip() for line in [head, *lines])


def _cmd_inspect(args: argparse.Namespace) -> int:
    plots = None if args.no_plots else (args.plots or Path.cwd() / f"{Path(args.run_dir).resolve().name}-inspect")
    report = api.inspect(args.run_dir, batch_size=args.batch, plots_dir=plots)
    if args.json:
        print(json.dumps(report.to_json(), indent=1))
        return 0
    step = f" at step {report.step}" if report.step is not None else ""
    print(f"{report.run_dir}{step}: probe batch of {report.batch_size}, probe loss {report.probe_loss:.4f}")
    print(_table(report))
    print("readings:")
    for line in report.readings:
        print(f"  {line}")
    print(
        "grad slope: change of log10 ||dL/dh_t|| per step back in time (negative: vanishing); memory slope: "
        "the same for ||d h_T / d h_t||, through the recurrence alone"
    )
    if report.history:
        print(f"diagnostics recorded while training: {len(report.history)} rows in metrics.jsonl")
    for path in report.plots:
        print(f"plot: {path}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's subcommands."""
    sweep = add_command(
        sub,
        "sweep",
        help="train a recipe over listed values x seeds and aggregate the results",
        examples=[
            "seqframe sweep adding model.topology.cell=elman,gru,lstm --seeds 3 --out sweeps/cells",
            "seqframe sweep lm train.optimizer.lr=1e-3,3e-3 train.steps=500 --jobs 2   # two runs at once",
            "seqframe sweep adding model.topology.cell=gru --seeds 3 --out sweeps/cells  # rerun: resumes, skips done",
        ],
    )
    complete(sweep.add_argument("recipe", help="recipe file or shipped recipe name"), FILE)
    sweep.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=v1,v2,...",
        help="swept values (cartesian product); KEY=VALUE or ~KEY apply to every run",
    )
    sweep.add_argument("--seeds", type=int, default=1, metavar="N", help="seeds per setting: train.seed 0..N-1")
    complete(
        sweep.add_argument(
            "--out", metavar="DIR", help="the sweep folder (default sweeps/<recipe>-<time>); rerun to resume"
        ),
        DIRECTORY,
    )
    sweep.add_argument("--jobs", type=int, default=1, metavar="J", help="runs trained at once, one process each")
    sweep.add_argument("--threads", type=int, metavar="T", help="torch threads per run (default: cores / jobs)")
    sweep.add_argument("--metrics", metavar="A,B", help="metrics of the results table (default: all)")
    sweep.add_argument("--plot-metric", default="loss", metavar="M", help="validation metric plotted per setting")
    sweep.set_defaults(func=_cmd_sweep)
    inspect = add_command(
        sub,
        "inspect",
        help="what a trained run's recurrence does: activations, saturation, gradient through time",
        examples=[
            "seqframe inspect runs/lm                       # table, readings, plots in ./lm-inspect",
            "seqframe inspect runs/lm --batch 64 --no-plots",
            "seqframe inspect runs/lm --json > report.json",
        ],
    )
    complete(inspect.add_argument("run_dir", help="a run directory (read only)"), DIRECTORY)
    inspect.add_argument("--batch", type=int, default=16, metavar="N", help="rows of the probe batch")
    inspect.add_argument("--json", action="store_true", help="print the report as JSON")
    complete(
        inspect.add_argument(
            "--plots",
            metavar="DIR",
            help="where the plots go (default ./<run name>-inspect; never inside the run directory)",
        ),
        DIRECTORY,
    )
    inspect.add_argument("--no-plots", action="store_true", help="write no plots")
    inspect.set_defaults(func=_cmd_inspect)
