"""What every subcommand's parser shares: examples in its help, JSON output, the
``[list | ACTION NAME]`` positionals, and the completion hints of its arguments (read by ``seqframe completion``, through ``shtab``).
Imports the standard library and shtab.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from shtab import DIRECTORY, FILE

__all__ = ["FILE", "DIRECTORY", "add_action", "add_command", "complete", "print_json"]


def add_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    *,
    help: str,
    examples: Sequence[str],
    description: str | None = None,
) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` ends with ``examples`` (``seqframe`` command lines,
    each with an optional ``  # comment``)."""
    lines = "\n".join(f"  {example}" for example in examples)
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=description or help[:1].upper() + help[1:] + ".",
        epilog=f"examples:\n{lines}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def add_action(parser: argparse.ArgumentParser, action: str, *, help: str, name: str) -> None:
    """The ``[list | ACTION NAME]`` positionals of a command that lists by default and acts
    on one named thing otherwise (``seqframe plugins check NAME``, ``seqframe recipes copy
    NAME``); ``help`` and ``name`` are the two positionals' help texts."""
    parser.add_argument("action", nargs="?", choices=["list", action], default="list", help=help)
    parser.add_argument("name", nargs="?", help=name)


def complete(action: argparse.Action, what: Mapping[str, Any]) -> argparse.Action:
    """Mark ``action``'s value as a file (``FILE``) or folder (``DIRECTORY``) for shell
    completion."""
    action.complete = what  # type: ignore[attr-defined]  # the attribute shtab reads
    return action


def print_json(value: Any) -> None:
    """One JSON document on one line of stdout, flushed (``--json`` output)."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")
    sys.stdout.flush()
