"""``seqframe new-plugin NAME``: write a ready plugin package with a working component.

The package holds ``pyproject.toml`` (the ``seqframe`` entry point ``NAME``), the module
``seqframe_NAME/plugin.py`` with a minimal working cell, task, tokenizer or data source and
its hook, tests that run seqframe's conformance kit for that kind, and a README. The
templates are package data under ``seqframe/cli/templates/``. CLI layer.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from seqframe import api
from seqframe.cli.common import add_command
from seqframe.errors import SeqframeError

__all__ = ["KINDS", "add_parsers", "render_plugin"]

_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}\Z")


@dataclass(frozen=True)
class _Kind:
    registry_kind: str  # the registry's name for the kind
    suffix: str  # of the class name
    what: str
    usage: str  # how to use it, with {name}


KINDS = {
    "cell": _Kind("cell", "Cell", "a recurrent cell", "seqframe run lm model.topology.cell={name} train.steps=200"),
    "task": _Kind("task", "Task", "a task", "seqframe run lm task={name} train.steps=200"),
    "tokenizer": _Kind("tokenizer", "Tokenizer", "a tokenizer", "seqframe run lm tokenizer={name} train.steps=200"),
    "data": _Kind("dataset", "Dataset", "a data source", "seqframe run lm data={name} train.steps=200"),
}
"""``--kind`` -> what it scaffolds."""


def render_plugin(name: str, kind: str) -> dict[str, str]:
    """The files of a new plugin package, relative path -> text.

    Args:
        name: the component and plugin name (``[a-z][a-z0-9_]*``).
        kind: a key of :data:`KINDS`.
    """
    spec = KINDS[kind]
    module = f"seqframe_{name}"
    values = {
        "name": name,
        "kind": kind,
        "module": module,
        "dist": f"seqframe-{name.replace('_', '-')}",
        "cls": "".join(part.capitalize() for part in name.split("_")) + spec.suffix,
        "summary": f"{spec.what.capitalize()} for seqframe: {name}.",
        "usage": f"```bash\n{spec.usage.format(name=name)}\n```",
    }
    templates = resources.files("seqframe.cli").joinpath("templates")

    def fill(*parts: str) -> str:
        return string.Template(templates.joinpath(*parts).read_text(encoding="utf-8")).substitute(values)

    return {
        "pyproject.toml": fill("common", "pyproject.toml.tmpl"),
        "README.md": fill("common", "README.md.tmpl"),
        f"{module}/__init__.py": fill("common", "__init__.py.tmpl"),
        f"{module}/plugin.py": fill(kind, "plugin.py.tmpl"),
        f"tests/test_{name}.py": fill(kind, "test.py.tmpl"),
    }


def _check_name(name: str, kind: str) -> None:
    """SeqframeError unless ``name`` is a valid, free component and module name."""
    if not _NAME.match(name):
        raise SeqframeError(
            f"seqframe new-plugin: invalid name {name!r}; expected lowercase letters, digits and "
            "underscores, starting with a letter, at most 40 characters (e.g. 'leaky_rnn')"
        )
    registry_kind = KINDS[kind].registry_kind
    if name in api.registry(entry_points=False).names(registry_kind):
        raise SeqframeError(
            f"seqframe new-plugin: {name!r} is already a built-in {registry_kind}; choose another "
            "name (two providers of one name need qualified names everywhere)"
        )
    if importlib.util.find_spec(f"seqframe_{name}") is not None:
        raise SeqframeError(
            f"seqframe new-plugin: a module named 'seqframe_{name}' is already installed; choose another name"
        )


def _cmd_new_plugin(args: argparse.Namespace) -> int:
    _check_name(args.name, args.kind)
    dest = Path(args.dir) if args.dir else Path(f"seqframe-{args.name.replace('_', '-')}")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise SeqframeError(
            f"seqframe new-plugin: {str(dest)!r} already exists and is not an empty folder; "
            "choose another --dir or remove it"
        )
    files = render_plugin(args.name, args.kind)
    for relative, text in files.items():
        path = dest / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print(f"wrote {KINDS[args.kind].what} plugin {args.name!r} in {dest}: {', '.join(files)}")
    print(f"next: python -m pip install -e {dest} && python -m pytest {dest}")
    print(f"then: {KINDS[args.kind].usage.format(name=args.name)}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's subcommands."""
    parser = add_command(
        sub,
        "new-plugin",
        help="write a ready plugin package (cell, task, tokenizer or data source)",
        description="Write a plugin package with a working component, its seqframe entry point "
        "and tests that run the conformance kit; pip install -e it and it works.",
        examples=[
            "seqframe new-plugin leaky_rnn                 # ./seqframe-leaky_rnn, a cell",
            "seqframe new-plugin sentiment --kind task --dir plugins/seqframe-sentiment",
            "pip install -e ./seqframe-leaky_rnn && seqframe plugins check leaky_rnn",
        ],
    )
    parser.add_argument("name", help="the component and plugin name, e.g. leaky_rnn (lowercase, digits, _)")
    parser.add_argument("--kind", choices=list(KINDS), default="cell", help="what the plugin provides (default: cell)")
    parser.add_argument("--dir", metavar="DIR", help="the folder to create (default: ./seqframe-NAME)")
    parser.set_defaults(func=_cmd_new_plugin)
