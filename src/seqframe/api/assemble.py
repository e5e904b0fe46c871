"""Assembling a pipeline in Python: every component named (through the registry, plugins
included) or given as an object.

Named components become a recipe, checked and built by the recipe machinery itself
(:func:`~seqframe.api.preflight.build_checked`), so a name or option is held to exactly what
a recipe file is and a mistake gets the same message, located at the argument
(``assemble(topology=...): model.topology.hidden_size: expected int ...``). Objects are
passed to the same builder as built components. Facade layer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from seqframe.api.plugins import default_registry
from seqframe.api.preflight import build_checked
from seqframe.errors import RecipeError, RecipeIssue
from seqframe.interfaces import DataSource, Task, Tokenizer, Topology
from seqframe.pipeline import Pipeline, TrainConfig
from seqframe.recipe import recipe_from_mapping
from seqframe.registry import Registry

__all__ = ["assemble"]

Component = str | Mapping[str, Any]
"""A component by name (``"lstm"``) or as a recipe node (``{"name": "lstm", "proj_size": 64}``)."""

_ARGUMENTS = (
    ("model.topology", "topology"),
    ("model.decoder", "decoder"),
    ("model.head", "head"),
    ("model.embedding_dim", "embedding_dim"),
    ("target_tokenizer", "target_tokenizer"),
    ("tokenizer", "tokenizer"),
    ("task", "task"),
    ("data", "data"),
    ("train", "train"),
)


def assemble(
    *,
    task: Component | Task,
    tokenizer: Component | Tokenizer = "char",
    topology: Component | nn.Module = "stacked",
    head: Component | Callable[..., nn.Module] | nn.Module = "linear",
    data: Component | DataSource | None = None,
    embedding_dim: int | None = None,
    train: TrainConfig | Mapping[str, Any] | None = None,
    decoder: Component | nn.Module | None = None,
    target_tokenizer: Component | Tokenizer | None = None,
    registry: Registry | None = None,
    **model_options: Any,
) -> Pipeline:
    """Build a :class:`Pipeline` from components named as in a recipe, or given as objects.

    A name (``"language_modelling"``) or a recipe node (``{"name": "language_modelling",
    "seq_len": 64}``; a topology's ``name`` defaults to ``stacked`` and its ``cell`` to
    ``lstm``) resolves through the registry, built-ins and installed plugins alike, with a
    recipe's validation and messages. When every component but the data is named, the
    pipeline has its recipe (:meth:`Pipeline.to_recipe`), so a run trained from it reloads
    by name (``load_run``, ``seqframe predict``, ``seqframe eval``).

    Sizes are wired for you and checked here, not at the first step: the topology reads
    ``embedding_dim`` features (the task's input size) and the head gets the topology's
    output size. A topology given as a module sets ``embedding_dim`` when it is left out, and
    one that disagrees with it is an error now.

    Args:
        task: a task name or node, or a :class:`~seqframe.Task` object.
        tokenizer: a tokenizer name or node, or a tokenizer object (fitted on ``data``'s
            train split unless it is fitted already).
        topology: a topology node (``{"cell": "gru", "hidden_size": 256, "num_layers":
            2}``; ``input_size`` may be given instead of ``embedding_dim``), or a module
            following :class:`~seqframe.interfaces.Topology` (``seqframe.build_rnn(...)``).
        head: a head name or node, a factory called as ``head(in_features, num_outputs)``,
            or a head module (checked on a dummy input for its sizes).
        data: a data source name or node, or an object (then the recipe has no ``data``
            section: the run still reloads for ``predict`` and ``eval --data``). Needed to
            fit a named tokenizer and to train.
        embedding_dim: the token embedding size (default: a given topology's input size,
            else the recipe default, 64).
        train: training settings, a :class:`TrainConfig` or a ``train`` recipe section.
        decoder: the decoder topology of tasks that generate (``translation``), like ``topology``.
        target_tokenizer: a separate tokenizer for generated targets (``translation``).
        registry: where names resolve (default: built-ins and installed plugins).
        **model_options: the task's own ``model`` keys (``attention="general"``,
            ``pooling="mean"``).

    Raises:
        RecipeError: a name, option or size that a recipe would be refused for (located at
            the argument: ``assemble(topology=...): model.topology.hidden_size: ...``).
        TypeError: an object that is not what its argument takes.
    """
    if not isinstance(task, (str, Mapping, Task)):
        raise TypeError(
            f"assemble: task must be a task name, a recipe node or a seqframe.Task (subclass it), got "
            f"{type(task).__name__!r}"
        )
    recipe: dict[str, Any] = {}
    given: dict[str, Any] = {}
    for section, value in (
        ("task", task),
        ("tokenizer", tokenizer),
        ("data", data),
        ("target_tokenizer", target_tokenizer),
    ):
        if isinstance(value, (str, Mapping)):
            recipe[section] = value
        elif value is not None:
            given[section] = value
    if data is None:
        if "tokenizer" in recipe:
            raise TypeError(
                "assemble: data is needed to fit the named tokenizer (pass data=..., or a tokenizer object "
                "that is fitted already)"
            )
        given["data"] = None
    recipe["model"] = _model(topology, head, decoder, embedding_dim, model_options, given)
    if train is not None:
        recipe["train"] = _train_section(train)
    try:
        return build_checked(recipe_from_mapping(recipe), registry or default_registry(), given=given)
    except RecipeError as exc:
        raise RecipeError([_located(issue) for issue in exc.issues]) from exc


def _model(
    topology: Any, head: Any, decoder: Any, embedding_dim: int | None, options: Mapping[str, Any], given: dict[str, Any]
) -> dict[str, Any]:
    """The recipe's ``model`` section; components given as objects go to ``given``."""
    model: dict[str, Any] = dict(options)
    if isinstance(topology, (str, Mapping)):
        node: dict[str, Any] = {"name": topology} if isinstance(topology, str) else dict(topology)
        input_size = node.pop("input_size", None)
        if input_size is not None and embedding_dim is not None and input_size != embedding_dim:
            raise RecipeError(
                [
                    RecipeIssue(
                        "model.topology.input_size",
                        (
                            f"{input_size!r} differs from embedding_dim {embedding_dim!r}; the topology reads the embeddings, so "
                            "give one of the two"
                        ),
                        "assemble(topology=...)",
                    )
                ]
            )
        embedding_dim = embedding_dim if embedding_dim is not None else input_size
        model["topology"] = node
    else:
        if not isinstance(topology, Topology):
            raise TypeError(
                f"assemble: topology must be a recipe node or a module with input_size and output_size "
                f"(e.g. seqframe.build_rnn(...)), got {type(topology).__name__!r}"
            )
        given["model.topology"] = topology
        embedding_dim = embedding_dim if embedding_dim is not None else topology.input_size
    if embedding_dim is not None:
        model["embedding_dim"] = embedding_dim
    if isinstance(head, (str, Mapping)):
        model["head"] = head
    else:
        given["model.head"] = _fixed_head(head) if isinstance(head, nn.Module) else head
    if isinstance(decoder, (str, Mapping)):
        model["decoder"] = decoder
    elif decoder is not None:
        given["model.decoder"] = decoder
    return model


def _fixed_head(module: nn.Module) -> Callable[[int, int], nn.Module]:
    """A head module as the factory ``task.build_model`` calls, checked on a dummy input."""

    def factory(in_features: int, num_outputs: int) -> nn.Module:
        parameter = next(module.parameters(), None)
        probe = torch.zeros(1, in_features, device=parameter.device if parameter is not None else "cpu")
        try:
            with torch.no_grad():
                width = module(probe).shape[-1]
        except RuntimeError as exc:  # a shape mismatch inside the head
            raise ValueError(
                f"the head module does not take the topology's {in_features} output features: "
                f"{str(exc).splitlines()[0]}"
            ) from exc
        if width != num_outputs:
            raise ValueError(f"the head module gives {width} outputs per step, the task needs {num_outputs}")
        return module

    return factory


def _train_section(train: TrainConfig | Mapping[str, Any]) -> dict[str, Any]:
    """A ``train`` recipe section: a mapping as given, a TrainConfig as its non-default values."""
    if isinstance(train, Mapping):
        return dict(train)
    if not isinstance(train, TrainConfig):
        raise TypeError(f"assemble: train must be a TrainConfig or a mapping, got {type(train).__name__!r}")
    default = TrainConfig()
    section = {}
    for field in dataclasses.fields(TrainConfig):
        value = getattr(train, field.name)
        if value != getattr(default, field.name):
            section[field.name] = _plain(value)
    return section


def _plain(value: Any) -> Any:
    """A TrainConfig value as recipe data (nested settings as mappings)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return dict(value) if isinstance(value, Mapping) else value


def _located(issue: RecipeIssue) -> RecipeIssue:
    """A recipe issue located at the ``assemble`` argument that wrote its path."""
    if issue.location and issue.location.startswith("assemble("):
        return issue
    for prefix, argument in _ARGUMENTS:
        if issue.path == prefix or issue.path.startswith(prefix + "."):
            return dataclasses.replace(issue, location=f"assemble({argument}=...)")
    if issue.path.startswith("model."):
        return dataclasses.replace(issue, location=f"assemble({issue.path.split('.')[1]}=...)")
    return dataclasses.replace(issue, location="assemble(...)")
