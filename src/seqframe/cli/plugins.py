"""``seqframe plugins``: list plugins and components, check one with its conformance kit."""

from __future__ import annotations

import argparse
import json

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
    plugins = sub.add_parser(
        "plugins", help="list plugins and components, or check one with its conformance kit",
        description="'seqframe plugins' lists plugins and components; 'seqframe plugins check NAME' runs the "
                    "conformance checks of a component (one line per check; exit 0 when all pass, 1 otherwise).")
    plugins.add_argument("action", nargs="?", choices=["list", "check"], default="list")
    plugins.add_argument("name", nargs="?", help="component name (or plugin:name) for 'check'")
    plugins.add_argument("--kind", default=None, help="for 'check': the component kind, when the name has several")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    plugins.set_defaults(func=_cmd_plugins)
