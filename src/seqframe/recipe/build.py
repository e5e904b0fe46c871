"""Recipe + Registry -> Pipeline. All wiring lives here, in two passes.

Pass 1 (:func:`~seqframe.recipe.validate.validate`) checks every node without building a
model or reading data; every problem is collected into one :class:`RecipeError`. Pass 2 (:func:`build_pipeline`) constructs, in a fixed order: tokenizer, data, task, cell,
topology, head, then fits the tokenizer and builds the model. Derived values (input and
vocabulary sizes) are passed here; a recipe that sets one gets an error.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import random
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import torch

from seqframe.cache import cached_fit
from seqframe.errors import DataError, RecipeError, SeqframeError
from seqframe.interfaces import ModelParts, PrefittedTokenizer, TargetSource, Task, Tokenizers, Topology
from seqframe.pipeline import (
    CheckpointConfig,
    EarlyStoppingConfig,
    Pipeline,
    SampleConfig,
    SchedulerConfig,
    TrainConfig,
)
from seqframe.recipe.checks import error_text
from seqframe.recipe.load import Recipe
from seqframe.recipe.schema import (
    MODEL_FIELDS,
    TRAIN_FIELDS,
    TRAIN_SUBSECTIONS,
    component_parameters,
    named,
    scheduler_node,
    split_node,
)
from seqframe.recipe.validate import validate
from seqframe.registry import Component, Registry

__all__ = ["build_pipeline", "validate"]


@contextlib.contextmanager
def _at(recipe: Recipe, path: str, keys: Iterable[str] = ()) -> Iterator[None]:
    """Turn a constructor's ValueError/TypeError (or a failed allocation) into a
    RecipeError at ``path``, in one line: at ``path.KEY`` for the first of ``keys`` (the
    options it was given) that the message names, so the error points at that key's line."""
    try:
        yield
    except SeqframeError:
        raise
    except (ValueError, TypeError, OverflowError, MemoryError) as exc:
        raise RecipeError([recipe.issue(_named_key(path, keys, str(exc)), error_text(exc))]) from exc
    except RuntimeError as exc:  # torch could not allocate what the recipe asks for
        if "allocate" not in str(exc) and not isinstance(exc, torch.OutOfMemoryError):
            raise
        raise RecipeError([recipe.issue(path, error_text(exc))]) from exc


def _named_key(path: str, keys: Iterable[str], message: str) -> str:
    """``path.KEY`` for the key of ``keys`` named first in ``message`` (as a whole word),
    else ``path``."""
    found = [(match.start(), key) for key in keys if (match := re.search(rf"\b{re.escape(key)}\b", message))]
    return f"{path}.{min(found)[1]}" if found else path


def _provenance(component: Component) -> dict[str, str]:
    return {
        "name": component.name,
        "plugin": component.plugin,
        "distribution": component.distribution,
        "version": component.version,
    }


def _make(
    recipe: Recipe, registry: Registry, path: str, node: Any, kind: str, provenance: dict[str, Any], **derived: Any
) -> Any:
    name, options = split_node(node)
    component = registry.get(kind, name or "")
    provenance[path] = _provenance(component)
    with _at(recipe, path):
        return component.factory(**options, **derived)


def _train_config(train: Mapping[str, Any]) -> TrainConfig:
    fields = {k: v for k, v in train.items() if k in TRAIN_FIELDS and k not in TRAIN_SUBSECTIONS}
    sample, early = train.get("sample", {}), train.get("early_stopping")
    return TrainConfig(
        **fields,
        scheduler=SchedulerConfig(**scheduler_node(train.get("scheduler", {}))),
        checkpoint=CheckpointConfig(**train.get("checkpoint", {})),
        early_stopping=None if early is None else EarlyStoppingConfig(**early),
        sample=None if sample is None else SampleConfig(**sample),
        diagnostics=train.get("diagnostics"),  # a mapping or None; TrainConfig converts it
    )


def build_pipeline(
    recipe: Recipe,
    registry: Registry,
    *,
    tokenizer_state: Mapping[str, Any] | None = None,
    extra_state: Mapping[str, Any] | None = None,
    with_data: bool = True,
    given: Mapping[str, Any] | None = None,
) -> Pipeline:
    """Validate, then build every component and the model.

    Args:
        recipe: the parsed recipe.
        registry: where component names resolve.
        tokenizer_state: a saved tokenizer state to load instead of fitting on the data.
        extra_state: saved ``target_tokenizer`` and ``task`` states (``Pipeline.extra_state``).
        with_data: build the data source (False when only predicting from a saved run).
        given: components built already, by recipe path (``task``, ``tokenizer``, ``data``,
            ``model.topology``, ``model.head`` (a head factory), ...; see
            :data:`~seqframe.recipe.validate.GIVEN_PATHS`), used as they are. A given
            tokenizer is fitted only if it is not yet; a pipeline with given components has
            no recipe (``recipe_text`` None) and lists them in ``Pipeline.unnamed``.

    Raises:
        RecipeError: invalid recipe, or a component rejected its options.
        DataError: the data cannot be read.
    """
    given = dict(given or {})
    validate(recipe, registry, given=given if with_data else {"data": None, **given})
    data, provenance = recipe.data, {}
    train = _train_config(data.get("train", {}))
    random.seed(train.seed)
    torch.manual_seed(train.seed)
    tokenizer = _section(recipe, registry, "tokenizer", "tokenizer", provenance, given)
    source = _section(recipe, registry, "data", "dataset", provenance, given) if with_data else None
    task = _section(recipe, registry, "task", "task", provenance, given)
    extra_state = extra_state or {}
    target_tokenizer = _section(recipe, registry, "target_tokenizer", "tokenizer", provenance, given)
    _fit_vocabularies(recipe, data, provenance, task, source, tokenizer, target_tokenizer, tokenizer_state, extra_state)
    model = _build_model(recipe, registry, data["model"], task, tokenizer, target_tokenizer, provenance, given)
    named = not given.keys() - {"data"}  # a run without its data still reloads for predict and eval --data
    return Pipeline(
        task,
        tokenizer,
        model,
        source,
        train,
        recipe.to_yaml() if named else None,
        provenance,
        target_tokenizer=target_tokenizer,
        recipe=copy.deepcopy(recipe.data) if named else None,
        unnamed=tuple(given),
    )


def _section(
    recipe: Recipe, registry: Registry, section: str, kind: str, provenance: dict[str, Any], given: Mapping[str, Any]
) -> Any:
    """A top-level component: given, or built from its node (None when the section is absent)."""
    if section in given:
        return given[section]
    node = recipe.data.get(section)
    if node is None:
        return None
    return _make(recipe, registry, section, node, kind, provenance, **_base_dir(registry, node, recipe, kind))


def _fit_key(data: Mapping[str, Any], provenance: Mapping[str, Any], section: str) -> dict[str, Any] | None:
    """The cache key of a named tokenizer's fit; None for one given as an object."""
    if section not in provenance:
        return None
    return {"component": provenance[section], "options": split_node(data[section])[1]}


def _fit(tokenizer: Any, texts: list[str], key: dict[str, Any] | None) -> None:
    """Fit a tokenizer: from a recipe (``key``) through the cache, unless it arrives fitted
    (its fit then does not depend on ``texts``); one given as an object only if it is not
    fitted yet."""
    if isinstance(tokenizer, PrefittedTokenizer) and tokenizer.is_fitted:
        if key is not None:  # a recipe's: fit as the recipe asks, nothing to cache
            tokenizer.fit(texts)
    elif key is not None:
        cached_fit(tokenizer, texts, key)
    else:
        tokenizer.fit(texts)


def _fit_vocabularies(
    recipe: Recipe,
    data: Mapping[str, Any],
    provenance: dict[str, Any],
    task: Task,
    source: Any,
    tokenizer: Any,
    target_tokenizer: Any,
    tokenizer_state: Any,
    extra_state: Mapping[str, Any],
) -> None:
    """Load saved tokenizer/task states, or fit them on the training split (cached)."""
    generates = task.generates_targets
    if generates and source is not None and not isinstance(source, TargetSource):
        raise DataError(
            f"task {task.name!r} writes the target texts of examples, but data source "
            f"{type(source).__name__} has no target_texts; use a source of examples with a 'target' field"
            + (f" (e.g. {task.example_sources})" if task.example_sources else "")
        )
    if tokenizer_state is not None:
        tokenizer.load_state_dict(tokenizer_state)
    elif source is not None:  # reuse a state trained before on the same data and settings
        texts = list(source.texts("train"))
        if generates and target_tokenizer is None:  # one vocabulary shared by source and target
            texts += list(source.target_texts("train"))
        _fit(tokenizer, texts, _fit_key(data, provenance, "tokenizer"))
    if target_tokenizer is not None:
        if extra_state.get("target_tokenizer") is not None:
            target_tokenizer.load_state_dict(extra_state["target_tokenizer"])
        elif source is not None:
            _fit(target_tokenizer, list(source.target_texts("train")), _fit_key(data, provenance, "target_tokenizer"))
    if extra_state.get("task") is not None:
        task.load_state_dict(extra_state["task"])
    elif source is not None:
        with _at(recipe, "task"):
            task.fit(source)


def _build_topology(
    recipe: Recipe, registry: Registry, path: str, node: Any, input_size: int, provenance: dict[str, Any]
) -> Any:
    """A topology node -> cell factory -> topology module (``model.topology`` or ``model.decoder``)."""
    node = {"name": node} if isinstance(node, str) else dict(named(node, "stacked"))
    cell_name, cell_options = split_node(named(node.pop("cell", "lstm"), "lstm"))
    cell = registry.get("cell", cell_name or "")
    provenance[f"{path}.cell"] = _provenance(cell)
    return _make(
        recipe,
        registry,
        path,
        node,
        "topology",
        provenance,
        cell=functools.partial(cell.factory, **cell_options),
        input_size=input_size,
    )


def _build_model(
    recipe: Recipe,
    registry: Registry,
    node: Mapping[str, Any],
    task: Task,
    tokenizer: Any,
    target_tokenizer: Any,
    provenance: dict[str, Any],
    given: Mapping[str, Any],
) -> Any:
    """Topology (and decoder) -> head factory -> ``task.build_model`` with the task's own keys."""
    embedding_dim = node.get("embedding_dim", MODEL_FIELDS["embedding_dim"].default)
    input_size = task.topology_input_size(embedding_dim)
    if "model.topology" in given:
        topology = _given_topology(recipe, "model.topology", given["model.topology"], input_size)
    else:
        topology = _build_topology(
            recipe, registry, "model.topology", node.get("topology", "stacked"), input_size, provenance
        )
    if "model.head" in given:
        head_factory = given["model.head"]
    else:
        head_name, head_options = split_node(named(node.get("head", "linear"), "linear"))
        head = registry.get("head", head_name or "")
        provenance["model.head"] = _provenance(head)
        head_factory = functools.partial(head.factory, **head_options)
    extra = {k: v for k, v in node.items() if k not in MODEL_FIELDS}
    if "model.decoder" in given:
        extra["decoder"] = _given_topology(recipe, "model.decoder", given["model.decoder"], embedding_dim)
    elif node.get("decoder") is not None:
        extra["decoder"] = _build_topology(
            recipe, registry, "model.decoder", node["decoder"], embedding_dim, provenance
        )
    parts = ModelParts(Tokenizers(tokenizer, target_tokenizer), topology, head_factory, embedding_dim)
    with _at(recipe, "model", [key for key in node if key in extra or key == "embedding_dim"]):
        return task.build_model(parts, **extra)


def _given_topology(recipe: Recipe, path: str, topology: Any, input_size: int) -> Any:
    """A topology given as a module, once its input size is checked against what it will read."""
    if not isinstance(topology, Topology):
        raise RecipeError(
            [
                recipe.issue(
                    path,
                    f"expected a topology module with input_size and output_size (e.g. "
                    f"seqframe.build_rnn(...)), got {type(topology).__name__}",
                )
            ]
        )
    if topology.input_size != input_size:
        raise RecipeError(
            [
                recipe.issue(
                    path,
                    (
                        f"the given topology reads {topology.input_size} features per step, but the model feeds it {input_size} "
                        f"(model.embedding_dim); leave embedding_dim out to follow the topology, or build the topology with "
                        f"input_size={input_size}"
                    ),
                )
            ]
        )
    return topology


def _base_dir(registry: Registry, node: Any, recipe: Recipe, kind: str) -> dict[str, str]:
    """``{"base_dir": <recipe folder>}`` for a component that takes one (relative paths), else ``{}``."""
    name, _ = split_node(node)
    params = component_parameters(registry.get(kind, name or "").factory, "")
    return {"base_dir": recipe.base_dir} if params is not None and "base_dir" in params else {}
