"""Tests of the seqframe-indrnn plugin: hand-computed steps, the hook, the registry path
through ``seqframe.build_rnn``, seqframe's cell contract and the declared entry point."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import tomllib
import torch

import seqframe
from seqframe.plugins import PluginInfo, load_plugin_manager
from seqframe.registry import Registry
from seqframe_indrnn import plugin
from seqframe_indrnn.plugin import IndRNNCell, MGUCell

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


@pytest.fixture
def registry() -> Registry:
    """A registry with the built-ins plus this plugin, independent of what is installed."""
    pm = load_plugin_manager(entry_points=False)
    pm.add_plugin(plugin, PluginInfo("indrnn", plugin.__name__, "seqframe-indrnn", "0.1.0"))
    return Registry.from_plugin_manager(pm)


def _indrnn(**options: object) -> IndRNNCell:
    """A 2 -> 2 IndRNN with W = [[1, -1], [0.5, 2]], u = [0.5, -2], b = [0.1, -0.2]."""
    cell = IndRNNCell(2, 2, **options)  # type: ignore[arg-type]
    with torch.no_grad():
        cell.weight_ih.copy_(torch.tensor([[1.0, -1.0], [0.5, 2.0]]))
        cell.weight_hh.copy_(torch.tensor([0.5, -2.0]))
        cell.bias_ih.copy_(torch.tensor([0.1, -0.2]))  # type: ignore[union-attr]
    return cell


# x = [1, 2], h = [2, 3]: W x + b = [-0.9, 4.3]; u * h = [1, -6]; pre-activation [0.1, -1.7].
X = torch.tensor([[1.0, 2.0]])
H = torch.tensor([[2.0, 3.0]])


def test_indrnn_relu_step_matches_hand_computation() -> None:
    h, state = _indrnn()(X, (H,))
    torch.testing.assert_close(h, torch.tensor([[0.1, 0.0]]))
    assert len(state) == 1 and state[0] is h


def test_indrnn_tanh_step_matches_hand_computation() -> None:
    h, _ = _indrnn(nonlinearity="tanh")(X, (H,))
    torch.testing.assert_close(h, torch.tensor([[math.tanh(0.1), math.tanh(-1.7)]]))


def test_indrnn_recurrent_max_abs_clamps_u() -> None:
    # u clamped to [0.5, -1]: u * h = [1, -3], pre-activation [0.1, 1.3].
    h, _ = _indrnn(recurrent_max_abs=1.0)(X, (H,))
    torch.testing.assert_close(h, torch.tensor([[0.1, 1.3]]))


def test_indrnn_without_bias_has_no_bias_parameter() -> None:
    cell = IndRNNCell(2, 2, bias=False)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.tensor([[1.0, -1.0], [0.5, 2.0]]))
        cell.weight_hh.copy_(torch.tensor([0.5, -2.0]))
    h, _ = cell(X, (H,))
    # W x = [-1, 4.5]; u * h = [1, -6]; relu([0, -1.5]) = [0, 0]
    torch.testing.assert_close(h, torch.tensor([[0.0, 0.0]]))
    assert cell.bias_ih is None
    assert [name for name, _ in cell.named_parameters()] == ["weight_ih", "weight_hh"]


def test_indrnn_initialises_u_in_unit_interval_and_respects_clamp() -> None:
    u = IndRNNCell(3, 200).weight_hh.detach()
    assert u.shape == (200,) and bool((u >= 0).all()) and bool((u <= 1).all())
    clamped = IndRNNCell(3, 200, recurrent_max_abs=0.25).weight_hh.detach()
    assert float(clamped.abs().max()) <= 0.25


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"nonlinearity": "sigmoid"}, "nonlinearity must be 'relu' or 'tanh', got 'sigmoid'"),
        ({"recurrent_max_abs": 0}, "recurrent_max_abs must be a positive number or None, got 0"),
        ({"recurrent_max_abs": -1.0}, "got -1.0"),
        ({"recurrent_max_abs": float("nan")}, "got nan"),
        ({"recurrent_max_abs": "1"}, "got '1'"),
    ],
)
def test_indrnn_rejects_bad_options(options: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        IndRNNCell(2, 2, **options)  # type: ignore[arg-type]


def test_indrnn_extra_repr_shows_only_non_defaults() -> None:
    assert repr(IndRNNCell(3, 4)) == "IndRNNCell(3, 4)"
    assert repr(IndRNNCell(3, 4, "tanh", 1.0, False)) == (
        "IndRNNCell(3, 4, nonlinearity='tanh', recurrent_max_abs=1.0, bias=False)"
    )


def _mgu() -> MGUCell:
    """A 2 -> 2 MGU with W_f = I, U_f = [[1, 0], [0, 0]], b_f = [0, 1],
    W_h = [[0, 1], [1, 0]], U_h = [[0, 2], [0, 0]], b_h = 0."""
    cell = MGUCell(2, 2)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]]))
        cell.weight_hh.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0], [0.0, 0.0]]))
        cell.bias_ih.copy_(torch.tensor([0.0, 1.0, 0.0, 0.0]))  # type: ignore[union-attr]
    return cell


def test_mgu_step_matches_hand_computation() -> None:
    x, h = torch.tensor([[1.0, -1.0]]), torch.tensor([[0.5, -0.5]])
    # f = σ([1 + 0.5 + 0, -1 + 0 + 1]) = [σ(1.5), 0.5]
    f1, f2 = _sigmoid(1.5), 0.5
    # h~ = tanh(W_h x + U_h (f * h)) = tanh([-1 + 2 * f2 * -0.5, 1 + 0]) = tanh([-1.5, 1])
    c1, c2 = math.tanh(-1.5), math.tanh(1.0)
    expected = torch.tensor([[(1 - f1) * 0.5 + f1 * c1, (1 - f2) * -0.5 + f2 * c2]])
    out, state = _mgu()(x, (h,))
    torch.testing.assert_close(out, expected)
    assert len(state) == 1 and state[0] is out


def test_mgu_without_bias_and_extra_repr() -> None:
    cell = MGUCell(3, 4, bias=False)
    assert cell.bias_ih is None
    assert repr(cell) == "MGUCell(3, 4, bias=False)"
    assert repr(MGUCell(3, 4)) == "MGUCell(3, 4)"
    assert sum(p.numel() for p in MGUCell(3, 4).parameters()) == 2 * 4 * (3 + 4 + 1)


@pytest.mark.parametrize("cls", [IndRNNCell, MGUCell])
def test_project_input_then_step_equals_forward(cls: type[seqframe.Cell]) -> None:
    torch.manual_seed(0)
    cell = cls(3, 5)
    x = torch.randn(4, 7, 3)
    state = (torch.randn(4, 5),)
    projected = cell.project_input(x)  # any leading shape: (B, T, F) -> (B, T, G)
    assert projected.shape[:2] == (4, 7)
    for t in range(7):
        torch.testing.assert_close(cell.step_projected(projected[:, t], state)[0], cell(x[:, t], state)[0])


def test_hook_returns_both_cells() -> None:
    assert plugin.seqframe_cells() == {"indrnn": IndRNNCell, "mgu": MGUCell}


def test_plugin_module_registers_cleanly(registry: Registry) -> None:
    assert registry.failures == []
    assert registry.get("cell", "indrnn").factory is IndRNNCell
    assert registry.get("cell", "indrnn:mgu").factory is MGUCell
    assert registry.get("cell", "mgu").summary.startswith("Minimal gated unit")


@pytest.mark.parametrize(("name", "cls"), [("indrnn", IndRNNCell), ("mgu", MGUCell)])
def test_build_rnn_by_name_runs_variable_lengths(registry: Registry, name: str, cls: type[seqframe.Cell]) -> None:
    torch.manual_seed(0)
    rnn = seqframe.build_rnn(name, input_size=3, hidden_size=4, num_layers=2, registry=registry)
    cells = [cell for layer in rnn.cells for cell in layer]
    assert len(cells) == 2 and all(type(cell) is cls for cell in cells)
    x, lengths = torch.randn(3, 5, 3), [5, 2, 4]
    out, (h_n,) = rnn(x, lengths=lengths)
    assert out.shape == (3, 5, 4) and h_n.shape == (2, 3, 4)
    # Reference: the plain per-step forward of each cell over each sequence alone.
    for b, length in enumerate(lengths):
        seq = x[b : b + 1, :length]
        for layer, cell in enumerate(cells):
            state = cell.initial_state(1)
            steps = []
            for t in range(length):
                h, state = cell(seq[:, t], state)
                steps.append(h)
            seq = torch.stack(steps, 1)
            torch.testing.assert_close(h_n[layer, b], state[0][0])
        torch.testing.assert_close(out[b, :length], seq[0])
        assert bool((out[b, length:] == 0).all())


def test_build_rnn_passes_cell_options(registry: Registry) -> None:
    rnn = seqframe.build_rnn(
        "indrnn",
        input_size=3,
        hidden_size=4,
        registry=registry,
        nonlinearity="tanh",
        recurrent_max_abs=1.0,
    )
    cell = rnn.cells[0][0]
    assert (cell.nonlinearity, cell.recurrent_max_abs) == ("tanh", 1.0)


def test_indrnn_passes_check_cell() -> None:
    from seqframe.testing import check_cell

    check_cell(IndRNNCell)
    check_cell(IndRNNCell, options={"nonlinearity": "tanh", "recurrent_max_abs": 1.0})


def test_mgu_passes_check_cell() -> None:
    from seqframe.testing import check_cell

    check_cell(MGUCell)
    check_cell(MGUCell, options={"bias": False})


def test_entry_point_is_declared_in_pyproject() -> None:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    assert project["name"] == "seqframe-indrnn"
    assert project["entry-points"]["seqframe"] == {"indrnn": "seqframe_indrnn.plugin"}
    assert any(dep.split(">")[0].split("=")[0].strip() == "seqframe" for dep in project["dependencies"])
