"""YAML text + ``KEY=VALUE`` overrides -> :class:`Recipe` (data plus each key's file:line).

Only a :class:`yaml.SafeLoader` subclass is used: ``!!python/...`` and other non-plain tags
are errors, never executed. It also rejects duplicate keys, caps how far aliases may expand,
and reads numbers as YAML 1.2 does (``1e-3`` a float, ``010`` ten), where PyYAML's YAML 1.1
rules would give the string ``'1e-3'`` and the octal eight.
"""

from __future__ import annotations

import copy
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seqframe.errors import RecipeError, RecipeIssue

__all__ = [
    "MAX_RECIPE_BYTES",
    "MAX_RECIPE_DEPTH",
    "MAX_RECIPE_NODES",
    "Recipe",
    "apply_overrides",
    "load_recipe",
    "parse_recipe",
    "parse_value",
]

MAX_RECIPE_BYTES = 1_000_000


class _RecipeLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 numbers: ``1e-3`` is a float, ``010`` is ten, ``1:20`` is text.

    PyYAML follows YAML 1.1, where ``1e-3`` is the string ``'1e-3'``, ``010`` is octal
    (eight) and ``1:20`` is base 60 (eighty). ``0x``/``0o``/``0b`` prefixes and ``_`` digit
    separators still work.
    """


_INT_TAG, _FLOAT_TAG = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_RecipeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_INT_TAG, _FLOAT_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_RecipeLoader.add_implicit_resolver(
    _INT_TAG,
    re.compile(r"^(?:[-+]?[0-9][0-9_]*|[-+]?0[xX][0-9a-fA-F_]+|[-+]?0[oO][0-7_]+|[-+]?0[bB][01_]+)$"),
    list("-+0123456789"),
)
_RecipeLoader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    """Decimal unless prefixed (``0x``, ``0o``, ``0b``): a leading zero never means octal."""
    text = str(loader.construct_scalar(node)).replace("_", "")
    sign = -1 if text.startswith("-") else 1
    digits = text[1:] if text[:1] in ("+", "-") else text
    base = {"0x": 16, "0o": 8, "0b": 2}.get(digits[:2].lower(), 10)
    try:
        return sign * int(digits if base == 10 else digits[2:], base)
    except ValueError:
        raise yaml.constructor.ConstructorError(None, None, f"{text!r} is not an integer", node.start_mark) from None


_RecipeLoader.add_constructor(_INT_TAG, _construct_int)


class _RecipeDumper(yaml.SafeDumper):
    """SafeDumper that quotes exactly the strings :class:`_RecipeLoader` would not read back
    as strings (``'1e-3'``, ``'010'``), so :meth:`Recipe.to_yaml` round-trips."""


_RecipeDumper.yaml_implicit_resolvers = _RecipeLoader.yaml_implicit_resolvers

MAX_RECIPE_NODES = 100_000
"""Values a recipe may expand to (aliases count every time they are used)."""
MAX_RECIPE_DEPTH = 64
_MAP_TAG, _SEQ_TAG, _MERGE_TAG = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:merge"


@dataclass
class Recipe:
    """A parsed recipe.

    Attributes:
        data: the recipe as plain dicts, lists and scalars.
        source: the file it came from (or ``<string>``).
        lines: ``dotted.path -> line`` for every key written in the file.
        overridden: dotted paths set or removed on the command line, with the override text.
    """

    data: dict[str, Any]
    source: str = "<string>"
    lines: dict[str, int] = field(default_factory=dict)
    overridden: dict[str, str] = field(default_factory=dict)

    @property
    def base_dir(self) -> str:
        """Folder that relative paths in the recipe resolve against."""
        return str(Path(self.source).resolve().parent) if self.source != "<string>" else str(Path.cwd())

    def where(self, path: str) -> str | None:
        """``file:line`` (or the override) for ``path``, or of its closest written parent."""
        probe = path
        while probe:
            if probe in self.overridden:
                return f"override {self.overridden[probe]!r}"
            if probe in self.lines:
                return f"{self.source}:{self.lines[probe]}"
            probe = probe.rpartition(".")[0]
        return self.source if self.source != "<string>" else None

    def issue(self, path: str, message: str, suggestion: str | None = None) -> RecipeIssue:
        """A :class:`RecipeIssue` at ``path`` with its location filled in."""
        return RecipeIssue(path, message, self.where(path), suggestion)

    def to_yaml(self) -> str:
        """The resolved recipe as YAML (what the run directory stores)."""
        return yaml.dump(self.data, Dumper=_RecipeDumper, sort_keys=False, allow_unicode=True)


def _mark(source: str, mark: Any) -> str:
    return f"{source}:{mark.line + 1}:{mark.column + 1}"


def _construct(
    node: yaml.Node, loader: _RecipeLoader, path: str, lines: dict[str, int], source: str, budget: list[int]
) -> Any:
    budget[0] -= 1
    if budget[0] < 0 or path.count(".") >= MAX_RECIPE_DEPTH:
        what = f"more than {MAX_RECIPE_NODES} values" if budget[0] < 0 else f"nesting deeper than {MAX_RECIPE_DEPTH}"
        raise RecipeError(
            [
                RecipeIssue(
                    path,
                    f"recipe expands to {what} (through aliases?); write it out plainly",
                    _mark(source, node.start_mark),
                )
            ]
        )
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in (_MAP_TAG, _SEQ_TAG):
        raise RecipeError(
            [
                RecipeIssue(
                    path,
                    f"tag {node.tag!r} is not allowed (recipes are plain data; nothing is executed)",
                    _mark(source, node.start_mark),
                )
            ]
        )
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        seen: dict[Any, int] = {}
        own = {id(key_node) for key_node, _ in node.value if key_node.tag != _MERGE_TAG}
        loader.flatten_mapping(node)  # merged (<<) pairs first, then the mapping's own keys
        for key_node, value_node in node.value:
            key = _construct(key_node, loader, path, lines, source, budget)
            if not isinstance(key, str):
                raise RecipeError(
                    [RecipeIssue(path, f"keys must be strings, got {key!r}", _mark(source, key_node.start_mark))]
                )
            child = f"{path}.{key}" if path else key
            mine = id(key_node) in own
            if key in seen and mine and seen[key] > 0:  # a key written twice; a merged one may be overridden
                raise RecipeError(
                    [
                        RecipeIssue(
                            child,
                            f"duplicate key {key!r} (first on line {seen[key]}, again on line "
                            f"{key_node.start_mark.line + 1}); keep one",
                            _mark(source, key_node.start_mark),
                        )
                    ]
                )
            line = key_node.start_mark.line + 1
            seen[key] = line if mine else -line
            lines[child] = line
            out[key] = _construct(value_node, loader, child, lines, source, budget)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, loader, f"{path}.{i}", lines, source, budget) for i, item in enumerate(node.value)]
    try:
        return loader.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        known = node.tag.startswith("tag:yaml.org,2002:") and not node.tag.startswith("tag:yaml.org,2002:python/")
        message = (
            f"cannot read {node.value!r} as {node.tag.rpartition(':')[2]}: {exc.problem}"
            if known
            else f"tag {node.tag!r} is not allowed (recipes are plain data; nothing is executed)"
        )
        raise RecipeError([RecipeIssue(path, message, _mark(source, node.start_mark))]) from exc


_NOT_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""What YAML does not allow anywhere in a document, comments included: control characters
(besides tab, newline, carriage return), unpaired surrogates, U+FFFE and U+FFFF."""


def _check_printable(text: str, source: str) -> None:
    bad = _NOT_PRINTABLE.search(text)
    if bad is None:
        return
    line = text.count("\n", 0, bad.start()) + 1
    column = bad.start() - text.rfind("\n", 0, bad.start())
    where = "an override" if source == "<override>" else "a recipe, not even in a comment"
    raise RecipeError(
        [
            RecipeIssue(
                "",
                f"character U+{ord(bad.group()):04X} is not allowed in {where} (YAML takes "
                "printable text, tabs and newlines); remove it",
                f"{source}:{line}:{column}",
            )
        ]
    )


def parse_recipe(text: str, source: str = "<string>") -> Recipe:
    """Parse recipe text.

    Raises:
        RecipeError: YAML syntax error, a control character, unsafe tag, duplicate key,
            empty recipe, or a top level that is not a mapping; each with ``file:line:col``.
    """
    _check_printable(text, source)
    loader = _RecipeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[str, int] = {}
        data = None if node is None else _construct(node, loader, "", lines, source, [MAX_RECIPE_NODES])
    except RecursionError:  # PyYAML composes nested collections recursively
        raise RecipeError([RecipeIssue("", "recipe is nested too deeply to parse", source)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = _mark(source, mark) if mark else source
        raise RecipeError([RecipeIssue("", f"invalid YAML: {exc.problem or exc}", where)]) from exc
    finally:
        loader.dispose()
    if data is None:
        raise RecipeError([RecipeIssue("", "recipe is empty", source)])
    if not isinstance(data, dict):
        raise RecipeError(
            [RecipeIssue("", f"a recipe must be a mapping of sections, got {type(data).__name__}", source)]
        )
    return Recipe(data, source, lines)


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _read_regular_file(path: Path) -> bytes:
    """The bytes of ``path``, checked to be a regular file of at most MAX_RECIPE_BYTES before
    anything is read (``/dev/zero`` or a FIFO would never end). Opened without blocking and
    checked through the open descriptor, so the path cannot be swapped in between."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
            raise RecipeError([RecipeIssue("", f"expected a recipe file, got {kind}", str(path))])
        raw = handle.read(MAX_RECIPE_BYTES + 1) if info.st_size <= MAX_RECIPE_BYTES else b""
    if info.st_size > MAX_RECIPE_BYTES or len(raw) > MAX_RECIPE_BYTES:  # too big, or grew while read
        size = max(info.st_size, len(raw))
        raise RecipeError(
            [RecipeIssue("", f"recipe is {size} bytes or more; the limit is {MAX_RECIPE_BYTES}", str(path))]
        )
    return raw


def load_recipe(path: str | Path, overrides: Sequence[str] = ()) -> Recipe:
    """Read a recipe file and apply ``KEY=VALUE`` / ``~KEY`` overrides.

    Raises:
        RecipeError: unreadable file, invalid YAML, or a malformed override.
    """
    path = Path(path)
    try:
        raw = _read_regular_file(path)
    except OSError as exc:
        raise RecipeError([RecipeIssue("", f"cannot read recipe: {exc.strerror or exc}", str(path))]) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecipeError(
            [RecipeIssue("", f"recipe is not UTF-8 text ({exc.reason} at byte {exc.start})", str(path))]
        ) from exc
    return apply_overrides(parse_recipe(text, str(path)), overrides)


def parse_value(text: str) -> Any:
    """An override value, typed as YAML would type it (``3`` int, ``1e-3`` float, ``[a, b]`` list)."""
    if text == "":
        return ""
    recipe = parse_recipe(f"v: {text}", "<override>")
    return recipe.data["v"]


def apply_overrides(recipe: Recipe, overrides: Sequence[str]) -> Recipe:
    """Return a copy of ``recipe`` with ``a.b.c=value`` set and ``~a.b`` removed.

    Setting below a component written as a bare name turns it into a mapping
    (``cell: lstm`` + ``model.topology.cell.bias=false`` -> ``{name: lstm, bias: false}``);
    missing mappings on the way are created. Setting below any other non-mapping value
    (a number, a list) is an error: set the whole value instead.

    Raises:
        RecipeError: every malformed override, at once.
    """
    data = copy.deepcopy(recipe.data)
    result = Recipe(data, recipe.source, dict(recipe.lines), dict(recipe.overridden))
    issues: list[RecipeIssue] = []
    for override in overrides:
        remove = override.startswith("~")
        key, sep, raw = override[1:].partition("=") if remove else override.partition("=")
        key = key.strip()
        if bad := _NOT_PRINTABLE.search(key):
            issues.append(
                RecipeIssue(
                    "", f"override {override!r}: character U+{ord(bad.group()):04X} is not allowed in a key; remove it"
                )
            )
            continue
        if bool(sep) == remove or not key or any(not part for part in key.split(".")):  # KEY=VALUE or ~KEY
            issues.append(RecipeIssue(key, f"override {override!r} is not KEY=VALUE or ~KEY (e.g. train.steps=100)"))
            continue
        problem = _apply_one(data, key.split("."), remove, raw)
        if problem:
            issues.append(RecipeIssue(key, f"override {override!r}: {problem}"))
            continue
        # The value at ``key`` no longer comes from the file: forget the lines of what it replaced.
        for table in (result.lines, result.overridden):
            for stale in [p for p in table if p.startswith(key + ".")]:
                del table[stale]
        if remove:
            result.lines.pop(key, None)
        result.overridden[key] = override
    if issues:
        raise RecipeError(issues)
    return result


def _apply_one(data: dict[str, Any], parts: list[str], remove: bool, raw: str) -> str | None:
    """Set or remove ``parts`` in ``data``; return what is wrong, or None."""
    node: Any = data
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if not remove and isinstance(child, str):
            child = node[part] = {"name": child}  # cell: lstm -> {name: lstm, <option>: ...}
        elif not remove and child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            if remove:
                return f"the recipe has no key {'.'.join(parts)!r} to remove"
            where = ".".join(parts[: depth + 1])
            return (
                f"{where} is {type(child).__name__} {child!r}, not a mapping; set the whole value instead ({where}=...)"
            )
        node = child
    if remove:
        if parts[-1] not in node:
            return f"the recipe has no key {'.'.join(parts)!r} to remove"
        del node[parts[-1]]
        return None
    try:
        node[parts[-1]] = parse_value(raw)
    except RecipeError as exc:
        return exc.issues[0].message
    return None
