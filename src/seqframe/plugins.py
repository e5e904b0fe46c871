"""Build the plugin manager: built-ins first, then the ``seqframe`` entry-point group.

Imports layer 0, pluggy and ``importlib.metadata``. One broken plugin never takes the rest
down, even one whose import calls ``sys.exit()`` (only ``KeyboardInterrupt`` goes through):
its failure is recorded (and warned about once) and every other plugin keeps working;
``SEQFRAME_STRICT_PLUGINS=1`` raises instead. Environment switches:

- ``SEQFRAME_DISABLE_PLUGIN_AUTOLOAD=1``: load no entry points (built-ins only).
- ``SEQFRAME_DISABLE_PLUGINS=a,b``: block the named plugins.
- ``SEQFRAME_STRICT_PLUGINS=1``: a failing plugin raises :class:`PluginLoadError`.
- ``SEQFRAME_TRACE_PLUGINS=1``: trace every hook call to stderr.

The flags also accept ``true``, ``yes`` and ``on`` (parsed by :mod:`seqframe.environment`).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType

import pluggy

from seqframe import hookspecs
from seqframe.builtin import BUILTIN_PLUGINS
from seqframe.environment import env_flag, env_names
from seqframe.errors import PluginLoadError, suggest

__all__ = ["ENTRY_POINT_GROUP", "PluginInfo", "SeqframePluginManager", "load_plugin_manager"]

ENTRY_POINT_GROUP = "seqframe"
"""Third-party packages declare ``[project.entry-points.seqframe] <name> = "<module>"``."""


@dataclass
class PluginInfo:
    """What seqframe knows about one plugin.

    Attributes:
        name: the plugin name (entry-point name, or ``builtin.<module>``); the name users block.
        module: the import path of the plugin module.
        distribution: the installed distribution providing it (``seqframe`` for built-ins).
        version: that distribution's version.
        status: ``"ok"``, ``"failed"`` or ``"blocked"``.
        error: the failure message when ``status == "failed"``; what blocks it (``blocked by
            SEQFRAME_DISABLE_PLUGINS=indrnn``) when ``status == "blocked"``.
        hooks: the seqframe hooks the plugin implements.
    """

    name: str
    module: str
    distribution: str
    version: str
    status: str = "ok"
    error: str | None = None
    hooks: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """``plugin 'x' (dist 1.0)``, used at the start of every message about it."""
        return f"plugin {self.name!r} ({self.distribution} {self.version})"


class SeqframePluginManager(pluggy.PluginManager):
    """A pluggy manager that also keeps a :class:`PluginInfo` for every plugin it saw,
    including those that failed or were blocked."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.block_reasons: dict[str, str] = {}
        """Blocked plugin name -> what blocks it (``SEQFRAME_DISABLE_PLUGINS=a,b``)."""
        self.entry_points_off: str | None = None
        """Why no third-party plugin was loaded (``SEQFRAME_DISABLE_PLUGIN_AUTOLOAD=1``), or None."""

    def block(self, name: str, reason: str) -> None:
        """Block plugin ``name``, remembering what blocked it for messages."""
        self.set_blocked(name)
        self.block_reasons.setdefault(name, reason)

    def blocked_reason(self, name: str) -> str:
        """``blocked by SEQFRAME_DISABLE_PLUGINS=indrnn`` (or by the caller's ``blocked=``)."""
        return f"blocked by {self.block_reasons.get(name, 'the caller')}"

    def _mark_blocked(self, info: PluginInfo) -> None:
        info.status, info.error = "blocked", f"{info.describe()} is {self.blocked_reason(info.name)}"

    def failures(self) -> list[PluginInfo]:
        """Plugins that could not be loaded, in load order."""
        return [info for info in self.infos.values() if info.status == "failed"]

    def add_plugin(self, module: ModuleType, info: PluginInfo) -> None:
        """Register ``module`` as ``info.name``; on any problem roll back and record it.

        Registering the same module object again (under any name) does nothing. A second,
        different plugin under a name already in use is recorded as a failure and leaves
        the first one untouched.
        """
        if any(plugin is module for _, plugin in self.list_name_plugin()):
            return  # the same object twice (entry point + explicit): idempotent
        if self.get_plugin(info.name) is not None:
            first = self.infos.get(info.name)
            used_by = first.module if first else repr(self.get_plugin(info.name))
            self.infos[f"{info.name} ({info.module})"] = info
            self._fail(
                info,
                f"could not be registered: the name {info.name!r} is already used by {used_by!r}",
                None,
                remedy="rename or uninstall one of the two",
            )
            return
        self.infos[info.name] = info
        if self.is_blocked(info.name):
            self._mark_blocked(info)
            return
        try:
            self.register(module, name=info.name)
            unknown = self._unknown_hooks(module)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # PluginValidationError, or a module that breaks dir()/getattr
            if self.get_plugin(info.name) is not None:  # older pluggy leaves it half-registered
                self.unregister(name=info.name)
            invalid = isinstance(exc, pluggy.PluginValidationError)
            self._fail(info, f"{'is invalid' if invalid else 'could not be registered'}: {exc}", exc)
            return
        if unknown:
            self.unregister(name=info.name)
            hints = []
            for attr in unknown:
                close = suggest(attr, hookspecs.HOOK_KINDS)
                hints.append(f"{attr!r}" + (f" (did you mean {close!r}?)" if close else ""))
            self._fail(info, f"implements unknown hook(s) {', '.join(hints)}", None)
            return
        info.hooks = sorted(
            caller.name for caller in self.get_hookcallers(module) or [] if caller.name in hookspecs.HOOK_KINDS
        )

    def _unknown_hooks(self, module: object) -> list[str]:
        """What ``check_pending`` would reject for this plugin, plus undecorated ``seqframe_*``."""
        unknown = []
        for attr in dir(module):
            opts = self.parse_hookimpl_opts(module, attr)
            if opts is not None:
                hook_name = opts.get("specname") or attr
                if hook_name not in hookspecs.HOOK_KINDS and not opts.get("optionalhook"):
                    unknown.append(hook_name)
            elif (
                attr.startswith("seqframe_")
                and attr not in hookspecs.HOOK_KINDS
                and callable(getattr(module, attr, None))
            ):
                unknown.append(attr)
        return unknown

    def _fail(self, info: PluginInfo, what: str, exc: BaseException | None, *, remedy: str | None = None) -> None:
        info.status = "failed"
        remedy = remedy or f"Disable it with SEQFRAME_DISABLE_PLUGINS={info.name}"
        info.error = f"{info.describe()} {what}. {remedy[0].upper()}{remedy[1:]}"
        if env_flag("SEQFRAME_STRICT_PLUGINS"):
            raise PluginLoadError(info.error) from exc
        warnings.warn(info.error, stacklevel=3)


def _describe(exc: BaseException) -> str:
    """``ModuleNotFoundError: No module named 'x'``; a plugin that tried to end the process
    (``sys.exit(3)``, argparse's ``parse_args()`` on seqframe's arguments) says so."""
    if isinstance(exc, SystemExit):
        return f"SystemExit: it called sys.exit({exc.code!r}) (a plugin must not end the process or parse sys.argv)"
    return f"{type(exc).__name__}: {exc}"


def _load_builtins(pm: SeqframePluginManager) -> None:
    version = _version("seqframe")
    for path in BUILTIN_PLUGINS:
        module = importlib.import_module(path)
        info = PluginInfo(f"builtin.{path.rsplit('.', 1)[-1]}", path, "seqframe", version)
        pm.add_plugin(module, info)


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _load_entry_points(pm: SeqframePluginManager) -> None:
    seen: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        dist_name = dist.metadata["Name"] or "unknown"
        for ep in dist.entry_points:
            if ep.group != ENTRY_POINT_GROUP:
                continue
            info = PluginInfo(ep.name, ep.value, dist_name, dist.version or "unknown")
            if ep.name in seen:
                if seen[ep.name] == dist_name:  # the same distribution found twice on sys.path
                    continue
                pm.infos[f"{ep.name} ({dist_name})"] = info
                pm._fail(
                    info,
                    f"has the same entry-point name as the plugin from {seen[ep.name]}, so it was not loaded",
                    None,
                    remedy=f"uninstall {dist_name} or {seen[ep.name]}",
                )
                continue
            seen[ep.name] = dist_name
            if pm.is_blocked(ep.name):
                pm.infos[ep.name] = info
                pm._mark_blocked(info)
                continue
            try:
                module = ep.load()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # a plugin's import can raise anything, sys.exit() included
                pm.infos[ep.name] = info
                pm._fail(info, f"failed to import {ep.value!r}: {_describe(exc)}", exc)
                continue
            pm.add_plugin(module, info)


def load_plugin_manager(*, entry_points: bool = True, blocked: Iterable[str] = ()) -> SeqframePluginManager:
    """Return a fresh manager with the built-ins and (unless disabled) installed plugins.

    Args:
        entry_points: load third-party plugins from the ``seqframe`` entry-point group.
            ``SEQFRAME_DISABLE_PLUGIN_AUTOLOAD=1`` forces False.
        blocked: plugin names not to load, added to ``SEQFRAME_DISABLE_PLUGINS``.

    Returns:
        The manager; ``pm.infos`` describes every plugin, failed and blocked ones included.

    Raises:
        PluginLoadError: only under ``SEQFRAME_STRICT_PLUGINS=1``.
    """
    pm = SeqframePluginManager()
    env = os.environ.get("SEQFRAME_DISABLE_PLUGINS", "").strip()
    for name in env_names("SEQFRAME_DISABLE_PLUGINS"):
        pm.block(name, f"SEQFRAME_DISABLE_PLUGINS={env}")
    for name in blocked:
        pm.block(name, f"load_plugin_manager(blocked={list(blocked)!r})")
    if env_flag("SEQFRAME_TRACE_PLUGINS"):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    _load_builtins(pm)
    if entry_points and not env_flag("SEQFRAME_DISABLE_PLUGIN_AUTOLOAD"):
        _load_entry_points(pm)
    else:
        pm.entry_points_off = (
            "SEQFRAME_DISABLE_PLUGIN_AUTOLOAD=" + os.environ["SEQFRAME_DISABLE_PLUGIN_AUTOLOAD"].strip()
            if entry_points
            else "entry_points=False"
        )
    return pm
