"""Automatic input hoisting of plugin cells (seqframe.rnn.hoist): the hoisted loop against
the plain loop and against torch's modules with the same weights, and every fallback."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqframe.interfaces import Cell, State
from seqframe.rnn import hoist, run_stack
from seqframe.rnn.hoist import SlowPathWarning, hoist_plan
from seqframe.rnn.runtime import compile_times

F, H = 3, 4
LENGTHS = [4, 6, 1, 3, 6]


class TwoLinearElman(Cell):
    """Elman written the plain way: two linear layers and tanh."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.ih = nn.Linear(input_size, hidden_size)
        self.hh = nn.Linear(hidden_size, hidden_size)

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h = torch.tanh(self.ih(x_t) + self.hh(state[0]))
        return h, (h,)


class ConcatElman(Cell):
    """Elman as one linear layer over the concatenation [h; x]."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.linear = nn.Linear(hidden_size + input_size, hidden_size)

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h = torch.tanh(self.linear(torch.cat([state[0], x_t], 1)))
        return h, (h,)


class GatedCell(Cell):
    """LSTM equations with an (h, c) state, written as forward only."""

    state_size = 2

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.ih = nn.Linear(input_size, 4 * hidden_size)
        self.hh = nn.Linear(hidden_size, 4 * hidden_size)

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h, c = state
        i, f, g, o = (self.ih(x_t) + self.hh(h)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


class ReluGatedCell(GatedCell):
    """Gated like an LSTM but with a ReLU candidate: no torch kernel computes it, so it
    runs the (hoisted or compiled) loop."""

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h, c = state
        i, f, g, o = (self.ih(x_t) + self.hh(h)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.relu(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


class FunctionalCell(Cell):
    """Parameters used through torch.nn.functional.linear, with a layer norm on the input part."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.w_x = nn.Parameter(torch.randn(hidden_size, input_size) * 0.3)
        self.w_h = nn.Parameter(torch.randn(hidden_size, hidden_size) * 0.3)
        self.norm = nn.LayerNorm(hidden_size)

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        z = self.norm(nn.functional.linear(x_t, self.w_x))
        h = torch.relu(z + nn.functional.linear(state[0], self.w_h))
        return h, (h,)


class _ClippedGradient(torch.autograd.Function):
    """Identity forward; backward scales the gradient by 0.1 (unlike its forward's derivative)."""

    @staticmethod
    def forward(ctx: Any, h: Tensor) -> Tensor:
        return h.clone()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad * 0.1


class CustomBackwardCell(TwoLinearElman):
    """Elman whose output passes through an autograd.Function with its own backward."""

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h = _ClippedGradient.apply(torch.tanh(self.ih(x_t) + self.hh(state[0])))
        return h, (h,)


def plain(cls: type[Cell]) -> type[Cell]:
    """The same cell with hoisting switched off: the reference loop."""
    return type(f"Plain{cls.__name__}", (cls,), {"auto_hoist": False})


def run(
    cell: nn.Module,
    x: Tensor,
    lengths: list[int],
    layers: int = 1,
    bidirectional: bool = False,
    cells: list[list[Cell]] | None = None,
) -> tuple[Tensor, State]:
    return run_stack(cells or [[cell]], x, torch.tensor(lengths))


def grads(module: nn.Module) -> dict[str, Tensor]:
    return {name: p.grad.clone() for name, p in module.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("cls", [TwoLinearElman, ConcatElman, GatedCell, FunctionalCell, CustomBackwardCell])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_hoisted_loop_matches_plain_loop_with_gradients(cls: type[Cell], bidirectional: bool) -> None:
    torch.manual_seed(0)
    directions = 2 if bidirectional else 1
    ours = [[cls(F, H) for _ in range(directions)], [cls(directions * H, H) for _ in range(directions)]]
    ref = [[plain(cls)(c.input_size, H) for c in layer] for layer in ours]
    for layer, ref_layer in zip(ours, ref):
        for cell, ref_cell in zip(layer, ref_layer):
            ref_cell.load_state_dict(cell.state_dict())
    x = torch.randn(len(LENGTHS), max(LENGTHS), F)
    results = []
    for stack in (ours, ref):
        out, final = run_stack(stack, x, torch.tensor(LENGTHS))
        (out.square().sum() + sum(s.sum() for s in final)).backward()
        results.append((out, final, [grads(c) for layer in stack for c in layer]))
    assert all(hoist_plan(c) is not None for layer in ours for c in layer)
    (out, final, g), (ref_out, ref_final, ref_g) = results
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-4)
    for a, b in zip(final, ref_final):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    for a, b in zip(g, ref_g):
        assert a.keys() == b.keys()
        for name in a:
            torch.testing.assert_close(a[name], b[name], atol=1e-5, rtol=1e-4)


def test_what_is_hoisted() -> None:
    plan = hoist_plan(GatedCell(F, H))
    assert plan is not None and "ih (Linear)" in plan.hoisted
    assert "addmm" in plan.step.code and "hh" not in plan.step.code  # bias folded, W_hh^T an invariant
    concat = hoist_plan(ConcatElman(F, H))
    assert concat is not None and concat.hoisted == ("linear (Linear, input columns)",)
    assert "torch.cat" not in concat.step.code


def _packed_reference(ref: nn.RNNBase, x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), batch_first=True, enforce_sorted=False)
    out, state = ref(packed)
    padded, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return padded, state if isinstance(state, tuple) else (state,)


def test_concat_elman_equals_torch_rnn_with_the_same_weights() -> None:
    torch.manual_seed(1)
    cell, ref = ConcatElman(F, H), nn.RNN(F, H, batch_first=True)
    with torch.no_grad():
        ref.weight_hh_l0.copy_(cell.linear.weight[:, :H])
        ref.weight_ih_l0.copy_(cell.linear.weight[:, H:])
        ref.bias_ih_l0.copy_(cell.linear.bias)
        ref.bias_hh_l0.zero_()
    x = torch.randn(len(LENGTHS), max(LENGTHS), F)
    out, final = run(cell, x, LENGTHS)
    ref_out, ref_final = _packed_reference(ref, x)
    torch.testing.assert_close(out, ref_out, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(final[0], ref_final[0], atol=1e-6, rtol=1e-5)


def test_gated_cell_equals_torch_lstm_with_the_same_weights() -> None:
    torch.manual_seed(2)
    cell, ref = GatedCell(F, H), nn.LSTM(F, H, batch_first=True)
    with torch.no_grad():
        for ours, theirs in ((cell.ih, "ih"), (cell.hh, "hh")):
            getattr(ref, f"weight_{theirs}_l0").copy_(ours.weight)
            getattr(ref, f"bias_{theirs}_l0").copy_(ours.bias)
    x = torch.randn(len(LENGTHS), max(LENGTHS), F)
    out, final = run(cell, x, LENGTHS)
    ref_out, ref_final = _packed_reference(ref, x)
    torch.testing.assert_close(out, ref_out, atol=1e-6, rtol=1e-5)
    for a, b in zip(final, ref_final):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


class ControlFlowCell(TwoLinearElman):
    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        if x_t.sum() > 0:  # Python control flow on a tensor value: not traceable
            x_t = -x_t
        return super().forward(x_t, state)


class BatchMixingCell(TwoLinearElman):
    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        return super().forward(x_t - x_t.mean(0), state)  # depends on the other rows of the step


class InputDropoutCell(TwoLinearElman):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.drop = nn.Dropout(0.5)

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        return super().forward(self.drop(x_t), state)


class InPlaceCell(TwoLinearElman):
    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        z = self.ih(x_t) + self.hh(state[0])
        h = z.tanh_()
        return h, (h,)


@pytest.mark.parametrize(
    ("cls", "reason"),
    [
        (ControlFlowCell, "torch.fx cannot trace its forward"),
        (BatchMixingCell, "changes the results"),
        (InPlaceCell, "in place"),
    ],
)
def test_untraceable_or_unsafe_cells_fall_back_with_one_notice(cls: type[Cell], reason: str) -> None:
    torch.manual_seed(3)
    cell = cls(F, H)
    reference = plain(cls)(F, H)
    reference.load_state_dict(cell.state_dict())
    x = torch.randn(len(LENGTHS), max(LENGTHS), F)
    with pytest.warns(SlowPathWarning, match=f"cell {cls.__name__} runs the plain per-step loop.*{reason}"):
        out, _ = run(cell, x, LENGTHS)
    torch.testing.assert_close(out, run(reference, x, LENGTHS)[0])
    stack = [[cls(F, H), cls(F, H)], [cls(2 * H, H), cls(2 * H, H)]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_stack(stack, x, torch.tensor(LENGTHS))
        run_stack(stack, x, torch.tensor(LENGTHS))
    assert len([w for w in caught if issubclass(w.category, SlowPathWarning)]) == 1  # once per class and reason


class FunctionalNoiseCell(TwoLinearElman):
    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        return super().forward(x_t + 0.1 * torch.randn_like(x_t), state)


def test_dropout_module_on_the_input_is_hoisted_and_still_drops() -> None:
    torch.manual_seed(4)
    cell = InputDropoutCell(F, H)
    x = torch.randn(len(LENGTHS), max(LENGTHS), F)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hoist_plan(cell.train()) is not None and hoist_plan(cell.eval()) is not None
    evaluated = run(cell.eval(), x, LENGTHS)[0]
    trained = run(cell.train(), x, LENGTHS)[0]
    assert not torch.allclose(evaluated, trained)  # the hoisted dropout is active in training
    assert cell.drop.training  # checking in eval mode left the module's mode alone


def test_other_random_input_operations_fall_back() -> None:
    with pytest.warns(SlowPathWarning, match="random numbers"):
        assert hoist_plan(FunctionalNoiseCell(F, H)) is None


def test_a_cell_with_nothing_to_hoist_runs_the_plain_loop_silently() -> None:
    class AddInput(Cell):  # h_t = tanh(x_t + W h): x_t is used as it is
        def __init__(self, input_size: int, hidden_size: int) -> None:
            super().__init__(input_size, hidden_size)
            self.hh = nn.Linear(hidden_size, hidden_size, bias=False)

        def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
            h = torch.tanh(x_t + self.hh(state[0]))
            return h, (h,)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hoist_plan(AddInput(H, H)) is None
        assert run(AddInput(H, H), torch.randn(2, 3, H), [3, 1])[0].shape == (2, 3, H)


def test_checking_leaves_random_state_and_buffers_untouched() -> None:
    class Normed(TwoLinearElman):
        def __init__(self, input_size: int, hidden_size: int) -> None:
            super().__init__(input_size, hidden_size)
            self.norm = nn.BatchNorm1d(hidden_size)

        def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
            h = torch.tanh(self.ih(x_t) + self.norm(self.hh(state[0])))
            return h, (h,)

    cell = Normed(F, H)
    before = torch.get_rng_state()
    stats = cell.norm.running_mean.clone()
    assert hoist_plan(cell) is not None
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(cell.norm.running_mean, stats) and int(cell.norm.num_batches_tracked) == 0


def test_a_cell_that_stores_values_on_itself_is_not_traced() -> None:
    class Remembers(TwoLinearElman):
        def __init__(self, input_size: int, hidden_size: int) -> None:
            super().__init__(input_size, hidden_size)
            self.last: Any = None

        def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
            h, self.last = super().forward(x_t, state)[0], state[0]
            return h, (h,)

    cell = Remembers(F, H)
    with pytest.warns(SlowPathWarning, match=r"stores values on the module \(last\)"):
        assert hoist_plan(cell) is None
    assert cell.last is None  # no tracing proxy left behind


def test_plan_is_cached_and_retraced_when_the_cell_changes() -> None:
    cell = TwoLinearElman(F, H)
    plan = hoist_plan(cell)
    assert plan is not None and hoist_plan(cell) is plan
    cell.ih = nn.Linear(F, H)  # a new submodule: the old trace would read the old one
    replaced = hoist_plan(cell)
    assert replaced is not None and replaced is not plan
    hoist.forget(cell)
    assert hoist_plan(cell) is not replaced


def test_declared_split_is_used_instead_of_tracing(monkeypatch: pytest.MonkeyPatch) -> None:
    class Declared(TwoLinearElman):
        def project_input(self, x: Tensor) -> Tensor:
            return self.ih(x)

        def step_projected(self, xp_t: Tensor, state: State) -> tuple[Tensor, State]:
            h = torch.tanh(xp_t + self.hh(state[0]))
            return h, (h,)

    def traced(cell: Cell) -> None:
        raise AssertionError("a cell that declares its split must not be traced")

    monkeypatch.setattr("seqframe.rnn.loop.hoist_plan", traced)
    out, _ = run(Declared(F, H), torch.randn(2, 3, F), [3, 2])
    assert out.shape == (2, 3, H)


def test_float64_cell_is_hoisted_in_its_own_dtype() -> None:
    cell = GatedCell(F, H).double()
    reference = plain(GatedCell)(F, H).double()
    reference.load_state_dict(cell.state_dict())
    x = torch.randn(len(LENGTHS), max(LENGTHS), F, dtype=torch.float64)
    assert hoist_plan(cell) is not None
    torch.testing.assert_close(run(cell, x, LENGTHS)[0], run(reference, x, LENGTHS)[0])


@pytest.mark.parametrize("cls", [TwoLinearElman, ReluGatedCell, ControlFlowCell])
def test_compiled_chunks_match_the_step_loop(cls: type[Cell], monkeypatch: pytest.MonkeyPatch) -> None:
    """The chunk logic (masks, padding, shrinking between chunks) without paying for a compiler."""
    from seqframe.rnn import chunked

    monkeypatch.setenv("SEQFRAME_COMPILE_BACKEND", "eager")
    monkeypatch.setattr(chunked, "DEFAULT_CHUNK", 4)
    torch.manual_seed(5)
    lengths = [9, 2, 5, 1, 9, 4]
    cells = [[cls(F, H), cls(F, H)], [cls(2 * H, H), cls(2 * H, H)]]
    x = torch.randn(len(lengths), max(lengths), F)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SlowPathWarning)
        expected = run_stack(cells, x, torch.tensor(lengths))
        got = run_stack(cells, x, torch.tensor(lengths), compile=True)
    torch.testing.assert_close(got[0], expected[0])
    for a, b in zip(got[1], expected[1]):
        torch.testing.assert_close(a, b)
    got[0].sum().backward()
    assert all(p.grad is not None for layer in cells for c in layer for p in c.parameters())
    times = compile_times([c for layer in cells for c in layer])
    assert any(entry["cell"] == cls.__name__ and entry["backend"] == "eager" for entry in times)
    assert compile_times([cls(F, H)]) == []  # each cell keeps its own record


def test_build_rnn_and_recipes_pass_the_compile_option(monkeypatch: pytest.MonkeyPatch) -> None:
    import seqframe

    monkeypatch.setenv("SEQFRAME_COMPILE_BACKEND", "eager")
    rnn = seqframe.build_rnn(GatedCell, input_size=F, hidden_size=H, compile=True)
    assert rnn.compile and "compile=True" in repr(rnn)
    out, _ = rnn(torch.randn(3, 5, F), lengths=[5, 2, 4])
    assert out.shape == (3, 5, H)
    pipeline = seqframe.build(
        "lm",
        [
            "model.topology.compile=true",
            "model.topology.hidden_size=8",
            "model.topology.num_layers=1",
            "model.embedding_dim=8",
        ],
    )
    assert pipeline.model.topology.compile is True


@pytest.mark.slow
def test_inductor_compiled_chunks_match_the_step_loop() -> None:
    """One real compile (inductor, forward only, tiny sizes): tens of seconds on 2 cores."""
    torch.manual_seed(6)
    cell = ReluGatedCell(F, H)
    lengths = [20, 7, 13]
    x = torch.randn(len(lengths), max(lengths), F)
    with torch.no_grad():
        expected = run_stack([[cell]], x, torch.tensor(lengths))
        got = run_stack([[cell]], x, torch.tensor(lengths), compile=True)
    torch.testing.assert_close(got[0], expected[0], atol=1e-5, rtol=1e-4)
    for a, b in zip(got[1], expected[1]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    assert any(e["cell"] == "ReluGatedCell" and e["backend"] == "inductor" for e in compile_times([cell]))


def test_describe_path_says_how_each_cell_runs() -> None:
    from seqframe.builtin.cells import LSTMCell
    from seqframe.rnn.hoist import describe_path

    assert describe_path(LSTMCell(F, H)).startswith("torch's fused LSTM kernel (its weights are in torch's layout)")
    assert describe_path(GatedCell(F, H)).startswith("recognized as torch's LSTM step")
    described = describe_path(ReluGatedCell(F, H))
    assert described.startswith("input part traced from forward and hoisted out of the time loop")
    assert "ih (Linear)" in described
    assert describe_path(plain(GatedCell)(F, H)) == "plain per-step loop (the cell sets auto_hoist = False)"
    assert describe_path(BatchMixingCell(F, H)).startswith("plain per-step loop: computing its input part")
