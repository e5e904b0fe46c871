"""docs/plugins.md stays true: every Python example in it runs, and it documents every hook,
every plugin switch, every method and flag of the task contract, every data protocol and
every conformance kit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import seqframe.testing
from seqframe.hookspecs import HOOK_KINDS
from seqframe.interfaces import Task, data

DOC = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", DOC, flags=re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_python_example_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[index], f"docs/plugins.md python block {index}", "exec"), {"__name__": "docs_plugins"})


def test_every_hook_and_plugin_switch_is_documented() -> None:
    for hook in HOOK_KINDS:
        assert f"`{hook}`" in DOC, hook
    for switch in (
        "SEQFRAME_DISABLE_PLUGINS",
        "SEQFRAME_DISABLE_PLUGIN_AUTOLOAD",
        "SEQFRAME_STRICT_PLUGINS",
        "SEQFRAME_TRACE_PLUGINS",
    ):
        assert f"`{switch}" in DOC, switch


def test_every_method_and_flag_of_the_task_contract_is_documented() -> None:
    public = [name for name in vars(Task) if not name.startswith("_") and name != "name"]
    assert public, "Task declares nothing?"
    for name in public:
        assert f"`{name}" in DOC, name


def test_every_data_protocol_and_kit_is_documented() -> None:
    for protocol in ("TextSource", "ExampleSource", "TargetSource", "FeatureSource"):
        assert protocol in data.__all__ and f"`{protocol}`" in DOC, protocol
    for kit in (
        name
        for name in seqframe.testing.__all__
        if name in ("check_cell", "check_task", "check_tokenizer", "check_data_source")
    ):
        assert f"`{kit}(" in DOC, kit
    assert "`seqframe plugins check NAME`" in DOC and "seqframe new-plugin leaky_ring --kind cell" in DOC
