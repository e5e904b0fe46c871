"""Mutated recipes, as a Hypothesis strategy: what a hurried user or an attacker would write.

:func:`recipe_cases` takes a recipe (every shipped one by default) and applies one to three
mutations: delete a key; put a wrong type, NaN, an infinity, a huge or negative number,
unicode or control characters where a value goes; a list or a scalar where a mapping goes;
an unknown or misspelt component; an unknown key; a real option (of the component's own
signature, of the torch optimizer, of a fixed section) with a random value; the last
mutation as a command-line override (``KEY=VALUE`` or ``~KEY``) instead of in the file;
and, one case in ten, damage to the YAML text itself. :mod:`seqframe.testing.fuzz` checks
what seqframe answers to each.

Needs ``hypothesis`` (installed by the ``test`` extra). Facade layer.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from seqframe.api.recipes import RECIPES_DIR
from seqframe.optim import OPTIMIZERS, optimizer_options
from seqframe.recipe.schema import (
    MODEL_FIELDS,
    SAMPLE_FIELDS,
    SCHEDULER_FIELDS,
    TOPOLOGY_FIELDS,
    TRAIN_FIELDS,
    TRAIN_SUBSECTIONS,
    component_parameters,
)
from seqframe.registry import Registry

__all__ = ["FuzzCase", "recipe_cases", "shipped_recipe_texts", "value_at"]

SPECIAL_VALUES: tuple[Any, ...] = (
    math.nan,
    math.inf,
    -math.inf,
    -1,
    0,
    1,
    -5,
    2**31,
    2**32,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63) - 1,
    10**30,
    10**400,
    1e30,
    -1e30,
    1e-300,
    0.5,
    1.5,
    -0.5,
    "",
    " ",
    "abc",
    "héllo",
    "日本語",
    "\u202eevil",
    "😀",
    "a\x01b",
    "\x1b[31mred",
    "..",
    "../../etc/passwd",
    "/dev/zero",
    "~",
    "null",
    "1e3",
    True,
    False,
    None,
    [],
    {},
    [1, 2],
    [[1]],
    {"name": "nope"},
    {"a": {"b": [math.nan]}},
    "cuda:99",
    "meta",
    "tpu",
)
COMPONENT_NAMES = ("nope", "lstn", "stacked", "lstm", "linear", "char", "os.system", "builtin.cells:lstm", "Lstm", "")
DEVICES = ("auto", "cpu", "cuda", "cuda:0", "cuda:99", "mps", "meta", "tpu", "", "cpu:1", "CPU", "cuda:-1")


@dataclass(frozen=True)
class FuzzCase:
    """One mutated recipe: its YAML text, overrides, the dotted keys the mutations touched,
    and a description of each mutation."""

    recipe: str
    text: str
    overrides: tuple[str, ...] = ()
    touched: tuple[str, ...] = ()
    mutations: tuple[str, ...] = ()

    def write(self, folder: Path) -> Path:
        """Write the recipe into ``folder`` (as ``<recipe>.yaml``) and return its path."""
        path = folder / f"{self.recipe}.yaml"
        path.write_text(self.text, encoding="utf-8", errors="surrogatepass")
        return path


def shipped_recipe_texts() -> dict[str, str]:
    """Every shipped recipe's text, by name."""
    return {path.stem: path.read_text(encoding="utf-8") for path in sorted(RECIPES_DIR.glob("*.yaml"))}


def _paths(node: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path below ``node`` (mappings only: list items are values)."""
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((*prefix, key))
            out += _paths(value, (*prefix, key))
    return out


def _known_keys(data: Mapping[str, Any], registry: Registry | None) -> list[tuple[str, ...]]:
    """Real keys a recipe may set: fixed fields, optimizer options and each component's own
    parameters (so that mutations reach the checks behind the key names)."""
    keys: list[tuple[str, ...]] = [("train", k) for k in TRAIN_FIELDS]
    keys += [("model", k) for k in MODEL_FIELDS]
    keys += [("model", "topology", k) for k in TOPOLOGY_FIELDS] + [("model", "decoder", k) for k in TOPOLOGY_FIELDS]
    keys += [("train", sub, k) for sub, fields in TRAIN_SUBSECTIONS.items() for k in fields]
    keys += [("train", "scheduler", k) for k in SCHEDULER_FIELDS] + [("train", "sample", k) for k in SAMPLE_FIELDS]
    keys += [("train", "optimizer", k) for name in OPTIMIZERS for k in optimizer_options(name)]
    keys += [("train", "optimizer", k) for k in ("differentiable", "capturable", "params")]
    if registry is None:
        return keys
    for path, kind in (
        (("task",), "task"),
        (("data",), "dataset"),
        (("tokenizer",), "tokenizer"),
        (("model", "topology", "cell"), "cell"),
        (("model", "head"), "head"),
    ):
        node: Any = data
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        name = node.get("name") if isinstance(node, dict) else node
        if not isinstance(name, str):  # no component named: nothing to look up
            continue
        with contextlib.suppress(Exception):
            params = component_parameters(registry.get(kind, name).factory, kind) or {}
            keys += [(*path, k) for k in params]
    return keys


WORDS = (
    "min",
    "max",
    "mean",
    "last",
    "constant",
    "cosine",
    "linear_warmup",
    "reduce_on_plateau",
    "skip",
    "error",
    "fp32",
    "bf16",
    "fp16",
    "general",
    "dot",
    "additive",
    "tags",
    "case",
    "stream",
    "sentences",
    "line",
    "paragraph",
    "document",
    "unigram",
    "bpe",
    "loss",
    "ppl",
    "bpc",
    "accuracy",
    "char",
    "13a",
    "relu",
    "tanh",
)
"""Values some option really takes: a mutation with one of them is often accepted, and then
reaches the code behind validation."""


def _plausible() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(-3, 10**5),
        st.floats(-0.5, 2.0),
        st.booleans(),
        st.sampled_from(WORDS),
        st.lists(st.floats(0.0, 1.0), min_size=2, max_size=2),
    )


def _values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.sampled_from(SPECIAL_VALUES),
        st.integers(),
        st.floats(),
        st.booleans(),
        st.none(),
        st.text(max_size=8),
        st.sampled_from(DEVICES),
    )
    return st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=4), scalars, max_size=2))


def _set(data: dict[str, Any], path: Sequence[str], value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if isinstance(child, str):
            child = node[part] = {"name": child}
        elif not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = copy.deepcopy(value)  # never share a drawn list or mapping between cases


def value_at(data: Any, path: Sequence[str]) -> Any:
    """The value at the key path ``path`` of ``data``, or None."""
    for part in path:
        data = data.get(part) if isinstance(data, dict) else None
    return data


@st.composite
def _mutate(draw: st.DrawFn, data: dict[str, Any], known: list[tuple[str, ...]]) -> tuple[str, tuple[str, ...], Any]:
    """Apply one mutation to ``data`` in place; returns (what, path, value or None)."""
    paths = _paths(data)
    op = draw(st.sampled_from(("delete", "value", "known", "known", "shape", "component", "unknown_key", "scale")))
    if op == "delete" and paths:
        path = draw(st.sampled_from(paths))
        parent = value_at(data, path[:-1]) if len(path) > 1 else data
        del parent[path[-1]]
        return "delete", path, None
    if op in ("value", "delete") and paths:
        path, value = draw(st.sampled_from(paths)), draw(_values())
    elif op == "known":
        path, value = draw(st.sampled_from(known)), draw(st.one_of(_plausible(), _values(), st.sampled_from(DEVICES)))
    elif op == "shape" and paths:
        path = draw(st.sampled_from(paths))
        old = value_at(data, path)
        value = draw(st.sampled_from(([old], list(old.values()) if isinstance(old, dict) else [old], "x", 3, None)))
    elif op == "component":
        path = draw(
            st.sampled_from(
                (
                    ("task", "name"),
                    ("data", "name"),
                    ("tokenizer", "name"),
                    ("model", "head", "name"),
                    ("model", "topology", "name"),
                    ("model", "topology", "cell"),
                    ("target_tokenizer", "name"),
                    ("train", "optimizer", "name"),
                )
            )
        )
        value = draw(st.one_of(st.sampled_from(COMPONENT_NAMES), st.text(max_size=6)))
    elif op == "scale" and paths:
        numbers = [
            p for p in paths if isinstance(value_at(data, p), (int, float)) and not isinstance(value_at(data, p), bool)
        ]
        path = draw(st.sampled_from(numbers or paths))
        old = value_at(data, path)
        factor = draw(st.sampled_from((-1, 0, 10**3, 10**6, 10**12, 0.5, 1e-9)))
        value = old * factor if isinstance(old, (int, float)) and not isinstance(old, bool) else factor
    else:
        parent = draw(st.sampled_from([p for p in paths if isinstance(value_at(data, p), dict)] or [()]))
        path, value = (*parent, draw(st.text(min_size=1, max_size=8))), draw(_values())
    _set(data, path, value)
    return op, path, value


def _flow(value: Any) -> str:
    """``value`` as an override writes it: one line of YAML."""
    text: str = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**6)  # no stream: a str
    return text.strip().removesuffix("...").strip()


def _damage_text(draw: st.DrawFn, text: str) -> tuple[str, str]:
    """Damage the YAML text itself: a control character, a cut, a stray character."""
    at = draw(st.integers(0, len(text)))
    kind = draw(st.sampled_from(("control", "comment", "cut", "stray", "bom", "tab")))
    if kind == "control":
        return text[:at] + draw(st.sampled_from("\x00\x01\x07\x08\x0b\x0c\x1b\x7f\x85\ufffe")) + text[at:], kind
    if kind == "comment":
        return text + "# " + draw(st.text(max_size=10)) + "\n", kind
    if kind == "cut":
        return text[:at], kind
    if kind == "bom":
        return "\ufeff" + text, kind
    return text[:at] + draw(
        st.sampled_from(("\t", ":", "{", "[", "&a", "*a", "!!python/object:os.system", "'"))
    ) + text[at:], kind


@st.composite
def recipe_cases(
    draw: st.DrawFn, recipes: Mapping[str, str] | None = None, registry: Registry | None = None
) -> FuzzCase:
    """A mutated recipe (see the module docstring). ``recipes``: name -> YAML text (default:
    the shipped recipes); ``registry``: where to find each component's own options."""
    recipes = recipes or shipped_recipe_texts()
    name = draw(st.sampled_from(sorted(recipes)))
    data = yaml.safe_load(recipes[name])
    original = copy.deepcopy(data)
    known = _known_keys(data, registry)
    mutations, touched = [], []
    for _ in range(draw(st.integers(1, 3))):
        op, path, value = draw(_mutate(data, known))
        mutations.append(f"{op} {'.'.join(map(str, path))}" + ("" if value is None else f" = {value!r}"[:80]))
        touched.append(".".join(map(str, path)))
    overrides = []
    parts = touched[-1].split(".")
    if draw(st.booleans()) and all(p.strip() == p and p and "=" not in p and p[0] != "~" for p in parts):
        # the last mutation as a command-line override (KEY=VALUE or ~KEY) instead of in the file
        deleted, value = mutations[-1].startswith("delete"), value_at(data, parts)
        before = value_at(original, parts)
        if before is None and isinstance(value_at(data, parts[:-1]), dict):
            value_at(data, parts[:-1]).pop(parts[-1], None)
        elif before is not None:
            _set(data, parts, copy.deepcopy(before))
        overrides.append(f"~{touched[-1]}" if deleted else f"{touched[-1]}={_flow(value)}")
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10**6) if isinstance(data, dict) else ""
    if draw(st.integers(0, 9)) == 0:
        text, kind = _damage_text(draw, text)
        mutations.append(f"text: {kind}")
    return FuzzCase(name, text, tuple(overrides), tuple(touched), tuple(mutations))
