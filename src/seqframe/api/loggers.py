"""The experiment loggers of ``train.loggers``: resolved against the registry before
anything is written (an unknown name or option is a clear error), started in the run
directory's ``logs/<name>/`` folders once the run has begun, and closed at the end, also
after a failure. Facade layer.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from seqframe.engine.rundir import RunDir
from seqframe.errors import PluginError, RecipeError
from seqframe.interfaces import Logger
from seqframe.registry import Component, Registry

__all__ = ["ResolvedLogger", "close_loggers", "resolve_loggers", "start_loggers"]


@dataclass(frozen=True)
class ResolvedLogger:
    """A logger of the recipe: its component and options."""

    component: Component
    options: dict[str, Any]


def resolve_loggers(specs: Iterable[Any], registry: Registry) -> list[ResolvedLogger]:
    """Each ``train.loggers`` entry (a name or ``{name, <options>}``) checked: the name is
    registered and the options fit its factory.

    Raises:
        RecipeError: an entry of the wrong form, an unknown logger or option (named).
    """
    resolved = []
    for index, spec in enumerate(specs):
        where = f"train.loggers[{index}]"
        name, options = (
            (spec, {})
            if isinstance(spec, str)
            else (
                (spec.get("name"), {k: v for k, v in spec.items() if k != "name"})
                if isinstance(spec, dict)
                else (None, {})
            )
        )
        if not isinstance(name, str):
            raise RecipeError(f"{where}: expected a logger name or {{name: ..., <options>}}, got {spec!r}")
        try:
            component = registry.get("logger", name)
        except PluginError as exc:
            raise RecipeError(f"{where}: {exc}") from exc
        try:
            inspect.signature(component.factory).bind("log_dir", **options)
        except TypeError as exc:
            raise RecipeError(f"{where}: logger {name!r} does not take these options ({exc})") from exc
        resolved.append(ResolvedLogger(component, options))
    return resolved


def start_loggers(resolved: Sequence[ResolvedLogger], run: RunDir) -> list[Logger]:
    """Create each logger in its ``logs/<name>/`` folder of the run (after ``run.begin``).

    Raises:
        PluginError: a factory raised or returned something that is not a Logger.
    """
    loggers: list[Logger] = []
    for item in resolved:
        folder = run.folder(f"logs/{item.component.name}")
        try:
            logger = item.component.factory(folder, **item.options)
        except (TypeError, ValueError) as exc:
            raise RecipeError(f"train.loggers: logger {item.component.name!r}: {exc}") from exc
        if not isinstance(logger, Logger):
            raise PluginError(
                f"logger {item.component.name!r} (plugin {item.component.plugin!r}) returned a "
                f"{type(logger).__name__}, not a seqframe.interfaces.Logger"
            )
        loggers.append(logger)
    return loggers


def close_loggers(loggers: Iterable[Logger]) -> None:
    """Close every logger (each one even if another fails)."""
    for logger in loggers:
        try:
            logger.close()
        except Exception:  # closing one logger must not hide the run's own outcome
            pass
