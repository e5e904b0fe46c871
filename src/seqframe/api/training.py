"""Training, for scripts: a pipeline (:func:`train`) or a recipe (:func:`run`), in one
process or under ``torchrun``; and saving a pipeline trained elsewhere (:func:`save_run`).

Each call with a run directory opens it as its one writer (rank 0 holds the lock under
``torchrun``), checks a resume completely before the first write (:mod:`seqframe.runs`),
and marks the run complete in its manifest once the final files are written."""

from __future__ import annotations

import contextlib
import datetime
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from seqframe.api.diagnostics import RecurrenceDiagnostics
from seqframe.api.inference import predict
from seqframe.api.loggers import ResolvedLogger, close_loggers, resolve_loggers, start_loggers
from seqframe.api.plugins import default_registry
from seqframe.api.preflight import build_checked, plugin_errors
from seqframe.api.recipes import RecipeLike, load_recipe
from seqframe.api.results import RunResult, UnreloadableRunWarning, as_run_result
from seqframe.engine import Callback, Checkpoint, LossPlot, MetricsWriter, ProgressBar, TrainResult, resolve_device
from seqframe.engine import train as _engine_train
from seqframe.engine.checkpoint import CheckpointStore
from seqframe.engine.distributed import World, broadcast, init_from_env, run_on_main, shutdown
from seqframe.engine.distributed import launch as _launch
from seqframe.engine.rng import prepare_cublas
from seqframe.engine.rundir import RUN_FILES, RunDir
from seqframe.engine.runlog import run_log
from seqframe.errors import CheckpointError
from seqframe.interfaces import Logger
from seqframe.pipeline import Pipeline
from seqframe.recipe import Recipe, apply_overrides, parse_recipe
from seqframe.recipe.mapping import DICT_SOURCE
from seqframe.registry import Registry
from seqframe.runs import resume_checkpoint, save_final, start_run

__all__ = ["RunResult", "UnreloadableRunWarning", "launch", "run", "save_run", "train"]


def train(
    pipeline: Pipeline,
    out_dir: str | Path | None = None,
    *,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
    overwrite: bool = False,
    resume: bool = False,
    allow_recipe_change: bool = False,
    handle_signals: bool = True,
) -> RunResult:
    """Train a pipeline; with ``out_dir``, write ``recipe.yaml``, ``metrics.jsonl``,
    ``loss.png``, ``run.log``, checkpoints, weights, tokenizer, ``run.json`` and, for a task
    that continues prompts, ``sample.txt`` there: the run directory ``seqframe run`` writes,
    which :func:`~seqframe.api.load_run`, ``seqframe predict`` and ``seqframe eval`` read.

    A pipeline with components given as objects has no recipe (see
    :meth:`Pipeline.to_recipe`): its run directory gets the weights and tokenizer but no
    ``recipe.yaml``, so it cannot be reloaded by name, and a one-line warning says so.

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

    Returns:
        A :class:`RunResult` (the same type :func:`run` returns).

    Raises:
        CheckpointError: ``out_dir`` in use, nothing to resume, or a checkpoint I/O error.
        RecipeError: resuming with a changed training-critical recipe key.
        TrainingInterrupted: stopped by a signal (a checkpoint was saved first).
        NonFiniteError: a NaN/inf loss or gradient.
    """
    if resume and out_dir is None:
        raise ValueError("train: resume=True needs the out_dir of the run to resume")
    world = _join_world(pipeline.train.device, pipeline.train.deterministic)
    if out_dir is not None and pipeline.recipe_text is None and world.is_main:
        warnings.warn(
            f"train: {out_dir} gets no recipe.yaml and cannot be reloaded by name (load_run, seqframe "
            f"predict/eval): {pipeline.unnamed_description()}; its weights and tokenizer are saved",
            UnreloadableRunWarning,
            stacklevel=2,
        )
    keep = [pipeline.recipe_source] if pipeline.recipe_source else []
    recipe = parse_recipe(pipeline.recipe_text) if resume and pipeline.recipe_text is not None else None
    session = _Session(resume, overwrite, allow_recipe_change, progress, callbacks, handle_signals)
    return _train_in(out_dir, world, session, lambda _: pipeline, recipe, None, keep)


@dataclass(frozen=True)
class _Session:
    """The options :func:`train` and :func:`run` share (see :func:`train`)."""

    resume: bool
    overwrite: bool
    allow_recipe_change: bool
    progress: bool
    callbacks: Sequence[Callback]
    handle_signals: bool


def _train_in(
    out_dir: str | Path | None,
    world: World,
    session: _Session,
    pipeline_for: Callable[[Checkpoint | None], Pipeline],
    recipe: Recipe | None,
    registry: Registry | None,
    keep: Sequence[str],
) -> RunResult:
    """Open ``out_dir`` (nothing without one), read the checkpoint to resume from (checked
    against ``recipe`` and ``registry``), build the pipeline for it, train, write the final
    files and leave the torchrun job however training ends."""
    try:
        with _run_dir(out_dir, world, resume=session.resume, overwrite=session.overwrite, keep=keep) as run_dir:
            checkpoint = None
            if session.resume:
                checkpoint = run_on_main(
                    lambda: resume_checkpoint(_held(run_dir), recipe, session.allow_recipe_change, registry), world
                )
            pipeline = pipeline_for(checkpoint)
            loggers = pipeline.train.loggers
            resolved = resolve_loggers(loggers, registry or default_registry()) if loggers else []
            result, sample = _train_and_finish(
                pipeline,
                run_dir,
                out_dir is not None,
                resolved,
                registry,
                world=world,
                progress=session.progress,
                callbacks=session.callbacks,
                checkpoint=checkpoint,
                allow=session.allow_recipe_change,
                handle_signals=session.handle_signals,
            )
    finally:
        shutdown(world)
    return as_run_result(result, Path(out_dir) if out_dir is not None else None, pipeline, sample)


@contextlib.contextmanager
def _run_dir(
    out_dir: str | Path | None, world: World, *, resume: bool, overwrite: bool, keep: Sequence[str]
) -> Iterator[RunDir | None]:
    """The run directory opened by its writer, rank 0 (None on the other ranks and without
    ``out_dir``); every rank raises if rank 0 could not open it. Closed on the way out."""
    opened: list[RunDir] = []
    if out_dir is not None:
        run_on_main(
            lambda: opened.append(RunDir.open_writer(out_dir, resume=resume, overwrite=overwrite, keep=keep)), world
        )
    try:
        yield opened[0] if opened else None
    finally:
        for run_dir in opened:
            run_dir.close()


def _held(run_dir: RunDir | None) -> RunDir:
    if run_dir is None:
        raise RuntimeError("only rank 0 holds the run directory")
    return run_dir


def _join_world(device: str, deterministic: bool) -> World:
    """Join the torchrun job this process belongs to, if any (after setting what cuBLAS
    needs for determinism: joining on CUDA starts CUDA)."""
    try:
        resolved = resolve_device(device)
    except (ValueError, RuntimeError):  # reported with the recipe's context when training starts
        resolved = torch.device("cpu")
    prepare_cublas(deterministic, resolved)
    return init_from_env(resolved)[0]


def _train(
    pipeline: Pipeline,
    run_dir: RunDir | None,
    writing: bool,
    *,
    progress: bool,
    callbacks: Sequence[Callback],
    checkpoint: Checkpoint | None,
    allow: bool,
    handle_signals: bool,
    world: World,
    loggers: tuple[Sequence[ResolvedLogger], list[Logger]] = ((), []),
) -> TrainResult:
    """Train on every rank; rank 0 begins the run directory, then starts the loggers of
    ``loggers[0]`` into ``loggers[1]`` (the caller closes them)."""
    store: CheckpointStore | None = None
    history: list[dict[str, Any]] = []
    if writing:  # every rank learns whether rank 0 could check the resume and start the run
        prepared = run_on_main(lambda: start_run(_held(run_dir), pipeline, checkpoint, allow), world)
        if world.is_main:
            store, history = prepared
    if world.is_main and run_dir is not None:
        loggers[1].extend(start_loggers(loggers[0], run_dir))
    all_callbacks: list[Callback] = (
        [ProgressBar(disable=not progress), *callbacks, *loggers[1]] if world.is_main else []
    )
    out = run_dir.path if run_dir is not None else None
    if out is not None:
        log_every = pipeline.train.log_every
        all_callbacks += [
            MetricsWriter(out / "metrics.jsonl", log_every),
            LossPlot(out / "loss.png", log_every, history),
        ]
        all_callbacks += _diagnostics(pipeline, out)
    with run_log(out, console=progress and world.is_main):
        return _engine_train(
            pipeline,
            all_callbacks,
            checkpoints=store,
            resume_from=checkpoint,
            handle_signals=handle_signals,
            world=world,
        )


def _diagnostics(pipeline: Pipeline, out: Path) -> list[Callback]:
    """``train.diagnostics``: the callback that probes the recurrence, when switched on."""
    config = pipeline.train.diagnostics
    if config is None:
        return []
    return [RecurrenceDiagnostics(pipeline, config.every, config.batch_size, out / "metrics.jsonl")]


def run(
    recipe: RecipeLike,
    overrides: Sequence[str] = (),
    *,
    out_dir: str | Path | None = None,
    progress: bool = True,
    overwrite: bool = False,
    resume: bool = False,
    allow_recipe_change: bool = False,
    registry: Registry | None = None,
    callbacks: Sequence[Callback] = (),
    handle_signals: bool = True,
) -> RunResult:
    """Load, build and train a recipe (object, path, shipped name or mapping), then (for a
    language model) generate a sample.

    ``out_dir`` defaults to ``runs/<recipe name>-<timestamp>`` (``runs/recipe-<timestamp>``
    for a mapping). With ``resume``, training
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
    if resume and out_dir is None:
        raise CheckpointError("--resume needs --out: the run directory to continue")
    reg = registry or default_registry()
    settings = recipe.data.get("train") or {}
    world = _join_world(str(settings.get("device", "auto")), settings.get("deterministic") is True)
    if out_dir is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        name = Path(recipe.source).stem if recipe.source != DICT_SOURCE else "recipe"
        out_dir = broadcast(Path("runs") / f"{name}-{stamp}", world)
    keep = [recipe.source] if recipe.source != "<string>" else []

    def build(checkpoint: Checkpoint | None) -> Pipeline:  # cells checked first
        pipeline = build_checked(
            recipe,
            reg,
            tokenizer_state=checkpoint.tokenizer if checkpoint else None,
            extra_state=checkpoint.extra if checkpoint else None,
        )
        pipeline.recipe_source = str(Path(recipe.source).resolve()) if recipe.source != "<string>" else None
        return pipeline

    session = _Session(resume, overwrite, allow_recipe_change, progress, callbacks, handle_signals)
    return _train_in(out_dir, world, session, build, recipe, reg, keep)


def _train_and_finish(
    pipeline: Pipeline,
    run_dir: RunDir | None,
    writing: bool,
    resolved: list[ResolvedLogger],
    registry: Registry | None,
    *,
    world: World,
    **options: Any,
) -> tuple[TrainResult, str | None]:
    """Train (``options`` go to :func:`_train`), then save the final weights, write the
    sample and pass it to the loggers; the loggers are closed however training ends, and a
    run directory is marked finished once everything is in it. Returns the result and the
    sample (None without one)."""
    loggers: list[Logger] = []
    try:
        with plugin_errors(pipeline.components, registry):  # a cell failing names its plugin
            result = _train(pipeline, run_dir, writing, world=world, loggers=(resolved, loggers), **options)
        shutdown(world)
        if run_dir is not None:
            save_final(run_dir, pipeline, result)
        sample = _sample(pipeline, run_dir) if run_dir is not None else None
        if sample is not None:
            for logger in loggers:
                logger.on_sample(result.step, sample)
    finally:
        close_loggers(loggers)
    if run_dir is not None:
        run_dir.finish()
    return result, sample


def _sample(pipeline: Pipeline, run_dir: RunDir | None) -> str | None:
    """A language model's continuation of ``train.sample.prompt`` (saved as ``sample.txt``)."""
    config = pipeline.train.sample
    if config is None or not pipeline.task.continues_prompt:
        return None
    text = predict(
        pipeline,
        [config.prompt],
        max_tokens=config.max_tokens,
        temperature=config.temperature,
        top_k=config.top_k,
        top_p=config.top_p,
        seed=config.seed,
    )[0]
    sample = config.prompt + text
    if run_dir is not None:
        run_dir.write("sample.txt", sample + "\n")
    return sample


def save_run(
    pipeline: Pipeline, out_dir: str | Path, result: TrainResult | None = None, *, overwrite: bool = False
) -> Path:
    """Save a pipeline trained elsewhere as a run directory that :func:`load_run` reads:
    ``recipe.yaml`` (if the pipeline has one), weights, vocabularies, ``run.json`` and the
    manifest.

    Raises:
        CheckpointError: ``out_dir`` is not empty (``overwrite`` replaces a previous run
            in it), in use by another writer, or cannot be written.
    """
    with RunDir.open_writer(
        out_dir, overwrite=overwrite, keep=[pipeline.recipe_source] if pipeline.recipe_source else []
    ) as run_dir:
        run_dir.begin(RUN_FILES)
        if pipeline.recipe_text is not None:
            run_dir.write("recipe.yaml", pipeline.recipe_text)
        save_final(run_dir, pipeline, result)
        run_dir.finish()
        return run_dir.path


def launch(nproc: int, argv: Sequence[str]) -> int:
    """Run ``python -m seqframe ARGV`` in ``nproc`` processes on this machine under
    ``torchrun`` (what ``seqframe run --nproc N`` does); returns torchrun's exit status."""
    return _launch(nproc, argv)
