"""Using a trained run, for scripts: reload it, evaluate it, predict with it."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seqframe.api.plugins import default_registry
from seqframe.engine import load_weights, resolve_device
from seqframe.engine.evaluate import evaluate_texts
from seqframe.engine.rundir import RunDir
from seqframe.engine.trainer import task_inputs
from seqframe.errors import CheckpointError, DataError, SeqframeError
from seqframe.interfaces import ExportedModel
from seqframe.pipeline import Pipeline
from seqframe.recipe import build_pipeline, parse_recipe
from seqframe.registry import Registry
from seqframe.runs import check_components, read_vocabularies

__all__ = ["evaluate", "load_run", "predict"]


def load_run(
    run_dir: str | os.PathLike[str], *, registry: Registry | None = None, device: str = "cpu", with_data: bool = False
) -> Pipeline:
    """Rebuild a run's pipeline with its trained weights. Reads only: the run directory is
    never changed, so this is safe while the run trains or on a read-only filesystem.

    A finished run loads its final weights, each file checked against the run's manifest;
    one that has not finished (interrupted, or still training) loads its newest complete
    checkpoint.

    Args:
        run_dir: the run directory.
        registry: where component names resolve (default: built-ins and installed plugins).
        device: where the model goes.
        with_data: also rebuild the data source from the saved recipe (for evaluation);
            relative paths resolve against the original recipe's folder.

    Raises:
        CheckpointError: not a run directory, or a damaged file (named).
        PluginError: a component of the run is not installed (names the package).
    """
    run = RunDir.open_reader(run_dir)
    if not (run.path / "recipe.yaml").is_file():
        raise CheckpointError(f"{run.path}: no recipe.yaml; is this a seqframe run directory?")
    reg = registry or default_registry()
    if run.finished or (run.manifest is None and (run.path / "model.safetensors").is_file()):
        return _rebuild(run, _final_files(run), reg, device, with_data)
    checkpoint = run.latest_checkpoint()
    saved = checkpoint.meta.get("recipe")
    return _rebuild(
        run,
        _Saved(
            checkpoint.meta,
            checkpoint.path / "meta.json",
            saved if isinstance(saved, str) else run.read_text("recipe.yaml"),
            checkpoint.tokenizer,
            checkpoint.extra,
            checkpoint.weights,
            checkpoint.path / "tokenizer.json",
        ),
        reg,
        device,
        with_data,
    )


@dataclasses.dataclass
class _Saved:
    """Where a run's pipeline comes back from: its final files or a checkpoint."""

    meta: dict[str, Any]
    meta_file: Path
    recipe_text: str
    tokenizer: Any
    extra: dict[str, Any]
    weights: bytes  # as verified: a checkpoint's folder may be pruned meanwhile by the run's writer
    vocabulary: Path


def _final_files(run: RunDir) -> _Saved:
    tokenizer, extra = read_vocabularies(run)
    return _Saved(
        run.read_json("run.json"),
        run.path / "run.json",
        run.read_text("recipe.yaml"),
        tokenizer,
        extra,
        run.read_bytes("model.safetensors"),
        run.path / "tokenizer.json",
    )


def _rebuild(run: RunDir, saved: _Saved, reg: Registry, device: str, with_data: bool) -> Pipeline:
    """The pipeline of ``saved`` with its weights."""
    check_components(saved.meta.get("components", {}), reg, saved.meta_file)
    recipe = parse_recipe(saved.recipe_text, str(run.path / "recipe.yaml"))
    source = saved.meta.get("recipe_source")
    if with_data and isinstance(source, str):
        recipe = dataclasses.replace(recipe, source=source)  # relative data paths resolve as when training
    try:  # first without data: an error can then only come from the saved states
        pipeline = build_pipeline(
            recipe, reg, tokenizer_state=saved.tokenizer, extra_state=saved.extra, with_data=False
        )
    except (DataError, KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        if isinstance(exc, SeqframeError) and not isinstance(exc, DataError):
            raise
        raise CheckpointError(
            f"{saved.vocabulary}: the saved tokenizer or task state does not load "
            f"({type(exc).__name__}: {exc}); it was damaged or written by another version"
        ) from exc
    if with_data and "data" not in recipe.data:
        raise DataError(
            f"{run.path}: this run's data source was given to seqframe.assemble as an object, so its "
            "recipe.yaml has no data section to rebuild it from; evaluate a file in the task's format "
            "instead (seqframe eval RUN --data FILE)"
        )
    if with_data:
        pipeline = build_pipeline(recipe, reg, tokenizer_state=saved.tokenizer, extra_state=saved.extra)
    pipeline.recipe_source = source if isinstance(source, str) else None
    load_weights(pipeline.model, saved.weights, saved.vocabulary.with_name("model.safetensors"))
    pipeline.model.to(resolve_device(device)).eval()
    return pipeline


def evaluate(
    run: Pipeline | str | Path,
    *,
    split: str = "valid",
    data: str | Path | None = None,
    device: str = "cpu",
    registry: Registry | None = None,
) -> dict[str, float]:
    """Evaluate a run (or pipeline) on a split of its data, or on a text file.

    Args:
        run: a run directory or a pipeline.
        split: ``valid``, ``test`` or ``train`` of the run's data source.
        data: a file to evaluate instead, in the task's own format
            (:meth:`~seqframe.Task.read_file`: one UTF-8 text for a language model; JSON
            Lines, CSV or TSV with the example fields for a task of examples), encoded with the
            run's tokenizers.
        device: where to run (for a run directory).

    Returns:
        The task's metrics; for a language model ``loss`` (nats/token), ``ppl``,
        ``bits_per_token`` and ``bpc`` (bits per character).

    Raises:
        DataError: the split or file is empty or unreadable, or a format the task does not
            read (the message says which it reads).
    """
    if split not in ("train", "valid", "test"):
        raise ValueError(f"evaluate: split must be 'train', 'valid' or 'test', got {split!r}")
    pipeline = (
        run if isinstance(run, Pipeline) else load_run(run, registry=registry, device=device, with_data=data is None)
    )
    if data is not None:
        return evaluate_texts(pipeline, pipeline.task.read_file(data), where=str(data))
    if pipeline.data is None:
        raise ValueError("evaluate: the pipeline has no data source; pass data=PATH")
    return evaluate_texts(
        pipeline,
        task_inputs(pipeline.task, pipeline.data, split),
        where=f"the {split!r} split",
        hint=f" (set data.{split}_fraction or data.{split}_paths)",
    )


def predict(run: Pipeline | str | Path, inputs: Sequence[str], **options: Any) -> list[str]:
    """Answer ``inputs`` with a pipeline or a finished run's directory.

    Each answer comes from the task's ``predict``; for a language model (a task that
    ``continues_prompt``) each input is a prompt and the answer its continuation, with the
    options ``max_tokens``, ``temperature``, ``top_k``, ``top_p``, ``seed``.
    """
    pipeline = run if isinstance(run, Pipeline) else load_run(run)
    model = pipeline.model
    device = model.graphs.device if isinstance(model, ExportedModel) else next(model.parameters()).device
    return list(pipeline.task.predict(pipeline.model, pipeline.tokenizers, list(inputs), device=device, **options))
