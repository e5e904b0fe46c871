"""``seqframe average``: the element-wise mean of a run's last checkpoints, as a new run.

Checkpoint averaging (fairseq's ``average_checkpoints.py``, OpenNMT's ``onmt_average_models``)
often buys a little accuracy for free. The last ``N`` step checkpoints of a run (each
verified against its manifest) must come from one recipe (every key outside ``train`` equal)
and one vocabulary; their floating-point weights are averaged in float64 and written with the
run's recipe and vocabularies as a new, finished run directory (through
:class:`~seqframe.engine.rundir.RunDir`, with its manifest), which ``predict``, ``eval``,
``export`` and ``serve`` read like any other. ``run.json`` records which checkpoints were
averaged. Facade layer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from seqframe.api.plugins import default_registry
from seqframe.engine.checkpoint import Checkpoint, CheckpointStore
from seqframe.engine.rundir import CHECKPOINTS, RUN_FILES, RunDir
from seqframe.errors import CheckpointError
from seqframe.recipe import build_pipeline, parse_recipe
from seqframe.recipe.schema import recipe_changes
from seqframe.registry import Registry
from seqframe.runs import check_components, versions, write_vocabularies

__all__ = ["average"]


def _chosen(run: RunDir, last: int) -> list[Checkpoint]:
    if isinstance(last, bool) or not isinstance(last, int) or last < 1:
        raise CheckpointError(f"average: --last must be an int >= 1, got {last!r}")
    store = CheckpointStore(run.path / CHECKPOINTS)
    listed = store.checkpoints()
    if len(listed) < last:
        steps = ", ".join(str(step) for step, _ in listed) or "none"
        raise CheckpointError(
            f"{run.path / CHECKPOINTS}: has {len(listed)} checkpoint(s) (steps {steps}), fewer than "
            f"--last {last}; keep more while training (train.checkpoint.keep_last: {last} or more, "
            "train.checkpoint.every) or average fewer"
        )
    return [store.load(path) for _, path in listed[-last:]]


def _check_same_recipe(checkpoints: list[Checkpoint]) -> str:
    """The recipe they share (every key outside ``train`` equal) and one vocabulary."""
    first = checkpoints[-1]
    text = first.meta.get("recipe")
    if not isinstance(text, str):
        raise CheckpointError(f"{first.path / 'meta.json'}: records no recipe, so checkpoints cannot be matched")
    base = parse_recipe(text, str(first.path / "meta.json")).data
    for other in checkpoints[:-1]:
        theirs = other.meta.get("recipe")
        changes = (
            []
            if not isinstance(theirs, str)
            else [
                change
                for change in recipe_changes(parse_recipe(theirs).data, base)
                if not change[0].startswith("train")
            ]
        )
        if not isinstance(theirs, str) or changes:
            listed = "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in changes[:5]) or "no recipe recorded"
            raise CheckpointError(
                f"average: checkpoints {other.path.name} and {first.path.name} come from different "
                f"recipes ({listed}); only checkpoints of one model can be averaged"
            )
        if other.tokenizer != first.tokenizer or other.extra != first.extra:
            raise CheckpointError(
                f"average: checkpoints {other.path.name} and {first.path.name} have different "
                "vocabularies; only checkpoints of one model can be averaged"
            )
    return text


def _mean(model: torch.nn.Module, checkpoints: list[Checkpoint]) -> dict[str, torch.Tensor]:
    """The element-wise mean of the checkpoints' floating-point tensors (float64 sums)."""
    total: dict[str, torch.Tensor] = {}
    for checkpoint in checkpoints:
        checkpoint.load_weights(model)  # verified and strictly shaped, tied weights handled
        for name, tensor in model.state_dict().items():
            value = tensor.detach().to(torch.float64) if tensor.is_floating_point() else tensor.detach().clone()
            total[name] = total[name] + value if name in total and tensor.is_floating_point() else value
    return {name: (value / len(checkpoints)) if value.is_floating_point() else value for name, value in total.items()}


def average(
    run_dir: str | os.PathLike[str],
    last: int,
    *,
    out: str | os.PathLike[str] | None = None,
    registry: Registry | None = None,
) -> Path:
    """Average the last ``last`` checkpoints of a run into a new run directory.

    Args:
        run_dir: the run whose ``checkpoints/`` to read (never changed).
        last: how many of the newest step checkpoints to average.
        out: the new run directory (default ``<RUN_DIR>-avg<N>``); must not exist or be empty.
        registry: where the run's components resolve.

    Returns:
        The new run directory.

    Raises:
        CheckpointError: too few checkpoints, checkpoints from different recipes or
            vocabularies, a damaged checkpoint, or an unusable output folder.
    """
    run = RunDir.open_reader(run_dir)
    checkpoints = _chosen(run, last)
    text = _check_same_recipe(checkpoints)
    newest = checkpoints[-1]
    reg = registry or default_registry()
    check_components(newest.meta.get("components", {}), reg, newest.path / "meta.json")
    pipeline = build_pipeline(
        parse_recipe(text, str(run.path / "recipe.yaml")),
        reg,
        tokenizer_state=newest.tokenizer,
        extra_state=newest.extra,
        with_data=False,
    )
    averaged = _mean(pipeline.model, checkpoints)
    pipeline.model.load_state_dict({k: v.to(pipeline.model.state_dict()[k].dtype) for k, v in averaged.items()})
    target = Path(out) if out is not None else run.path.with_name(f"{run.path.name}-avg{last}")
    with RunDir.open_writer(target) as new:
        new.begin(RUN_FILES)
        new.write("recipe.yaml", text)
        new.save_weights(pipeline.model)
        write_vocabularies(new, pipeline)
        new.write("run.json", json.dumps(_meta(run, newest, checkpoints), indent=2))
        new.finish()
    return target


def _meta(run: RunDir, newest: Checkpoint, checkpoints: list[Checkpoint]) -> dict[str, Any]:
    return {
        "format": 1,
        **versions(),
        "components": newest.meta.get("components", {}),
        "recipe_source": newest.meta.get("recipe_source"),
        "step": newest.step,
        "final_eval": None,
        "averaged": {
            "run": str(run.path.resolve()),
            "steps": [c.step for c in checkpoints],
            "checkpoints": [c.path.name for c in checkpoints],
        },
    }
