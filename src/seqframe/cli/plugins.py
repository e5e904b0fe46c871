"""``seqframe plugins``: list plugins and components, check one with its conformance kit."""

from __future__ import annotations

import argparse
import json
import re

from seqframe import api
from seqframe.cli.common import add_action, add_command
from seqframe.errors import SeqframeError

__all__ = ["add_parsers", "plain"]


_ROLE = re.compile(r":(?:[a-z]+:)+`~?(?:[\w.]*\.)?([^`<]+?)`")  # :class:`~pkg.Name` -> Name
_LITERAL = re.compile(r"``(.+?)``|`([^`]+)`")


def plain(text: str) -> str:
    """A docstring's reStructuredText as plain text: roles keep their last name
    (``:class:`~seqframe.Task``` -> ``Task``), literals lose their backticks."""
    text = _ROLE.sub(lambda m: m.group(1), text)
    return _LITERAL.sub(lambda m: m.group(1) or m.group(2), text)


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    """Rows with each column as wide as its widest cell (the last column unpadded)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)] if rows else []
    return [indent + "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[-1]]).rstrip() for row in rows]


def _status(status: str) -> str:
    return status if status == "ok" else f"[{status.upper()}]"


def _cmd_plugins(args: argparse.Namespace) -> int:
    if args.action == "check":
        return _cmd_plugins_check(args)
    payload = api.plugin_report()
    if args.json:
        print(json.dumps(payload, indent=2))
        return 0
    print("plugins:")
    plugins = payload["plugins"]
    rows = [
        [p["name"], f"{p['distribution']} {p['version']}", _status(p["status"]), ", ".join(p["hooks"]) or "-"]
        for p in plugins
    ]
    header, *lines = _table([["name", "distribution", "status", "hooks"], *rows])
    print(header)
    for plugin, line in zip(plugins, lines):
        print(line)
        if plugin["error"]:
            print(f"      {plugin['error']}")
    print("components:")
    components = [[c["kind"], c["name"], c["plugin"], plain(c["summary"])] for c in payload["components"]]
    for line in _table(components):
        print(line)
    for group in payload["clashes"]:
        print(f"warning: {len(group)} plugins provide the same name: {', '.join(group)} (use a qualified name)")
    return 0


def _cmd_plugins_check(args: argparse.Namespace) -> int:
    """One line per conformance check; exit 0 when all pass, 1 when one fails, 2 for a bad name."""
    if not args.name:
        raise SeqframeError("seqframe plugins check: give a component name, e.g. 'seqframe plugins check indrnn'")
    report = api.check_plugin(args.name, kind=args.kind)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print("\n".join(report.lines()))
    return 0 if report.passed else 1


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's subcommands."""
    plugins = add_command(
        sub,
        "plugins",
        help="list plugins and components, or check one with its conformance kit",
        description="'seqframe plugins' lists plugins (distribution, version, status: ok, failed or blocked with "
        "what blocks it) and components; 'seqframe plugins check NAME' runs the conformance checks of a "
        "component (one line per check; exit 0 when all pass, 1 otherwise).",
        examples=[
            "seqframe plugins                    # what is installed, and each component in one line",
            "seqframe plugins --json             # the same for scripts",
            "seqframe plugins check indrnn       # conformance checks of a cell, and its time-loop path",
            "seqframe plugins check mytask --kind task",
        ],
    )
    add_action(
        plugins,
        "check",
        help="list (default) the plugins and components, or check one component",
        name="for check: the component's name (or plugin:name)",
    )
    plugins.add_argument("--kind", default=None, help="for check: the component kind, when the name has several")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    plugins.set_defaults(func=_cmd_plugins)
