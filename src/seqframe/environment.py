"""The ``SEQFRAME_*`` environment switches, parsed in one place so that every reader
accepts the same spellings. Imports the standard library only.

- ``SEQFRAME_DISABLE_PLUGIN_AUTOLOAD``: load no entry-point plugins (built-ins only).
- ``SEQFRAME_DISABLE_PLUGINS=a,b``: block the named plugins.
- ``SEQFRAME_STRICT_PLUGINS``: a failing plugin raises instead of being skipped.
- ``SEQFRAME_TRACE_PLUGINS``: trace every hook call to stderr.

A switch is on when its value is ``1``, ``true``, ``yes`` or ``on`` (any case, spaces
ignored); anything else, or no variable, is off.
"""

from __future__ import annotations

import os

__all__ = ["TRUE_VALUES", "env_flag", "env_names"]

TRUE_VALUES = ("1", "true", "yes", "on")
"""The spellings that switch a flag on."""


def env_flag(name: str) -> bool:
    """Whether the environment variable ``name`` is set to one of :data:`TRUE_VALUES`."""
    return os.environ.get(name, "").strip().lower() in TRUE_VALUES


def env_names(name: str) -> list[str]:
    """The comma-separated names in the environment variable ``name`` (blanks dropped)."""
    return [part.strip() for part in os.environ.get(name, "").split(",") if part.strip()]
