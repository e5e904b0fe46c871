"""seqframe.testing: the conformance checks pass for the built-in cells and for a minimal
custom cell, and fail, naming the cell and the check, for deliberately broken cells."""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from seqframe import Cell, State, testing
from seqframe.builtin.cells import ElmanCell, GRUCell, LSTMCell
from seqframe.testing import CheckResult, SkipCheck, cell_checks, run_check


class MinimalCell(Cell):
    """A well-behaved third-party cell: ``forward`` only, so the generic loop runs it."""

    def __init__(self, input_size: int, hidden_size: int, *, device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size)
        self.linear = nn.Linear(input_size + hidden_size, hidden_size, device=device, dtype=dtype)

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h = torch.tanh(self.linear(torch.cat([x_t, state[0]], 1)))
        return h, (h,)


class GlobalStateCell(MinimalCell):
    """Broken: ignores the state it is given and continues from the last call's state."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.memory: Tensor | None = None

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h = state[0]
        if self.memory is not None and self.memory.shape[0] >= h.shape[0]:
            h = self.memory[: h.shape[0]]
        h = torch.tanh(self.linear(torch.cat([x_t, h], 1)))
        self.memory = h
        return h, (h,)


class TimeMixingCell(MinimalCell):
    """Broken: ``project_input`` averages over dim -2, the time (or packed-row) dimension."""

    def project_input(self, x: Tensor) -> Tensor:
        p = nn.functional.linear(x, self.linear.weight[:, : self.input_size], self.linear.bias)
        return p + p.mean(dim=-2, keepdim=True)

    def step_projected(self, xp_t: Tensor, state: State) -> tuple[Tensor, State]:
        h = torch.tanh(xp_t + nn.functional.linear(state[0], self.linear.weight[:, self.input_size :]))
        return h, (h,)

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        return self.step_projected(self.project_input(x_t), state)


class WrongArityCell(MinimalCell):
    """Broken: declares an ``(h, c)`` state but returns ``(h,)``."""

    state_size = 2


class ListStateCell(MinimalCell):
    """Broken: returns the state as a list."""

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h, _ = super().forward(x_t, state)
        return h, [h]  # type: ignore[return-value]


class PlainCell(Cell):
    """Conforming, with a constructor that takes no ``device=``/``dtype=`` (only ``.to`` works)."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.linear = nn.Linear(input_size + hidden_size, hidden_size)

    forward = MinimalCell.forward


class IgnoresDtypeCell(MinimalCell):
    """Broken: accepts ``dtype=`` but always builds float32 parameters."""

    def __init__(self, input_size: int, hidden_size: int, *, device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, device=device)


class Float32OutputCell(MinimalCell):
    """Broken: casts its outputs to float32 whatever the parameters are."""

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h, _ = super().forward(x_t, state)
        return h.float(), (h.float(),)


CHECKS = [
    testing.check_construction,
    testing.check_shapes_and_state,
    testing.check_state_carry,
    testing.check_finite_outputs,
    testing.check_gradient_flow,
    testing.check_padding_invariance,
    testing.check_bidirectional_alignment,
    testing.check_device_dtype,
    testing.check_state_dict_round_trip,
    testing.check_input_projection,
]
GOOD = [
    pytest.param(ElmanCell, None, id="elman"),
    pytest.param(ElmanCell, {"nonlinearity": "relu"}, id="elman_relu"),
    pytest.param(LSTMCell, None, id="lstm"),
    pytest.param(GRUCell, None, id="gru"),
    pytest.param(LSTMCell, {"bias": False}, id="lstm_no_bias"),
    pytest.param(MinimalCell, None, id="minimal"),
    pytest.param(PlainCell, None, id="plain"),
]


@pytest.mark.parametrize("factory, options", GOOD)
def test_check_cell_passes_for_conforming_cell(factory: Any, options: Any) -> None:
    testing.check_cell(factory, options=options)


@pytest.mark.parametrize("factory, options", GOOD)
def test_check_cell_passes_in_float64(factory: Any, options: Any) -> None:
    testing.check_cell(factory, options=options, dtype=torch.float64)


def test_check_cell_passes_with_other_sizes() -> None:
    testing.check_cell(LSTMCell, input_size=1, hidden_size=2)


BROKEN = [GlobalStateCell, TimeMixingCell, WrongArityCell, ListStateCell, IgnoresDtypeCell, Float32OutputCell]


@pytest.mark.parametrize("cls", BROKEN)
def test_check_cell_fails_for_broken_cell(cls: type) -> None:
    with pytest.raises(AssertionError, match=rf"cell .*{cls.__name__} failed check_"):
        testing.check_cell(cls)


def test_padding_check_catches_cell_that_carries_state_across_calls() -> None:
    with pytest.raises(AssertionError, match=r"GlobalStateCell failed check_padding_invariance: .*alone"):
        testing.check_padding_invariance(GlobalStateCell)


def test_bidirectional_check_catches_cell_that_carries_state_across_calls() -> None:
    with pytest.raises(AssertionError, match="failed check_bidirectional_alignment: .*backward direction"):
        testing.check_bidirectional_alignment(GlobalStateCell)


def test_projection_check_catches_projection_that_mixes_time() -> None:
    with pytest.raises(AssertionError, match="failed check_input_projection: project_input .* mixes"):
        testing.check_input_projection(TimeMixingCell)


def test_shapes_check_catches_wrong_state_arity() -> None:
    expected = r"WrongArityCell failed check_shapes_and_state: state returned by forward must hold 2 tensor\(s\)"
    with pytest.raises(AssertionError, match=expected):
        testing.check_shapes_and_state(WrongArityCell)


def test_shapes_check_catches_non_tuple_state() -> None:
    with pytest.raises(AssertionError, match="check_shapes_and_state: .*must be a tuple .*list"):
        testing.check_shapes_and_state(ListStateCell)


def test_device_dtype_check_catches_constructor_ignoring_dtype() -> None:
    expected = r"check_device_dtype: after construction with .*dtype=float64, parameters"
    with pytest.raises(AssertionError, match=expected):
        testing.check_device_dtype(IgnoresDtypeCell)


def test_device_dtype_check_catches_outputs_not_following_dtype() -> None:
    with pytest.raises(AssertionError, match=r"check_device_dtype: outputs .*must have dtype torch.float64"):
        testing.check_device_dtype(Float32OutputCell)


def test_failure_message_names_cell_with_its_options() -> None:
    expected = r"cell ElmanCell\(nonlinearity='sigmoid'\) failed check_shapes_and_state: raised ValueError"
    with pytest.raises(AssertionError, match=expected):
        testing.check_shapes_and_state(ElmanCell, options={"nonlinearity": "sigmoid"})


def test_input_projection_check_skips_cell_without_fast_path() -> None:
    testing.check_input_projection(MinimalCell)  # nothing to check, nothing raised


def test_checks_leave_global_rng_untouched() -> None:
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    testing.check_cell(GRUCell)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("check", [*CHECKS, testing.check_cell], ids=lambda c: c.__name__)
def test_every_check_has_the_documented_signature(check: Any) -> None:
    params = inspect.signature(check).parameters
    assert list(params) == ["factory", "input_size", "hidden_size", "options", "device", "dtype"]
    assert (params["input_size"].default, params["hidden_size"].default) == (3, 5)


@pytest.mark.parametrize("check", [*CHECKS, testing.check_cell], ids=lambda c: c.__name__)
def test_every_check_documents_its_arguments_and_error(check: Any) -> None:
    assert "Args:" in check.__doc__ and "AssertionError" in check.__doc__


def test_check_cell_runs_every_public_check() -> None:
    public = {
        name
        for name in testing.__all__
        if name.startswith("check_")
        and name not in ("check_cell", "check_task", "check_tokenizer", "check_data_source")
    }
    assert {c.__name__ for c in CHECKS} == public
    assert {f"check_{body.__name__}" for body in cell_checks.BODIES} == public


# --- cells written naturally, mixed widths -------------------------------------------------

_SPEC = importlib.util.spec_from_file_location(
    "natural_cells_testing", Path(__file__).parent / "plugins_samples" / "natural_cells.py"
)
natural = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = natural
_SPEC.loader.exec_module(natural)  # type: ignore[union-attr]

NATURAL = [
    pytest.param(natural.CIFGCell, None, id="cifg"),
    pytest.param(natural.ProjectedCell, None, id="projected"),
    pytest.param(natural.DeclaredProjectedCell, None, id="declared_projected"),
    pytest.param(natural.FiveStateCell, None, id="five_state"),
    pytest.param(LSTMCell, {"proj_size": 2}, id="lstm_proj"),
]


@pytest.mark.parametrize("factory, options", NATURAL)
def test_check_cell_passes_for_natural_cells_with_mixed_state_widths(factory: Any, options: Any) -> None:
    testing.check_cell(factory, options=options)
    testing.check_cell(factory, options=options, dtype=torch.float64, hidden_size=4)


def test_state_carry_check_catches_cell_that_keeps_state_of_its_own() -> None:
    with pytest.raises(AssertionError, match="GlobalStateCell failed check_state_carry: outputs run in two parts"):
        testing.check_state_carry(GlobalStateCell)


class NaNCell(MinimalCell):
    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        h, _ = super().forward(x_t, state)
        h = h / 0.0 * 0.0
        return h, (h,)


def test_finite_outputs_check_catches_nan() -> None:
    with pytest.raises(AssertionError, match=r"NaNCell failed check_finite_outputs: outputs hold \d+ non-finite"):
        testing.check_finite_outputs(NaNCell)


class MisreportsSizes(MinimalCell):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.hidden_size = hidden_size + 1


def test_construction_check_catches_wrong_sizes_and_non_cells() -> None:
    with pytest.raises(
        AssertionError,
        match=r"check_construction: \(input_size, hidden_size\) must be the asked "
        r"\(3, 5\), got \(3, 6\)",
    ):
        testing.check_construction(MisreportsSizes)
    with pytest.raises(AssertionError, match="check_construction: the factory returned Linear, not a seqframe.Cell"):
        testing.check_construction(nn.Linear)
    with pytest.raises(AssertionError, match="check_construction: cell WrongArityState: state_size=3 but"):
        testing.check_construction(
            type("WrongArityState", (MinimalCell,), {"state_size": 3, "initial_state": _one_tensor_state})
        )


def _one_tensor_state(self: Cell, batch_size: int, *, device: Any = None, dtype: Any = None) -> State:
    return (torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype),)


# --- result records ----------------------------------------------------------------------


def test_cell_report_has_one_record_per_check_and_the_time_loop() -> None:
    report = testing.cell_report(natural.ProjectedCell, subject="cell 'projected'")
    assert [r.name for r in report.results] == [body.__name__ for body in cell_checks.BODIES]
    assert report.passed and not report.failures
    assert report.notes["time loop"].startswith("input part traced from forward and hoisted")
    assert report.lines()[0] == "cell 'projected': all checks passed"
    skipped = next(r for r in report.results if r.name == "input_projection")
    assert skipped.skipped and skipped.passed and skipped.line().startswith("skip  input_projection: ")


def test_a_failed_foundation_check_skips_the_checks_that_would_repeat_it() -> None:
    report = testing.cell_report(WrongArityCell)
    statuses = {r.name: r.status for r in report.results}
    assert statuses["construction"] == "pass" and statuses["shapes_and_state"] == "fail"
    assert all(statuses[name] == "skip" for name in ("state_carry", "gradient_flow", "state_dict_round_trip"))
    assert report.lines()[0].endswith("1 of 10 checks failed")
    assert json.loads(json.dumps(report.to_dict()))["checks"][1] == {
        "name": "shapes_and_state",
        "status": "fail",
        "passed": False,
        "reason": report.results[1].reason,
    }


def test_cell_report_never_raises_for_a_cell_that_cannot_be_built() -> None:
    def explode(input_size: int, hidden_size: int) -> Cell:
        raise RuntimeError("no GPU kernel")

    report = testing.cell_report(explode)
    assert not report.passed and report.results[0].reason.startswith("raised RuntimeError: no GPU kernel (at ")
    assert report.notes["time loop"] == "unknown: building the cell raised RuntimeError"


def test_check_result_raises_a_chained_assertion_for_pytest_users() -> None:
    cause = ValueError("bad")
    result = CheckResult("shapes_and_state", False, "expected (3, 5), got (3, 6)", error=cause)
    with pytest.raises(AssertionError, match=r"^cell X failed check_shapes_and_state: expected") as info:
        result.raise_if_failed("cell X")
    assert info.value.__cause__ is cause
    CheckResult("fine", True).raise_if_failed("cell X")  # a pass raises nothing
    assert run_check("skipped", lambda: (_ for _ in ()).throw(SkipCheck("n/a"))).status == "skip"


def test_preflight_returns_the_first_failure_and_caches_it() -> None:
    assert testing.preflight_cell(natural.CIFGCell, input_size=3, hidden_size=4) is None
    failure = testing.preflight_cell(WrongArityCell, input_size=3, hidden_size=4)
    assert failure is not None and failure.name == "shapes_and_state"
    assert testing.preflight_cell(WrongArityCell, input_size=3, hidden_size=4) is failure
    assert [body.__name__ for body in cell_checks.QUICK] == [
        "construction",
        "shapes_and_state",
        "finite_outputs",
        "state_carry",
        "padding_invariance",
    ]
