"""Hand-written cells that compute torch's LSTM or RNN step run torch's kernel
(:mod:`seqframe.rnn.kernels`), with the same results and gradients as torch's modules, and
cells that do not are left to the loop."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from torch.nn import functional as nnf
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqframe.interfaces import Cell, State
from seqframe.rnn import run_stack
from seqframe.rnn.hoist import describe_path, forget
from seqframe.rnn.kernels import kernel_of
from seqframe.rnn.runtime import runtime_of

F, H = 3, 4
LENGTHS = [5, 2, 6, 1, 6]


class Elman(Cell):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.ih = nn.Linear(input_size, hidden_size)
        self.hh = nn.Linear(hidden_size, hidden_size)

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h = torch.tanh(self.ih(x_t) + self.hh(state[0]))
        return h, (h,)


class LSTM(Cell):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.ih = nn.Linear(input_size, 4 * hidden_size)
        self.hh = nn.Linear(hidden_size, 4 * hidden_size)

    def initial_state(self, batch_size: int, *, device: object = None, dtype: object = None) -> State:
        kw = {"device": device or self.ih.weight.device, "dtype": dtype or self.ih.weight.dtype}
        return torch.zeros(batch_size, self.hidden_size, **kw), torch.zeros(batch_size, self.hidden_size, **kw)

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h, c = state
        i, f, g, o = (self.ih(x_t) + self.hh(h)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


class ConcatLSTM(LSTM):
    """One linear layer over [x_t, h] (its columns split by the hoisting rewrite)."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.gates = nn.Linear(input_size + hidden_size, 4 * hidden_size)

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h, c = state
        i, f, g, o = self.gates(torch.cat([x_t, h], 1)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


class ReluCandidate(LSTM):
    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h, c = state
        i, f, g, o = (self.ih(x_t) + self.hh(h)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.relu(g)
        return torch.sigmoid(o) * torch.tanh(c), (torch.sigmoid(o) * torch.tanh(c), c)


class DropoutOnState(Elman):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.drop = nn.Dropout(0.5)

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h = torch.tanh(self.ih(x_t) + self.hh(self.drop(state[0])))
        return h, (h,)


class ScaledElman(Elman):
    """A learnable scale inside the step: 1 at the check, anything after training."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h = torch.tanh(self.scale * (self.ih(x_t) + self.hh(state[0])))
        return h, (h,)


class ClampedLSTM(LSTM):
    """A bound on the memory cell that a short random sample never reaches."""

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h, c = state
        i, f, g, o = (self.ih(x_t) + self.hh(h)).chunk(4, 1)
        c = torch.clamp(torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g), -50.0, 50.0)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


def _torch_twin(cells: list[list[Cell]]) -> nn.RNNBase:
    """nn.LSTM / nn.RNN with the cells' weights (a concatenated layer's columns split)."""
    first = cells[0][0]
    kind = nn.LSTM if isinstance(first, LSTM) else nn.RNN
    ref = kind(F, H, len(cells), batch_first=True, bidirectional=len(cells[0]) == 2)
    with torch.no_grad():
        for l, layer in enumerate(cells):
            for d, cell in enumerate(layer):
                suffix = f"_l{l}" + ("_reverse" if d else "")
                if isinstance(cell, ConcatLSTM):
                    w_ih, w_hh = cell.gates.weight.split([cell.input_size, H], 1)
                    b_ih, b_hh = cell.gates.bias, torch.zeros_like(cell.gates.bias)
                else:
                    w_ih, w_hh, b_ih, b_hh = cell.ih.weight, cell.hh.weight, cell.ih.bias, cell.hh.bias
                for name, value in (("weight_ih", w_ih), ("weight_hh", w_hh), ("bias_ih", b_ih), ("bias_hh", b_hh)):
                    getattr(ref, name + suffix).copy_(value)
    return ref


@pytest.mark.parametrize("cls, mode", [(Elman, "RNN_TANH"), (LSTM, "LSTM"), (ConcatLSTM, "LSTM")])
@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("lengths", [LENGTHS, None])
def test_a_hand_written_torch_step_runs_torchs_kernel_with_its_own_parameters(
    cls: type[Cell], mode: str, grad: bool, lengths: list[int] | None
) -> None:
    torch.manual_seed(0)
    cells = [[cls(F, H), cls(F, H)], [cls(2 * H, H), cls(2 * H, H)]]
    assert all(kernel_of(c).mode == mode for layer in cells for c in layer)  # type: ignore[union-attr]
    ref = _torch_twin(cells)
    x = torch.randn(len(LENGTHS), max(LENGTHS), F)
    with torch.set_grad_enabled(grad):
        out, final = run_stack(cells, x, lengths)
        if lengths is None:
            ref_out, ref_final = ref(x)
        else:
            packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
            ref_out, ref_final = ref(packed)
            ref_out = pad_packed_sequence(ref_out, batch_first=True, total_length=x.shape[1])[0]
    ref_final = ref_final if isinstance(ref_final, tuple) else (ref_final,)
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(final, ref_final, atol=1e-5, rtol=1e-4)
    if grad:
        (out.sum() + sum(f.sum() for f in final)).backward()
        (ref_out.sum() + sum(f.sum() for f in ref_final)).backward()
        cell = cells[1][1]
        expected = ref.weight_hh_l1_reverse.grad
        got = cell.gates.weight.grad[:, 2 * H :] if isinstance(cell, ConcatLSTM) else cell.hh.weight.grad
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("cls", [ReluCandidate, DropoutOnState, ScaledElman, ClampedLSTM])
def test_cells_that_are_not_torchs_step_keep_the_loop(cls: type[Cell]) -> None:
    cell = cls(F, H)
    assert kernel_of(cell) is None
    assert "hoisted out of the time loop" in describe_path(cell)


def test_a_parameter_inside_the_step_is_not_frozen_at_its_checked_value() -> None:
    """ScaledElman equals torch's RNN step while its scale is 1; after the scale changes the
    stack must still compute the cell's own function."""
    torch.manual_seed(1)
    cell = ScaledElman(F, H)
    x = torch.randn(len(LENGTHS), max(LENGTHS), F)
    run_stack([[cell]], x, LENGTHS)
    with torch.no_grad():
        cell.scale.fill_(3.0)
        out, _ = run_stack([[cell]], x, LENGTHS)
        h = torch.zeros(len(LENGTHS), H)
        for t in range(max(LENGTHS)):
            h_new = cell(x[:, t], (h,))[0]
            alive = (torch.tensor(LENGTHS) > t)[:, None]
            torch.testing.assert_close(out[:, t], torch.where(alive, h_new, 0.0))
            h = torch.where(alive, h_new, h)


def test_the_decision_is_kept_in_the_cells_record_and_redone_when_the_cell_changes() -> None:
    cell = LSTM(F, H)
    kernel = kernel_of(cell)
    assert kernel is not None and runtime_of(cell).kernel[1] is kernel  # type: ignore[index]
    assert kernel_of(cell) is kernel
    assert "recognized as torch's LSTM step" in describe_path(cell)
    cell.hh = nn.Linear(H, 4 * H)  # a new submodule: weights are read from it from now on
    again = kernel_of(cell)
    assert again is not None and again is not kernel
    assert again.weights()[1] is cell.hh.weight  # the new parameter itself, so gradients reach it


class AttributeScaledElman(Elman):
    """A Python attribute read by forward: baked into the trace, changed later with forget()."""

    scale = 1.0

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h = torch.tanh(self.scale * (self.ih(x_t) + self.hh(state[0])))
        return h, (h,)


def test_forget_drops_the_kernel_found_from_the_old_trace() -> None:
    torch.manual_seed(2)
    cell = AttributeScaledElman(F, H)
    assert kernel_of(cell) is not None  # scale 1.0: torch's tanh RNN step
    cell.scale = 2.0
    forget(cell)
    assert kernel_of(cell) is None
    x = torch.randn(len(LENGTHS), max(LENGTHS), F)
    with torch.no_grad():
        _, final = run_stack([[cell]], x, LENGTHS)
        h = torch.zeros(len(LENGTHS), H)
        for t in range(max(LENGTHS)):
            alive = (torch.tensor(LENGTHS) > t)[:, None]
            h = torch.where(alive, cell(x[:, t], (h,))[0], h)
    torch.testing.assert_close(final[0][0], h)


class BiasFreeElman(Cell):
    """Weights used through torch.nn.functional.linear, no biases: torch's RNN with bias=False."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.w_ih = nn.Parameter(torch.randn(hidden_size, input_size))
        self.w_hh = nn.Parameter(torch.randn(hidden_size, hidden_size) / 2)

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h = torch.tanh(nnf.linear(x_t, self.w_ih) + nnf.linear(state[0], self.w_hh))
        return h, (h,)


@pytest.mark.parametrize("lengths", [LENGTHS, None])
def test_a_cell_without_biases_runs_torchs_kernel_without_biases(lengths: list[int] | None) -> None:
    torch.manual_seed(3)
    cell = BiasFreeElman(F, H)
    kernel = kernel_of(cell)
    assert kernel is not None and kernel.mode == "RNN_TANH" and not kernel.bias and len(kernel.weights()) == 2
    ref = nn.RNN(F, H, bias=False, batch_first=True)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(cell.w_ih)
        ref.weight_hh_l0.copy_(cell.w_hh)
        x = torch.randn(len(LENGTHS), max(LENGTHS), F)
        out, final = run_stack([[cell]], x, lengths)
        if lengths is None:
            ref_out, ref_final = ref(x)
        else:
            packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
            ref_out, ref_final = ref(packed)
            ref_out = pad_packed_sequence(ref_out, batch_first=True, total_length=x.shape[1])[0]
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(final[0], ref_final, atol=1e-5, rtol=1e-4)
