"""The ``lstm`` cell with ``proj_size`` against ``torch.nn.LSTM(proj_size=...)`` with the same
weights: outputs, final states (``h`` of the projection's width, ``c`` of ``H``), parameter
and input gradients, padded (packed reference) and unpadded, 1-2 layers, uni- and
bidirectional, on every runtime path (fused kernels, the generic loop)."""

from __future__ import annotations

import functools
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqframe.builtin.cells import LSTMCell
from seqframe.builtin.topologies import StackedTopology
from seqframe.rnn import stack
from seqframe.rnn.fused import fused_mode_of

F, H, P, T = 3, 5, 2, 6
LENGTHS = [4, 6, 1, 3, 6]


class LoopLSTM(LSTMCell):
    """LSTMCell's step in the generic loop (a subclass is never fused)."""


def make_pair(path: str, layers: int, bidi: bool) -> tuple[StackedTopology, nn.LSTM, dict[str, str]]:
    torch.manual_seed(0)
    cell = functools.partial(LSTMCell if path == "fused" else LoopLSTM, proj_size=P)
    ours = StackedTopology(cell, F, H, layers, bidi)
    ref = nn.LSTM(F, H, layers, batch_first=True, bidirectional=bidi, proj_size=P)
    assert fused_mode_of(ours.cells) == ("LSTM" if path == "fused" else None)
    names = {
        f"layers.{l}.{d}.{p}": f"{p}_l{l}{'_reverse' if d else ''}"
        for l, layer in enumerate(ours.cells)
        for d, c in enumerate(layer)
        for p, _ in c.named_parameters()
    }
    assert set(names.values()) == {name for name, _ in ref.named_parameters()}
    with torch.no_grad():
        for mine, theirs in names.items():
            ref.get_parameter(theirs).copy_(ours.get_parameter(mine))
    return ours, ref, names


def run_ref(ref: nn.LSTM, x: Tensor, lengths: list[int] | None, hx: Any) -> tuple[Tensor, tuple[Tensor, ...]]:
    if lengths is None:
        out, state = ref(x, hx)
        return out, state
    packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
    out, state = ref(packed, hx)
    return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0], state


CASES = [
    pytest.param(path, layers, bidi, lengths, id=f"{path}-L{layers}-{'bi' if bidi else 'uni'}-{name}")
    for path in ("fused", "loop")
    for layers in (1, 2)
    for bidi in (False, True)
    for name, lengths in (("padded", LENGTHS), ("unpadded", None))
]


@pytest.mark.parametrize("path, layers, bidi, lengths", CASES)
def test_projected_lstm_matches_torch(path: str, layers: int, bidi: bool, lengths: list[int] | None) -> None:
    ours, ref, names = make_pair(path, layers, bidi)
    g = torch.Generator().manual_seed(1)
    rows = layers * (2 if bidi else 1)
    x = torch.randn(len(LENGTHS), T, F, generator=g)
    hx = (torch.randn(rows, len(LENGTHS), P, generator=g), torch.randn(rows, len(LENGTHS), H, generator=g))
    x_ours, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, state = ours(x_ours, lengths, hx)
    ref_out, ref_state = run_ref(ref, x_ref, lengths, hx)
    assert out.shape == (len(LENGTHS), T, P * (2 if bidi else 1)) == ref_out.shape
    assert [tuple(s.shape) for s in state] == [(rows, len(LENGTHS), P), (rows, len(LENGTHS), H)]
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=0)
    torch.testing.assert_close(state, ref_state, atol=1e-5, rtol=0)
    weights = [torch.randn(t.shape, generator=g) for t in (out, *state)]
    sum((w * t).sum() for w, t in zip(weights, (out, *state))).backward()
    sum((w * t).sum() for w, t in zip(weights, (ref_out, *ref_state))).backward()
    torch.testing.assert_close(x_ours.grad, x_ref.grad, atol=1e-5, rtol=0)
    for mine, theirs in names.items():
        torch.testing.assert_close(ours.get_parameter(mine).grad, ref.get_parameter(theirs).grad, atol=1e-5, rtol=0)


@pytest.mark.parametrize("bidi", [False, True])
def test_projected_lstm_takes_the_packed_fused_kernel_without_gradients(bidi: bool, monkeypatch) -> None:
    ours, ref, _ = make_pair("fused", 2, bidi)
    loops = []
    real = stack.unroll_packed
    monkeypatch.setattr(stack, "unroll_packed", lambda *a, **k: loops.append(1) or real(*a, **k))
    x = torch.randn(len(LENGTHS), T, F)
    with torch.no_grad():
        out, state = ours(x, LENGTHS)
        ref_out, ref_state = run_ref(ref, x, LENGTHS, None)
    assert not loops  # one call of torch's kernel, weight_hr included
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(state, ref_state, atol=1e-5, rtol=1e-4)


def test_projected_lstm_sizes_its_layers_and_topology_output() -> None:
    rnn = StackedTopology(functools.partial(LSTMCell, proj_size=P), F, H, 2, True)
    assert rnn.output_size == 2 * P
    assert rnn.layers[1][0].input_size == 2 * P
    assert rnn.layers[0][0].weight_hh.shape == (4 * H, P) and rnn.layers[0][0].weight_hr.shape == (P, H)
    assert "proj_size=2" in repr(rnn.layers[0][0])


@pytest.mark.parametrize("proj", [-1, 5, 7, 1.5, True])
def test_proj_size_out_of_range_raises_value_error(proj: Any) -> None:
    with pytest.raises(ValueError, match=r"LSTMCell: proj_size must be an int in \[0, hidden_size=5\)"):
        LSTMCell(F, H, proj_size=proj)


def test_mixed_projection_stack_is_not_fused() -> None:
    cells = [[LSTMCell(F, H)], [LSTMCell(H, H, proj_size=P)]]
    assert fused_mode_of(cells) is None
