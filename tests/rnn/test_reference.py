"""The runtime against references: torch's ``nn.RNN``/``nn.LSTM``/``nn.GRU`` with the same
weights (packed with ``enforce_sorted=False``), and each sequence run on its own (a padded
batch gives each row's outputs and both final states as if it ran alone).

Both runtime paths are covered: the fused torch kernels (built-in cell classes) and the
generic Python loop (trivial subclasses, which the runtime must not fuse).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqframe.builtin.cells import ElmanCell, GRUCell, LSTMCell
from seqframe.builtin.topologies import StackedTopology
from seqframe.rnn import stack
from seqframe.rnn.fused import fused_mode_of

F, H, T = 3, 4, 6
States = tuple[Tensor, ...]
LENGTHS = [4, 6, 1, 3, 6]  # unsorted; length 1 and full length T


class LoopElman(ElmanCell):
    """ElmanCell's step in the generic loop: subclasses are never fused."""


class LoopLSTM(LSTMCell):
    """LSTMCell's step in the generic loop."""


class LoopGRU(GRUCell):
    """GRUCell's step in the generic loop."""


KINDS: dict[str, tuple[type, type, type, dict[str, Any], str]] = {
    "elman_tanh": (ElmanCell, LoopElman, nn.RNN, {"nonlinearity": "tanh"}, "RNN_TANH"),
    "elman_relu": (ElmanCell, LoopElman, nn.RNN, {"nonlinearity": "relu"}, "RNN_RELU"),
    "lstm": (LSTMCell, LoopLSTM, nn.LSTM, {}, "LSTM"),
    "gru": (GRUCell, LoopGRU, nn.GRU, {}, "GRU"),
}
CASES = [
    pytest.param(kind, path, layers, bidi, id=f"{kind}-{path}-L{layers}-{'bi' if bidi else 'uni'}")
    for kind in KINDS
    for path in ("fused", "loop")
    for layers in (1, 2)
    for bidi in (False, True)
]


@dataclass
class Pair:
    ours: StackedTopology
    ref: nn.RNNBase
    names: dict[str, str]  # our parameter name -> torch's


def make_pair(kind: str, path: str, layers: int, bidi: bool, **extra: Any) -> Pair:
    """Our stack and torch's with the same weights; asserts which runtime path will run."""
    fused_cls, loop_cls, ref_cls, options, mode = KINDS[kind]
    torch.manual_seed(0)
    cell = functools.partial(fused_cls if path == "fused" else loop_cls, **options, **extra)
    ours = StackedTopology(cell, F, H, layers, bidi)
    ref = ref_cls(F, H, layers, batch_first=True, bidirectional=bidi, **options, **extra)
    assert fused_mode_of(ours.cells) == (mode if path == "fused" else None)
    names = {}  # layers.1.1.weight_ih -> weight_ih_l1_reverse
    for l, layer in enumerate(ours.cells):
        for d, ours_cell in enumerate(layer):
            for p, _ in ours_cell.named_parameters():
                names[f"layers.{l}.{d}.{p}"] = f"{p}_l{l}{'_reverse' if d else ''}"
    assert set(names.values()) == {name for name, _ in ref.named_parameters()}  # all copied
    with torch.no_grad():
        for ours_name, ref_name in names.items():
            ref.get_parameter(ref_name).copy_(ours.get_parameter(ours_name))
    return Pair(ours, ref, names)


def run_ref(ref: nn.RNNBase, x: Tensor, lengths: list[int], hx: Any = None) -> tuple[Tensor, States]:
    packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
    out, state = ref(packed, hx)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out, state if isinstance(state, tuple) else (state,)


def run_both(pair: Pair, lengths: list[int] | None = LENGTHS, explicit_state: bool = False) -> dict[str, Any]:
    """Forward and backward through both stacks on the same inputs and loss."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(len(LENGTHS), T, F, generator=g)
    layers_dirs = pair.ours.num_layers * (2 if pair.ours.bidirectional else 1)
    n_state = 2 if isinstance(pair.ref, nn.LSTM) else 1
    hx = None
    if explicit_state:  # non-zero, in the caller's batch order
        hx = tuple(torch.randn(layers_dirs, len(LENGTHS), H, generator=g) for _ in range(n_state))
    x_ours, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, state = pair.ours(x_ours, lengths, hx)
    ref_hx = None if hx is None else (hx if n_state == 2 else hx[0])
    ref_out, ref_state = run_ref(pair.ref, x_ref, lengths or [T] * len(LENGTHS), ref_hx)
    weights = [torch.randn(t.shape, generator=g) for t in (out, *state)]
    sum((w * t).sum() for w, t in zip(weights, (out, *state))).backward()
    sum((w * t).sum() for w, t in zip(weights, (ref_out, *ref_state))).backward()
    return {"out": (out, ref_out), "state": (state, ref_state), "x_grad": (x_ours.grad, x_ref.grad)}


def assert_close(actual: Any, expected: Any) -> None:
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind, path, layers, bidi", CASES)
def test_outputs_match_torch(kind: str, path: str, layers: int, bidi: bool) -> None:
    ours, ref = run_both(make_pair(kind, path, layers, bidi))["out"]
    assert_close(ours, ref)


@pytest.mark.parametrize("kind, path, layers, bidi", CASES)
def test_final_state_matches_torch(kind: str, path: str, layers: int, bidi: bool) -> None:
    ours, ref = run_both(make_pair(kind, path, layers, bidi))["state"]
    assert_close(ours, ref)


@pytest.mark.parametrize("kind, path, layers, bidi", CASES)
def test_parameter_gradients_match_torch(kind: str, path: str, layers: int, bidi: bool) -> None:
    pair = make_pair(kind, path, layers, bidi)
    run_both(pair)
    for ours_name, ref_name in pair.names.items():
        assert_close(pair.ours.get_parameter(ours_name).grad, pair.ref.get_parameter(ref_name).grad)


@pytest.mark.parametrize("kind, path, layers, bidi", CASES)
def test_input_gradient_matches_torch(kind: str, path: str, layers: int, bidi: bool) -> None:
    ours, ref = run_both(make_pair(kind, path, layers, bidi))["x_grad"]
    assert_close(ours, ref)


@pytest.mark.parametrize("kind, path, layers, bidi", CASES)
def test_explicit_initial_state_matches_torch(kind: str, path: str, layers: int, bidi: bool) -> None:
    result = run_both(make_pair(kind, path, layers, bidi), explicit_state=True)
    assert_close(*result["out"])
    assert_close(*result["state"])


@pytest.mark.parametrize("kind, path, layers, bidi", CASES)
def test_equal_length_batch_matches_torch(kind: str, path: str, layers: int, bidi: bool) -> None:
    result = run_both(make_pair(kind, path, layers, bidi), lengths=None)
    assert_close(*result["out"])
    assert_close(*result["state"])


@pytest.mark.parametrize("path", ["fused", "loop"])
def test_cells_without_bias_match_torch(path: str) -> None:
    pair = make_pair("lstm", path, 2, True, bias=False)
    assert not any("bias" in name for name in pair.names)
    result = run_both(pair)
    assert_close(*result["out"])
    assert_close(*result["x_grad"])


@pytest.mark.parametrize("cls", [LoopElman, LoopLSTM, LoopGRU])
def test_subclass_of_builtin_cell_is_not_fused(cls: type) -> None:
    assert cls(F, H).fused_mode is None
    assert cls.__mro__[1](F, H).fused_mode is not None


@pytest.mark.parametrize(
    "path, lengths, grad, choice, loop_calls",
    [
        ("fused", None, True, None, 0),  # equal lengths: unpacked fused kernel, no choice made
        ("fused", LENGTHS, False, "packed", 0),  # variable lengths: what the cost model chose
        ("fused", LENGTHS, True, "segments", 0),
        ("fused", LENGTHS, True, "loop", 4),
        ("loop", LENGTHS, False, None, 4),  # cells without a kernel: always the loop
        ("loop", LENGTHS, True, None, 4),
    ],
)
def test_which_path_runs(
    path: str,
    lengths: list[int] | None,
    grad: bool,
    choice: str | None,
    loop_calls: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from seqframe.rnn.segments import plan_segments

    calls, chosen = [], []
    real = stack.unroll_packed
    monkeypatch.setattr(stack, "unroll_packed", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(
        stack,
        "choose_path",
        lambda lengths, mode, sizes, grad, reduced=False: (
            chosen.append(1) or ([plan_segments(lengths, 2) for _ in sizes] if choice == "segments" else choice)
        ),
    )
    pair = make_pair("gru", path, 2, True)
    with torch.set_grad_enabled(grad):
        pair.ours(torch.randn(len(LENGTHS), T, F), lengths)
    assert len(calls) == loop_calls  # 2 layers x 2 directions
    assert len(chosen) == (choice is not None)


@pytest.mark.parametrize("kind", list(KINDS))
def test_packed_fused_kernel_without_gradients_matches_reference(kind: str) -> None:
    """Inference with variable lengths takes torch's packed kernel (GRU, RNN) or the unpacked
    one span by span (LSTM); training on CPU takes the unpacked kernels span by span."""
    pair = make_pair(kind, "fused", 2, True)
    x = torch.randn(len(LENGTHS), T, F)
    with torch.no_grad():
        out, state = pair.ours(x, LENGTHS)
        ref_out, ref_state = run_ref(pair.ref, x, LENGTHS, None)
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-4)
    for a, b in zip(state, ref_state):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


# --- a sequence in a padded batch equals the same sequence alone -------------------------

CELLS = {"elman": ElmanCell, "lstm": LSTMCell, "gru": GRUCell, "loop_lstm": LoopLSTM}
PAD_CASES = [
    pytest.param(name, layers, bidi, id=f"{name}-L{layers}-{'bi' if bidi else 'uni'}")
    for name in CELLS
    for layers in (1, 2)
    for bidi in (False, True)
]


def padded_run(name: str, layers: int, bidi: bool) -> tuple[StackedTopology, Tensor, Tensor, States]:
    torch.manual_seed(0)
    rnn = StackedTopology(CELLS[name], F, H, layers, bidi).eval()
    x = torch.randn(len(LENGTHS), T + 2, F).requires_grad_()  # noise, not zeros, in the padding
    out, state = rnn(x, LENGTHS)
    return rnn, x, out, state


@pytest.mark.parametrize("name, layers, bidi", PAD_CASES)
def test_sequence_in_padded_batch_equals_sequence_alone(name: str, layers: int, bidi: bool) -> None:
    rnn, x, out, state = padded_run(name, layers, bidi)
    for b, n in enumerate(LENGTHS):
        alone, alone_state = rnn(x[b : b + 1, :n])
        assert_close(out[b, :n], alone[0])
        assert_close(tuple(s[:, b] for s in state), tuple(s[:, 0] for s in alone_state))


@pytest.mark.parametrize("name, layers, bidi", PAD_CASES)
def test_padded_outputs_are_exactly_zero(name: str, layers: int, bidi: bool) -> None:
    _, _, out, _ = padded_run(name, layers, bidi)
    for b, n in enumerate(LENGTHS):
        assert torch.equal(out[b, n:], torch.zeros_like(out[b, n:]))


@pytest.mark.parametrize("name, layers, bidi", PAD_CASES)
def test_padded_inputs_receive_zero_gradient(name: str, layers: int, bidi: bool) -> None:
    _, x, out, state = padded_run(name, layers, bidi)
    (grad,) = torch.autograd.grad(out.sum() + sum(s.sum() for s in state), x)
    for b, n in enumerate(LENGTHS):
        assert torch.equal(grad[b, n:], torch.zeros_like(grad[b, n:]))
        assert bool(grad[b, :n].ne(0).any())


def test_unpacked_torch_bidirectional_gru_differs_from_per_example_run() -> None:
    """Bug canary: without packing the backward direction reads the padding, so the
    padding tests above would catch a runtime that forgot to pack."""
    torch.manual_seed(0)
    gru = nn.GRU(F, H, batch_first=True, bidirectional=True)
    x = torch.randn(len(LENGTHS), T, F)
    unpacked, _ = gru(x)
    b, n = 0, LENGTHS[0]
    alone, _ = gru(x[b : b + 1, :n])
    assert (unpacked[b, :n, H:] - alone[0, :, H:]).abs().max() > 1e-3


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("layers, bidi, lengths", [(1, False, None), (2, True, [1] * 5), (3, False, None)])
def test_one_step_calls_each_cell_and_matches_torch(
    kind: str, layers: int, bidi: bool, lengths: list[int] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A single time step (a decoder's step) runs each built-in cell's own step, not the fused
    kernel: outputs, final states and every gradient as torch's with the same weights."""
    pair = make_pair(kind, "fused", layers, bidi)
    monkeypatch.setattr(stack, "run_fused", lambda *a, **k: pytest.fail("one step took the fused kernel"))
    g = torch.Generator().manual_seed(3)
    n_state = 2 if isinstance(pair.ref, nn.LSTM) else 1
    hx = tuple(torch.randn(layers * (1 + bidi), 5, H, generator=g) for _ in range(n_state))
    x = torch.randn(5, 1, F, generator=g)
    x_ours, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, state = pair.ours(x_ours, lengths, hx)
    ref_out, ref_state = pair.ref(x_ref, hx if n_state == 2 else hx[0])
    ref_state = ref_state if isinstance(ref_state, tuple) else (ref_state,)
    assert_close(out, ref_out)
    assert_close(state, ref_state)
    weights = [torch.randn(t.shape, generator=g) for t in (out, *state)]
    sum((w * t).sum() for w, t in zip(weights, (out, *state))).backward()
    sum((w * t).sum() for w, t in zip(weights, (ref_out, *ref_state))).backward()
    assert_close(x_ours.grad, x_ref.grad)
    for ours_name, ref_name in pair.names.items():
        assert_close(pair.ours.get_parameter(ours_name).grad, pair.ref.get_parameter(ref_name).grad)
