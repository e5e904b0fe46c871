"""Variable lengths through torch's unpacked kernels, span by span (:mod:`seqframe.rnn.padded`),
against torch's packed modules with the same weights, for every way of cutting a batch.

Every cut is checked (each distinct length, spans of 2 or 3 steps that carry rows past
their ends, one span over everything), for ``elman`` (tanh and relu), ``gru``, ``lstm`` and
``lstm`` with ``proj_size``, 1 and 2 layers, one and two directions, lengths including 1
and ``T``: outputs, final states, the gradients of every parameter and of the input, with
and without an initial state.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqframe.builtin.cells import ElmanCell, GRUCell, LSTMCell
from seqframe.builtin.topologies import StackedTopology
from seqframe.rnn import stack
from seqframe.rnn.padded import flag_columns, run_segmented, sorted_lengths
from seqframe.rnn.paths import SpanCosts, choose_path, lstm_segments
from seqframe.rnn.segments import plan_segments

F, H, T = 3, 5, 9
LENGTHS = [6, 9, 1, 4, 9, 2, 6, 7]  # unsorted, repeated, 1 and T

KINDS: dict[str, tuple[Any, type[nn.RNNBase], dict[str, Any]]] = {
    "elman": (ElmanCell, nn.RNN, {}),
    "elman_relu": (functools.partial(ElmanCell, nonlinearity="relu"), nn.RNN, {"nonlinearity": "relu"}),
    "gru": (GRUCell, nn.GRU, {}),
    "lstm": (LSTMCell, nn.LSTM, {}),
    "lstm_proj": (functools.partial(LSTMCell, proj_size=2), nn.LSTM, {"proj_size": 2}),
}
GAPS = {"every-length": 1, "spans-of-2": 2, "spans-of-3": 3, "one-span": 1 << 30}


def _pair(kind: str, layers: int, bidi: bool) -> tuple[StackedTopology, nn.RNNBase]:
    cell, module, options = KINDS[kind]
    torch.manual_seed(0)
    ours = StackedTopology(cell, F, H, layers, bidi)
    ref = module(F, H, layers, batch_first=True, bidirectional=bidi, **options)
    with torch.no_grad():
        for l, layer in enumerate(ours.cells):
            for d, c in enumerate(layer):
                for name, param in c.named_parameters():
                    ref.get_parameter(f"{name}_l{l}{'_reverse' if d else ''}").copy_(param)
    return ours, ref


def _reference(ref: nn.RNNBase, x: Tensor, lengths: list[int], hx: Any) -> tuple[Tensor, tuple[Tensor, ...]]:
    packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
    out, state = ref(packed, hx)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out, state if isinstance(state, tuple) else (state,)


def _both(kind: str, layers: int, bidi: bool, gap: int, with_state: bool) -> dict[str, Any]:
    ours, ref = _pair(kind, layers, bidi)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(len(LENGTHS), T, F, generator=g)
    x[0, LENGTHS[0] :] = float("nan")  # nothing past a length may reach a result or a gradient
    rows = layers * (2 if bidi else 1)
    widths = [ours.cells[0][0].output_size, H][: 2 if "lstm" in kind else 1]
    hx = tuple(torch.randn(rows, len(LENGTHS), w, generator=g) for w in widths) if with_state else None
    x_ours, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    lengths = torch.tensor(LENGTHS)
    mode = ours.cells[0][0].fused_mode
    plans = [plan_segments(sorted_lengths(lengths), gap)] * layers
    state = hx if hx is not None else tuple(torch.zeros(rows, len(LENGTHS), w) for w in widths)
    out, final = run_segmented(mode, ours.cells, x_ours, lengths, state, plans, 0.0, False)
    ref_hx = None if hx is None else (hx if len(hx) == 2 else hx[0])
    ref_out, ref_final = _reference(ref, x_ref, LENGTHS, ref_hx)
    weights = [torch.randn(t.shape, generator=g) for t in (out, *final)]
    sum((w * t).sum() for w, t in zip(weights, (out, *final))).backward()
    sum((w * t).sum() for w, t in zip(weights, (ref_out, *ref_final))).backward()
    grads = {
        (l, d, name): (p.grad, ref.get_parameter(f"{name}_l{l}{'_reverse' if d else ''}").grad)
        for l, layer in enumerate(ours.cells)
        for d, c in enumerate(layer)
        for name, p in c.named_parameters()
    }
    return {
        "out": (out, ref_out),
        "final": (final, ref_final),
        "x_grad": (x_ours.grad, x_ref.grad),
        "grads": grads,
        "plan": plans[0],
    }


def _close(actual: Any, expected: Any) -> None:
    torch.testing.assert_close(actual, expected, atol=2e-5, rtol=1e-4)


CASES = [
    pytest.param(kind, layers, bidi, gap, id=f"{kind}-L{layers}-{'bi' if bidi else 'uni'}-{name}")
    for kind in KINDS
    for layers in (1, 2)
    for bidi in (False, True)
    for name, gap in GAPS.items()
]


@pytest.mark.parametrize("kind, layers, bidi, gap", CASES)
def test_every_cut_matches_packed_torch(kind: str, layers: int, bidi: bool, gap: int) -> None:
    result = _both(kind, layers, bidi, gap, with_state=False)
    assert result["plan"].carried == (gap > 1)  # the cuts do carry rows past their ends
    out, ref_out = result["out"]
    _close(out, ref_out.nan_to_num())
    for b, n in enumerate(LENGTHS):
        assert torch.equal(out[b, n:], torch.zeros_like(out[b, n:]))
    _close(*result["final"])
    for ours, ref in result["grads"].values():
        _close(ours, ref)
    x_grad, ref_grad = result["x_grad"]
    for b, n in enumerate(LENGTHS):
        assert torch.equal(x_grad[b, n:], torch.zeros_like(x_grad[b, n:]))
        _close(x_grad[b, :n], ref_grad[b, :n])


@pytest.mark.parametrize("kind", list(KINDS))
def test_without_gradients_padding_is_zeroed_in_copies_only(kind: str) -> None:
    ours, ref = _pair(kind, 2, True)
    x = torch.randn(len(LENGTHS), T, F, generator=torch.Generator().manual_seed(2))
    x[0, LENGTHS[0] :] = float("nan")  # read by carried rows, must reach nothing
    given = x.clone()
    lengths = torch.tensor(LENGTHS)
    rows, widths = 4, [ours.cells[0][0].output_size, H][: 2 if "lstm" in kind else 1]
    state = tuple(torch.zeros(rows, len(LENGTHS), w) for w in widths)
    with torch.no_grad():
        out, final = run_segmented(
            ours.cells[0][0].fused_mode,
            ours.cells,
            x,
            lengths,
            state,
            [plan_segments(sorted_lengths(lengths), 3)] * 2,
            0.0,
            False,
        )
        ref_out, ref_final = _reference(ref, x, LENGTHS, None)
    assert torch.equal(x.isnan(), given.isnan()) and torch.equal(x.nan_to_num(), given.nan_to_num())  # untouched
    _close(out, ref_out.nan_to_num())
    for b, n in enumerate(LENGTHS):
        assert torch.equal(out[b, n:], torch.zeros_like(out[b, n:]))
    _close(final, ref_final)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("gap", [1, 3])
def test_initial_state_is_carried_and_gets_its_gradient(kind: str, gap: int) -> None:
    result = _both(kind, 2, True, gap, with_state=True)
    _close(*result["final"])
    for ours, ref in result["grads"].values():
        _close(ours, ref)


def test_plans_cut_at_lengths() -> None:
    lengths = [9, 9, 7, 6, 6, 4, 2, 1]
    every = plan_segments(lengths, 1)
    assert every.bounds == (0, 1, 2, 4, 6, 7, 9) and not every.carried
    assert every.spans[0] == (0, 1, 8) and every.spans[-1] == (7, 9, 2)
    two = plan_segments(lengths, 3)
    assert two.bounds == (0, 4, 7, 9)
    assert [list(two.carried_rows(i)) for i in range(3)] == [[6, 7], [3, 4], []]
    assert plan_segments(lengths, 1 << 30).bounds == (0, 9)


def test_path_choice_is_a_function_of_lengths_and_sizes() -> None:
    lengths = sorted(range(100, 201), reverse=True)
    sizes = [(128, 512, 512), (512, 512, 512)]
    for mode in ("LSTM", "GRU", "RNN_TANH"):
        for grad in (False, True):
            first = choose_path(lengths, mode, sizes, grad)
            assert first == choose_path(lengths, mode, sizes, grad)  # no timing taken, the same every time
            assert first in ("loop", "packed") or (len(first) == 2 and all(p.lengths == tuple(lengths) for p in first))
            assert not (grad and first == "packed")  # the packed kernels' backward is never chosen
    assert choose_path(lengths, "RNN_RELU", sizes, True) == "loop"  # unbounded state: never carried
    plans = choose_path(lengths, "LSTM", sizes, True)
    assert not isinstance(plans, str) and plans[0].bounds[1] == 100  # the common prefix runs in one call


@pytest.mark.parametrize("autocast", [False, True])
def test_the_path_is_chosen_with_the_costs_of_the_precision_the_kernel_runs_in(
    autocast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []

    def spy(lengths: list[int], mode: str, sizes: list[tuple[int, int, int]], grad: bool, reduced: bool = False) -> Any:
        seen.append(reduced)
        return choose_path(lengths, mode, sizes, grad, reduced)

    monkeypatch.setattr(stack, "choose_path", spy)
    ours, _ = _pair("lstm", 1, False)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        ours(torch.randn(len(LENGTHS), T, F), LENGTHS)
    assert seen == [autocast]
    lengths = sorted(list(range(5, 21)) * 4, reverse=True)  # Multi30k-like: 64 rows of 5-20 steps
    # bf16 calls cost more against their steps than float32 ones: fewer spans than float32 cuts
    for grad in (False, True):
        fp32, bf16 = (len(lstm_segments(lengths, 512, 512, 512, grad, reduced=r).spans) for r in (False, True))
        assert bf16 < fp32, (grad, bf16, fp32)


def test_the_cost_model_cuts_only_where_the_rows_saved_outweigh_the_calls_and_the_sorting() -> None:
    lengths = sorted(range(50, 101), reverse=True)  # 51 rows, one per length
    rows_only = SpanCosts(0.0, 0.0, 0.0, 1e-11, 0.0)  # cutting is free: cut at every length
    assert len(lstm_segments(lengths, 128, 256, 256, True, rows_only).spans) == 51
    assert not lstm_segments(lengths, 128, 256, 256, True, rows_only).carried
    calls = SpanCosts(1.0, 0.0, 0.0, 1e-11, 0.0)  # a call costs more than every row-step together
    assert len(lstm_segments(lengths, 128, 256, 256, True, calls).spans) == 1
    sorting = SpanCosts(0.0, 0.0, 0.0, 1e-11, 1.0)  # a second span costs its sorting
    assert len(lstm_segments(lengths, 128, 256, 256, True, sorting).spans) == 1
    per_step = SpanCosts(1e-9, 0.0, 1e-9, 0.0, 0.0)  # a step costs the same at any rows: nothing to save
    assert len(lstm_segments(lengths, 128, 256, 256, True, per_step).spans) == 1


PATHS = {"segments": None, "loop": "loop", "packed": "packed"}


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("layers, bidi", [(1, False), (2, True)])
@pytest.mark.parametrize("kind", ["elman", "gru", "lstm", "lstm_proj"])
def test_every_path_matches_packed_torch(
    kind: str, layers: int, bidi: bool, grad: bool, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forced(
        lengths: list[int], mode: str, sizes: list[tuple[int, int, int]], grad: bool, reduced: bool = False
    ) -> Any:
        return PATHS[path] or [plan_segments(lengths, 3, True) for _ in sizes]

    monkeypatch.setattr(stack, "choose_path", forced)
    ours, ref = _pair(kind, layers, bidi)
    x = torch.randn(len(LENGTHS), T, F)
    with torch.set_grad_enabled(grad):
        out, final = ours(x, LENGTHS)
        ref_out, ref_final = _reference(ref, x, LENGTHS, None)
    _close(out, ref_out)
    _close(final, ref_final)
    if grad:
        (out.sum() + sum(f.sum() for f in final)).backward()
        (ref_out.sum() + sum(f.sum() for f in ref_final)).backward()
        for l, layer in enumerate(ours.cells):
            for d, c in enumerate(layer):
                for name, p in c.named_parameters():
                    _close(p.grad, ref.get_parameter(f"{name}_l{l}{'_reverse' if d else ''}").grad)


def test_autocast_gives_every_state_the_kernels_dtype() -> None:
    ours, _ = _pair("lstm", 2, True)
    x = torch.randn(len(LENGTHS), T, F)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        equal_out, equal_state = ours(x)
        out, final = run_segmented(
            "LSTM",
            ours.cells,
            x,
            torch.tensor(LENGTHS),
            tuple(torch.zeros(4, len(LENGTHS), H) for _ in range(2)),
            [plan_segments(sorted_lengths(torch.tensor(LENGTHS)), 3)] * 2,
            0.0,
            False,
        )
    assert out.dtype == equal_out.dtype and [s.dtype for s in final] == [s.dtype for s in equal_state]


def test_the_padding_flag_rounds_the_kernel_input_to_a_multiple_of_8() -> None:
    # oneDNN's bf16 LSTM takes a slow path for other widths (513 inputs: 2.4x the time of 520)
    for features in range(1, 70):
        assert 1 <= flag_columns(features) <= 8 and (features + flag_columns(features)) % 8 == 0


@pytest.mark.parametrize("gap", [1, 3, 1 << 30])
def test_under_bf16_autocast_the_spans_match_torch_within_bf16_rounding(gap: int) -> None:
    ours, ref = _pair("lstm", 2, True)
    x = torch.randn(len(LENGTHS), T, F, generator=torch.Generator().manual_seed(3))
    x_ours, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    lengths = torch.tensor(LENGTHS)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        plans = [plan_segments(sorted_lengths(lengths), gap)] * 2
        state = tuple(torch.zeros(4, len(LENGTHS), H) for _ in range(2))
        out, final = run_segmented("LSTM", ours.cells, x_ours, lengths, state, plans, 0.0, False)
    ref_out, ref_final = _reference(ref, x_ref, LENGTHS, None)  # float32: the packed kernel has no bf16
    assert out.dtype == torch.bfloat16
    for a, b in zip((out, *final), (ref_out, *ref_final)):
        torch.testing.assert_close(a.float(), b.float(), atol=2e-2, rtol=2e-2)
    (out.float().sum() + sum(f.float().sum() for f in final)).backward()
    (ref_out.float().sum() + sum(f.float().sum() for f in ref_final)).backward()
    torch.testing.assert_close(x_ours.grad, x_ref.grad, atol=5e-2, rtol=5e-2)
    for l, layer in enumerate(ours.cells):
        for d, c in enumerate(layer):
            for name, p in c.named_parameters():
                expected = ref.get_parameter(f"{name}_l{l}{'_reverse' if d else ''}").grad
                torch.testing.assert_close(p.grad, expected, atol=1e-1, rtol=5e-2)


@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_a_carried_lstm_row_keeps_its_own_memory_cell(scale: float) -> None:
    """One span over every length (every row but the longest carried to the end): each row's
    memory cell is still the one at its own last step, and its gradients are the packed
    kernel's, even when the cell's own pre-activations are large (weights scaled up)."""
    ours, ref = _pair("lstm", 1, False)
    with torch.no_grad():
        for module in (ours, ref):
            for param in module.parameters():
                param.mul_(scale)
    lengths = torch.tensor(LENGTHS)
    x = torch.randn(len(LENGTHS), T, F, generator=torch.Generator().manual_seed(2))
    x_ours, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    zeros = tuple(torch.zeros(1, len(LENGTHS), H) for _ in range(2))
    plan = plan_segments(sorted_lengths(lengths), 1 << 30)
    assert len(plan.spans) == 1 and plan.carried
    out, (h, c) = run_segmented("LSTM", ours.cells, x_ours, lengths, zeros, [plan], 0.0, False)
    ref_out, (ref_h, ref_c) = _reference(ref, x_ref, LENGTHS, None)
    _close(c, ref_c)
    _close(h, ref_h)
    (c.sum() + h.sum() + out.sum()).backward()
    (ref_c.sum() + ref_h.sum() + ref_out.sum()).backward()
    _close(x_ours.grad, x_ref.grad)
    for name, param in ours.cells[0][0].named_parameters():
        _close(param.grad, ref.get_parameter(f"{name}_l0").grad)
