"""What the runtime accepts and rejects: lengths (zero, one, past the padded length, any
dtype, container and order), degenerate shapes (no steps, no rows), input and state
shapes, batch-composition invariance, and what a cell step returns."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from seqframe import Cell, DataError, State
from seqframe.builtin.cells import ElmanCell, GRUCell, LSTMCell
from seqframe.builtin.topologies import StackedTopology

F, H = 3, 4


class LoopGRU(GRUCell):
    """GRUCell run by the generic loop (subclasses are not fused)."""


CELLS = {"elman": ElmanCell, "lstm": LSTMCell, "gru": GRUCell, "loop_gru": LoopGRU}
SHAPES = [(1, False), (1, True), (2, False), (2, True)]
ALL = [
    pytest.param(name, layers, bidi, id=f"{name}-L{layers}-{'bi' if bidi else 'uni'}")
    for name in CELLS
    for layers, bidi in SHAPES
]


def make_rnn(name: str = "lstm", layers: int = 2, bidi: bool = True) -> StackedTopology:
    torch.manual_seed(0)
    return StackedTopology(CELLS[name], F, H, layers, bidi).eval()


def randn(*shape: int) -> Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(1))


# --- lengths outside [1, T] ---------------------------------------------------------------


def test_zero_length_raises_data_error_naming_batch_index() -> None:
    with pytest.raises(DataError, match=r"lengths\[1\] = 0 .*batch indices \[1\]"):
        make_rnn()(randn(3, 5, F), torch.tensor([3, 0, 2]))


@pytest.mark.parametrize("name", ["lstm", "loop_gru"])
def test_length_longer_than_padded_input_raises_data_error(name: str) -> None:
    with pytest.raises(DataError, match=r"lengths\[1\] = 6 .*longer than the padded length T=5"):
        make_rnn(name)(randn(3, 5, F), torch.tensor([5, 6, 3]))


def test_float_lengths_raise_data_error() -> None:
    with pytest.raises(DataError, match="integers"):
        make_rnn()(randn(2, 5, F), [5, 2.5])


def test_lengths_of_wrong_count_raise_data_error() -> None:
    with pytest.raises(DataError, match=r"expected lengths of shape \(3,\).*got shape \(2,\)"):
        make_rnn()(randn(3, 5, F), [5, 2])


# --- length-1 sequences -------------------------------------------------------------------


@pytest.mark.parametrize("name, layers, bidi", ALL)
def test_length_one_sequences_equal_running_alone(name: str, layers: int, bidi: bool) -> None:
    rnn, x, lengths = make_rnn(name, layers, bidi), randn(3, 4, F), [1, 4, 1]
    out, state = rnn(x, lengths)
    for b in (0, 2):
        alone, alone_state = rnn(x[b : b + 1, :1])
        torch.testing.assert_close(out[b, :1], alone[0], atol=1e-6, rtol=0)
        batched = tuple(s[:, b] for s in state)
        torch.testing.assert_close(batched, tuple(s[:, 0] for s in alone_state), atol=1e-6, rtol=0)


@pytest.mark.parametrize("name, layers, bidi", ALL)
def test_batch_of_only_length_one_sequences_runs(name: str, layers: int, bidi: bool) -> None:
    out, state = make_rnn(name, layers, bidi)(randn(3, 1, F), [1, 1, 1])
    assert out.shape == (3, 1, (2 if bidi else 1) * H)
    assert state[0].shape == (layers * (2 if bidi else 1), 3, H)


# --- lengths dtype, container and order ---------------------------------------------------

LENGTHS = [3, 5, 1, 4]


@pytest.mark.parametrize("name", ["lstm", "loop_gru"])
def test_unsorted_lengths_give_outputs_in_caller_order(name: str) -> None:
    rnn, x = make_rnn(name), randn(4, 5, F)
    out, (h, *_) = rnn(x, torch.tensor(LENGTHS))
    perm = torch.tensor([2, 0, 3, 1])
    out_p, (h_p, *_) = rnn(x[perm], torch.tensor(LENGTHS)[perm])
    torch.testing.assert_close(out_p, out[perm], atol=1e-6, rtol=0)
    torch.testing.assert_close(h_p, h[:, perm], atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "lengths",
    [
        pytest.param(torch.tensor(LENGTHS, dtype=torch.int32), id="int32"),
        pytest.param(torch.tensor(LENGTHS, dtype=torch.int16), id="int16"),
        pytest.param(torch.tensor(LENGTHS, dtype=torch.uint8), id="uint8"),
        pytest.param(LENGTHS, id="list"),
        pytest.param(tuple(LENGTHS), id="tuple"),
    ],
)
def test_lengths_of_any_integer_type_give_same_outputs(lengths: object) -> None:
    rnn, x = make_rnn(), randn(4, 5, F)
    expected, _ = rnn(x, torch.tensor(LENGTHS, dtype=torch.int64))
    out, _ = rnn(x, lengths)
    assert torch.equal(out, expected)


# --- batch-composition invariance: a row does not depend on the rows beside it ------------


@pytest.mark.parametrize("name", list(CELLS))
def test_prediction_does_not_depend_on_batch_composition(name: str) -> None:
    rnn, x = make_rnn(name), randn(8, 6, F)
    lengths = torch.tensor([6, 3, 5, 1, 2, 6, 4, 5])
    alone, _ = rnn(x[2:3, :5])
    in_batch, _ = rnn(x, lengths)
    padded_4x, _ = rnn(torch.cat([x, randn(8, 18, F)], 1), lengths)
    torch.testing.assert_close(in_batch[2, :5], alone[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(padded_4x[2, :5], alone[0], atol=1e-6, rtol=0)


# --- degenerate and wrong shapes ----------------------------------------------------------


@pytest.mark.parametrize("name", ["lstm", "loop_gru"])
def test_empty_batch_returns_empty_outputs(name: str) -> None:
    out, state = make_rnn(name)(randn(0, 5, F), torch.zeros(0, dtype=torch.int64))
    assert out.shape == (0, 5, 2 * H)
    assert all(s.shape == (4, 0, H) for s in state)


def test_empty_batch_accepts_empty_list_of_lengths() -> None:
    out, _ = make_rnn()(randn(0, 5, F), [])
    assert out.shape == (0, 5, 2 * H)


def test_zero_time_steps_raises_data_error() -> None:
    with pytest.raises(DataError, match=r"no time steps \(T=0"):
        make_rnn()(randn(2, 0, F))


def test_two_dimensional_input_raises_data_error_with_expected_shape() -> None:
    with pytest.raises(DataError, match=r"expected input of shape \(B, T, 3\).*got \(5, 3\)"):
        make_rnn()(randn(5, F))


def test_wrong_feature_size_raises_data_error_with_expected_shape() -> None:
    with pytest.raises(DataError, match=r"expected input of shape \(B, T, 3\).*got \(2, 5, 4\)"):
        make_rnn()(randn(2, 5, F + 1))


def test_wrong_initial_state_shape_raises_data_error() -> None:
    state = (torch.zeros(4, 2, H), torch.zeros(2, 2, H))
    with pytest.raises(DataError, match=r"initial state of 2 tensor\(s\) of shape \(4, 2, 4\).*\(2, 2, 4\)"):
        make_rnn()(randn(2, 5, F), None, state)


def test_initial_state_with_non_tensor_entry_raises_data_error() -> None:
    with pytest.raises(DataError, match=r"got \[\(4, 2, 4\), 'NoneType'\]"):
        make_rnn()(randn(2, 5, F), None, (torch.zeros(4, 2, H), None))


def test_initial_state_missing_a_tensor_raises_data_error() -> None:
    with pytest.raises(DataError, match="initial state of 2 tensor"):
        make_rnn()(randn(2, 5, F), None, (torch.zeros(4, 2, H),))


# --- what a cell step returns ----------------------------------------------------------------


class BareTensorCell(Cell):
    """Returns ``h`` instead of ``(h, state)``."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.linear = nn.Linear(input_size + hidden_size, hidden_size)

    def step(self, x_t: Tensor, state: State) -> Tensor:
        return torch.tanh(self.linear(torch.cat([x_t, state[0]], 1)))

    def forward(self, x_t: Tensor, state: State) -> object:  # type: ignore[override]
        return self.step(x_t, state)


class ListStateCell(BareTensorCell):
    def forward(self, x_t: Tensor, state: State) -> object:  # type: ignore[override]
        h = self.step(x_t, state)
        return h, [h]


class TensorStateCell(BareTensorCell):
    def forward(self, x_t: Tensor, state: State) -> object:  # type: ignore[override]
        h = self.step(x_t, state)
        return h, h


class WideOutputCell(BareTensorCell):
    def forward(self, x_t: Tensor, state: State) -> object:  # type: ignore[override]
        h = self.step(x_t, state)
        return torch.cat([h, h], 1), (h,)


class WideStateCell(BareTensorCell):
    def forward(self, x_t: Tensor, state: State) -> object:  # type: ignore[override]
        h = self.step(x_t, state)
        return h, (torch.cat([h, h], 1),)


class ExtraStateCell(BareTensorCell):
    def forward(self, x_t: Tensor, state: State) -> object:  # type: ignore[override]
        h = self.step(x_t, state)
        return h, (h, h)


@pytest.mark.parametrize(
    "cls, match",
    [
        (BareTensorCell, "got Tensor"),
        (ListStateCell, "got state list"),
        (TensorStateCell, r"got a bare Tensor as the state \(wrap it"),
        (WideOutputCell, r"got h_t \(2, 8\)"),
        (WideStateCell, r"got state shapes \[\(2, 8\)\]"),
        (ExtraStateCell, r"a tuple of 1 tensor\(s\) .*as initial_state returns; got a state of 2 tensor\(s\)"),
    ],
)
def test_cell_returning_malformed_step_raises_type_error_naming_cell(cls: type, match: str) -> None:
    rnn = StackedTopology(cls, F, H)
    with pytest.raises(TypeError, match=rf"cell {cls.__name__}: .*{match}"):
        rnn(randn(2, 5, F), [5, 3])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["lstm", "loop_gru"])
def test_cuda_lengths_give_same_outputs_as_cpu_lengths(name: str) -> None:
    rnn, x = make_rnn(name).cuda(), randn(4, 5, F).cuda()
    expected, _ = rnn(x, torch.tensor(LENGTHS))
    out, _ = rnn(x, torch.tensor(LENGTHS, dtype=torch.int32, device="cuda"))
    assert torch.equal(out, expected)


# --- the padded output of the loop path -------------------------------------------------


def _graph_nodes(tensor: Tensor) -> list[str]:
    seen, stack, names = set(), [tensor.grad_fn], []
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.append(type(node).__name__)
        stack += [parent for parent, _ in node.next_functions]
    return names


def test_padded_output_is_one_gather_whatever_the_number_of_lengths() -> None:
    """pad_packed_sequence copies one block per distinct length and its backward clones the
    whole padded gradient per block; the loop path's output is one gather instead."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from seqframe.rnn.lengths import padded_from_packed

    lengths = torch.tensor([9, 1, 8, 2, 7, 3, 6, 4, 5, 9])  # 9 distinct lengths
    x = randn(len(lengths), 11, F)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    expected, _ = pad_packed_sequence(packed, batch_first=True, total_length=11)
    assert torch.equal(padded_from_packed(packed.data, packed.batch_sizes, packed.unsorted_indices, 11), expected)
    rnn = make_rnn("loop_gru", 1, False).train()
    out, _ = rnn(x, lengths)
    assert "CopySlices" not in _graph_nodes(out)
