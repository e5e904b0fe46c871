"""Recipe + Registry -> Pipeline. All wiring lives here, in two passes.

Pass 1 (:func:`validate`) checks every node without building anything or reading data:
sections and fields, component names, and each component's options against its own
signature and annotations; every problem is collected into one :class:`RecipeError`.
Pass 2 (:func:`build_pipeline`) constructs, in a fixed order: tokenizer, data, task, cell,
topology, head, then fits the tokenizer and builds the model. Derived values (input and
vocabulary sizes) are passed here; a recipe that sets one gets an error.
"""

from __future__ import annotations

import contextlib
import inspect
import functools
import random
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from seqframe.cache import cached_fit
from seqframe.errors import DataError, PluginError, RecipeError, RecipeIssue, SeqframeError, suggest
from seqframe.interfaces import TargetSource, Task, is_task_class
from seqframe.pipeline import (
    CheckpointConfig, EarlyStoppingConfig, Pipeline, SampleConfig, SchedulerConfig, TrainConfig,
)
from seqframe.recipe.load import Recipe
from seqframe.recipe.schema import (
    COMPONENT_SECTIONS, DERIVED, MODEL_FIELDS, MODEL_STANDARD_ARGS, OPTIMIZER_FIELDS, REQUIRED_SECTIONS, SCHEDULER_FIELDS, SECTIONS,
    TOPOLOGY_FIELDS, TRAIN_FIELDS, TRAIN_SUBSECTIONS, Field, annotation_types, check_value, component_parameters,
)
from seqframe.registry import Component, Registry

__all__ = ["build_pipeline", "validate"]


def _unknown_keys(recipe: Recipe, path: str, node: Mapping[str, Any], known: list[str], what: str) -> list[RecipeIssue]:
    issues = []
    for key in node:
        if key not in known:
            close = suggest(key, known, cutoff=0.7)
            hint = f"; did you mean {close!r}?" if close else ""
            issues.append(recipe.issue(f"{path}.{key}" if path else key,
                                       f"unknown key {key!r} in {what}{hint} (accepted: {', '.join(known)})"))
    return issues


def _check_fields(recipe: Recipe, path: str, node: Any, fields: Mapping[str, Field], what: str,
                  extra: list[str] = ()) -> list[RecipeIssue]:  # type: ignore[assignment]
    if not isinstance(node, dict):
        return [recipe.issue(path, f"expected a mapping for {what}, got {type(node).__name__} {node!r}")]
    issues = _unknown_keys(recipe, path, node, [*fields, *extra], what)
    for key, spec in fields.items():
        if key in node and (problem := check_value(node[key], spec)):
            issues.append(recipe.issue(f"{path}.{key}", problem))
    return issues


def _split_node(node: Any) -> tuple[str | None, dict[str, Any]]:
    """``lstm`` or ``{name: lstm, **options}`` -> (name, options)."""
    if isinstance(node, str):
        return node, {}
    if isinstance(node, dict):
        options = dict(node)
        name = options.pop("name", None)
        return (name if isinstance(name, str) else None), options
    return None, {}


def _check_component(recipe: Recipe, registry: Registry, path: str, node: Any, kind: str,
                     fixed: tuple[str, ...] = ()) -> tuple[Component | None, list[RecipeIssue]]:
    """Name resolves; options bind to the factory and match its annotations."""
    name, options = _split_node(node)
    if name is None:
        return None, [recipe.issue(path, f"expected a {kind} name or a mapping with 'name', got {node!r}")]
    try:
        component = registry.get(kind, name)
    except PluginError as exc:
        return None, [recipe.issue(f"{path}.name" if isinstance(node, dict) else path, str(exc))]
    params = component_parameters(component.factory, kind)
    if params is None:
        return component, []
    issues = []
    accepted = sorted(params)
    for key, value in options.items():
        if key in fixed:
            continue
        if key in DERIVED.get(kind, ()):
            issues.append(recipe.issue(f"{path}.{key}", f"{key!r} is derived by seqframe for {kind} {name!r}; remove it"))
        elif key not in params:
            close = suggest(key, accepted, cutoff=0.7)
            hint = f"; did you mean {close!r}?" if close else ""
            issues.append(recipe.issue(f"{path}.{key}", f"unknown parameter {key!r} for {kind} {name!r}{hint} "
                                                        f"(accepted: {', '.join(accepted) or 'none'})"))
        elif (types_ := annotation_types(component.factory, key)) and (problem := check_value(value, Field(types_, None, ""))):
            issues.append(recipe.issue(f"{path}.{key}", problem))
    missing = [k for k, p in params.items() if p.default is p.empty and k not in options and k not in fixed]
    issues += [recipe.issue(path, f"{kind} {name!r} needs parameter {k!r}") for k in missing]
    return component, issues


def validate(recipe: Recipe, registry: Registry) -> None:
    """Check the whole recipe without building anything.

    Raises:
        RecipeError: every problem found, each with dotted path and ``file:line``.
    """
    data, issues = recipe.data, []
    issues += _unknown_keys(recipe, "", data, list(SECTIONS), "the recipe")
    issues += [recipe.issue("", f"missing section {s!r}") for s in REQUIRED_SECTIONS if s not in data]
    components = {}
    for section, kind in COMPONENT_SECTIONS.items():
        if section in data:
            components[section], found = _check_component(recipe, registry, section, data[section], kind)
            issues += found
    if components.get("task") is not None and not is_task_class(components["task"].factory):
        issues.append(_not_a_task(recipe, components.pop("task")))
    issues += _check_task_fits_model(recipe, components.get("task"), data.get("model"))
    issues += _check_decoder(recipe, components.get("task"), data.get("model"))
    model = data.get("model")
    task_keys = _task_model_keys(components.get("task"))
    if model is not None:
        issues += _check_fields(recipe, "model", model, MODEL_FIELDS, "model", extra=list(task_keys))
    if isinstance(model, dict):
        for key in ("topology", "decoder"):
            if key == "topology" or model.get(key) is not None:
                issues += _check_topology(recipe, registry, f"model.{key}", model.get(key, "stacked"))
        issues += _check_component(recipe, registry, "model.head", model.get("head", "linear"), "head")[1]
        build_model = components["task"].factory.build_model if components.get("task") else None
        for key in task_keys.keys() & model.keys():
            types_ = annotation_types(build_model, key)
            if types_ and (problem := check_value(model[key], Field(types_, None, ""))):
                issues.append(recipe.issue(f"model.{key}", problem))
    issues += _check_train(recipe, data.get("train", {}))
    if issues:
        raise RecipeError(issues)


def _check_train(recipe: Recipe, train: Any) -> list[RecipeIssue]:
    """The ``train`` section: fixed fields, nested tables, then settings that contradict."""
    issues = _check_fields(recipe, "train", train, TRAIN_FIELDS, "train")
    if not isinstance(train, dict):
        return issues
    if isinstance(train.get("optimizer"), dict):
        issues += [recipe.issue(f"train.optimizer.{k}", p) for k, s in OPTIMIZER_FIELDS.items()
                   if k in train["optimizer"] and (p := check_value(train["optimizer"][k], s))]
    if isinstance(train.get("scheduler"), str):
        if problem := check_value(train["scheduler"], SCHEDULER_FIELDS["name"]):
            issues.append(recipe.issue("train.scheduler", problem))
    for key, fields in TRAIN_SUBSECTIONS.items():
        if isinstance(train.get(key), dict):
            issues += _check_fields(recipe, f"train.{key}", train[key], fields, f"train.{key}")
    return issues if issues else _check_train_settings(recipe, train)


def _check_train_settings(recipe: Recipe, train: dict[str, Any]) -> list[RecipeIssue]:
    """Well-typed settings that cannot work together (checked once the types are right)."""
    scheduler = _scheduler_node(train.get("scheduler", {}))
    name = scheduler.get("name", "constant")
    evaluates = train.get("eval_every", TRAIN_FIELDS["eval_every"].default) > 0
    lr = train.get("optimizer", {}).get("lr", OPTIMIZER_FIELDS["lr"].default)
    issues = []
    if name == "linear_warmup" and scheduler.get("warmup_steps", 0) < 1:
        issues.append(recipe.issue("train.scheduler", "linear_warmup needs warmup_steps >= 1; "
                                                      "set train.scheduler.warmup_steps"))
    if name == "reduce_on_plateau" and not evaluates:
        issues.append(recipe.issue("train.scheduler", "reduce_on_plateau lowers the rate after evaluations, "
                                                      "but train.eval_every is 0; set train.eval_every > 0"))
    if name in ("cosine", "reduce_on_plateau") and isinstance(lr, (int, float)) and scheduler.get("min_lr", 0.0) >= lr:
        issues.append(recipe.issue("train.scheduler.min_lr", f"expected a value below train.optimizer.lr ({lr}), "
                                                             f"got {scheduler['min_lr']!r}"))
    if train.get("early_stopping") is not None and not evaluates:
        issues.append(recipe.issue("train.early_stopping", "early stopping watches evaluations, but "
                                                           "train.eval_every is 0; set train.eval_every > 0"))
    return issues


def _scheduler_node(node: Any) -> dict[str, Any]:
    return {"name": node} if isinstance(node, str) else dict(node)


def _not_a_task(recipe: Recipe, task: Component) -> RecipeIssue:
    return recipe.issue("task", f"task {task.name!r} from plugin {task.plugin!r} ({task.distribution} {task.version}) "
                                f"is {task.factory!r}, not a subclass of seqframe.Task; the plugin must register a "
                                "class that subclasses seqframe.Task")


def _task_model_keys(task: Component | None) -> dict[str, inspect.Parameter]:
    """The task-specific ``model`` keys: ``build_model``'s keyword arguments that the
    builder does not pass itself."""
    if task is None:
        return {}
    params = inspect.signature(task.factory.build_model).parameters
    return {k: p for k, p in params.items() if k != "self" and k not in MODEL_STANDARD_ARGS
            and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def _check_topology(recipe: Recipe, registry: Registry, path: str, topology: Any) -> list[RecipeIssue]:
    """A topology node (``model.topology`` or ``model.decoder``): fixed fields, name, cell."""
    issues = []
    if isinstance(topology, dict):
        issues += [recipe.issue(f"{path}.{k}", p) for k, s in TOPOLOGY_FIELDS.items()
                   if k in topology and k not in ("name", "cell") and (p := check_value(topology[k], s))]
    fixed = tuple(k for k in TOPOLOGY_FIELDS if k != "name")
    issues += _check_component(recipe, registry, path, topology, "topology", fixed)[1]
    if isinstance(topology, dict) and "cell" in topology:
        issues += _check_component(recipe, registry, f"{path}.cell", topology["cell"], "cell")[1]
    return issues


def _check_task_fits_model(recipe: Recipe, task: Component | None, model: Any) -> list[RecipeIssue]:
    """C8: a task whose ``causal`` flag is true (it generates left to right) cannot
    take a bidirectional topology; caught here, before any data is read."""
    if task is None or not task.factory.causal or not isinstance(model, dict):
        return []
    topology = model.get("topology")
    if isinstance(topology, str):
        topology = {"name": topology}
    if not isinstance(topology, dict):
        return []
    if topology.get("bidirectional") is True or topology.get("name") == "bidirectional":
        path = "model.topology.bidirectional" if "bidirectional" in topology else "model.topology.name"
        return [recipe.issue(path, f"task {task.name!r} generates left to right, so the topology cannot be "
                                   "bidirectional (it would read the tokens it must predict); set "
                                   "model.topology.bidirectional: false")]
    return []


def _check_decoder(recipe: Recipe, task: Component | None, model: Any) -> list[RecipeIssue]:
    """``model.decoder`` writes left to right, so it is never bidirectional; a task whose
    ``build_model`` takes ``decoder`` without a default needs one. Caught before any data is read."""
    if not isinstance(model, dict):
        return []
    decoder = model.get("decoder")
    if decoder is None:
        param = inspect.signature(task.factory.build_model).parameters.get("decoder") if task is not None else None
        if task is None or param is None or param.default is not param.empty:
            return []
        return [recipe.issue("model", f"task {task.name!r} needs model.decoder, the topology that writes the "
                                      "output; add e.g. decoder: {name: stacked, cell: lstm, hidden_size: 256}")]
    node = {"name": decoder} if isinstance(decoder, str) else decoder
    if isinstance(node, dict) and (node.get("bidirectional") is True or node.get("name") == "bidirectional"):
        path = "model.decoder.bidirectional" if "bidirectional" in node else "model.decoder.name"
        return [recipe.issue(path, "a decoder writes left to right, so it cannot be bidirectional (it would read "
                                   "the tokens it must predict); set model.decoder.bidirectional: false")]
    return []


@contextlib.contextmanager
def _at(recipe: Recipe, path: str) -> Iterator[None]:
    """Turn a constructor's ValueError/TypeError into a RecipeError at ``path``."""
    try:
        yield
    except SeqframeError:
        raise
    except (ValueError, TypeError) as exc:
        raise RecipeError([recipe.issue(path, str(exc))]) from exc


def _provenance(component: Component) -> dict[str, str]:
    return {"name": component.name, "plugin": component.plugin,
            "distribution": component.distribution, "version": component.version}


def _make(recipe: Recipe, registry: Registry, path: str, node: Any, kind: str, provenance: dict[str, Any],
          **derived: Any) -> Any:
    name, options = _split_node(node)
    component = registry.get(kind, name or "")
    provenance[path] = _provenance(component)
    with _at(recipe, path):
        return component.factory(**options, **derived)


def _train_config(train: Mapping[str, Any]) -> TrainConfig:
    fields = {k: v for k, v in train.items() if k in TRAIN_FIELDS and k not in TRAIN_SUBSECTIONS}
    sample, early = train.get("sample", {}), train.get("early_stopping")
    return TrainConfig(
        **fields,
        scheduler=SchedulerConfig(**_scheduler_node(train.get("scheduler", {}))),
        checkpoint=CheckpointConfig(**train.get("checkpoint", {})),
        early_stopping=None if early is None else EarlyStoppingConfig(**early),
        sample=None if sample is None else SampleConfig(**sample),
        diagnostics=train.get("diagnostics"),  # a mapping or None; TrainConfig converts it
    )


def build_pipeline(
    recipe: Recipe, registry: Registry, *, tokenizer_state: Mapping[str, Any] | None = None,
    extra_state: Mapping[str, Any] | None = None, with_data: bool = True
) -> Pipeline:
    """Validate, then build every component and the model.

    Args:
        recipe: the parsed recipe.
        registry: where component names resolve.
        tokenizer_state: a saved tokenizer state to load instead of fitting on the data.
        extra_state: saved ``target_tokenizer`` and ``task`` states (``Pipeline.extra_state``).
        with_data: build the data source (False when only predicting from a saved run).

    Raises:
        RecipeError: invalid recipe, or a component rejected its options.
        DataError: the data cannot be read.
    """
    validate(recipe, registry)
    data, provenance = recipe.data, {}
    train = _train_config(data.get("train", {}))
    random.seed(train.seed)
    torch.manual_seed(train.seed)
    tokenizer = _make(recipe, registry, "tokenizer", data["tokenizer"], "tokenizer", provenance,
                      **_base_dir(registry, data["tokenizer"], recipe, "tokenizer"))
    source = None
    if with_data:
        source = _make(recipe, registry, "data", data["data"], "dataset", provenance,
                       **_base_dir(registry, data["data"], recipe, "dataset"))
    task = _make(recipe, registry, "task", data["task"], "task", provenance)
    extra_state = extra_state or {}
    target_tokenizer = None
    if data.get("target_tokenizer") is not None:
        target_tokenizer = _make(recipe, registry, "target_tokenizer", data["target_tokenizer"], "tokenizer",
                                 provenance, **_base_dir(registry, data["target_tokenizer"], recipe, "tokenizer"))
    _fit_vocabularies(recipe, data, provenance, task, source, tokenizer, target_tokenizer,
                      tokenizer_state, extra_state)
    model = _build_model(recipe, registry, data["model"], task, tokenizer, target_tokenizer, provenance)
    return Pipeline(task, tokenizer, model, source, train, recipe.to_yaml(), provenance,
                    target_tokenizer=target_tokenizer)


def _fit_vocabularies(recipe: Recipe, data: Mapping[str, Any], provenance: dict[str, Any], task: Task,
                      source: Any, tokenizer: Any, target_tokenizer: Any, tokenizer_state: Any,
                      extra_state: Mapping[str, Any]) -> None:
    """Load saved tokenizer/task states, or fit them on the training split (cached)."""
    generates = task.generates_targets
    if generates and source is not None and not isinstance(source, TargetSource):
        raise DataError(f"task {task.name!r} writes the target texts of examples, but data source "
                        f"{type(source).__name__} has no target_texts; use a source of examples with a 'target' field"
                        + (f" (e.g. {task.example_sources})" if task.example_sources else ""))
    if tokenizer_state is not None:
        tokenizer.load_state_dict(tokenizer_state)
    elif source is not None:  # reuse a state trained before on the same data and settings
        texts = list(source.texts("train"))
        if generates and target_tokenizer is None:  # one vocabulary shared by source and target
            texts += list(source.target_texts("train"))
        cached_fit(tokenizer, texts, {"component": provenance["tokenizer"], "options": _split_node(data["tokenizer"])[1]})
    if target_tokenizer is not None:
        if extra_state.get("target_tokenizer") is not None:
            target_tokenizer.load_state_dict(extra_state["target_tokenizer"])
        elif source is not None:
            cached_fit(target_tokenizer, list(source.target_texts("train")),
                       {"component": provenance["target_tokenizer"], "options": _split_node(data["target_tokenizer"])[1]})
    if extra_state.get("task") is not None:
        task.load_state_dict(extra_state["task"])
    elif source is not None:
        with _at(recipe, "task"):
            task.fit(source)


def _build_topology(recipe: Recipe, registry: Registry, path: str, node: Any, input_size: int,
                    provenance: dict[str, Any]) -> Any:
    """A topology node -> cell factory -> topology module (``model.topology`` or ``model.decoder``)."""
    node = {"name": node} if isinstance(node, str) else dict(node)
    cell_name, cell_options = _split_node(node.pop("cell", "lstm"))
    cell = registry.get("cell", cell_name or "")
    provenance[f"{path}.cell"] = _provenance(cell)
    return _make(recipe, registry, path, node, "topology", provenance,
                 cell=functools.partial(cell.factory, **cell_options), input_size=input_size)


def _build_model(recipe: Recipe, registry: Registry, node: Mapping[str, Any], task: Task, tokenizer: Any,
                 target_tokenizer: Any, provenance: dict[str, Any]) -> Any:
    """Topology (and decoder) -> head factory -> ``task.build_model`` with the task's own keys."""
    embedding_dim = node.get("embedding_dim", MODEL_FIELDS["embedding_dim"].default)
    input_size = task.topology_input_size(embedding_dim)
    topology = _build_topology(recipe, registry, "model.topology", node.get("topology", "stacked"), input_size,
                               provenance)
    head_name, head_options = _split_node(node.get("head", "linear"))
    head = registry.get("head", head_name or "")
    provenance["model.head"] = _provenance(head)
    parameters = inspect.signature(task.build_model).parameters
    extra = {k: v for k, v in node.items() if k not in MODEL_FIELDS}
    if node.get("decoder") is not None:
        extra["decoder"] = _build_topology(recipe, registry, "model.decoder", node["decoder"], embedding_dim, provenance)
    if "target_tokenizer" in parameters:
        extra["target_tokenizer"] = target_tokenizer
    with _at(recipe, "model"):
        return task.build_model(tokenizer=tokenizer, topology=topology, embedding_dim=embedding_dim,
                                head=functools.partial(head.factory, **head_options), **extra)


def _base_dir(registry: Registry, node: Any, recipe: Recipe, kind: str) -> dict[str, str]:
    """``{"base_dir": <recipe folder>}`` for a component that takes one (relative paths), else ``{}``."""
    name, _ = _split_node(node)
    params = component_parameters(registry.get(kind, name or "").factory, "")
    return {"base_dir": recipe.base_dir} if params is not None and "base_dir" in params else {}
