"""Training, for scripts: a pipeline (:func:`train`) or a recipe (:func:`run`), in one
process or under ``torchrun``."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from seqframe.api.diagnostics import RecurrenceDiagnostics
from seqframe.api.inference import predict
from seqframe.api.plugins import default_registry
from seqframe.api.preflight import build_checked, plugin_errors
from seqframe.api.recipes import load_recipe
from seqframe.engine import Callback, Checkpoint, LossPlot, MetricsWriter, ProgressBar, TrainResult, resolve_device, write_atomic
from seqframe.engine import train as _engine_train
from seqframe.engine.distributed import World, broadcast, init_from_env, launch as _launch, run_on_main, shutdown
from seqframe.engine.rng import prepare_cublas
from seqframe.engine.runfiles import latest_checkpoint, prepare_run_dir
from seqframe.engine.runlog import run_log
from seqframe.errors import CheckpointError
from seqframe.pipeline import Pipeline
from seqframe.recipe import Recipe, apply_overrides, parse_recipe
from seqframe.registry import Registry
from seqframe.runs import check_components, check_recipe_change, prepare_outputs, save_run

__all__ = ["RunResult", "launch", "run", "train"]


@dataclass
class RunResult:
    """What :func:`run` returns."""

    out_dir: Path | None
    result: TrainResult
    pipeline: Pipeline
    sample: str | None


def train(
    pipeline: Pipeline, out_dir: str | Path | None = None, *, progress: bool = True,
    callbacks: Sequence[Callback] = (), overwrite: bool = False, resume: bool = False,
    allow_recipe_change: bool = False, handle_signals: bool = True,
) -> TrainResult:
    """Train a pipeline; with ``out_dir``, write ``recipe.yaml``, ``metrics.jsonl``,
    ``loss.png``, ``run.log``, checkpoints, weights, tokenizer and ``run.json`` there.

    Started by ``torchrun`` (``WORLD_SIZE`` > 1), every process joins the job and trains its
    share of each batch; only rank 0 writes ``out_dir``, shows progress and calls
    ``callbacks``.

    Args:
        pipeline: what to train.
        out_dir: the run directory (None: nothing is written, no checkpoints).
        progress: show a progress bar, the run log and a line per evaluation.
        callbacks: more event receivers.
        overwrite: replace a previous run in ``out_dir``.
        resume: continue exactly from the newest complete checkpoint in ``out_dir``; the
            pipeline must be built as the checkpointed one was (:func:`run` with
            ``resume=True`` does that, reusing the checkpoint's tokenizer).
        allow_recipe_change: resume even when training-critical recipe keys changed.
        handle_signals: on SIGINT/SIGTERM save a checkpoint and raise
            :class:`~seqframe.errors.TrainingInterrupted` (main thread only).

    Raises:
        CheckpointError: ``out_dir`` in use, nothing to resume, or a checkpoint I/O error.
        RecipeError: resuming with a changed training-critical recipe key.
        TrainingInterrupted: stopped by a signal (a checkpoint was saved first).
        NonFiniteError: a NaN/inf loss or gradient.
    """
    world = _join_world(pipeline.train.device, pipeline.train.deterministic)
    try:
        checkpoint = None
        if resume:
            if out_dir is None:
                raise ValueError("train: resume=True needs the out_dir of the run to resume")

            def load() -> Checkpoint:
                found = latest_checkpoint(prepare_run_dir(out_dir, resume=True, overwrite=overwrite))
                if pipeline.recipe_text is not None:
                    check_recipe_change(found, parse_recipe(pipeline.recipe_text), allow_recipe_change)
                return found

            checkpoint = run_on_main(load, world)
        with plugin_errors(pipeline.components):  # a cell failing names its plugin
            return _train(pipeline, out_dir, progress=progress, callbacks=callbacks, overwrite=overwrite,
                          checkpoint=checkpoint, handle_signals=handle_signals, world=world)
    finally:
        shutdown(world)


def _join_world(device: str, deterministic: bool) -> World:
    """Join the torchrun job this process belongs to, if any (after setting what cuBLAS
    needs for determinism: joining on CUDA starts CUDA)."""
    try:
        resolved = resolve_device(device)
    except (ValueError, RuntimeError):  # reported with the recipe's context when training starts
        resolved = torch.device("cpu")
    prepare_cublas(deterministic, resolved)
    return init_from_env(resolved)[0]


def _train(pipeline: Pipeline, out_dir: str | Path | None, *, progress: bool, callbacks: Sequence[Callback],
           overwrite: bool, checkpoint: Checkpoint | None, handle_signals: bool, world: World) -> TrainResult:
    out, store, history = None, None, []
    if out_dir is not None:  # every rank learns whether rank 0 could set up the folder
        prepared = run_on_main(lambda: prepare_outputs(pipeline, out_dir, overwrite, checkpoint), world)
        if world.is_main:
            out, store, history = prepared
    all_callbacks: list[Callback] = [ProgressBar(disable=not progress), *callbacks] if world.is_main else []
    if out is not None:
        log_every = pipeline.train.log_every
        all_callbacks += [MetricsWriter(out / "metrics.jsonl", log_every), LossPlot(out / "loss.png", log_every, history)]
        all_callbacks += _diagnostics(pipeline, out)
    with run_log(out, console=progress and world.is_main):
        result = _engine_train(pipeline, all_callbacks, checkpoints=store, resume_from=checkpoint,
                               handle_signals=handle_signals, world=world)
    if out is not None:
        save_run(pipeline, out, result)
    return result


def _diagnostics(pipeline: Pipeline, out: Path) -> list[Callback]:
    """``train.diagnostics``: the callback that probes the recurrence, when switched on."""
    config = pipeline.train.diagnostics
    if config is None:
        return []
    return [RecurrenceDiagnostics(pipeline, config.every, config.batch_size, out / "metrics.jsonl")]


def run(
    recipe: Recipe | str | Path, overrides: Sequence[str] = (), *, out_dir: str | Path | None = None,
    progress: bool = True, overwrite: bool = False, resume: bool = False, allow_recipe_change: bool = False,
    registry: Registry | None = None, callbacks: Sequence[Callback] = (), handle_signals: bool = True,
) -> RunResult:
    """Load, build and train a recipe, then (for a language model) generate a sample.

    ``out_dir`` defaults to ``runs/<recipe name>-<timestamp>``. With ``resume``, training
    continues from the newest complete checkpoint in ``out_dir`` (its tokenizer is reused);
    see :func:`train` for the other options and errors. Under ``torchrun`` rank 0 reads
    the checkpoint and sends it to the other ranks, so only its machine needs the run
    directory.
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, overrides)
        overrides = ()
    elif overrides:
        recipe = apply_overrides(recipe, overrides)
    reg = registry or default_registry()
    settings = recipe.data.get("train") or {}
    world = _join_world(str(settings.get("device", "auto")), settings.get("deterministic") is True)
    try:
        checkpoint = None
        if resume:
            if out_dir is None:
                raise CheckpointError("--resume needs --out: the run directory to continue")

            def load() -> Checkpoint:
                found = latest_checkpoint(prepare_run_dir(out_dir, resume=True, overwrite=overwrite))
                check_components(found.meta.get("components", {}), reg, found.path)
                check_recipe_change(found, recipe, allow_recipe_change)
                return found

            checkpoint = run_on_main(load, world)
        pipeline = build_checked(recipe, reg, tokenizer_state=checkpoint.tokenizer if checkpoint else None,
                                 extra_state=checkpoint.extra if checkpoint else None)  # cells checked first
        pipeline.recipe_source = str(Path(recipe.source).resolve()) if recipe.source != "<string>" else None
        if out_dir is None:
            stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            out_dir = broadcast(Path("runs") / f"{Path(recipe.source).stem}-{stamp}", world)
        with plugin_errors(pipeline.components, reg):  # a cell failing names its plugin
            result = _train(pipeline, out_dir, progress=progress, callbacks=callbacks, overwrite=overwrite,
                            checkpoint=checkpoint, handle_signals=handle_signals, world=world)
    finally:
        shutdown(world)
    sample = None
    config = pipeline.train.sample
    if config is not None and pipeline.task.continues_prompt and world.is_main:
        text = predict(pipeline, [config.prompt], max_tokens=config.max_tokens, temperature=config.temperature,
                       top_k=config.top_k, top_p=config.top_p, seed=config.seed)[0]
        sample = config.prompt + text
        write_atomic(Path(out_dir) / "sample.txt", sample + "\n")
    return RunResult(Path(out_dir), result, pipeline, sample)


def launch(nproc: int, argv: Sequence[str]) -> int:
    """Run ``python -m seqframe ARGV`` in ``nproc`` processes on this machine under
    ``torchrun`` (what ``seqframe run --nproc N`` does); returns torchrun's exit status."""
    return _launch(nproc, argv)
