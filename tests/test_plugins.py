"""The plugin manager: built-ins, fake entry points, broken plugins (raising on import,
mismatched or unknown hooks: warned about and rolled back), duplicate entry points (never
a silent override), blocking and autoload control.

Entry points are faked by monkeypatching ``importlib.metadata.distributions`` with stand-in
distributions whose entry points load the modules in ``tests/plugins_samples/``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import types
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import seqframe.builtin.cells
from seqframe import PluginLoadError, hookimpl
from seqframe.builtin import BUILTIN_PLUGINS
from seqframe.plugins import PluginInfo, SeqframePluginManager, load_plugin_manager
from seqframe.registry import Registry

SAMPLES = Path(__file__).parent / "plugins_samples"


def load_sample(name: str) -> types.ModuleType:
    """Import ``tests/plugins_samples/<name>.py`` as a fresh module (not put in sys.modules)."""
    spec = importlib.util.spec_from_file_location(f"plugins_samples.{name}", SAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeEntryPoint:
    """Stands in for ``importlib.metadata.EntryPoint``; counts its loads."""

    def __init__(self, name: str, value: str, load: Callable[[], Any], group: str = "seqframe") -> None:
        self.name, self.value, self.group = name, value, group
        self._load = load
        self.loads = 0

    def load(self) -> Any:
        self.loads += 1
        return self._load()


class FakeDistribution:
    """Stands in for ``importlib.metadata.Distribution``."""

    def __init__(self, name: str, version: str, entry_points: list[FakeEntryPoint]) -> None:
        self.metadata = {"Name": name}
        self.version = version
        self.entry_points = entry_points


def sample_ep(name: str, sample: str | None = None) -> FakeEntryPoint:
    """An entry point ``name`` loading ``plugins_samples/<sample or name>.py``."""
    sample = sample or name
    return FakeEntryPoint(name, f"plugins_samples.{sample}", lambda: load_sample(sample))


def failing_ep(name: str, exc: BaseException) -> FakeEntryPoint:
    def load() -> Any:
        raise exc

    return FakeEntryPoint(name, f"{name}_plugin", load)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No switch from the developer's shell may change these tests."""
    for var in ("SEQFRAME_DISABLE_PLUGINS", "SEQFRAME_STRICT_PLUGINS", "SEQFRAME_TRACE_PLUGINS"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def install(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Turn autoload on and make ``install(dist, ...)`` the only installed distributions."""
    monkeypatch.delenv("SEQFRAME_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    installed: list[FakeDistribution] = []
    monkeypatch.setattr(importlib.metadata, "distributions", lambda: list(installed))
    yield lambda *dists: installed.extend(dists)


def seqframe_warnings(record: list[warnings.WarningMessage], needle: str) -> list[str]:
    return [str(w.message) for w in record if needle in str(w.message)]


# --- built-ins -----------------------------------------------------------------------------


def test_builtins_are_registered_as_builtin_plugins() -> None:
    pm = load_plugin_manager(entry_points=False)
    expected = {f"builtin.{path.rsplit('.', 1)[-1]}" for path in BUILTIN_PLUGINS}
    assert expected <= set(pm.infos)
    assert {"builtin.cells", "builtin.topologies"} <= expected
    for name in expected:
        info = pm.infos[name]
        assert (info.status, info.distribution, info.error) == ("ok", "seqframe", None)
        assert pm.get_plugin(name) is not None
    assert pm.get_plugin("builtin.cells") is seqframe.builtin.cells
    assert pm.infos["builtin.cells"].hooks == ["seqframe_cells"]
    assert pm.infos["builtin.topologies"].hooks == ["seqframe_topologies"]


def test_load_plugin_manager_returns_a_fresh_manager_each_call() -> None:
    first, second = load_plugin_manager(entry_points=False), load_plugin_manager(entry_points=False)
    assert first is not second and isinstance(first, SeqframePluginManager)
    first.add_plugin(load_sample("good"), PluginInfo("good", "good", "seqframe-good", "1.0"))
    assert first.get_plugin("good") is not None
    assert second.get_plugin("good") is None and "good" not in second.infos
    assert "good" not in load_plugin_manager(entry_points=False).infos


# --- entry points --------------------------------------------------------------------------


def test_entry_point_plugin_is_loaded_with_its_distribution(install: Callable[..., None]) -> None:
    install(FakeDistribution("seqframe-good", "1.2.3", [sample_ep("good")]))
    pm = load_plugin_manager()
    info = pm.infos["good"]
    assert (info.status, info.distribution, info.version) == ("ok", "seqframe-good", "1.2.3")
    assert info.module == "plugins_samples.good"
    assert info.hooks == ["seqframe_cells", "seqframe_heads"]
    assert pm.get_plugin("good") is not None


def test_entry_points_of_other_groups_are_not_loaded(install: Callable[..., None]) -> None:
    other = FakeEntryPoint("tool", "tool.cli:main", lambda: pytest.fail("loaded"), group="console_scripts")
    install(FakeDistribution("tool", "1.0", [other]))
    pm = load_plugin_manager()
    assert other.loads == 0 and "tool" not in pm.infos


@pytest.mark.parametrize(
    "exc",
    [
        ModuleNotFoundError("No module named 'numba'"),
        SyntaxError("invalid syntax"),
        RuntimeError("CUDA driver too old"),
    ],
    ids=["ImportError", "SyntaxError", "Exception"],
)
def test_plugin_that_fails_to_import_is_recorded_and_warned_once(install: Callable[..., None], exc: Exception) -> None:
    install(
        FakeDistribution("seqframe-broken", "0.3.0", [failing_ep("broken", exc)]),
        FakeDistribution("seqframe-good", "1.0", [sample_ep("good")]),
    )
    with pytest.warns(UserWarning) as record:
        pm = load_plugin_manager()
    messages = seqframe_warnings(record, "'broken'")
    assert len(messages) == 1
    message = messages[0]
    assert "plugin 'broken' (seqframe-broken 0.3.0) failed to import 'broken_plugin'" in message
    assert f"{type(exc).__name__}: {exc}" in message
    assert "SEQFRAME_DISABLE_PLUGINS=broken" in message
    assert pm.infos["broken"].status == "failed" and pm.infos["broken"].error == message
    assert pm.infos["good"].status == "ok"
    assert pm.infos["builtin.cells"].status == "ok"
    assert [info.name for info in pm.failures()] == ["broken"]


def test_plugin_with_missing_dependency_is_recorded(install: Callable[..., None]) -> None:
    install(FakeDistribution("seqframe-broken", "0.3.0", [sample_ep("broken", "broken_import")]))
    with pytest.warns(UserWarning, match="No module named 'seqframe_sample_missing_dependency'"):
        pm = load_plugin_manager()
    assert pm.infos["broken"].status == "failed"
    assert pm.get_plugin("broken") is None


def test_strict_mode_raises_plugin_load_error(install: Callable[..., None], monkeypatch: pytest.MonkeyPatch) -> None:
    cause = ModuleNotFoundError("No module named 'numba'")
    install(FakeDistribution("seqframe-broken", "0.3.0", [failing_ep("broken", cause)]))
    monkeypatch.setenv("SEQFRAME_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError, match=r"plugin 'broken' \(seqframe-broken 0.3.0\)") as info:
        load_plugin_manager()
    assert info.value.__cause__ is cause


def test_hookimpl_with_extra_argument_is_fully_rolled_back(install: Callable[..., None]) -> None:
    install(FakeDistribution("seqframe-bad-args", "0.1", [sample_ep("bad_args")]))
    with pytest.warns(UserWarning, match="plugin 'bad_args' \\(seqframe-bad-args 0.1\\) is invalid"):
        pm = load_plugin_manager()
    assert pm.get_plugin("bad_args") is None
    for hook in (pm.hook.seqframe_cells, pm.hook.seqframe_heads):
        assert all(impl.plugin_name != "bad_args" for impl in hook.get_hookimpls())
    info = pm.infos["bad_args"]
    assert info.status == "failed" and "extra" in (info.error or "")
    assert "bad_args_head" not in Registry.from_plugin_manager(pm).names("head")


def test_misspelt_hook_is_rejected_with_suggestion(install: Callable[..., None]) -> None:
    install(FakeDistribution("seqframe-typo", "0.1", [sample_ep("typo_hook")]))
    with pytest.warns(UserWarning, match="did you mean 'seqframe_cells'"):
        pm = load_plugin_manager()
    info = pm.infos["typo_hook"]
    assert info.status == "failed"
    assert "unknown hook(s) 'seqframe_cell'" in (info.error or "")
    assert pm.get_plugin("typo_hook") is None
    pm.check_pending()  # nothing of the plugin is left for pluggy to complain about
    assert "typo_head" not in Registry.from_plugin_manager(pm).names("head")


def test_misspelt_hook_is_rejected_even_without_seqframe_prefix() -> None:
    pm = load_plugin_manager(entry_points=False)
    module = types.ModuleType("prefixless")

    def sf_cells() -> dict[str, object]:
        return {}

    module.sf_cells = hookimpl(sf_cells)  # type: ignore[attr-defined]
    with pytest.warns(UserWarning, match="unknown hook"):
        pm.add_plugin(module, PluginInfo("prefixless", "prefixless", "x", "1"))
    assert pm.get_plugin("prefixless") is None
    pm.check_pending()


def test_two_entry_points_with_the_same_name_are_an_error(install: Callable[..., None]) -> None:
    second = sample_ep("fast", "clashing")
    install(
        FakeDistribution("seqframe-fast", "1.0", [sample_ep("fast", "good")]),
        FakeDistribution("other-fast", "2.0", [second]),
    )
    with pytest.warns(UserWarning, match="same entry-point name") as record:
        pm = load_plugin_manager()
    message = seqframe_warnings(record, "same entry-point name")[0]
    assert "plugin 'fast' (other-fast 2.0)" in message and "seqframe-fast" in message
    assert second.loads == 0
    assert pm.infos["fast"].distribution == "seqframe-fast"
    assert pm.infos["fast"].status == "ok"
    assert [info.distribution for info in pm.failures()] == ["other-fast"]


def test_one_distribution_found_twice_on_the_path_is_loaded_once(install: Callable[..., None]) -> None:
    first, again = sample_ep("good"), sample_ep("good")
    install(
        FakeDistribution("seqframe-good", "1.0", [first]),
        FakeDistribution("seqframe-good", "1.0", [again]),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pm = load_plugin_manager()
    assert (first.loads, again.loads) == (1, 0)
    assert pm.failures() == []


def test_registering_the_same_module_twice_is_idempotent() -> None:
    pm = load_plugin_manager(entry_points=False)
    good = load_sample("good")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pm.add_plugin(good, PluginInfo("good", "good", "seqframe-good", "1.0"))
        pm.add_plugin(good, PluginInfo("good", "good", "seqframe-good", "1.0"))
        pm.add_plugin(good, PluginInfo("good_again", "good", "seqframe-good", "1.0"))
    assert pm.failures() == []
    registry = Registry.from_plugin_manager(pm)
    assert registry.get("cell", "fast").plugin == "good"


def test_another_module_under_a_taken_name_fails_and_keeps_the_first() -> None:
    pm = load_plugin_manager(entry_points=False)
    pm.add_plugin(load_sample("good"), PluginInfo("good", "good", "seqframe-good", "1.0"))
    with pytest.warns(UserWarning, match="already used by 'good'"):
        pm.add_plugin(load_sample("clashing"), PluginInfo("good", "clashing", "seqframe-clash", "1.0"))
    assert pm.infos["good"].status == "ok" and pm.infos["good"].module == "good"
    assert [info.module for info in pm.failures()] == ["clashing"]


# --- controlling what loads ----------------------------------------------------------------


def test_autoload_disabled_by_env_loads_no_entry_points(
    install: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    ep = sample_ep("good")
    install(FakeDistribution("seqframe-good", "1.0", [ep]))
    monkeypatch.setenv("SEQFRAME_DISABLE_PLUGIN_AUTOLOAD", "1")
    pm = load_plugin_manager()
    assert ep.loads == 0 and "good" not in pm.infos
    assert pm.infos["builtin.cells"].status == "ok"


def test_entry_points_false_loads_no_entry_points(install: Callable[..., None]) -> None:
    ep = sample_ep("good")
    install(FakeDistribution("seqframe-good", "1.0", [ep]))
    pm = load_plugin_manager(entry_points=False)
    assert ep.loads == 0 and "good" not in pm.infos


def test_disable_plugins_env_blocks_plugin(install: Callable[..., None], monkeypatch: pytest.MonkeyPatch) -> None:
    good = sample_ep("good")
    install(FakeDistribution("seqframe-good", "1.0", [good]))
    monkeypatch.setenv("SEQFRAME_DISABLE_PLUGINS", "other, good")
    pm = load_plugin_manager()
    assert pm.infos["good"].status == "blocked"
    assert good.loads == 0 and pm.get_plugin("good") is None


def test_blocked_argument_blocks_plugin_without_importing_it(install: Callable[..., None]) -> None:
    # A broken plugin that is blocked is never imported, so it cannot fail.
    broken = failing_ep("broken", ImportError("boom"))
    install(FakeDistribution("seqframe-broken", "0.3.0", [broken]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pm = load_plugin_manager(blocked=("broken",))
    assert broken.loads == 0
    assert pm.infos["broken"].status == "blocked" and pm.failures() == []


def test_builtin_plugin_can_be_blocked() -> None:
    pm = load_plugin_manager(entry_points=False, blocked=("builtin.cells",))
    assert pm.infos["builtin.cells"].status == "blocked"
    assert Registry.from_plugin_manager(pm).names("cell") == []


def test_trace_env_writes_component_hook_calls_to_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEQFRAME_TRACE_PLUGINS", "1")
    Registry.from_plugin_manager(load_plugin_manager(entry_points=False))
    err = capsys.readouterr().err
    assert "seqframe_cells" in err and "builtin.cells" in err


def test_plugin_info_describe_names_plugin_distribution_and_version() -> None:
    info = PluginInfo("indrnn", "seqframe_indrnn.plugin", "seqframe-indrnn", "0.2.0")
    assert info.describe() == "plugin 'indrnn' (seqframe-indrnn 0.2.0)"
    assert (info.status, info.error, info.hooks) == ("ok", None, [])


# --- plugins that try to end the process -----------------------------------------------------


@pytest.mark.parametrize(("sample", "shown"), [("exits", "sys.exit(3)"), ("parses_argv", "sys.exit(2)")])
def test_plugin_whose_import_ends_the_process_is_recorded_as_failed(
    install: Callable[..., None], monkeypatch: pytest.MonkeyPatch, sample: str, shown: str
) -> None:
    monkeypatch.setattr("sys.argv", ["seqframe", "validate", "lm"])  # what argparse would parse
    install(
        FakeDistribution("seqframe-rude", "0.1", [sample_ep("rude", sample)]),
        FakeDistribution("seqframe-good", "1.0", [sample_ep("good")]),
    )
    with pytest.warns(UserWarning, match="'rude'"):
        pm = load_plugin_manager()
    assert pm.infos["rude"].status == "failed" and shown in (pm.infos["rude"].error or "")
    assert pm.infos["good"].status == "ok" and pm.get_plugin("rude") is None


def test_keyboard_interrupt_during_a_plugin_import_is_not_swallowed(install: Callable[..., None]) -> None:
    install(FakeDistribution("seqframe-slow", "0.1", [failing_ep("slow", KeyboardInterrupt())]))
    with pytest.raises(KeyboardInterrupt):
        load_plugin_manager()


def test_plugin_hook_that_exits_is_recorded_as_a_failure() -> None:
    module = types.ModuleType("exits_in_hook")

    @hookimpl
    def seqframe_cells() -> Any:
        raise SystemExit(4)

    module.seqframe_cells = seqframe_cells  # type: ignore[attr-defined]
    pm = load_plugin_manager(entry_points=False)
    pm.add_plugin(module, PluginInfo("exits", "exits_in_hook", "seqframe-exits", "0.1"))
    with pytest.warns(UserWarning, match="failed in hook seqframe_cells: SystemExit"):
        registry = Registry.from_plugin_manager(pm)
    assert registry.get("cell", "lstm") is not None


def test_cli_keeps_working_and_lists_a_plugin_that_called_sys_exit(
    install: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    from seqframe.cli import main

    install(FakeDistribution("seqframe-rude", "0.1", [sample_ep("rude", "exits")]))
    with pytest.warns(UserWarning):
        assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "rude" in out and "[FAILED]" in out and "sys.exit(3)" in out
