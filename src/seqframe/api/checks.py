"""``seqframe plugins check NAME``, for scripts: every conformance check of a registered
component, as a :class:`~seqframe.testing.CheckReport`. Facade layer.

Each kind with a conformance kit has an entry in :data:`CHECKERS` (``cell`` and ``task``), so a name is checked by the kit of the kind it is registered as.
"""

from __future__ import annotations

from collections.abc import Callable

from seqframe.api.plugins import default_registry
from seqframe.api.preflight import provider
from seqframe.errors import PluginError, UnknownComponentError
from seqframe.interfaces import is_task_class, task_signature_problems
from seqframe.registry import Registry
from seqframe.testing import CheckReport, cell_report, run_task_checks

__all__ = ["CHECKERS", "check_cell_plugin", "check_plugin", "check_task_plugin"]


def check_cell_plugin(name: str, registry: Registry) -> CheckReport:
    """Every conformance check of the registered cell ``name``, and its time-loop path."""
    component = registry.get("cell", name)
    return cell_report(component.factory, subject=provider(component))


def check_task_plugin(name: str, registry: Registry) -> CheckReport:
    """Every conformance check of the registered task ``name`` (on its own sample data).

    Raises:
        PluginError: the task's methods do not take the contract's parameters (one line per
            method: what was expected and what was found).
    """
    component = registry.get("task", name)
    problems = (
        task_signature_problems(component.factory, provider(component)) if is_task_class(component.factory) else []
    )
    if problems:
        raise PluginError("\n".join(problems))
    return CheckReport(provider(component), tuple(run_task_checks(component.factory)))


CHECKERS: dict[str, Callable[[str, Registry], CheckReport]] = {"cell": check_cell_plugin, "task": check_task_plugin}
"""Kind -> ``checker(name, registry) -> CheckReport``."""


def _registered(registry: Registry, kind: str, name: str) -> bool:
    try:
        registry.get(kind, name)
    except UnknownComponentError:
        return False
    return True


def check_plugin(name: str, *, kind: str | None = None, registry: Registry | None = None) -> CheckReport:
    """Run the conformance kit of component ``name`` (of ``kind``, or of the one kind with a
    kit it is registered as). Never raises for a component that fails its checks.

    Raises:
        UnknownComponentError: no component of a checkable kind has this name.
        PluginError: the name is registered as several checkable kinds and ``kind`` is None,
            or ``kind`` has no conformance kit.
    """
    reg = registry or default_registry()
    if kind is not None and kind not in CHECKERS:
        raise PluginError(
            f"seqframe plugins check: no conformance kit for kind {kind!r}; expected one of {', '.join(CHECKERS)}"
        )
    kinds = [kind] if kind is not None else [k for k in CHECKERS if _registered(reg, k, name)]
    if not kinds:
        reg.get(next(iter(CHECKERS)), name)  # raises UnknownComponentError, with suggestions
    if len(kinds) > 1:
        raise PluginError(
            f"seqframe plugins check: {name!r} is registered as a {' and a '.join(kinds)}; "
            f"choose with --kind ({' or '.join(kinds)})"
        )
    return CHECKERS[kinds[0]](name, reg)
