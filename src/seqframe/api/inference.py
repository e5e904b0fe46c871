"""Using a trained run, for scripts: reload it, evaluate it, predict with it."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seqframe.api.plugins import default_registry
from seqframe.engine import load_weights, read_json, resolve_device
from seqframe.engine.evaluate import evaluate_texts, read_text_file
from seqframe.engine.runfiles import CHECKPOINTS, latest_checkpoint
from seqframe.engine.trainer import task_inputs
from seqframe.errors import CheckpointError
from seqframe.pipeline import Pipeline
from seqframe.recipe import build_pipeline, parse_recipe
from seqframe.registry import Registry
from seqframe.runs import check_components, read_vocabularies

__all__ = ["evaluate", "load_run", "predict"]


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
    reg = registry or default_registry()
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

    Each answer comes from the task's ``predict``; for a language model (a task that
    ``continues_prompt``) each input is a prompt and the answer its continuation, with the
    options ``max_tokens``, ``temperature``, ``top_k``, ``top_p``, ``seed``.
    """
    pipeline = run if isinstance(run, Pipeline) else load_run(run)
    device = next(pipeline.model.parameters()).device
    return list(pipeline.task.predict(pipeline.model, pipeline.tokenizer, list(inputs), device=device,
                                      target_tokenizer=pipeline.target_tokenizer, **options))
