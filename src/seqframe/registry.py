"""(kind, name) -> component: the only place that calls seqframe's hooks.

Imports layer 0 and the plugin machinery. Every component records the plugin that
provided it; two providers of one name are never resolved silently (an unqualified lookup
raises :class:`AmbiguousComponentError`; ``plugin:name`` always works).
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from seqframe.environment import env_flag
from seqframe.errors import AmbiguousComponentError, PluginError, UnknownComponentError, suggest
from seqframe.hookspecs import HOOK_KINDS
from seqframe.plugins import PluginInfo, SeqframePluginManager

__all__ = ["KINDS", "Component", "Registry"]

KINDS = tuple(HOOK_KINDS.values())
_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


@dataclass(frozen=True)
class Component:
    """A registered component and its provenance.

    Attributes:
        kind: ``cell``, ``topology``, ``head``, ``task``, ``tokenizer``, ``dataset`` or ``logger``.
        name: the registered name.
        factory: the class or callable that builds it.
        plugin: the providing plugin's name (``builtin.cells``, ``indrnn``, ...).
        distribution: the providing distribution.
        version: its version.
    """

    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str
    distribution: str
    version: str

    @property
    def qualified_name(self) -> str:
        """``plugin:name``, which always selects this component."""
        return f"{self.plugin}:{self.name}"

    @property
    def summary(self) -> str:
        """First line of the factory's docstring."""
        factory = self.factory
        while isinstance(factory, functools.partial):
            factory = factory.func
        doc = (getattr(factory, "__doc__", None) or "").strip()
        return doc.splitlines()[0] if doc else ""


class Registry:
    """Every component of every loaded plugin, and the failures met while collecting them."""

    def __init__(
        self,
        components: list[Component],
        failures: list[str],
        blocked: Iterable[str] | Mapping[str, str] = (),
        *,
        entry_points_off: str | None = None,
    ) -> None:
        self._by_kind: dict[str, dict[str, list[Component]]] = {kind: {} for kind in KINDS}
        for component in components:
            self._by_kind[component.kind].setdefault(component.name, []).append(component)
        self.failures = list(dict.fromkeys(failures))
        self.blocked = list(blocked)
        self.block_reasons = dict(blocked) if isinstance(blocked, Mapping) else dict.fromkeys(blocked, "blocked")
        """Blocked plugin name -> what blocks it (``blocked by SEQFRAME_DISABLE_PLUGINS=a,b``)."""
        self.entry_points_off = entry_points_off
        """Why no third-party plugin was loaded (``SEQFRAME_DISABLE_PLUGIN_AUTOLOAD=1``), or None."""

    def unavailable(self, plugin: str) -> str | None:
        """Why plugin ``plugin`` is not loaded although it may be installed: ``blocked by
        SEQFRAME_DISABLE_PLUGINS=...``, or third-party plugins switched off; None if neither."""
        if plugin in self.block_reasons:
            return self.block_reasons[plugin]
        if self.entry_points_off is not None and not plugin.startswith("builtin."):
            return f"not loaded: {self.entry_points_off} turns off every installed plugin"
        return None

    @classmethod
    def from_plugin_manager(cls, pm: SeqframePluginManager) -> Registry:
        """Call every component hook of every plugin and collect the results.

        A hook that raises, or returns anything but a mapping of valid names to callables,
        is recorded as a failure naming plugin and hook (and warned about); the other
        plugins are unaffected. Under ``SEQFRAME_STRICT_PLUGINS=1`` it raises instead.

        Raises:
            PluginError: only under ``SEQFRAME_STRICT_PLUGINS=1``, with the hook's exception
                as ``__cause__``.
        """
        components: list[Component] = []
        failures = [info.error for info in pm.failures() if info.error]
        trace = pm.trace.root.get("hook")  # hooks are called here, not via pm.hook: trace them
        for hook_name, kind in HOOK_KINDS.items():
            for impl in getattr(pm.hook, hook_name).get_hookimpls():
                info = pm.infos.get(impl.plugin_name) or PluginInfo(
                    impl.plugin_name, getattr(impl.plugin, "__name__", "?"), "unknown", "unknown"
                )
                trace(hook_name, {"plugin": info.name})
                try:
                    entries = _check_mapping(impl.function(), kind)
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:  # plugin code can raise anything, sys.exit() included
                    message = (
                        f"{info.describe()} failed in hook {hook_name}: {type(exc).__name__}: "
                        f"{exc}. Disable it with SEQFRAME_DISABLE_PLUGINS={info.name}"
                    )
                    if env_flag("SEQFRAME_STRICT_PLUGINS"):
                        raise PluginError(message) from exc
                    if message not in failures:
                        warnings.warn(message, stacklevel=2)
                        failures.append(message)
                    info.status, info.error = "failed", message
                    continue
                trace("finish", hook_name, "-->", sorted(entries))
                components += [
                    Component(kind, name, factory, info.name, info.distribution, info.version)
                    for name, factory in entries.items()
                ]
        blocked = {info.name: pm.blocked_reason(info.name) for info in pm.infos.values() if info.status == "blocked"}
        for name in pm.block_reasons:  # blocked names that match no installed plugin are still reported
            blocked.setdefault(name, pm.blocked_reason(name))
        return cls(components, failures, blocked, entry_points_off=pm.entry_points_off)

    def names(self, kind: str) -> list[str]:
        """Sorted names registered for ``kind``."""
        return sorted(self._by_kind[kind])

    def components(self, kind: str | None = None) -> Iterator[Component]:
        """Every component (of one kind, if given), sorted by kind then name then plugin."""
        for k in KINDS if kind is None else (kind,):
            for name in sorted(self._by_kind[k]):
                yield from sorted(self._by_kind[k][name], key=lambda c: c.plugin)

    def clashes(self) -> list[list[Component]]:
        """Groups of components sharing one (kind, name)."""
        return [group for k in KINDS for group in self._by_kind[k].values() if len(group) > 1]

    def get(self, kind: str, name: str) -> Component:
        """Look up a component by ``name`` or ``plugin:name``.

        Raises:
            UnknownComponentError: no such component; lists what exists, suggests a close
                match, and repeats any plugin failure that may explain it.
            AmbiguousComponentError: two plugins provide ``name``; lists the qualified names.
        """
        if kind not in self._by_kind:
            raise ValueError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}")
        plugin, _, short = name.rpartition(":")
        candidates = self._by_kind[kind].get(short, [])
        if plugin:
            candidates = [c for c in candidates if c.plugin == plugin]
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            options = ", ".join(repr(c.qualified_name) for c in candidates)
            providers = "; ".join(f"{c.qualified_name} from {c.distribution} {c.version}" for c in candidates)
            raise AmbiguousComponentError(
                f"{kind} {name!r} is provided by {len(candidates)} plugins ({providers}); "
                f"pick one with a qualified name: {options}"
            )
        close = suggest(short, self.names(kind))
        raise UnknownComponentError(self._unknown_message(kind, name), None if plugin else close)

    def _unknown_message(self, kind: str, name: str) -> str:
        known = self.names(kind)
        plugin, _, short = name.rpartition(":")
        message = f"unknown {kind} {name!r}"
        providers = [c.qualified_name for c in self._by_kind[kind].get(short, [])]
        if plugin and providers:
            message += f"; plugin {plugin!r} provides no {kind} {short!r}, but {', '.join(providers)} exist"
        else:
            close = suggest(short, known)
            if close:
                message += f"; did you mean {close!r}?"
        message += f" (known: {', '.join(known) or 'none'})"
        if self.entry_points_off is not None and self.entry_points_off != "entry_points=False":
            message += f"; installed plugins were not loaded ({self.entry_points_off}): unset it to use them"
        if self.blocked:
            message += "\nThese plugins are blocked and were not loaded: " + ", ".join(
                f"{name} ({self.block_reasons[name]})" for name in self.blocked
            )
        if self.failures:
            message += "\nThese plugins failed to load and may provide it:\n" + "\n".join(
                f"  {failure}" for failure in self.failures
            )
        return message


def _check_mapping(provided: object, kind: str) -> Mapping[str, Callable[..., Any]]:
    if not isinstance(provided, Mapping):
        raise TypeError(f"expected a mapping of name -> {kind} factory, got {type(provided).__name__}")
    for name, factory in provided.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"invalid {kind} name {name!r}: names must match [a-z][a-z0-9_]*")
        if not callable(factory):
            raise TypeError(f"{kind} {name!r} is {type(factory).__name__}, not a class or callable")
    return provided
