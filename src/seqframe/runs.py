"""Run directories seen from the facade: what a training run writes into its
:class:`~seqframe.engine.rundir.RunDir`, every check made before a checkpoint is resumed
(all of them before the first byte is written, so a refused resume changes nothing), and
reading a finished run back.

Resuming happens here only: :func:`resume_checkpoint` (before the pipeline is built) and
:func:`start_run` (after) serve both :func:`seqframe.api.train` and :func:`seqframe.api.run`.
Facade layer (beside :mod:`seqframe.api`, which uses it).
"""

from __future__ import annotations

import json
import platform
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from seqframe.cache import fingerprint
from seqframe.engine import Checkpoint, CheckpointStore, TrainResult
from seqframe.engine.rundir import RUN_FILES, RunDir
from seqframe.engine.trainer import build_optimizer, task_inputs
from seqframe.errors import CheckpointError, PluginError, RecipeError
from seqframe.pipeline import Pipeline
from seqframe.recipe import Recipe, parse_recipe
from seqframe.recipe.schema import is_resume_critical, recipe_changes
from seqframe.registry import Registry
from seqframe.version import __version__

__all__ = [
    "check_components",
    "check_recipe_change",
    "read_vocabularies",
    "resume_checkpoint",
    "save_final",
    "start_run",
    "versions",
    "write_vocabularies",
]

_EXTRA = ("target_tokenizer", "task")


def versions() -> dict[str, str]:
    """The versions a written run or export records: seqframe, torch, Python."""
    return {"seqframe": __version__, "torch": torch.__version__, "python": platform.python_version()}


def write_vocabularies(run: RunDir, pipeline: Pipeline) -> None:
    """``tokenizer.json``, plus ``target_tokenizer.json`` and ``task.json`` when the pipeline has them."""
    run.write("tokenizer.json", json.dumps(pipeline.tokenizer.state_dict()))
    for name, state in pipeline.extra_state().items():
        if state is not None:
            run.write(f"{name}.json", json.dumps(state))


def read_vocabularies(run: RunDir) -> tuple[dict[str, Any], dict[str, Any]]:
    """The tokenizer state and the extra states saved by :func:`write_vocabularies`, verified."""
    extra = {name: run.read_json(f"{name}.json") if (run.path / f"{name}.json").is_file() else None for name in _EXTRA}
    return run.read_json("tokenizer.json"), extra


def save_final(run: RunDir, pipeline: Pipeline, result: TrainResult | None) -> None:
    """Write the final weights, vocabularies and ``run.json`` (each atomically)."""
    result = result or TrainResult()
    run.save_weights(pipeline.model)
    write_vocabularies(run, pipeline)
    meta = {
        "format": 1,
        "seqframe": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "components": pipeline.components,
        "recipe_source": pipeline.recipe_source,
        "deterministic": pipeline.train.deterministic,
        "precision": pipeline.train.precision,
        "accumulate": pipeline.train.accumulate,
        "world_size": result.world_size,
        "effective_batch": pipeline.train.batch_size * pipeline.train.accumulate,
        "step": result.step,
        "final_eval": result.final_eval,
        "stopped_early": result.stopped_early,
        "skipped_steps": result.skipped_steps,
        "checkpoint": str(Path(result.checkpoint).relative_to(run.path)) if result.checkpoint else None,
    }
    run.write("run.json", json.dumps(meta, indent=2))
    run.flush()


def check_recipe_change(checkpoint: Checkpoint, recipe: Recipe, allow: bool) -> None:
    """Refuse training-critical recipe changes since ``checkpoint`` (unless ``allow``), since a
    resumed run must continue the training that made the checkpoint, not a different one;
    warn about the others. Each changed key is listed with its old and new value."""
    saved = checkpoint.meta.get("recipe")
    if not isinstance(saved, str):
        return
    changes = recipe_changes(parse_recipe(saved, str(checkpoint.path / "meta.json")).data, recipe.data)
    critical = [change for change in changes if is_resume_critical(change[0])]
    if critical and not allow:
        raise RecipeError(
            [
                recipe.issue(
                    key,
                    f"{a!r} -> {b!r} (changed since checkpoint {checkpoint.path.name}; "
                    "training-critical, so resuming is refused; pass --allow-recipe-change "
                    "to resume anyway)",
                )
                for key, a, b in critical
            ]
        )
    if changes:
        listed = "; ".join(f"{key}: {a!r} -> {b!r}" for key, a, b in changes)
        warnings.warn(f"resuming {checkpoint.path} with a changed recipe: {listed}", stacklevel=3)


def check_components(components: Any, reg: Registry, where: Path) -> None:
    """Every component the run was built with is installed, else name the distribution to
    install: a run whose plugin is gone is reported up front, with the fix, rather than as an
    unknown name halfway through loading.

    Raises:
        PluginError: a component's plugin is missing.
        CheckpointError: ``components`` is not what seqframe writes (a damaged file).
    """
    kinds = {
        "tokenizer": "tokenizer",
        "data": "dataset",
        "task": "task",
        "model.topology": "topology",
        "model.topology.cell": "cell",
        "model.head": "head",
    }
    fields = ("name", "plugin", "distribution", "version")
    if not isinstance(components, Mapping) or not all(
        isinstance(info, Mapping) and all(isinstance(info.get(f), str) for f in fields) for info in components.values()
    ):
        raise CheckpointError(
            f"{where}: 'components' must map each recipe key to its component's name, plugin, "
            f"distribution and version; got {str(components)[:80]!r}; the file was damaged"
        )
    for path, info in components.items():
        kind = kinds.get(path)
        if kind and info["name"] not in reg.names(kind):
            uses = (
                f"{where}: this run uses {kind} {info['name']!r} from plugin {info['plugin']!r} "
                f"({info['distribution']} {info['version']})"
            )
            why = reg.unavailable(info["plugin"])
            if why is not None and why.startswith("blocked"):
                raise PluginError(f"{uses}, which is {why}; unblock it to load the run")
            if why is not None:
                raise PluginError(f"{uses}, which is {why} (install {info['distribution']} if it is missing)")
            raise PluginError(f"{uses}, which is not installed; install {info['distribution']} to load it")


def resume_checkpoint(run: RunDir, recipe: Recipe | None, allow: bool, registry: Registry | None = None) -> Checkpoint:
    """The checkpoint to resume from, once the recipe's changes since it (and, given a
    registry, its components) are checked. Reads only."""
    checkpoint = run.latest_checkpoint()
    if registry is not None:
        check_components(checkpoint.meta.get("components", {}), registry, checkpoint.path / "meta.json")
    if recipe is not None:
        check_recipe_change(checkpoint, recipe, allow)
    return checkpoint


def data_fingerprint(pipeline: Pipeline) -> str | None:
    """SHA-256 of the training and validation inputs (None without a data source)."""
    if pipeline.data is None:
        return None
    parts = [task_inputs(pipeline.task, pipeline.data, split) for split in ("train", "valid")]
    try:
        return fingerprint("data", *parts)
    except TypeError:  # structured inputs that are not JSON-able: their texts then
        return fingerprint("texts", *(pipeline.data.texts(split) for split in ("train", "valid")))


def _same(a: Any, b: Any) -> bool:
    return json.loads(json.dumps(a)) == json.loads(json.dumps(b))


def _refuse_or_warn(allow: bool, message: str) -> None:
    if not allow:
        raise CheckpointError(f"{message}; resuming is refused (pass --allow-recipe-change to resume anyway)")
    warnings.warn(message, stacklevel=4)


def _saved_optimizer(checkpoint: Checkpoint) -> str | None:
    kind = checkpoint.meta.get("optimizer")
    if isinstance(kind, str):
        return kind
    recipe = checkpoint.meta.get("recipe")
    if not isinstance(recipe, str):
        return None
    settings = ((parse_recipe(recipe).data.get("train") or {}).get("optimizer")) or {}
    return str(settings.get("name", "adam")) if isinstance(settings, Mapping) else None


def _check_optimizer(pipeline: Pipeline, checkpoint: Checkpoint) -> None:
    """The saved optimizer state loads into the optimizer the recipe builds: same kind, same
    groups, every state tensor shaped like its parameter."""
    where, saved = checkpoint.path / "state.pt", checkpoint.state.get("optimizer")
    now, then = str(pipeline.train.optimizer.get("name", "adam")), _saved_optimizer(checkpoint)
    fresh = build_optimizer(pipeline.model.parameters(), dict(pipeline.train.optimizer))
    keys = set(fresh.state_dict()["param_groups"][0]) if fresh.param_groups else set()
    keys.add("initial_lr")  # written into every group by the learning-rate scheduler
    groups = saved.get("param_groups") if isinstance(saved, Mapping) else None
    if (
        (then is not None and then != now)
        or not isinstance(groups, list)
        or any(not isinstance(g, Mapping) or set(g) - keys for g in groups)
    ):  # missing keys: torch fills in defaults
        raise CheckpointError(
            f"{where}: the optimizer state was written by {then or 'another optimizer'!r} and the "
            f"recipe now asks for {now!r} (train.optimizer.name); one optimizer's state cannot be "
            "loaded into another, even with --allow-recipe-change; resume with the old optimizer or "
            "start a new run"
        )
    params = list(pipeline.model.parameters())
    for index, values in (saved.get("state") or {}).items():
        for key, value in values.items() if isinstance(values, Mapping) else ():
            shape = tuple(params[index].shape) if isinstance(index, int) and index < len(params) else None
            if isinstance(value, torch.Tensor) and value.dim() > 0 and tuple(value.shape) != shape:
                raise CheckpointError(
                    f"{where}: optimizer state {key!r} of parameter {index} has shape "
                    f"{list(value.shape)}, the model's parameter {list(shape or ())}; the state does "
                    "not fit this model"
                )
    try:
        fresh.load_state_dict(saved)  # a trial on a throw-away optimizer: torch's own checks
    except (ValueError, KeyError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"{where}: the optimizer state does not fit this model ({exc})") from exc


def check_resume(pipeline: Pipeline, checkpoint: Checkpoint, data: str | None, allow: bool) -> None:
    """Everything a resume needs that the recipe diff cannot see, checked without writing:
    vocabularies, weight shapes, the optimizer state, and the content of the data."""
    if checkpoint.tokenizer is not None and not _same(pipeline.tokenizer.state_dict(), checkpoint.tokenizer):
        _refuse_or_warn(
            allow,
            f"{checkpoint.path / 'tokenizer.json'}: the tokenizer's vocabulary differs from the "
            "one the checkpoint was trained with",
        )
    for name, state in pipeline.extra_state().items():
        if checkpoint.extra.get(name) is not None and state is not None and not _same(state, checkpoint.extra[name]):
            _refuse_or_warn(allow, f"{checkpoint.path / 'extra.json'}: the {name} state differs from the checkpoint's")
    checkpoint.check_weights(pipeline.model)
    _check_optimizer(pipeline, checkpoint)
    saved = checkpoint.meta.get("data_sha256")
    if isinstance(saved, str) and data is not None and saved != data:
        _refuse_or_warn(
            allow,
            f"{checkpoint.path / 'meta.json'}: the training data changed since this checkpoint "
            "(the content of the data source's files differs)",
        )


def start_run(
    run: RunDir, pipeline: Pipeline, checkpoint: Checkpoint | None, allow: bool
) -> tuple[CheckpointStore, list[dict[str, Any]]]:
    """Rank 0's start of training in ``run``: verify a resume, then make the first writes
    (leftovers removed, ``recipe.yaml``, vocabularies, the manifest). Returns the checkpoint
    store and the metrics rows kept from before a resume."""
    data = data_fingerprint(pipeline)
    if checkpoint is not None:
        check_resume(pipeline, checkpoint, data, allow)
    run.begin(RUN_FILES)
    provenance = {
        "seqframe": __version__,
        "recipe": pipeline.recipe_text,
        "recipe_source": pipeline.recipe_source,
        "components": pipeline.components,
        "deterministic": pipeline.train.deterministic,
        "optimizer": str(pipeline.train.optimizer.get("name", "adam")),
        "data_sha256": data,
    }
    store = run.checkpoint_store(pipeline.train.checkpoint.keep_last, provenance)
    history = run.keep_metrics(checkpoint.step) if checkpoint is not None else []
    if checkpoint is not None:
        store.protected.add(checkpoint.path.name)  # retention never deletes the resumed-from one
    if pipeline.recipe_text is not None:
        run.write("recipe.yaml", pipeline.recipe_text)
    write_vocabularies(run, pipeline)
    run.flush()
    return store, history
