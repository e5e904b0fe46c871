"""The public Python API: everything the command line does, as functions.

Two styles: from a recipe (:func:`load_recipe`, :func:`build`, :func:`run`,
:func:`load_run`, :func:`predict`) and from objects (:func:`assemble`, :func:`train`).
Facade layer: may import every lower layer.
"""

from __future__ import annotations

import datetime
import json
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqframe import __version__
from seqframe.engine import Callback, MetricsWriter, ProgressBar, TrainResult, load_weights, read_json, resolve_device, save_weights, write_atomic
from seqframe.engine import train as _engine_train
from seqframe.errors import CheckpointError, PluginError, RecipeError, RecipeIssue, suggest
from seqframe.interfaces import DataSource, Tokenizer
from seqframe.pipeline import Pipeline, TrainConfig
from seqframe.plugins import load_plugin_manager
from seqframe.recipe import Recipe, apply_overrides, build_pipeline, load_recipe as _load_recipe_file, parse_recipe
from seqframe.registry import Registry

__all__ = [
    "RunResult", "assemble", "build", "load_recipe", "load_run", "plugin_report", "predict", "registry",
    "run", "save_run", "shipped_recipes", "train", "validate",
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


def _prepare_out_dir(out_dir: str | Path, overwrite: bool) -> Path:
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise CheckpointError(f"{out}: output folder exists and is not empty; choose another --out or pass --overwrite")
    out.mkdir(parents=True, exist_ok=True)
    return out


def save_run(pipeline: Pipeline, out_dir: str | Path, result: TrainResult | None = None) -> None:
    """Write weights, tokenizer and run metadata into ``out_dir`` (each file atomically)."""
    out = Path(out_dir)
    save_weights(pipeline.model, out / "model.safetensors")
    write_atomic(out / "tokenizer.json", json.dumps(pipeline.tokenizer.state_dict()))
    meta = {
        "format": 1, "seqframe": __version__, "torch": torch.__version__, "python": platform.python_version(),
        "components": pipeline.components,
        "step": result.step if result else 0,
        "final_eval": result.final_eval if result else None,
    }
    write_atomic(out / "run.json", json.dumps(meta, indent=2))


def train(
    pipeline: Pipeline, out_dir: str | Path | None = None, *, progress: bool = True,
    callbacks: Sequence[Callback] = (), overwrite: bool = False,
) -> TrainResult:
    """Train a pipeline; with ``out_dir``, write ``recipe.yaml``, ``metrics.jsonl``, weights,
    tokenizer and ``run.json`` there."""
    out = _prepare_out_dir(out_dir, overwrite) if out_dir is not None else None
    all_callbacks = [ProgressBar(disable=not progress), *callbacks]
    if out is not None:
        if pipeline.recipe_text is not None:
            write_atomic(out / "recipe.yaml", pipeline.recipe_text)
        all_callbacks.append(MetricsWriter(out / "metrics.jsonl", pipeline.train.log_every))
    result = _engine_train(pipeline, all_callbacks)
    if out is not None:
        save_run(pipeline, out, result)
    return result


def run(
    recipe: Recipe | str | Path, overrides: Sequence[str] = (), *, out_dir: str | Path | None = None,
    progress: bool = True, overwrite: bool = False, registry: Registry | None = None,
) -> RunResult:
    """Load, build and train a recipe, then (for a language model) generate a sample.

    ``out_dir`` defaults to ``runs/<recipe name>-<timestamp>``.
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, overrides)
        overrides = ()
    pipeline = build(recipe, overrides, registry=registry)
    if out_dir is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        out_dir = Path("runs") / f"{Path(recipe.source).stem}-{stamp}"
    result = train(pipeline, out_dir, progress=progress, overwrite=overwrite)
    sample = None
    config = pipeline.train.sample
    if config is not None and hasattr(pipeline.task, "generate"):
        text = predict(pipeline, [config.prompt], max_tokens=config.max_tokens, temperature=config.temperature,
                       top_k=config.top_k, top_p=config.top_p, seed=config.seed)[0]
        sample = config.prompt + text
        write_atomic(Path(out_dir) / "sample.txt", sample + "\n")
    return RunResult(Path(out_dir), result, pipeline, sample)


def load_run(run_dir: str | Path, *, registry: Registry | None = None, device: str = "cpu") -> Pipeline:
    """Rebuild a finished run's pipeline (no data loaded) with its trained weights.

    Raises:
        CheckpointError: not a run directory, or corrupt files.
        PluginError: a component of the run is not installed (names the package).
    """
    out = Path(run_dir)
    if not (out / "recipe.yaml").is_file():
        raise CheckpointError(f"{out}: no recipe.yaml; is this a seqframe run directory?")
    meta = read_json(out / "run.json")
    reg = registry or globals()["registry"]()
    for path, info in meta.get("components", {}).items():
        kind = {"tokenizer": "tokenizer", "data": "dataset", "task": "task", "model.topology": "topology",
                "model.topology.cell": "cell", "model.head": "head"}.get(path)
        if kind and info["name"] not in reg.names(kind):
            raise PluginError(
                f"{out}: this run uses {kind} {info['name']!r} from plugin {info['plugin']!r} "
                f"({info['distribution']} {info['version']}), which is not installed; install "
                f"{info['distribution']} to load it"
            )
    recipe = parse_recipe((out / "recipe.yaml").read_text(encoding="utf-8"), str(out / "recipe.yaml"))
    pipeline = build_pipeline(recipe, reg, tokenizer_state=read_json(out / "tokenizer.json"), with_data=False)
    load_weights(pipeline.model, out / "model.safetensors")
    pipeline.model.to(resolve_device(device)).eval()
    return pipeline


def predict(run: Pipeline | str | Path, inputs: Sequence[str], **options: Any) -> list[str]:
    """Answer ``inputs`` with a pipeline or a finished run's directory.

    For a language model, each input is a prompt and the result its continuation; options
    are ``max_tokens``, ``temperature``, ``top_k``, ``top_p``, ``seed``.
    """
    pipeline = run if isinstance(run, Pipeline) else load_run(run)
    device = next(pipeline.model.parameters()).device
    return list(pipeline.task.generate(pipeline.model, pipeline.tokenizer, list(inputs), device=device, **options))
