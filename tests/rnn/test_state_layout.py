"""State of any structure through every runtime path: cells written naturally (``h, c =
state``, no ``state_size``, state tensors of different widths, an output narrower than the
memory) in the plain loop, the hoisted loop (traced and declared), compiled chunks, stacked
and bidirectional topologies, and with a carried state; the contract errors about it."""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from seqframe.builtin.topologies import StackedTopology
from seqframe.errors import DataError
from seqframe.interfaces import Cell, CellContractError, CellError, State, state_layout
from seqframe.rnn import chunked, hoist, run_stack
from seqframe.rnn.hoist import SlowPathWarning, hoist_plan

_SPEC = importlib.util.spec_from_file_location(
    "natural_cells_rnn", Path(__file__).parents[1] / "plugins_samples" / "natural_cells.py"
)
natural = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = natural  # importable by name: torch.compile and pickle look classes up there
_SPEC.loader.exec_module(natural)  # type: ignore[union-attr]

F, H = 3, 6
LENGTHS = [4, 6, 1, 3, 6]
NATURAL = [
    natural.CIFGCell,
    natural.ProjectedCell,
    natural.DeclaredProjectedCell,
    natural.SingleCell,
    natural.FiveStateCell,
]


def plain(cls: type[Cell]) -> type[Cell]:
    """The same cell with hoisting off: the reference loop."""
    return type(f"Plain{cls.__name__}", (cls,), {"auto_hoist": False})


def stacks(cls: type[Cell], layers: int, bidi: bool) -> tuple[StackedTopology, StackedTopology]:
    torch.manual_seed(0)
    ours = StackedTopology(cls, F, H, layers, bidi)
    ref = StackedTopology(plain(cls), F, H, layers, bidi)
    ref.load_state_dict(ours.state_dict())
    return ours, ref


@pytest.mark.parametrize("cls", NATURAL, ids=lambda c: c.__name__)
def test_natural_cells_are_hoisted_without_notice(cls: type[Cell]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", SlowPathWarning)
        cell = cls(F, H)
        if cls is natural.DeclaredProjectedCell:
            assert "declared input projection" in hoist.describe_path(cell)
        else:
            assert hoist_plan(cell) is not None


@pytest.mark.parametrize("cls", NATURAL, ids=lambda c: c.__name__)
@pytest.mark.parametrize("layers, bidi", [(1, False), (2, True)])
def test_hoisted_equals_plain_loop_with_gradients(cls: type[Cell], layers: int, bidi: bool) -> None:
    ours, ref = stacks(cls, layers, bidi)
    x = torch.randn(len(LENGTHS), max(LENGTHS), F)
    out, final = ours(x, LENGTHS)
    ref_out, ref_final = ref(x, LENGTHS)
    torch.testing.assert_close(out, ref_out, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(final, ref_final, atol=1e-6, rtol=1e-5)
    (out.sum() + sum(f.sum() for f in final)).backward()
    (ref_out.sum() + sum(f.sum() for f in ref_final)).backward()
    for (name, p), (_, q) in zip(ours.named_parameters(), ref.named_parameters()):
        if p.grad is not None or q.grad is not None:
            torch.testing.assert_close(p.grad, q.grad, atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("bidi", [False, True])
def test_mixed_widths_shape_outputs_and_states(bidi: bool) -> None:
    rnn = StackedTopology(natural.ProjectedCell, F, H, 2, bidi)
    D, O = (2 if bidi else 1), H // 2
    assert rnn.output_size == D * O and rnn.layers[1][0].input_size == D * O
    out, (h, c) = rnn(torch.randn(5, 7, F), LENGTHS)
    assert out.shape == (5, 7, D * O) and h.shape == (2 * D, 5, O) and c.shape == (2 * D, 5, H)
    for b, n in enumerate(LENGTHS):
        assert torch.equal(out[b, n:], torch.zeros_like(out[b, n:]))


@pytest.mark.parametrize("cls", NATURAL, ids=lambda c: c.__name__)
@pytest.mark.parametrize("bidi", [False, True])
def test_sequence_in_padded_batch_equals_sequence_alone(cls: type[Cell], bidi: bool) -> None:
    torch.manual_seed(1)
    rnn = StackedTopology(cls, F, H, 2, bidi).eval()
    x = torch.randn(len(LENGTHS), 7, F)
    with torch.no_grad():
        out, final = rnn(x, LENGTHS)
        for b, n in enumerate(LENGTHS):
            alone, alone_final = rnn(x[b : b + 1, :n])
            torch.testing.assert_close(out[b, :n], alone[0], atol=1e-5, rtol=0)
            torch.testing.assert_close(
                tuple(f[:, b] for f in final), tuple(a[:, 0] for a in alone_final), atol=1e-5, rtol=0
            )


@pytest.mark.parametrize(
    "cls", [natural.CIFGCell, natural.ProjectedCell, natural.FiveStateCell], ids=lambda c: c.__name__
)
def test_carried_state_continues_the_sequence(cls: type[Cell]) -> None:
    """The report's crash: a state of two tensors, state_size not declared, fed back at step 2."""
    torch.manual_seed(2)
    rnn = StackedTopology(cls, F, H, 2).eval()
    x = torch.randn(3, 8, F)
    with torch.no_grad():
        whole, whole_final = rnn(x)
        first, carried = rnn(x[:, :3])
        rest, final = rnn(x[:, 3:], None, carried)
    torch.testing.assert_close(torch.cat([first, rest], 1), whole, atol=1e-5, rtol=0)
    torch.testing.assert_close(final, whole_final, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "cls", [natural.ProjectedCell, natural.DeclaredProjectedCell, natural.FiveStateCell], ids=lambda c: c.__name__
)
def test_compiled_chunks_match_the_step_loop(cls: type[Cell], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQFRAME_COMPILE_BACKEND", "eager")  # the chunk logic, without compiling
    torch.manual_seed(3)
    cell = cls(F, H)
    x = torch.randn(len(LENGTHS), max(LENGTHS), F)
    expected = run_stack([[cell]], x, LENGTHS)
    monkeypatch.setattr(chunked, "DEFAULT_CHUNK", 4)
    got = run_stack([[cell]], x, LENGTHS, compile=True)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_explicit_state_of_the_wrong_widths_is_a_data_error() -> None:
    rnn = StackedTopology(natural.ProjectedCell, F, H)
    wrong = (torch.zeros(1, 2, H), torch.zeros(1, 2, H))  # h must be H // 2 wide
    with pytest.raises(DataError, match=r"shapes \(1, 2, 3\), \(1, 2, 6\) .*ProjectedCell.initial_state"):
        rnn(torch.randn(2, 4, F), None, wrong)


class DeclaresWrongArity(natural.SingleCell):
    state_size = 2

    def initial_state(self, batch_size: int, *, device: Any = None, dtype: Any = None) -> State:
        return (torch.zeros(batch_size, self.hidden_size),)


def test_state_size_that_disagrees_with_initial_state_is_a_contract_error() -> None:
    with pytest.raises(CellContractError, match=r"state_size=2 but initial_state returns 1 tensor"):
        state_layout(DeclaresWrongArity(F, H))
    with pytest.raises(CellContractError, match="state_size=2"):
        StackedTopology(DeclaresWrongArity, F, H)


class BareInitialState(natural.SingleCell):
    def initial_state(self, batch_size: int, *, device: Any = None, dtype: Any = None) -> Any:
        return torch.zeros(batch_size, self.hidden_size)


def test_initial_state_that_is_not_a_tuple_is_a_contract_error() -> None:
    with pytest.raises(CellContractError, match=r"initial_state must return .*bare Tensor \(wrap it"):
        state_layout(BareInitialState(F, H))


class InputSizedState(natural.SingleCell):
    """Broken for stacking: the state's width depends on the input size."""

    def initial_state(self, batch_size: int, *, device: Any = None, dtype: Any = None) -> State:
        return (torch.zeros(batch_size, self.hidden_size), torch.zeros(batch_size, self.input_size))


def test_stack_rejects_cells_whose_state_layout_differs_by_layer() -> None:
    with pytest.raises(ValueError, match="every cell of a stack must have the same output size and state widths"):
        StackedTopology(InputSizedState, F, H, 2)


class RaisesInForward(natural.SingleCell):
    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        raise KeyError("no such gate")  # line named in the error


class RaisesInInit(natural.SingleCell):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        raise RuntimeError("weights file missing")


def test_exception_in_forward_is_a_cell_error_with_the_cell_and_line() -> None:
    rnn = StackedTopology(RaisesInForward, F, H)
    line = RaisesInForward.forward.__code__.co_firstlineno + 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SlowPathWarning)
        with pytest.raises(
            CellError,
            match=rf"cell RaisesInForward raised KeyError in forward at .*"
            rf"test_state_layout.py:{line}: 'no such gate'",
        ) as info:
            rnn(torch.randn(2, 3, F), [3, 2])
    assert info.value.cell_type is RaisesInForward and isinstance(info.value.__cause__, KeyError)


def test_exception_in_init_is_a_cell_error_but_option_errors_stay_value_errors() -> None:
    with pytest.raises(CellError, match="cell RaisesInInit raised RuntimeError in __init__") as info:
        StackedTopology(RaisesInInit, F, H)
    assert info.value.cell_type is RaisesInInit
    with pytest.raises(ValueError, match="nonlinearity"):
        from seqframe.builtin.cells import ElmanCell

        StackedTopology(lambda i, h: ElmanCell(i, h, "sigmoid"), F, H)


def test_cell_error_survives_copy_and_pickle() -> None:
    import copy
    import pickle

    error = CellError(natural.SingleCell, "cell SingleCell raised", "x.py:3")
    for clone in (copy.copy(error), pickle.loads(pickle.dumps(error))):
        assert (clone.cell_type, str(clone), clone.where) == (natural.SingleCell, "cell SingleCell raised", "x.py:3")


def test_output_size_must_be_a_positive_int() -> None:
    cell = natural.SingleCell(F, H)
    assert cell.output_size == H
    with pytest.raises(ValueError, match="SingleCell: output_size must be a positive int, got 0"):
        cell.output_size = 0
    cell.output_size = 2
    assert cell.output_size == 2 and "output_size=2" in repr(cell)


class Untraceable(natural.SingleCell):
    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        (h,) = state
        if h.sum() > 0:  # Python control flow on a tensor value
            h = -h
        return super().forward(x_t, (h,))


class InPlace(natural.SingleCell):
    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        (h,) = state
        h = (self.inp(x_t) + self.rec(h)).tanh_()
        return h, (h,)


@pytest.mark.parametrize(
    "cls, offset, advice",
    [
        (Untraceable, 2, r"Python control flow .* use torch.where"),
        (InPlace, 2, r"in place \(tanh_ at .*\); use the out-of-place operation"),
    ],
)
def test_slow_path_notice_names_the_line_of_the_cell_and_the_fix(cls: type[Cell], offset: int, advice: str) -> None:
    line = cls.forward.__code__.co_firstlineno + offset
    with pytest.warns(SlowPathWarning, match=rf"test_state_layout.py:{line}"):
        assert hoist_plan(cls(F, H)) is None
    with pytest.warns(SlowPathWarning, match=advice):
        hoist_plan(cls(F, H))
    assert "auto_hoist = False" in hoist.describe_path(cls(F, H))


def test_hoisting_traces_a_cat_of_input_and_state_into_two_linear_maps() -> None:
    plan = hoist_plan(natural.ProjectedCell(F, H))
    assert plan is not None and plan.hoisted == ("gates (Linear, input columns)",)


def test_natural_cell_state_layout_comes_from_initial_state() -> None:
    assert natural.CIFGCell.state_size is None
    assert state_layout(natural.CIFGCell(F, H)) == (H, H)
    assert state_layout(natural.ProjectedCell(F, H)) == (H // 2, H)
    assert state_layout(natural.FiveStateCell(F, H)) == (H, 2, 3, H, 2)


class ModuleDefaultState(Cell):
    """A cell on the default initial_state: ``state_size`` tensors of ``hidden_size``."""

    state_size = 3

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.lin = nn.Linear(input_size, hidden_size)

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        a, b, c = state
        h = torch.tanh(self.lin(x_t) + a + b + c)
        return h, (h, a, b)


def test_declared_state_size_still_drives_the_default_initial_state() -> None:
    rnn = StackedTopology(ModuleDefaultState, F, H)
    _, final = rnn(torch.randn(2, 3, F), [3, 1])
    assert [tuple(f.shape) for f in final] == [(1, 2, H)] * 3
