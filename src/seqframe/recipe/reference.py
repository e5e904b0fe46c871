"""The recipe reference, generated from the schema and from the components themselves.

Fixed fields come from :mod:`seqframe.recipe.schema`; each component's options (type,
default, description) come from its constructor's signature, annotations and Google-style
``Args:`` docstring, so an installed plugin's components appear with their own options.
``docs/recipe-reference.md`` is this module's output for the built-ins, kept in sync by a test;
``python -m seqframe.recipe.reference`` prints it for the current installation.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

from seqframe.interfaces import is_task_class
from seqframe.recipe.schema import (
    COMPONENT_SECTIONS,
    MODEL_FIELDS,
    OPTIMIZER_FIELDS,
    TOPOLOGY_FIELDS,
    TRAIN_FIELDS,
    TRAIN_SUBSECTIONS,
    Field,
    component_parameters,
    format_number,
    task_model_keys,
)
from seqframe.registry import Registry

__all__ = ["docstring_args", "render_reference"]

_KIND_TITLES = {
    "task": "Tasks (`task`)",
    "dataset": "Data sources (`data`)",
    "tokenizer": "Tokenizers (`tokenizer`)",
    "topology": "Topologies (`model.topology`)",
    "cell": "Cells (`model.topology.cell`)",
    "head": "Heads (`model.head`)",
    "logger": "Experiment loggers (`train.loggers`, each a name or `{name, <options>}`)",
}


def docstring_args(obj: Any) -> dict[str, str]:
    """Parameter descriptions from a Google-style ``Args:`` section (continuation lines
    joined). A class also inherits the descriptions of its bases' ``Args:`` (its own win),
    so a subclass that keeps its parent's parameters need not repeat them."""
    if inspect.isclass(obj):
        merged: dict[str, str] = {}
        for cls in reversed(obj.__mro__):
            if cls is not object and cls.__doc__:
                merged.update(_own_args(cls.__doc__))
        return merged
    return _own_args(inspect.getdoc(obj) or "")


def _own_args(doc: str) -> dict[str, str]:
    """The ``Args:`` section of one docstring."""
    doc = inspect.cleandoc(doc)
    match = re.search(r"^Args:\n((?:[ \t]+.*\n?|\n)*)", doc, flags=re.M)
    if not match:
        return {}
    out: dict[str, str] = {}
    current = None
    for line in match.group(1).splitlines():
        entry = re.match(r"^ {4}(\*{0,2}\w+)(?: \(.*?\))?: ?(.*)$", line)
        if entry:
            current = entry.group(1).lstrip("*")
            out[current] = entry.group(2).strip()
        elif current and line.strip():
            out[current] += " " + line.strip()
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if value == {} or value == "":
        return "—"
    return f"`{value}`"


def _bound(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else format_number(value)


def _type_text(spec: Field) -> str:
    names = {int: "int", float: "float", bool: "bool", str: "str", dict: "mapping", list: "list", type(None): "null"}
    text = " or ".join(
        dict.fromkeys(names.get(t, t.__name__) for t in spec.types if not (t is int and float in spec.types))
    )
    if spec.minimum is not None:
        text += f", {'>' if spec.exclusive else '≥'} {_bound(spec.minimum)}"
    if spec.maximum is not None:
        text += f", {'≤' if getattr(spec, 'maximum_inclusive', False) else '<'} {_bound(spec.maximum)}"
    if spec.choices:
        text += ": " + " | ".join(map(str, spec.choices))
    return text


def _fixed_table(prefix: str, fields: Mapping[str, Field]) -> list[str]:
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    rows += [
        f"| `{prefix}.{k}` | {_cell(_type_text(s))} | {_cell(_value(s.default))} | {_cell(s.doc)} |"
        for k, s in fields.items()
    ]
    return rows


def _annotation(param: inspect.Parameter) -> str:
    hint = param.annotation
    if hint is inspect.Parameter.empty:
        return ""
    text = hint if isinstance(hint, str) else getattr(hint, "__name__", str(hint))
    return text.replace("typing.", "").replace("collections.abc.", "")


def _component_rows(name: str, factory: Callable[..., Any], kind: str) -> list[str]:
    summary = (inspect.getdoc(factory) or "").split("\n", 1)[0]
    params = component_parameters(factory, kind)
    described = docstring_args(factory)
    rows = [f"**`{name}`**: {summary}", ""]
    if not params:
        return rows + ["No options." if params is not None else "Options are not introspectable.", ""]
    rows += ["| option | type | default | meaning |", "|---|---|---|---|"]
    for key, param in params.items():
        default = "required" if param.default is param.empty else _value(param.default)
        rows.append(f"| `{key}` | {_cell(_annotation(param))} | {_cell(default)} | {_cell(described.get(key, ''))} |")
    return rows + [""]


def _task_model_rows(factory: Callable[..., Any]) -> list[str]:
    """The task-specific ``model`` keys: ``build_model``'s own keyword arguments."""
    if not is_task_class(factory):
        return []
    build_model = factory.build_model  # type: ignore[attr-defined]
    described = docstring_args(build_model)
    params = list(task_model_keys(build_model).values())
    if not params:
        return []
    rows = ["Its `model` keys:", "", "| key | type | default | meaning |", "|---|---|---|---|"]
    for param in params:
        default = "required" if param.default is param.empty else _value(param.default)
        rows.append(
            f"| `model.{param.name}` | {_cell(_annotation(param))} | {_cell(default)} | "
            f"{_cell(described.get(param.name, ''))} |"
        )
    return rows + [""]


def render_reference(registry: Registry) -> str:
    """The whole recipe reference as Markdown."""
    lines = [
        "# Recipe reference",
        "",
        "Generated by `python -m seqframe.recipe.reference` from the recipe schema and the",
        "registered components (their constructors and docstrings). Do not edit by hand.",
        "",
        "A recipe has the sections "
        + ", ".join(f"`{s}`" for s in (*COMPONENT_SECTIONS, "model", "train"))
        + ". A component node is a registered name or a mapping with `name` plus that component's options.",
        "",
        "## Fixed fields",
        "",
    ]
    lines += _fixed_table("model", MODEL_FIELDS) + [""]
    lines += _fixed_table("model.topology", dict(TOPOLOGY_FIELDS.items())) + [""]
    lines += _fixed_table("train", TRAIN_FIELDS) + [""]
    lines += _fixed_table("train.optimizer", OPTIMIZER_FIELDS) + [
        "",
        "Other `train.optimizer` keys are passed to the torch optimizer (e.g. `weight_decay`, `betas`, `momentum`).",
        "",
    ]
    for sub, fields in TRAIN_SUBSECTIONS.items():
        lines += _fixed_table(f"train.{sub}", fields) + [""]
    lines += ["## Components", ""]
    for kind in _KIND_TITLES:
        lines += [f"### {_KIND_TITLES[kind]}", ""]
        for component in registry.components(kind):
            label = component.name if component.plugin.startswith("builtin.") else component.qualified_name
            lines += _component_rows(label, component.factory, kind)
            if kind == "task":
                lines += _task_model_rows(component.factory)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    from seqframe.plugins import load_plugin_manager

    print(render_reference(Registry.from_plugin_manager(load_plugin_manager())), end="")
