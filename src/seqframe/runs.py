"""Run directories: what a finished or resumed run writes, and the checks made before
one is read back or continued.

A run directory holds ``recipe.yaml``, ``tokenizer.json`` (plus ``target_tokenizer.json`` and
``task.json`` where the task has them), ``metrics.jsonl``, ``loss.png``, ``run.log``,
``checkpoints/``, ``model.safetensors`` and ``run.json``. Facade layer (beside
:mod:`seqframe.api`, which uses it).
"""

from __future__ import annotations

import json
import platform
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from seqframe import __version__
from seqframe.engine import Checkpoint, TrainResult, read_json, save_weights, write_atomic
from seqframe.engine.runfiles import open_checkpoints, prepare_run_dir, truncate_metrics
from seqframe.errors import PluginError, RecipeError
from seqframe.pipeline import Pipeline
from seqframe.recipe import Recipe, parse_recipe
from seqframe.recipe.schema import is_resume_critical, recipe_changes
from seqframe.registry import Registry

__all__ = ["check_components", "check_recipe_change", "prepare_outputs", "read_vocabularies", "save_run",
           "write_vocabularies"]


def write_vocabularies(pipeline: Pipeline, out: Path) -> None:
    """``tokenizer.json``, plus ``target_tokenizer.json`` and ``task.json`` when the pipeline has them."""
    write_atomic(out / "tokenizer.json", json.dumps(pipeline.tokenizer.state_dict()))
    for name, state in pipeline.extra_state().items():
        if state is not None:
            write_atomic(out / f"{name}.json", json.dumps(state))


def read_vocabularies(out: Path) -> tuple[Any, dict[str, Any]]:
    """The tokenizer state and the extra states saved by :func:`write_vocabularies`."""
    extra = {name: read_json(out / f"{name}.json") if (out / f"{name}.json").is_file() else None
             for name in ("target_tokenizer", "task")}
    return read_json(out / "tokenizer.json"), extra


def save_run(pipeline: Pipeline, out_dir: str | Path, result: TrainResult | None = None) -> None:
    """Write weights, tokenizer and run metadata into ``out_dir`` (each file atomically)."""
    out = Path(out_dir)
    save_weights(pipeline.model, out / "model.safetensors")
    write_vocabularies(pipeline, out)
    meta = {
        "format": 1, "seqframe": __version__, "torch": torch.__version__, "python": platform.python_version(),
        "components": pipeline.components, "recipe_source": pipeline.recipe_source,
        "deterministic": pipeline.train.deterministic, "precision": pipeline.train.precision,
        "accumulate": pipeline.train.accumulate, "world_size": result.world_size if result else 1,
        "effective_batch": pipeline.train.batch_size * pipeline.train.accumulate,
        "step": result.step if result else 0,
        "final_eval": result.final_eval if result else None,
        "stopped_early": result.stopped_early if result else False,
        "skipped_steps": result.skipped_steps if result else 0,
        "checkpoint": str(Path(result.checkpoint).relative_to(out)) if result and result.checkpoint else None,
    }
    write_atomic(out / "run.json", json.dumps(meta, indent=2))


def check_recipe_change(checkpoint: Checkpoint, recipe: Recipe, allow: bool) -> None:
    """C9: refuse training-critical recipe changes since ``checkpoint`` (unless ``allow``);
    warn about the others. Each changed key is listed with its old and new value."""
    saved = checkpoint.meta.get("recipe")
    if not isinstance(saved, str):
        return
    changes = recipe_changes(parse_recipe(saved, str(checkpoint.path / "meta.json")).data, recipe.data)
    critical = [change for change in changes if is_resume_critical(change[0])]
    if critical and not allow:
        raise RecipeError([recipe.issue(key, f"{a!r} -> {b!r} (changed since checkpoint {checkpoint.path.name}; "
                                             "training-critical, so resuming is refused; pass --allow-recipe-change "
                                             "to resume anyway)") for key, a, b in critical])
    if changes:
        listed = "; ".join(f"{key}: {a!r} -> {b!r}" for key, a, b in changes)
        warnings.warn(f"resuming {checkpoint.path} with a changed recipe: {listed}", stacklevel=3)


def check_components(components: Mapping[str, Any], reg: Registry, where: Path) -> None:
    """F1: every component the run was built with is installed, else name its package."""
    kinds = {"tokenizer": "tokenizer", "data": "dataset", "task": "task", "model.topology": "topology",
             "model.topology.cell": "cell", "model.head": "head"}
    for path, info in components.items():
        kind = kinds.get(path)
        if kind and info["name"] not in reg.names(kind):
            raise PluginError(
                f"{where}: this run uses {kind} {info['name']!r} from plugin {info['plugin']!r} "
                f"({info['distribution']} {info['version']}), which is not installed; install "
                f"{info['distribution']} to load it"
            )


def prepare_outputs(pipeline: Pipeline, out_dir: str | Path, overwrite: bool,
                     checkpoint: Checkpoint | None) -> tuple[Path, Any, list[dict[str, Any]]]:
    """Rank 0's run directory set-up: the folder, the checkpoint store, the metrics kept
    from before a resume, ``recipe.yaml`` and the vocabularies."""
    out = prepare_run_dir(out_dir, overwrite=overwrite, resume=checkpoint is not None)
    provenance = {"seqframe": __version__, "recipe": pipeline.recipe_text, "recipe_source": pipeline.recipe_source,
                  "components": pipeline.components, "deterministic": pipeline.train.deterministic}
    store = open_checkpoints(out, pipeline.train.checkpoint.keep_last, provenance)
    history = truncate_metrics(out / "metrics.jsonl", checkpoint.step) if checkpoint is not None else []
    if checkpoint is not None:
        store.protected.add(checkpoint.path.name)  # retention never deletes the resumed-from one
    if pipeline.recipe_text is not None:
        write_atomic(out / "recipe.yaml", pipeline.recipe_text)
    write_vocabularies(pipeline, out)
    return out, store, history
