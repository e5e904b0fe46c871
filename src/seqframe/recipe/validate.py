"""Pass 1 of building a recipe: check every node without building a model or reading data.

Sections and fixed fields (types, ranges, finite numbers); component names; each
component's options against its own signature and annotations; then, once a node is well
typed, its constructor is called with the recipe's options (sized components on torch's
``meta`` device, after their size is checked against the device's memory; see
:mod:`~seqframe.recipe.checks`), and the device and optimizer are checked as training would
build them. Every problem is collected into one :class:`RecipeError`, so ``validate``
accepts what ``run`` can build and train. Imports layers 0-1 and torch.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from seqframe.errors import PluginError, RecipeError, RecipeIssue, UnknownComponentError, suggest, unknown_key
from seqframe.interfaces import Task, is_task_class, task_signature_problems
from seqframe.recipe.checks import constructed, topology_issues
from seqframe.recipe.fields import check_fields, option_problem, unknown_keys
from seqframe.recipe.load import Recipe
from seqframe.recipe.schema import (
    COMPONENT_SECTIONS,
    DERIVED,
    MODEL_FIELDS,
    NULLABLE_SECTIONS,
    REQUIRED_SECTIONS,
    SECTIONS,
    TOPOLOGY_FIELDS,
    TRAIN_FIELDS,
    check_value,
    component_parameters,
    named,
    split_node,
    task_model_keys,
)
from seqframe.recipe.train_section import check_train
from seqframe.registry import Component, Registry

__all__ = ["GIVEN_PATHS", "validate"]

GIVEN_PATHS = ("task", "tokenizer", "target_tokenizer", "data", "model.topology", "model.decoder", "model.head")
"""Recipe paths whose component may be given as a built object (``seqframe.assemble``)."""


def _check_component(
    recipe: Recipe, registry: Registry, path: str, node: Any, kind: str, fixed: tuple[str, ...] = ()
) -> tuple[Component | None, list[RecipeIssue]]:
    """Name resolves; options bind to the factory and match its annotations."""
    name, options = split_node(node)
    if name is None:
        return None, [recipe.issue(path, f"expected a {kind} name or a mapping with 'name', got {node!r}")]
    try:
        component = registry.get(kind, name)
    except PluginError as exc:
        close = exc.suggestion if isinstance(exc, UnknownComponentError) else None
        return None, [recipe.issue(f"{path}.name" if isinstance(node, dict) else path, str(exc), close)]
    problems = option_problems(component.factory, kind, name, options, fixed)
    return component, [
        recipe.issue(f"{path}.{key}" if key else path, problem, close) for key, problem, close in problems
    ]


def option_problems(
    factory: Any, kind: str, name: str, options: Mapping[str, Any], fixed: tuple[str, ...] = ()
) -> list[tuple[str, str, str | None]]:
    """What is wrong with ``options`` for the component ``name`` made by ``factory``: one
    ``(key, problem, suggestion)`` per unknown, derived or ill-typed option (the suggestion
    is the close parameter name proposed for a misspelt key, else None), and
    ``("", problem, None)`` per required parameter left out. Recipes and
    :func:`seqframe.build_rnn` check cell and topology options through this one function.
    Empty when the factory's parameters cannot be read (then options pass through unchecked)."""
    params = component_parameters(factory, kind)
    if params is None:
        return []
    problems: list[tuple[str, str, str | None]] = []
    accepted = sorted(params)
    for key, value in options.items():
        if key in fixed:
            continue
        if key in DERIVED.get(kind, ()):
            problems.append((key, f"{key!r} is derived by seqframe for {kind} {name!r}; remove it", None))
        elif key not in params:
            close = suggest(key, accepted, cutoff=0.7)
            problems.append((key, unknown_key("parameter", key, f"{kind} {name!r}", accepted), close))
        elif problem := option_problem(factory, params[key], key, value):
            problems.append((key, problem, None))
    missing = [k for k, p in params.items() if p.default is p.empty and k not in options and k not in fixed]
    return problems + [("", f"{kind} {name!r} needs parameter {k!r}", None) for k in missing]


def _check_section(
    recipe: Recipe, registry: Registry, section: str, kind: str
) -> tuple[Component | None, list[RecipeIssue]]:
    """A top-level component section: checked, then constructed with its options (cheap:
    constructors read no data; a data source's missing files are reported when read)."""
    node = recipe.data[section]
    component, issues = _check_component(recipe, registry, section, node, kind)
    if component is None or issues:
        return component, issues
    options = split_node(node)[1]
    params = component_parameters(component.factory, "")
    if params is not None and "base_dir" in params:
        options["base_dir"] = recipe.base_dir
    return component, constructed(recipe, section, component, lambda kw: component.factory(**kw), options)[1]


def validate(recipe: Recipe, registry: Registry, *, processes: int = 1, given: Mapping[str, Any] | None = None) -> None:
    """Check the whole recipe without building a model or reading data.

    Args:
        recipe: the parsed recipe.
        registry: where component names resolve.
        processes: how many processes will train it together (``--nproc``): each trains on
            its share of every batch, so ``train.batch_size`` must be at least that.
        given: components built already, by recipe path (:data:`GIVEN_PATHS`; what
            ``seqframe.assemble`` receives as objects): their paths are absent from the
            recipe and not checked, and a given task's class answers for its flags.

    Raises:
        RecipeError: every problem found, each with dotted path and ``file:line``.
    """
    data, issues, given = recipe.data, [], given or {}
    issues += unknown_keys(recipe, "", data, list(SECTIONS), "the recipe")
    issues += [
        recipe.issue("", f"missing section {s!r}") for s in REQUIRED_SECTIONS if s not in data and s not in given
    ]
    components: dict[str, Component | None] = {}
    for section, kind in COMPONENT_SECTIONS.items():
        if section in given:
            components[section] = _given(section, kind, given[section])
        elif section in data and not (section in NULLABLE_SECTIONS and data[section] is None):
            components[section], found = _check_section(recipe, registry, section, kind)
            issues += found
    if components.get("task") is not None and not is_task_class(components["task"].factory):
        issues.append(_not_a_task(recipe, components.pop("task")))
    if (task_component := components.get("task")) is not None:
        issues += [recipe.issue("task", problem) for problem in task_signature_problems(task_component.factory)]
    issues += _check_task_fits_model(recipe, components.get("task"), data.get("model"))
    issues += _check_decoder(recipe, components.get("task"), data.get("model"), "model.decoder" in given)
    issues += _check_target_tokenizer(recipe, components.get("task"), data.get("target_tokenizer"))
    train = data.get("train", {})
    issues += check_train(recipe, train)
    loggers = train.get("loggers") if isinstance(train, dict) else None
    for index, spec in enumerate(loggers if isinstance(loggers, list) else []):
        issues += _check_component(recipe, registry, f"train.loggers[{index}]", spec, "logger")[1]
    batch_size = train.get("batch_size", TRAIN_FIELDS["batch_size"].default) if isinstance(train, dict) else None
    if isinstance(batch_size, int) and not isinstance(batch_size, bool) and 1 <= batch_size < processes:
        issues.append(
            recipe.issue(
                "train.batch_size",
                (
                    f"{batch_size} is smaller than the {processes} processes that would train together; each process trains "
                    f"on its share of every batch, so raise train.batch_size to at least {processes} or start fewer processes"
                ),
            )
        )
    device = train.get("device", "auto") if isinstance(train, dict) else "auto"
    if "model" in data:  # a missing section is reported above
        issues += _check_model(recipe, registry, data["model"], components.get("task"), device, given)
    if issues:
        raise RecipeError(issues)


def _given(section: str, kind: str, obj: Any) -> Component:
    """A component given as an object, described by its class (whose flags and signatures
    the checks read)."""
    name = obj.name if isinstance(obj, Task) else type(obj).__name__
    return Component(kind, name, type(obj), "<object>", "<object>", "")


def _check_model(
    recipe: Recipe, registry: Registry, model: Any, task: Component | None, device: Any, given: Mapping[str, Any]
) -> list[RecipeIssue]:
    """The ``model`` section: fixed fields, topology (and decoder), head, task-specific keys."""
    task_keys = _task_model_keys(task)
    issues = check_fields(recipe, "model", model, MODEL_FIELDS, "model", extra=list(task_keys))
    if not isinstance(model, dict):
        return issues
    embedding_dim = model.get("embedding_dim", MODEL_FIELDS["embedding_dim"].default)
    input_size = embedding_dim if check_value(embedding_dim, MODEL_FIELDS["embedding_dim"]) is None else 1
    device = device if isinstance(device, str) else "auto"
    for key in ("topology", "decoder"):
        if f"model.{key}" not in given and (key == "topology" or model.get(key) is not None):
            issues += _check_topology(
                recipe, registry, f"model.{key}", named(model.get(key, "stacked"), "stacked"), input_size, device
            )
    head_node = named(model.get("head", "linear"), "linear")
    head, found = (
        (None, []) if "model.head" in given else _check_component(recipe, registry, "model.head", head_node, "head")
    )
    issues += found
    if head is not None and not found:
        options = split_node(head_node)[1]
        issues += constructed(recipe, "model.head", head, lambda kw: head.factory(8, 2, **kw), options, parameters=18)[
            1
        ]
    # task.build_model needs a fitted tokenizer (the vocabulary comes from the data), so the
    # task's model keys are bind-checked against its signature only, never called here.
    build_model = task.factory.build_model if task is not None else None
    for key in task_keys.keys() & model.keys():
        if problem := option_problem(build_model, task_keys[key], key, model[key]):
            issues.append(recipe.issue(f"model.{key}", problem))
    return issues


def _task_model_keys(task: Component | None) -> dict[str, inspect.Parameter]:
    """The task-specific ``model`` keys: ``build_model``'s keyword arguments that the
    builder does not pass itself."""
    return {} if task is None else task_model_keys(task.factory.build_model)


def _check_topology(
    recipe: Recipe, registry: Registry, path: str, topology: Any, input_size: int, device: str
) -> list[RecipeIssue]:
    """A topology node (``model.topology`` or ``model.decoder``): fixed fields, name, cell;
    then its size against the device's memory, and the cell and topology constructed."""
    issues = []
    if isinstance(topology, dict):
        issues += [
            recipe.issue(f"{path}.{k}", p)
            for k, s in TOPOLOGY_FIELDS.items()
            if k in topology and k not in ("name", "cell") and (p := check_value(topology[k], s))
        ]
    fixed = tuple(k for k in TOPOLOGY_FIELDS if k != "name")
    component, found = _check_component(recipe, registry, path, topology, "topology", fixed)
    issues += found
    cell_node = (
        named(topology.get("cell", TOPOLOGY_FIELDS["cell"].default), "lstm") if isinstance(topology, dict) else "lstm"
    )
    cell, found = _check_component(recipe, registry, f"{path}.cell", cell_node, "cell")
    issues += found
    if issues or component is None or cell is None:
        return issues
    return topology_issues(recipe, path, topology, component, cell, input_size, device)


def _check_task_fits_model(recipe: Recipe, task: Component | None, model: Any) -> list[RecipeIssue]:
    """A task whose ``causal`` flag is true (it generates left to right) cannot take a
    bidirectional topology: reading the future would leak the answer. Caught here, before
    any data is read."""
    if task is None or not task.factory.causal or not isinstance(model, dict):
        return []
    topology = model.get("topology")
    if isinstance(topology, str):
        topology = {"name": topology}
    if not isinstance(topology, dict):
        return []
    if topology.get("bidirectional") is True or topology.get("name") == "bidirectional":
        path = "model.topology.bidirectional" if "bidirectional" in topology else "model.topology.name"
        return [
            recipe.issue(
                path,
                f"task {task.name!r} generates left to right, so the topology cannot be "
                "bidirectional (it would read the tokens it must predict); set "
                "model.topology.bidirectional: false",
            )
        ]
    return []


def _check_target_tokenizer(recipe: Recipe, task: Component | None, node: Any) -> list[RecipeIssue]:
    """A ``target_tokenizer`` section only for a task whose ``generates_targets`` is true (it
    is fitted on the data's target texts, which other tasks' data do not have)."""
    if node is None or task is None or task.factory.generates_targets:
        return []
    return [
        recipe.issue(
            "target_tokenizer",
            f"task {task.name!r} writes no target text, so it takes no target_tokenizer; remove the section",
        )
    ]


def _check_decoder(recipe: Recipe, task: Component | None, model: Any, given: bool = False) -> list[RecipeIssue]:
    """``model.decoder`` writes left to right, so it is never bidirectional; a task whose
    ``build_model`` takes ``decoder`` without a default needs one. Caught before any data is read."""
    if not isinstance(model, dict):
        return []
    decoder = model.get("decoder")
    if decoder is None and given:
        return []
    if decoder is None:
        param = inspect.signature(task.factory.build_model).parameters.get("decoder") if task is not None else None
        if task is None or param is None or param.default is not param.empty:
            return []
        return [
            recipe.issue(
                "model",
                f"task {task.name!r} needs model.decoder, the topology that writes the "
                "output; add e.g. decoder: {name: stacked, cell: lstm, hidden_size: 256}",
            )
        ]
    node = {"name": decoder} if isinstance(decoder, str) else decoder
    if isinstance(node, dict) and (node.get("bidirectional") is True or node.get("name") == "bidirectional"):
        path = "model.decoder.bidirectional" if "bidirectional" in node else "model.decoder.name"
        return [
            recipe.issue(
                path,
                "a decoder writes left to right, so it cannot be bidirectional (it would read "
                "the tokens it must predict); set model.decoder.bidirectional: false",
            )
        ]
    return []


def _not_a_task(recipe: Recipe, task: Component) -> RecipeIssue:
    return recipe.issue(
        "task",
        f"task {task.name!r} from plugin {task.plugin!r} ({task.distribution} {task.version}) "
        f"is {task.factory!r}, not a subclass of seqframe.Task; the plugin must register a "
        "class that subclasses seqframe.Task",
    )
