"""``seqframe sweep``: one recipe over the cartesian product of listed values x seeds, each a
normal run directory, then the results aggregated over seeds.

Resumable: a run whose directory is finished (:func:`run_status`) is read, not trained
again; an interrupted one continues with ``seqframe.run(..., resume=True)``. ``jobs``
processes train at once (``spawn``ed workers), each with ``threads`` torch threads so that
``jobs * threads`` does not exceed the cores. Facade layer.
"""

from __future__ import annotations

import datetime
import multiprocessing
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from seqframe.api.recipes import load_recipe, validate
from seqframe.api.sweep_results import SweepResult, collect, run_status, write_results
from seqframe.api.sweep_spec import SweepPlan, parse_sweep
from seqframe.api.training import run
from seqframe.errors import CheckpointError, SeqframeError, TrainingInterrupted
from seqframe.recipe import Recipe, parse_recipe
from seqframe.recipe.schema import recipe_changes
from seqframe.registry import Registry

__all__ = ["SweepInterrupted", "run_status", "sweep"]


class SweepInterrupted(TrainingInterrupted):
    """A sweep stopped by Ctrl-C or SIGTERM: finished runs and every checkpoint are kept."""

    def __init__(self, out: Path) -> None:
        super().__init__("SIGINT", 2, 0, None)
        self.args = (
            f"sweep {out} stopped; finished runs and checkpoints are kept: run the same command again to resume",
        )


@dataclass(frozen=True)
class _Job:
    """One run to train: what the worker needs, all plain data (sent to spawned processes)."""

    recipe: str
    overrides: tuple[str, ...]
    out_dir: str
    status: str


def _train_one(job: _Job, registry: Registry | None = None) -> dict[str, Any]:
    """Train (or resume) one run; never raises for a failed run, returns what happened."""
    start = time.perf_counter()
    resume = job.status == "interrupted"
    try:
        try:
            run(
                job.recipe,
                list(job.overrides),
                out_dir=job.out_dir,
                progress=False,
                resume=resume,
                overwrite=job.status == "new" and Path(job.out_dir).exists(),
                registry=registry,
            )
        except CheckpointError:
            if not resume:
                raise
            run(
                job.recipe, list(job.overrides), out_dir=job.out_dir, progress=False, overwrite=True, registry=registry
            )  # no complete checkpoint after all: start again
    except TrainingInterrupted as exc:
        return {"outcome": "interrupted", "error": str(exc)}
    except Exception as exc:  # one failed run does not stop the sweep; it is reported
        return {"outcome": "failed", "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    return {"outcome": "resumed" if resume else "trained", "seconds": time.perf_counter() - start}


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def _threads(jobs: int, threads: int | None) -> int:
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise SeqframeError(f"sweep: --threads: expected a number >= 1, got {threads!r}")
        return threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // jobs)


def _check_plan(recipe: str, plan: SweepPlan, out: Path, registry: Registry | None) -> list[_Job]:
    """Validate every setting before anything trains, and list the runs still to train."""
    jobs = []
    for setting in plan.settings:
        for seed in plan.seeds:
            overrides = plan.overrides(setting, seed)
            resolved = validate(recipe, overrides, registry=registry)
            folder = plan.run_dir(out, setting, seed)
            status = run_status(folder)
            if status == "finished":
                _check_unchanged(folder, resolved)
            else:
                jobs.append(_Job(str(recipe), tuple(overrides), str(folder), status))
    return jobs


def _check_unchanged(folder: Path, recipe: Recipe) -> None:
    """A finished run is reused only when it was trained with this very recipe."""
    try:
        saved = parse_recipe((folder / "recipe.yaml").read_text(encoding="utf-8"), str(folder / "recipe.yaml"))
    except (OSError, SeqframeError):
        return  # no readable recipe: nothing to compare (the run's own files say what it was)
    changes = recipe_changes(saved.data, recipe.data)
    if changes:
        key, before, after = changes[0]
        more = f" (and {len(changes) - 1} more)" if len(changes) > 1 else ""
        raise SeqframeError(
            f"sweep: {folder} was trained with {key}={before!r}, this sweep asks for {after!r}{more}; "
            "its results would not fit: choose another --out or remove that run"
        )


def _report(progress: bool, done: int, total: int, job: _Job, outcome: Mapping[str, Any], out: Path) -> None:
    if not progress:
        return
    where = Path(job.out_dir).relative_to(out)
    what = outcome["outcome"] + (f" in {outcome['seconds']:.0f} s" if "seconds" in outcome else "")
    print(f"[{done}/{total}] {where}: {what}" + (f": {outcome['error']}" if "error" in outcome else ""), flush=True)


def _run_jobs(
    jobs: Sequence[_Job],
    workers: int,
    threads: int,
    registry: Registry | None,
    report: Callable[[int, _Job, Mapping[str, Any]], None],
) -> list[dict[str, Any]]:
    if workers == 1:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            outcomes = []
            for i, job in enumerate(jobs):
                outcomes.append(_train_one(job, registry))
                report(i + 1, job, outcomes[-1])
                if outcomes[-1]["outcome"] == "interrupted":
                    break
            return outcomes
        finally:
            torch.set_num_threads(previous)
    if registry is not None:
        raise SeqframeError(
            "sweep: a custom registry works with jobs=1 only (worker processes load the installed plugins themselves)"
        )
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(threads,)) as pool:
        futures: dict[Future[dict[str, Any]], _Job] = {pool.submit(_train_one, job): job for job in jobs}
        outcomes = []
        try:
            for future in as_completed(futures):
                outcomes.append(future.result())
                report(len(outcomes), futures[future], outcomes[-1])
        except KeyboardInterrupt:  # the workers got the signal too: each saves a checkpoint and stops
            pool.shutdown(wait=True, cancel_futures=True)
            outcomes.append({"outcome": "interrupted", "error": "interrupted"})
        return outcomes


def sweep(
    recipe: str | Path,
    settings: Sequence[str] | Mapping[str, Any] = (),
    *,
    seeds: int = 1,
    out_dir: str | Path | None = None,
    jobs: int = 1,
    threads: int | None = None,
    metrics: Sequence[str] | None = None,
    plot_metric: str = "loss",
    registry: Registry | None = None,
    progress: bool = True,
) -> SweepResult:
    """Train a recipe over the cartesian product of listed values, ``seeds`` times each.

    Each run is a normal run directory ``<out_dir>/<setting>/seed-<n>``; then
    ``<out_dir>/results.json`` (one row per setting: the swept values, every seed's final
    validation metrics, their mean and standard deviation), ``results.md`` (a table) and
    ``plots/<setting>.png`` (validation ``plot_metric`` against the step: the mean over seeds
    with a band of one standard deviation) are written. Calling it again with the same
    arguments skips finished runs and resumes interrupted ones.

    Args:
        recipe: a recipe file or shipped name.
        settings: ``KEY=v1,v2,...`` words (swept), ``KEY=VALUE`` and ``~KEY`` (every run), or a
            mapping ``{key: [values]}``.
        seeds: seeds per setting: ``train.seed`` 0 .. seeds - 1.
        out_dir: the sweep folder (default ``sweeps/<recipe>-<time>``).
        jobs: runs trained at once, each in its own process.
        threads: torch threads per run (default: the cores divided by ``jobs``).
        metrics: the metrics of the table (default: every final validation metric).
        plot_metric: the validation metric plotted.
        registry: where component names resolve (``jobs=1`` only).
        progress: print a line per run.

    Raises:
        SeqframeError: a malformed sweep (exit 2, one line); RecipeError for a key or value the
            recipe rejects, before anything trains.
        TrainingInterrupted: stopped by a signal; finished runs and checkpoints are kept, and
            the same call resumes.
    """
    plan = parse_sweep(settings, seeds)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise SeqframeError(f"sweep: --jobs: expected a number of processes >= 1, got {jobs!r}")
    per_run = _threads(jobs, threads)
    name = Path(str(recipe)).stem
    load_recipe(recipe)  # an unknown recipe fails here, once
    out = Path(out_dir) if out_dir is not None else Path("sweeps") / f"{name}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    todo = _check_plan(str(recipe), plan, out, registry)
    total = len(plan.settings) * len(plan.seeds)
    if progress:
        print(
            f"sweep {out}: {len(plan.settings)} setting(s) x {len(plan.seeds)} seed(s); "
            f"{total - len(todo)} finished, {len(todo)} to train ({jobs} job(s) x {per_run} thread(s))",
            flush=True,
        )
    offset = total - len(todo)
    outcomes = _run_jobs(
        todo,
        min(jobs, max(len(todo), 1)),
        per_run,
        registry,
        lambda i, job, outcome: _report(progress, offset + i, total, job, outcome, out),
    )
    result = collect(name, plan, out, metrics)
    write_results(result, plot_metric)
    if any(o["outcome"] == "interrupted" for o in outcomes):
        raise SweepInterrupted(out)
    return result
