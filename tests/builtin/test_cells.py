"""The built-in cells: the Elman two-matrix form, one steps against torch's cells, torch
parameter names, fused modes and constructor errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from seqframe.builtin.cells import ElmanCell, GRUCell, LSTMCell, seqframe_cells
from seqframe.interfaces import overrides_input_projection

IN, HID, B = 3, 4, 5


def randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(1))


def test_elman_two_matrices_equal_one_matrix_over_concatenation() -> None:
    torch.manual_seed(0)
    w_hh, w_xh, bias = torch.randn(HID, HID), torch.randn(HID, IN), torch.randn(HID)
    h, x = randn(B, HID), randn(B, IN)
    joint = nn.Linear(HID + IN, HID)
    with torch.no_grad():
        joint.weight.copy_(torch.cat([w_hh, w_xh], 1))
        joint.bias.copy_(bias)
    two_matrices = h @ w_hh.T + x @ w_xh.T + bias
    torch.testing.assert_close(two_matrices, joint(torch.cat([h, x], 1)), atol=1e-5, rtol=0)


@pytest.mark.parametrize("nonlinearity, act", [("tanh", torch.tanh), ("relu", torch.relu)])
def test_elman_forward_is_activation_of_linear_over_concatenation(nonlinearity: str, act: object) -> None:
    torch.manual_seed(0)
    cell = ElmanCell(IN, HID, nonlinearity)
    h, x = randn(B, HID), randn(B, IN)
    joint_weight = torch.cat([cell.weight_hh, cell.weight_ih], 1)  # (H, H + F) over [h; x]
    joint_bias = cell.bias_hh + cell.bias_ih
    expected = act(F.linear(torch.cat([h, x], 1), joint_weight, joint_bias))  # type: ignore[operator]
    out, (new_h,) = cell(x, (h,))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    assert new_h is out


TORCH_CELLS = [
    pytest.param(ElmanCell, nn.RNNCell, {"nonlinearity": "tanh"}, id="elman_tanh"),
    pytest.param(ElmanCell, nn.RNNCell, {"nonlinearity": "relu"}, id="elman_relu"),
    pytest.param(LSTMCell, nn.LSTMCell, {}, id="lstm"),
    pytest.param(GRUCell, nn.GRUCell, {}, id="gru"),
]


@pytest.mark.parametrize("ours_cls, torch_cls, options", TORCH_CELLS)
def test_step_equals_torch_cell_with_loaded_weights(ours_cls: type, torch_cls: type, options: dict) -> None:
    torch.manual_seed(0)
    ref = torch_cls(IN, HID, **options)
    cell = ours_cls(IN, HID, **options)
    cell.load_state_dict(ref.state_dict())  # same parameter names and shapes as torch
    state = tuple(randn(B, HID) for _ in range(cell.state_size))
    x = randn(B, IN)
    out, new_state = cell(x, state)
    expected = ref(x, state if len(state) == 2 else state[0])
    expected = expected if isinstance(expected, tuple) else (expected,)
    torch.testing.assert_close(new_state, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(out, expected[0], atol=1e-6, rtol=0)


@pytest.mark.parametrize("cls", [ElmanCell, LSTMCell, GRUCell])
def test_bias_false_removes_both_biases(cls: type) -> None:
    cell = cls(IN, HID, bias=False)
    assert [name for name, _ in cell.named_parameters()] == ["weight_ih", "weight_hh"]
    assert "bias=False" in repr(cell)


@pytest.mark.parametrize(
    "cls, options, mode",
    [
        (ElmanCell, {}, "RNN_TANH"),
        (ElmanCell, {"nonlinearity": "relu"}, "RNN_RELU"),
        (LSTMCell, {}, "LSTM"),
        (GRUCell, {}, "GRU"),
    ],
)
def test_builtin_cells_declare_their_fused_mode(cls: type, options: dict, mode: str) -> None:
    assert cls(IN, HID, **options).fused_mode == mode


@pytest.mark.parametrize("cls", [ElmanCell, LSTMCell, GRUCell])
def test_builtin_cells_provide_the_input_projection_fast_path(cls: type) -> None:
    assert overrides_input_projection(cls(IN, HID))


def test_elman_rejects_unknown_nonlinearity() -> None:
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"):
        ElmanCell(IN, HID, "sigmoid")


@pytest.mark.parametrize("sizes", [(0, HID), (IN, -1), (IN, 2.5), (True, HID)])
def test_non_positive_or_non_int_sizes_raise_value_error(sizes: tuple) -> None:
    with pytest.raises(ValueError, match="LSTMCell: .* must be a positive int"):
        LSTMCell(*sizes)


def test_extra_repr_shows_only_non_defaults() -> None:
    assert repr(ElmanCell(IN, HID)) == "ElmanCell(3, 4)"
    assert repr(ElmanCell(IN, HID, "relu")) == "ElmanCell(3, 4, nonlinearity='relu')"


def test_hook_registers_elman_lstm_and_gru() -> None:
    assert seqframe_cells() == {"elman": ElmanCell, "lstm": LSTMCell, "gru": GRUCell}


def test_lstm_projection_step_equals_the_formula_and_keeps_torch_names() -> None:
    torch.manual_seed(0)
    cell = LSTMCell(IN, HID, proj_size=2)
    ref = nn.LSTM(IN, HID, proj_size=2)
    assert [n for n, _ in cell.named_parameters()] == [n.removesuffix("_l0") for n, _ in ref.named_parameters()]
    assert (cell.output_size, cell.fused_mode) == (2, "LSTM")
    h, c = randn(B, 2), randn(B, HID)
    x = randn(B, IN)
    i, f, g, o = (F.linear(x, cell.weight_ih, cell.bias_ih) + F.linear(h, cell.weight_hh, cell.bias_hh)).chunk(4, 1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_new = F.linear(torch.sigmoid(o) * torch.tanh(c_new), cell.weight_hr)
    out, (h_out, c_out) = cell(x, (h, c))
    torch.testing.assert_close(c_out, c_new, atol=1e-6, rtol=0)
    torch.testing.assert_close(h_out, h_new, atol=1e-6, rtol=0)
    assert out is h_out and h_out.shape == (B, 2)


def test_lstm_initial_state_has_the_projection_and_memory_widths() -> None:
    h, c = LSTMCell(IN, HID, proj_size=2).initial_state(3, dtype=torch.float64)
    assert (h.shape, c.shape, h.dtype) == ((3, 2), (3, HID), torch.float64)
    assert [s.shape for s in LSTMCell(IN, HID).initial_state(3)] == [(3, HID), (3, HID)]
    assert repr(LSTMCell(IN, HID, proj_size=2)) == "LSTMCell(3, 4, proj_size=2)"


def test_builtin_cells_declare_a_state_size_that_matches_initial_state() -> None:
    from seqframe.interfaces import state_layout

    for cell in (ElmanCell(IN, HID), GRUCell(IN, HID), LSTMCell(IN, HID), LSTMCell(IN, HID, proj_size=1)):
        assert len(state_layout(cell)) == cell.state_size
