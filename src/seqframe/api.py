"""The public Python API: everything the command line does, as functions.

Two styles: from a recipe (:func:`load_recipe`, :func:`build`, :func:`run`,
:func:`load_run`, :func:`predict`) and from objects (:func:`assemble`, :func:`train`).
Facade layer: may import every lower layer.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqframe.engine import (
    Callback, Checkpoint, LossPlot, MetricsWriter, ProgressBar, TrainResult, load_weights, read_json,
    resolve_device, write_atomic,
)
from seqframe.engine import train as _engine_train
from seqframe.engine.distributed import World, broadcast, init_from_env, launch as _launch, run_on_main, shutdown
from seqframe.engine.evaluate import evaluate_texts, read_text_file
from seqframe.engine.rng import prepare_cublas
from seqframe.engine.runlog import run_log
from seqframe.engine.trainer import task_inputs
from seqframe.engine.runfiles import CHECKPOINTS, latest_checkpoint, prepare_run_dir
from seqframe.errors import CheckpointError, RecipeError, RecipeIssue, suggest
from seqframe.interfaces import DataSource, Tokenizer
from seqframe.pipeline import Pipeline, TrainConfig
from seqframe.plugins import load_plugin_manager
from seqframe.recipe import Recipe, apply_overrides, build_pipeline, load_recipe as _load_recipe_file, parse_recipe
from seqframe.registry import Registry
from seqframe.runs import check_components, check_recipe_change, prepare_outputs, read_vocabularies, save_run

__all__ = [
    "RunResult", "assemble", "copy_recipe", "build", "evaluate", "launch", "load_recipe", "load_run", "plugin_report", "predict",
    "registry", "run", "save_run", "shipped_recipes", "train", "validate",
]

RECIPES_DIR = Path(__file__).parent / "recipes"


def registry(*, entry_points: bool = True, blocked: Sequence[str] = ()) -> Registry:
    """A fresh registry of the built-ins and installed plugins."""
    return Registry.from_plugin_manager(load_plugin_manager(entry_points=entry_points, blocked=blocked))


def validate(recipe: Recipe | str | Path, overrides: Sequence[str] = (), *, registry: Registry | None = None) -> Recipe:
    """Load (if needed) and check a recipe without building anything; returns it resolved.

    Raises:
        RecipeError: every problem at once, each with dotted path and ``file:line``.
    """
    from seqframe.recipe import validate as _validate

    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, overrides)
    elif overrides:
        recipe = apply_overrides(recipe, overrides)
    _validate(recipe, registry or globals()["registry"]())
    return recipe


def plugin_report() -> dict[str, Any]:
    """Plugins (name, module, distribution, version, status, hooks, error), every component
    (kind, name, qualified name, provider, summary), name clashes and failures, as plain data."""
    pm = load_plugin_manager()
    reg = Registry.from_plugin_manager(pm)
    plugins = [
        {"name": i.name, "module": i.module, "distribution": i.distribution, "version": i.version,
         "status": i.status, "hooks": i.hooks, "error": i.error}
        for i in pm.infos.values()
    ]
    components = [
        {"kind": c.kind, "name": c.name, "qualified_name": c.qualified_name, "plugin": c.plugin,
         "distribution": c.distribution, "version": c.version, "summary": c.summary}
        for c in reg.components()
    ]
    clashes = [[c.qualified_name for c in group] for group in reg.clashes()]
    return {"plugins": plugins, "components": components, "clashes": clashes, "failures": reg.failures}


def shipped_recipes() -> dict[str, str]:
    """Shipped recipe names -> their first comment line (the description)."""
    out = {}
    for path in sorted(RECIPES_DIR.glob("*.yaml")):
        first = path.read_text(encoding="utf-8").splitlines()[0] if path.stat().st_size else ""
        out[path.stem] = first.lstrip("# ").strip()
    return out


def copy_recipe(name: str, dest: str | Path, *, overwrite: bool = False) -> Path:
    """Copy a shipped recipe to ``dest`` (a file, or a folder to copy ``<name>.yaml`` into).

    Raises:
        RecipeError: unknown recipe name (with a suggestion).
        CheckpointError: the destination exists and ``overwrite`` is false.
    """
    names = shipped_recipes()
    if name not in names:
        close = suggest(name, list(names))
        hint = f"; did you mean {close!r}?" if close else ""
        raise RecipeError([RecipeIssue("", f"no shipped recipe {name!r}{hint} (shipped: {', '.join(names)})")])
    target = Path(dest)
    if target.is_dir():
        target = target / f"{name}.yaml"
    if target.exists() and not overwrite:
        raise CheckpointError(f"{target}: already exists; choose another destination or pass --overwrite")
    write_atomic(target, (RECIPES_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    return target


def load_recipe(recipe: str | Path, overrides: Sequence[str] = ()) -> Recipe:
    """Load a recipe file, or a shipped recipe by name (``lm``), and apply overrides.

    Raises:
        RecipeError: missing file (with the shipped names), invalid YAML or override.
    """
    path = Path(recipe)
    if not path.exists() and isinstance(recipe, str) and "/" not in recipe and not recipe.endswith((".yaml", ".yml")):
        path = RECIPES_DIR / f"{recipe}.yaml"
    if not path.exists():
        names = list(shipped_recipes())
        close = suggest(Path(str(recipe)).stem, names)
        hint = f"; did you mean {close!r}?" if close else ""
        raise RecipeError([RecipeIssue("", f"no recipe file here and no shipped recipe of that name{hint} "
                                           f"(shipped: {', '.join(names)})", str(recipe))])
    return _load_recipe_file(path, overrides)


def build(recipe: Recipe | str | Path, overrides: Sequence[str] = (), *, registry: Registry | None = None) -> Pipeline:
    """Build a :class:`Pipeline` from a recipe (object, path or shipped name)."""
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, overrides)
    elif overrides:
        recipe = apply_overrides(recipe, overrides)
    return build_pipeline(recipe, registry or globals()["registry"]())


def assemble(
    *,
    task: Any,
    tokenizer: Tokenizer,
    topology: nn.Module,
    head: Any,
    embedding_dim: int,
    data: DataSource | None = None,
    train: TrainConfig | None = None,
) -> Pipeline:
    """Build a :class:`Pipeline` from objects, with no YAML and no registry.

    Args:
        task: a task object (e.g. ``LanguageModellingTask(seq_len=64)``).
        tokenizer: a tokenizer; fitted on ``data``'s train split here if it is not yet.
        topology: any topology module, e.g. ``seqframe.build_rnn(...)`` with
            ``input_size=embedding_dim``.
        head: a head factory called as ``head(in_features, num_outputs)`` (e.g. ``LinearHead``).
        embedding_dim: token embedding size.
        data: the data source (needed to train).
        train: training settings.
    """
    if not getattr(tokenizer, "is_fitted", True):
        if data is None:
            raise ValueError("assemble: the tokenizer is not fitted and no data was given to fit it on")
        tokenizer.fit(data.texts("train"))
    model = task.build_model(tokenizer=tokenizer, topology=topology, head=head, embedding_dim=embedding_dim)
    return Pipeline(task, tokenizer, model, data, train or TrainConfig())


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
    with run_log(out, console=progress and world.is_main):
        result = _engine_train(pipeline, all_callbacks, checkpoints=store, resume_from=checkpoint,
                               handle_signals=handle_signals, world=world)
    if out is not None:
        save_run(pipeline, out, result)
    return result


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
    reg = registry or globals()["registry"]()
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
        pipeline = build_pipeline(recipe, reg, tokenizer_state=checkpoint.tokenizer if checkpoint else None,
                                  extra_state=checkpoint.extra if checkpoint else None)
        pipeline.recipe_source = str(Path(recipe.source).resolve()) if recipe.source != "<string>" else None
        if out_dir is None:
            stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            out_dir = broadcast(Path("runs") / f"{Path(recipe.source).stem}-{stamp}", world)
        result = _train(pipeline, out_dir, progress=progress, callbacks=callbacks, overwrite=overwrite,
                        checkpoint=checkpoint, handle_signals=handle_signals, world=world)
    finally:
        shutdown(world)
    sample = None
    config = pipeline.train.sample
    if config is not None and hasattr(pipeline.task, "generate") and world.is_main:
        text = predict(pipeline, [config.prompt], max_tokens=config.max_tokens, temperature=config.temperature,
                       top_k=config.top_k, top_p=config.top_p, seed=config.seed)[0]
        sample = config.prompt + text
        write_atomic(Path(out_dir) / "sample.txt", sample + "\n")
    return RunResult(Path(out_dir), result, pipeline, sample)


def launch(nproc: int, argv: Sequence[str]) -> int:
    """Run ``python -m seqframe ARGV`` in ``nproc`` processes on this machine under
    ``torchrun`` (what ``seqframe run --nproc N`` does); returns torchrun's exit status."""
    return _launch(nproc, argv)


def load_run(run_dir: str | Path, *, registry: Registry | None = None, device: str = "cpu",
             with_data: bool = False) -> Pipeline:
    """Rebuild a run's pipeline with its trained weights.

    A finished run loads its final weights; one that was interrupted (no
    ``model.safetensors`` yet) loads its newest complete checkpoint.

    Args:
        run_dir: the run directory.
        registry: where component names resolve (default: built-ins and installed plugins).
        device: where the model goes.
        with_data: also rebuild the data source from the saved recipe (for evaluation);
            relative paths resolve against the original recipe's folder.

    Raises:
        CheckpointError: not a run directory, or corrupt files.
        PluginError: a component of the run is not installed (names the package).
    """
    out = Path(run_dir)
    if not (out / "recipe.yaml").is_file():
        raise CheckpointError(f"{out}: no recipe.yaml; is this a seqframe run directory?")
    checkpoint = None
    if not (out / "model.safetensors").is_file() and (out / CHECKPOINTS).is_dir():
        checkpoint = latest_checkpoint(out)
        meta, tokenizer_state, weights = checkpoint.meta, checkpoint.tokenizer, checkpoint.path / "model.safetensors"
        extra_state = checkpoint.extra
    else:
        meta, weights = read_json(out / "run.json"), out / "model.safetensors"
        tokenizer_state, extra_state = read_vocabularies(out)
    reg = registry or globals()["registry"]()
    check_components(meta.get("components", {}), reg, out)
    recipe = parse_recipe((out / "recipe.yaml").read_text(encoding="utf-8"), str(out / "recipe.yaml"))
    source = meta.get("recipe_source")
    if with_data and source:
        recipe = dataclasses.replace(recipe, source=source)  # relative data paths resolve as when training
    pipeline = build_pipeline(recipe, reg, tokenizer_state=tokenizer_state, extra_state=extra_state,
                              with_data=with_data)
    pipeline.recipe_source = source
    load_weights(pipeline.model, weights)
    pipeline.model.to(resolve_device(device)).eval()
    return pipeline


def evaluate(run: Pipeline | str | Path, *, split: str = "valid", data: str | Path | None = None,
             device: str = "cpu", registry: Registry | None = None) -> dict[str, float]:
    """Evaluate a run (or pipeline) on a split of its data, or on a text file.

    Args:
        run: a run directory or a pipeline.
        split: ``valid``, ``test`` or ``train`` of the run's data source.
        data: a UTF-8 text file to evaluate instead, encoded with the run's tokenizer.
        device: where to run (for a run directory).

    Returns:
        The task's metrics; for a language model ``loss`` (nats/token), ``ppl``,
        ``bits_per_token`` and ``bpc`` (bits per character).

    Raises:
        DataError: the split or file is empty or unreadable.
    """
    if split not in ("train", "valid", "test"):
        raise ValueError(f"evaluate: split must be 'train', 'valid' or 'test', got {split!r}")
    pipeline = run if isinstance(run, Pipeline) else load_run(run, registry=registry, device=device,
                                                              with_data=data is None)
    if data is not None:
        return evaluate_texts(pipeline, [read_text_file(data)], where=str(data))
    if pipeline.data is None:
        raise ValueError("evaluate: the pipeline has no data source; pass data=PATH")
    return evaluate_texts(pipeline, task_inputs(pipeline.task, pipeline.data, split), where=f"the {split!r} split",
                          hint=f" (set data.{split}_fraction or data.{split}_paths)")


def predict(run: Pipeline | str | Path, inputs: Sequence[str], **options: Any) -> list[str]:
    """Answer ``inputs`` with a pipeline or a finished run's directory.

    For a language model, each input is a prompt and the result its continuation; options
    are ``max_tokens``, ``temperature``, ``top_k``, ``top_p``, ``seed``.
    """
    pipeline = run if isinstance(run, Pipeline) else load_run(run)
    device = next(pipeline.model.parameters()).device
    task = pipeline.task
    if hasattr(task, "predict"):
        return list(task.predict(pipeline.model, pipeline.tokenizer, list(inputs), device=device,
                                 target_tokenizer=pipeline.target_tokenizer, **options))
    return list(task.generate(pipeline.model, pipeline.tokenizer, list(inputs), device=device, **options))
