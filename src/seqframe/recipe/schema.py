"""What a recipe may contain: sections, fixed fields with their types and ranges, and the
parameters each component accepts (read from the component's own signature).
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from seqframe.interfaces import MAX_TOKENS

__all__ = [
    "CHECKPOINT_FIELDS",
    "COMPONENT_SECTIONS",
    "DIAGNOSTICS_FIELDS",
    "MODEL_STANDARD_ARGS",
    "DERIVED",
    "EARLY_STOPPING_FIELDS",
    "Field",
    "MODEL_FIELDS",
    "OPTIMIZER_FIELDS",
    "REQUIRED_SECTIONS",
    "RESUME_CRITICAL",
    "SAMPLE_FIELDS",
    "SCHEDULER_FIELDS",
    "SECTIONS",
    "TOPOLOGY_FIELDS",
    "task_model_keys",
    "TRAIN_FIELDS",
    "TRAIN_SUBSECTIONS",
    "check_value",
    "format_number",
    "MAX_INT",
    "MAX_LAYERS",
    "MAX_SEED",
    "number_problem",
    "component_parameters",
    "is_resume_critical",
    "named",
    "scheduler_node",
    "split_node",
    "recipe_changes",
]


@dataclass(frozen=True)
class Field:
    """A fixed recipe field: its type(s), default, lower bound (inclusive unless
    ``exclusive``) and upper bound (exclusive unless ``maximum_inclusive``), with a one-line
    description for the reference."""

    types: tuple[type, ...]
    default: Any
    doc: str
    minimum: float | None = None
    exclusive: bool = False
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None
    maximum_inclusive: bool = False


MAX_LAYERS = 1024
"""Deepest topology a recipe may ask for (every layer is built and run one after another)."""
MAX_SEED = 2**32
"""Seeds lie in [0, 2**32): what every generator seqframe seeds accepts, on every rank."""

SECTIONS = ("task", "data", "tokenizer", "target_tokenizer", "model", "train")
REQUIRED_SECTIONS = ("task", "data", "tokenizer", "model")
NULLABLE_SECTIONS = ("target_tokenizer",)
"""Optional sections where ``null`` (``target_tokenizer:`` with no value) means "not set"."""
COMPONENT_SECTIONS = {"task": "task", "data": "dataset", "tokenizer": "tokenizer", "target_tokenizer": "tokenizer"}
"""Top-level sections that are a single component: section -> component kind."""

MODEL_FIELDS = {
    "embedding_dim": Field((int,), 64, "size of the token embeddings (the topology's input size)", 1),
    "topology": Field((dict, str), "stacked", "the recurrent topology: a name or {name, cell, ...}"),
    "head": Field((dict, str), "linear", "the output head: a name or {name, <options>}"),
    "decoder": Field(
        (dict, str, type(None)),
        None,
        "tasks that generate (translation, one_to_many): the decoder topology, like model.topology",
    ),
}
MODEL_STANDARD_ARGS = ("parts", "decoder")
"""``task.build_model`` arguments the builder passes itself (the ``ModelParts`` and the
``model.decoder`` topology); its other keyword arguments are task-specific ``model`` keys
(e.g. ``attention``, ``pooling``)."""


def task_model_keys(build_model: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    """The task-specific ``model`` keys of a task class's ``build_model``: its parameters
    after ``self`` and the ``ModelParts`` (whatever their names), but ``decoder``, that take
    a keyword."""
    params = [p for name, p in inspect.signature(build_model).parameters.items() if name != "self"][1:]
    return {
        p.name: p
        for p in params
        if p.name not in MODEL_STANDARD_ARGS and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }


TOPOLOGY_FIELDS = {
    "name": Field((str,), "stacked", "registered topology name"),
    "cell": Field((dict, str), "lstm", "registered cell name, or {name, <cell options>}"),
    "hidden_size": Field((int,), 128, "features per direction", 1),
    "num_layers": Field((int,), 1, "stacked layers", 1, maximum=MAX_LAYERS, maximum_inclusive=True),
    "bidirectional": Field((bool,), False, "add a backward direction"),
    "dropout": Field((int, float), 0.0, "dropout between layers", 0.0, maximum=1.0),
}
TRAIN_FIELDS = {
    "steps": Field((int,), 1000, "optimizer steps", 1),
    "batch_size": Field((int,), 32, "sequences per batch (over all processes: each of N takes every N-th row)", 1),
    "seed": Field((int,), 0, "random seed for weights, data order and dropout", 0, maximum=MAX_SEED),
    "optimizer": Field((dict,), {"name": "adam", "lr": 3.0e-3}, "{name: adam|adamw|sgd, lr, <torch options>}"),
    "scheduler": Field((dict, str), {}, "learning-rate schedule: a name or {name, <options>} (see train.scheduler.*)"),
    "max_grad_norm": Field(
        (int, float, type(None)),
        1.0,
        "clip the gradient norm to this (null: off); the norm before clipping is logged",
        0.0,
        True,
    ),
    "eval_every": Field((int,), 200, "validate every N steps (0: only at the end)", 0),
    "log_every": Field((int,), 10, "write a metrics row every N steps", 1),
    "early_stopping": Field(
        (dict, type(None)),
        None,
        "stop when a validation metric stops improving (null: off; see train.early_stopping.*)",
    ),
    "checkpoint": Field((dict,), {}, "when resumable checkpoints are saved (see train.checkpoint.*)"),
    "on_nonfinite": Field(
        (str,),
        "error",
        "at a NaN/inf loss or gradient norm: stop (error) or drop the step (skip)",
        choices=("error", "skip"),
    ),
    "max_consecutive_skips": Field((int,), 10, "with on_nonfinite: skip, stop after this many bad steps in a row", 1),
    "deterministic": Field(
        (bool,), False, "use torch's deterministic algorithms (bitwise-repeatable runs; slower on GPU)"
    ),
    "device": Field(
        (str,), "auto", "auto, cpu, cuda, cuda:N or mps (under torchrun each process uses cuda:LOCAL_RANK)"
    ),
    "loggers": Field(
        (list,),
        [],
        "experiment loggers besides metrics.jsonl: names or {name, <options>} "
        "(tensorboard: scalars and the text sample in RUN/logs/tensorboard)",
    ),
    "precision": Field(
        (str,),
        "fp32",
        "autocast dtype of forward passes and losses: fp32, bf16, or fp16 (with a "
        "gradient scaler); weights stay float32",
        choices=("fp32", "bf16", "fp16"),
    ),
    "accumulate": Field(
        (int,),
        1,
        "batches per optimizer step (gradient accumulation): the effective batch is batch_size x accumulate",
        1,
    ),
    "sample": Field((dict, type(None)), {}, "text generated at the end of a language-model run (null: none)"),
    "diagnostics": Field(
        (dict, type(None)),
        None,
        "measure the recurrence every N steps: activations, saturation, "
        "gradient through time (null: off; see train.diagnostics.*)",
    ),
}
OPTIMIZER_FIELDS = {
    "name": Field((str,), "adam", "optimizer", choices=("adam", "adamw", "sgd")),
    "lr": Field((int, float), 3.0e-3, "learning rate", 0.0, True),
}
SCHEDULER_FIELDS = {
    "name": Field(
        (str,),
        "constant",
        "constant, cosine (decays to min_lr at the last step), linear_warmup "
        "(warm-up, then constant) or reduce_on_plateau (steps on the validation metric)",
        choices=("constant", "cosine", "linear_warmup", "reduce_on_plateau"),
    ),
    "warmup_steps": Field((int,), 0, "steps of linear warm-up from lr/warmup_steps to lr (any schedule)", 0),
    "min_lr": Field((int, float), 0.0, "the lowest rate cosine and reduce_on_plateau go to", 0.0),
    "factor": Field((int, float), 0.5, "reduce_on_plateau: multiply the rate by this", 0.0, True, 1.0),
    "patience": Field((int,), 2, "reduce_on_plateau: evaluations without improvement tolerated before lowering", 0),
    "metric": Field((str,), "loss", "reduce_on_plateau: the validation metric watched"),
    "mode": Field((str,), "min", "reduce_on_plateau: min (lower is better) or max", choices=("min", "max")),
}
CHECKPOINT_FIELDS = {
    "every": Field(
        (int,), 200, "save a checkpoint every N steps (0: only at the end, at a new best and on interrupt)", 0
    ),
    "keep_last": Field(
        (int, type(None)), 2, "newest step checkpoints kept; best and resumed-from are always kept (null: keep all)", 1
    ),
}
EARLY_STOPPING_FIELDS = {
    "metric": Field((str,), "loss", "the validation metric watched (loss, ppl, bits_per_token, bpc, ...)"),
    "patience": Field((int,), 3, "stop after this many evaluations without improvement", 1),
    "mode": Field((str,), "min", "min (lower is better) or max", choices=("min", "max")),
    "min_delta": Field((int, float), 0.0, "the smallest change that counts as an improvement", 0.0),
}
SAMPLE_FIELDS = {
    "prompt": Field((str,), "The ", "text to continue"),
    "max_tokens": Field((int,), 300, "tokens to generate", 0, maximum=MAX_TOKENS, maximum_inclusive=True),
    "temperature": Field((int, float), 0.8, "sampling temperature (0: greedy)", 0.0),
    "top_k": Field((int, type(None)), None, "sample among the k most likely tokens", 1),
    "top_p": Field((int, float, type(None)), None, "nucleus sampling mass", 0.0, True, 1.0, maximum_inclusive=True),
    "seed": Field((int,), 0, "sampling seed", 0, maximum=MAX_SEED),
}
DIAGNOSTICS_FIELDS = {
    "every": Field(
        (int,), 100, "probe every N steps (and at step 0), rows with split: diagnostics in metrics.jsonl", 1
    ),
    "batch_size": Field((int,), 16, "rows of the fixed probe batch (from the validation split)", 1),
}
TRAIN_SUBSECTIONS = {
    "scheduler": SCHEDULER_FIELDS,
    "checkpoint": CHECKPOINT_FIELDS,
    "early_stopping": EARLY_STOPPING_FIELDS,
    "sample": SAMPLE_FIELDS,
    "diagnostics": DIAGNOSTICS_FIELDS,
}
"""Nested mappings of ``train`` with fixed fields (``optimizer`` also takes torch options)."""

RESUME_CRITICAL = ("model", "tokenizer", "task", "data", "train.optimizer.name", "train.batch_size")
"""Keys (and everything below them) a resumed run may not change without
``--allow-recipe-change``: the weights, vocabulary, data stream position or optimizer state
would no longer fit. Changing any other key (``train.steps``, ``log_every``...) only warns."""


def is_resume_critical(key: str) -> bool:
    """True when changing the dotted ``key`` between a checkpoint and its resume is refused."""
    return any(key == root or key.startswith(root + ".") for root in RESUME_CRITICAL)


def recipe_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(dotted key, old value, new value)`` for every leaf that differs (``'(absent)'`` for a
    missing one), sorted by key."""
    before, after, absent = _leaves(old), _leaves(new), "(absent)"
    return [
        (key, before.get(key, absent), after.get(key, absent))
        for key in sorted(set(before) | set(after))
        if before.get(key, absent) != after.get(key, absent)
    ]


def _leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, Mapping) and (node or not prefix):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_leaves(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: node}


DERIVED = {
    "topology": ("cell", "input_size"),
    "head": ("in_features", "num_outputs"),
    "dataset": ("base_dir",),
    "tokenizer": ("base_dir",),
    "cell": ("input_size", "hidden_size"),
    "logger": ("log_dir",),
}
"""Parameters the builder passes itself; a recipe that sets one gets an error."""


def split_node(node: Any) -> tuple[str | None, dict[str, Any]]:
    """``lstm`` or ``{name: lstm, **options}`` -> (name, options)."""
    if isinstance(node, str):
        return node, {}
    if isinstance(node, dict):
        options = dict(node)
        name = options.pop("name", None)
        return (name if isinstance(name, str) else None), options
    return None, {}


def named(node: Any, default: str) -> Any:
    """A component node with its documented default name filled in: ``{hidden_size: 8}``
    as ``model.topology`` means ``{name: stacked, hidden_size: 8}``. Anything else as given."""
    if isinstance(node, dict) and "name" not in node:
        return {"name": default, **node}
    return node


def scheduler_node(node: Any) -> dict[str, Any]:
    """``train.scheduler`` as a mapping (``cosine`` -> ``{name: cosine}``)."""
    return {"name": node} if isinstance(node, str) else dict(node)


def _type_name(types_: Sequence[type]) -> str:
    names = {int: "int", float: "float", bool: "bool", str: "string", dict: "mapping", list: "list", type(None): "null"}
    return " or ".join(names.get(t, t.__name__) for t in types_)


def format_number(value: float) -> str:
    """A bound as written: ``0.0``, ``1024``, and ``2**32`` for a power of two past a million."""
    if isinstance(value, int) and value > 2**20 and value & (value - 1) == 0:
        return f"2**{value.bit_length() - 1}"
    return str(value)


def check_value(value: Any, spec: Field) -> str | None:
    """Return what is wrong with ``value`` for ``spec``, or None."""
    allowed = spec.types
    if isinstance(value, bool) and bool not in allowed:
        hint = " (an unquoted yes/no/on/off is read as a boolean: quote it)" if str in allowed else ""
        return f"expected {_type_name(allowed)}, got boolean {value!r}{hint}"
    if not isinstance(value, allowed) or (float in allowed and isinstance(value, bool)):
        hint = ""
        if isinstance(value, str) and (int in allowed or float in allowed):
            hint = "; write a number without quotes"
        elif isinstance(value, (int, float)) and str in allowed:
            hint = "; quote it if you meant text"
        return f"expected {_type_name(allowed)}, got {type(value).__name__} {value!r}{hint}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if problem := number_problem(value):
            return problem
        low, high = spec.minimum, spec.maximum
        if low is not None and (value < low or (spec.exclusive and value == low)):
            return f"expected a value {'>' if spec.exclusive else '>='} {format_number(low)}, got {value!r}"
        if high is not None and (value > high or (not spec.maximum_inclusive and value == high)):
            return f"expected a value {'<=' if spec.maximum_inclusive else '<'} {format_number(high)}, got {value!r}"
    if spec.choices is not None and value not in spec.choices:
        return f"expected one of {', '.join(map(str, spec.choices))}, got {value!r}"
    return None


MAX_INT = 2**63
"""Integers must fit in 64 bits (what torch stores): anything larger is a recipe error."""


def number_problem(value: int | float) -> str | None:
    """What is wrong with a number whatever its field: NaN or infinite, or an integer
    beyond 64 bits (or beyond a float, where one is expected). None when it is usable."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"expected a finite number, got {value!r}"
    if isinstance(value, int) and not -MAX_INT <= value < MAX_INT:
        digits = len(str(abs(value)))
        return f"expected an integer that fits in 64 bits (below 2**63), got one of {digits} digits"
    return None


def component_parameters(factory: Callable[..., Any], kind: str) -> dict[str, inspect.Parameter] | None:
    """The recipe-settable parameters of a component factory, or None if they cannot be read
    (then any options are passed through unchecked)."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    params = {}
    for name, param in signature.parameters.items():
        if param.kind is param.VAR_KEYWORD:
            return None
        if param.kind is param.VAR_POSITIONAL or name in DERIVED.get(kind, ()) or name in ("device", "dtype"):
            continue
        params[name] = param
    return params


def annotation_types(factory: Callable[..., Any], name: str) -> tuple[type, ...] | None:
    """The plain types a parameter's annotation allows (int, float, bool, str, list, dict,
    None), or None when the annotation is missing or not that simple."""
    target = factory.__init__ if inspect.isclass(factory) else factory  # type: ignore[misc]
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # unresolvable forward references: skip the check
        return None
    hint = hints.get(name)
    if hint is None:
        return None
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    allowed: list[type] = []
    for option in options:
        origin = typing.get_origin(option) or option
        if option is float:
            allowed += [int, float]
        elif origin in (int, bool, str, type(None), dict, list):
            allowed.append(origin)
        elif origin in (Sequence, typing.Sequence, tuple):
            allowed.append(list)
        elif origin in (Mapping, typing.Mapping):
            allowed.append(dict)
        else:
            return None
    return tuple(allowed)
