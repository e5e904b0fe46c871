"""The registry: provenance, lookup, qualified names, ambiguity (two plugins giving one
name never override each other), hook failures (wrapped with the plugin's name),
unknown names with suggestions and the failures that may explain them."""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import types
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from seqframe import AmbiguousComponentError, PluginError, UnknownComponentError, hookimpl
from seqframe.builtin.cells import ElmanCell, GRUCell, LSTMCell
from seqframe.builtin.topologies import BidirectionalTopology, StackedTopology
from seqframe.plugins import PluginInfo, SeqframePluginManager, load_plugin_manager
from seqframe.registry import Component, Registry

SAMPLES = Path(__file__).parent / "plugins_samples"


def load_sample(name: str) -> types.ModuleType:
    """Import ``tests/plugins_samples/<name>.py`` as a fresh module (not put in sys.modules)."""
    spec = importlib.util.spec_from_file_location(f"plugins_samples.{name}", SAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_plugin(name: str, **hooks: Callable[[], Any]) -> types.ModuleType:
    """A plugin module whose attributes are the given hook functions, marked as hookimpls."""
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


def manager(*plugins: tuple[str, types.ModuleType]) -> SeqframePluginManager:
    """Built-ins plus ``plugins`` given as (name, module), each from distribution ``dist-<name>``."""
    pm = load_plugin_manager(entry_points=False)
    for name, module in plugins:
        pm.add_plugin(module, PluginInfo(name, module.__name__, f"dist-{name}", "1.0"))
    return pm


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SEQFRAME_DISABLE_PLUGINS", "SEQFRAME_STRICT_PLUGINS", "SEQFRAME_TRACE_PLUGINS"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def registry() -> Registry:
    return Registry.from_plugin_manager(manager())


# --- built-ins and provenance --------------------------------------------------------------


def test_builtin_cells_and_topologies_are_registered_with_their_provider(registry: Registry) -> None:
    assert registry.names("cell") == ["elman", "gru", "lstm"]
    assert {"stacked", "bidirectional"} <= set(registry.names("topology"))
    lstm = registry.get("cell", "lstm")
    assert (lstm.kind, lstm.factory, lstm.plugin, lstm.distribution) == (
        "cell",
        LSTMCell,
        "builtin.cells",
        "seqframe",
    )
    assert registry.get("cell", "gru").factory is GRUCell
    assert registry.get("topology", "stacked").factory is StackedTopology
    assert registry.get("topology", "bidirectional").factory is BidirectionalTopology
    assert registry.get("topology", "stacked").plugin == "builtin.topologies"
    assert registry.failures == []


def test_plugin_component_records_distribution_and_version() -> None:
    registry = Registry.from_plugin_manager(manager(("good", load_sample("good"))))
    fast = registry.get("cell", "fast")
    assert (fast.plugin, fast.distribution, fast.version) == ("good", "dist-good", "1.0")
    assert fast.qualified_name == "good:fast"
    assert registry.get("head", "probe").plugin == "good"


def test_summary_is_first_docstring_line(registry: Registry) -> None:
    assert registry.get("cell", "lstm").summary == (LSTMCell.__doc__ or "").strip().splitlines()[0]
    good = Registry.from_plugin_manager(manager(("good", load_sample("good"))))
    assert good.get("cell", "fast").summary == "Fast sample cell: ``h_t = tanh(W x_t + h_{t-1})``."


def test_summary_is_empty_without_docstring_and_unwraps_partial() -> None:
    def undocumented(input_size: int, hidden_size: int) -> None: ...

    bare = Component("cell", "x", undocumented, "p", "d", "1")
    assert bare.summary == ""
    partial = Component("cell", "y", functools.partial(ElmanCell, nonlinearity="relu"), "p", "d", "1")
    assert partial.summary == (ElmanCell.__doc__ or "").strip().splitlines()[0]


def test_components_are_sorted_and_filtered_by_kind() -> None:
    registry = Registry.from_plugin_manager(manager(("good", load_sample("good"))))
    cells = list(registry.components("cell"))
    assert [c.name for c in cells] == ["elman", "fast", "gru", "lstm"]
    everything = list(registry.components())
    assert {c.kind for c in everything} >= {"cell", "topology", "head"}
    assert [c for c in everything if c.kind == "cell"] == cells


def test_unknown_kind_is_a_value_error(registry: Registry) -> None:
    with pytest.raises(ValueError, match="unknown component kind 'cells'"):
        registry.get("cells", "lstm")


# --- qualified names and ambiguity ---------------------------------------------------------


def test_qualified_name_selects_the_provider(registry: Registry) -> None:
    assert registry.get("cell", "builtin.cells:lstm").factory is LSTMCell


def test_two_plugins_providing_one_name_make_it_ambiguous() -> None:
    pm = manager(("good", load_sample("good")), ("clashing", load_sample("clashing")))
    registry = Registry.from_plugin_manager(pm)
    with pytest.raises(AmbiguousComponentError) as info:
        registry.get("cell", "fast")
    message = str(info.value)
    assert "cell 'fast' is provided by 2 plugins" in message
    assert "good:fast from dist-good 1.0" in message and "clashing:fast from dist-clashing 1.0" in message
    assert "'clashing:fast'" in message and "'good:fast'" in message
    assert registry.get("cell", "good:fast").plugin == "good"
    assert registry.get("cell", "clashing:fast").plugin == "clashing"


def test_plugin_shadowing_a_builtin_makes_it_ambiguous() -> None:
    registry = Registry.from_plugin_manager(manager(("clashing", load_sample("clashing"))))
    with pytest.raises(AmbiguousComponentError, match="'builtin.cells:lstm', 'clashing:lstm'"):
        registry.get("cell", "lstm")
    assert registry.get("cell", "builtin.cells:lstm").factory is LSTMCell
    assert registry.get("cell", "clashing:lstm").factory.__name__ == "ShadowLSTMCell"


def test_clash_does_not_affect_other_names() -> None:
    registry = Registry.from_plugin_manager(manager(("clashing", load_sample("clashing"))))
    assert registry.get("cell", "gru").factory is GRUCell
    assert registry.get("cell", "fast").plugin == "clashing"  # only one provider here


def test_clashes_lists_every_shared_name() -> None:
    pm = manager(("good", load_sample("good")), ("clashing", load_sample("clashing")))
    clashes = Registry.from_plugin_manager(pm).clashes()
    assert sorted(sorted(c.qualified_name for c in group) for group in clashes) == [
        ["builtin.cells:lstm", "clashing:lstm"],
        ["clashing:fast", "good:fast"],
    ]


def test_no_clashes_with_builtins_only(registry: Registry) -> None:
    assert registry.clashes() == []


# --- hooks that misbehave ------------------------------------------------------------------


def test_hook_that_raises_is_a_failure_naming_plugin_and_hook() -> None:
    def boom() -> Any:
        raise RuntimeError("boom")

    pm = manager(("raiser", make_plugin("raiser", seqframe_cells=boom)), ("good", load_sample("good")))
    with pytest.warns(UserWarning, match="failed in hook seqframe_cells"):
        registry = Registry.from_plugin_manager(pm)
    assert registry.failures == [
        "plugin 'raiser' (dist-raiser 1.0) failed in hook seqframe_cells: RuntimeError: boom. "
        "Disable it with SEQFRAME_DISABLE_PLUGINS=raiser"
    ]
    assert pm.infos["raiser"].status == "failed"
    assert registry.names("cell") == ["elman", "fast", "gru", "lstm"]


def test_hook_returning_a_non_mapping_is_a_failure() -> None:
    pm = manager(("bad_return", load_sample("bad_return")))
    with pytest.warns(UserWarning):
        registry = Registry.from_plugin_manager(pm)
    (failure,) = registry.failures
    assert failure.startswith("plugin 'bad_return' (dist-bad_return 1.0) failed in hook seqframe_cells")
    assert "expected a mapping of name -> cell factory, got list" in failure
    assert registry.names("cell") == ["elman", "gru", "lstm"]


@pytest.mark.parametrize("bad_name", ["Bad-Name", "1cell", "", "has space"])
def test_hook_returning_an_invalid_name_is_a_failure(bad_name: str) -> None:
    plugin = make_plugin("naming", seqframe_cells=lambda: {bad_name: ElmanCell})
    with pytest.warns(UserWarning):
        registry = Registry.from_plugin_manager(manager(("naming", plugin)))
    (failure,) = registry.failures
    assert "plugin 'naming'" in failure and "seqframe_cells" in failure
    assert f"invalid cell name {bad_name!r}" in failure
    assert registry.names("cell") == ["elman", "gru", "lstm"]


def test_hook_returning_a_non_callable_factory_is_a_failure() -> None:
    plugin = make_plugin("values", seqframe_heads=lambda: {"linear2": 42})
    with pytest.warns(UserWarning, match="head 'linear2' is int, not a class or callable"):
        registry = Registry.from_plugin_manager(manager(("values", plugin)))
    assert "linear2" not in registry.names("head")


def test_failing_hook_leaves_the_plugins_other_hooks_working() -> None:
    def boom() -> Any:
        raise RuntimeError("boom")

    plugin = make_plugin("half", seqframe_cells=boom, seqframe_heads=lambda: {"half_head": ElmanCell})
    with pytest.warns(UserWarning):
        registry = Registry.from_plugin_manager(manager(("half", plugin)))
    assert registry.get("head", "half_head").plugin == "half"
    assert len(registry.failures) == 1


def test_strict_mode_raises_plugin_error_from_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    cause = RuntimeError("boom")

    def boom() -> Any:
        raise cause

    pm = manager(("raiser", make_plugin("raiser", seqframe_cells=boom)))
    monkeypatch.setenv("SEQFRAME_STRICT_PLUGINS", "1")
    with pytest.raises(
        PluginError, match="plugin 'raiser' \\(dist-raiser 1.0\\) failed in hook seqframe_cells"
    ) as info:
        Registry.from_plugin_manager(pm)
    assert info.value.__cause__ is cause


def test_building_the_registry_twice_reports_each_failure_once() -> None:
    def boom() -> Any:
        raise RuntimeError("boom")

    pm = manager(("raiser", make_plugin("raiser", seqframe_cells=boom)))
    with pytest.warns(UserWarning):
        Registry.from_plugin_manager(pm)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second build does not warn again
        again = Registry.from_plugin_manager(pm)
    assert len(again.failures) == 1


# --- unknown names -------------------------------------------------------------------------


def test_unknown_component_suggests_close_match_and_lists_known(registry: Registry) -> None:
    with pytest.raises(UnknownComponentError) as info:
        registry.get("cell", "lstmm")
    assert str(info.value) == "unknown cell 'lstmm'; did you mean 'lstm'? (known: elman, gru, lstm)"


def test_unknown_component_without_close_match_lists_known(registry: Registry) -> None:
    with pytest.raises(UnknownComponentError, match=r"^unknown cell 'transformer' \(known: elman, gru, lstm\)$"):
        registry.get("cell", "transformer")


def test_unknown_qualified_name_points_to_actual_providers(registry: Registry) -> None:
    with pytest.raises(UnknownComponentError, match="but builtin.cells:lstm exist"):
        registry.get("cell", "fastcells:lstm")


def test_unknown_component_message_carries_plugin_load_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        name, value, group = "indrnn", "seqframe_indrnn.plugin", "seqframe"

        def load(self) -> Any:
            raise ModuleNotFoundError("No module named 'numba'")

    class Dist:
        metadata = {"Name": "seqframe-indrnn"}
        version = "0.2.0"
        entry_points = [Broken()]

    monkeypatch.delenv("SEQFRAME_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.setattr(importlib.metadata, "distributions", lambda: [Dist()])
    with pytest.warns(UserWarning):
        registry = Registry.from_plugin_manager(load_plugin_manager())
    with pytest.raises(UnknownComponentError) as info:
        registry.get("cell", "indrnn")
    message = str(info.value)
    assert message.startswith("unknown cell 'indrnn'")
    assert (
        "plugin 'indrnn' (seqframe-indrnn 0.2.0) failed to import 'seqframe_indrnn.plugin': "
        "ModuleNotFoundError: No module named 'numba'" in message
    )


def test_unknown_component_message_carries_hook_failures() -> None:
    def boom() -> Any:
        raise RuntimeError("boom")

    with pytest.warns(UserWarning):
        registry = Registry.from_plugin_manager(manager(("raiser", make_plugin("raiser", seqframe_cells=boom))))
    with pytest.raises(UnknownComponentError, match="failed in hook seqframe_cells: RuntimeError: boom"):
        registry.get("cell", "fancy")


def test_unknown_component_message_mentions_blocked_plugins() -> None:
    pm = load_plugin_manager(entry_points=False, blocked=("good",))
    pm.add_plugin(load_sample("good"), PluginInfo("good", "good", "dist-good", "1.0"))
    registry = Registry.from_plugin_manager(pm)
    with pytest.raises(UnknownComponentError, match="blocked and were not loaded: good"):
        registry.get("cell", "fast")
