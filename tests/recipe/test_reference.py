"""The recipe reference in docs/ is the generator's output for the built-ins, and the
generator reads each component's own options and docstring."""

from __future__ import annotations

from pathlib import Path

from seqframe.plugins import load_plugin_manager
from seqframe.recipe.reference import docstring_args, render_reference
from seqframe.registry import Registry

DOC = Path(__file__).resolve().parents[2] / "docs" / "recipe-reference.md"


def test_reference_doc_is_in_sync_with_schema_and_components() -> None:
    expected = render_reference(Registry.from_plugin_manager(load_plugin_manager(entry_points=False)))
    assert DOC.read_text(encoding="utf-8") == expected, (
        "docs/recipe-reference.md is stale: regenerate with "
        "SEQFRAME_DISABLE_PLUGIN_AUTOLOAD=1 python -m seqframe.recipe.reference > docs/recipe-reference.md"
    )


def test_reference_lists_every_fixed_train_key_and_builtin_cell() -> None:
    text = render_reference(Registry.from_plugin_manager(load_plugin_manager(entry_points=False)))
    for key in ("train.steps", "train.optimizer.lr", "model.topology.hidden_size"):
        assert f"`{key}`" in text
    assert "**`elman`**" in text and "| `nonlinearity` | str | `tanh` |" in text
    loggers = text.split("### Experiment loggers (`train.loggers`", 1)[1]  # their own section, with options
    assert "**`tensorboard`**" in loggers and "| `flush_secs` | int | `10` |" in loggers


def test_plugin_components_appear_with_their_own_options() -> None:
    import types

    import seqframe
    from seqframe.plugins import PluginInfo

    class WobbleCell(seqframe.Cell):
        """A wobbling cell.

        Args:
            input_size: features in.
            hidden_size: features out.
            wobble: how much it wobbles,
                in wobble units.
        """

        def __init__(self, input_size: int, hidden_size: int, wobble: float = 0.5) -> None:
            super().__init__(input_size, hidden_size)

    module = types.ModuleType("wobble_plugin")
    module.seqframe_cells = seqframe.hookimpl(lambda: {"wobble": WobbleCell})  # type: ignore[attr-defined]
    pm = load_plugin_manager(entry_points=False)
    pm.add_plugin(module, PluginInfo("wobble", "wobble_plugin", "seqframe-wobble", "1.0"))
    text = render_reference(Registry.from_plugin_manager(pm))
    assert "**`wobble:wobble`**: A wobbling cell." in text
    assert "| `wobble` | float | `0.5` | how much it wobbles, in wobble units. |" in text


def test_docstring_args_joins_continuation_lines() -> None:
    def f(a: int, b: int) -> None:
        """Do it.

        Args:
            a: first
                and more.
            b (int): second.

        Returns:
            nothing.
        """

    assert docstring_args(f) == {"a": "first and more.", "b": "second."}
