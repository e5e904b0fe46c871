"""``seqframe plugins``: list plugins and components, check a plugin cell."""

from __future__ import annotations

import argparse
import json
from typing import Any

from seqframe import api
from seqframe.errors import SeqframeError

__all__ = ["add_parsers"]


def _cmd_plugins(args: argparse.Namespace) -> int:
    if args.action == "check":
        return _cmd_plugins_check(args)
    payload = api.plugin_report()
    if args.json:
        print(json.dumps(payload, indent=2))
        return 0
    print("plugins:")
    for p in payload["plugins"]:
        status = "" if p["status"] == "ok" else f"  [{p['status'].upper()}]"
        print(f"  {p['name']:<32} {p['distribution']} {p['version']}  hooks: {', '.join(p['hooks']) or '-'}{status}")
        if p["error"]:
            print(f"      {p['error']}")
    print("components:")
    for c in payload["components"]:
        print(f"  {c['kind']:<10} {c['name']:<20} {c['plugin']:<32} {c['summary']}")
    for group in payload["clashes"]:
        print(f"warning: {len(group)} plugins provide the same name: {', '.join(group)} (use a qualified name)")
    return 0


def _cmd_plugins_check(args: argparse.Namespace) -> int:
    from seqframe.testing import check_cell, describe_time_loop

    if not args.name:
        raise SeqframeError("seqframe plugins check: give a cell name, e.g. 'seqframe plugins check indrnn'")
    registry = api.registry()
    if args.name in registry.names("task") and args.name not in registry.names("cell"):
        return _cmd_plugins_check_task(registry.get("task", args.name), args.json)
    component = registry.get("cell", args.name)
    check_cell(component.factory)
    print(f"cell {component.qualified_name} ({component.distribution} {component.version}): all conformance checks passed")
    print(f"time loop: {describe_time_loop(component.factory)}")
    return 0


def _cmd_plugins_check_task(component: Any, as_json: bool) -> int:
    """One line per conformance check of a task (``--json``: one object); exit 1 if any failed."""
    from seqframe.testing import run_task_checks

    results = run_task_checks(component.factory)
    where = f"task {component.qualified_name} ({component.distribution} {component.version})"
    if as_json:
        print(json.dumps({"kind": "task", "name": component.name, "plugin": component.plugin,
                          "distribution": component.distribution, "version": component.version,
                          "passed": all(r.passed for r in results), "checks": [r.as_dict() for r in results]}))
    else:
        print(f"{where}:")
        for result in results:
            print(f"  {result.line()}")
    return 0 if all(r.passed for r in results) else 1


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's subcommands."""
    plugins = sub.add_parser("plugins", help="list plugins and components, or check a plugin cell or task")
    plugins.add_argument("action", nargs="?", choices=["list", "check"], default="list")
    plugins.add_argument("name", nargs="?", help="cell or task name for 'check'")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    plugins.set_defaults(func=_cmd_plugins)
