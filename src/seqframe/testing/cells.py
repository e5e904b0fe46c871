"""Conformance checks for recurrent cells, for plugin authors to run from their own tests.

Every ``check_*`` function builds small instances of a cell from its factory, runs them
through the seqframe runtime and raises :class:`AssertionError` naming the cell and the
check at the first violation; :func:`check_cell` runs them all. :func:`cell_report` runs
them all too but returns one :class:`~seqframe.testing.report.CheckResult` per check
(what ``seqframe plugins check`` prints), and :func:`preflight_cell` the fast subset run
before training. Inputs come from a fixed seed and the caller's global RNG state is left as
it was. Imports the runtime and the built-in stacked topology only (layers 0-2).

Example:
    >>> from seqframe.testing import check_cell
    >>> def test_my_cell_conforms():
    ...     check_cell(MyCell, options={"alpha": 0.5})
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

import torch

from seqframe.interfaces import CellError, CellFactory
from seqframe.rnn.hoist import SlowPathWarning, describe_path
from seqframe.testing import cell_checks
from seqframe.testing.cell_checks import CellSpec
from seqframe.testing.report import CheckReport, CheckResult, run_check

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "cell_report",
    "check_bidirectional_alignment",
    "check_cell",
    "check_construction",
    "check_device_dtype",
    "check_finite_outputs",
    "check_gradient_flow",
    "check_input_projection",
    "check_padding_invariance",
    "check_shapes_and_state",
    "check_state_carry",
    "check_state_dict_round_trip",
    "describe_time_loop",
    "iter_cell_checks",
    "preflight_cell",
]

_ARGS_DOC = """
    Args:
        factory: cell class or factory, called as ``factory(input_size, hidden_size, **options)``.
        input_size: features of ``x_t``.
        hidden_size: the cell's hidden size.
        options: extra keyword arguments for the factory.
        device: device to run on.
        dtype: floating dtype to run in.

    Raises:
        AssertionError: naming the cell and the check, when the cell breaks the contract.
"""


def cell_name(factory: CellFactory, options: Mapping[str, Any] | None = None) -> str:
    """``MyCell(alpha=0.5)``: the factory's name with the options it is checked with."""
    func = factory.func if isinstance(factory, functools.partial) else factory
    name = getattr(func, "__qualname__", None) or repr(func)
    return name + (f"({', '.join(f'{k}={v!r}' for k, v in options.items())})" if options else "")


class CellArgs(TypedDict, total=False):
    """The keywords every cell check takes after the factory (see :func:`check_cell`; the
    defaults are those of its signature)."""

    input_size: int
    hidden_size: int
    options: Mapping[str, Any] | None
    device: torch.device | str
    dtype: torch.dtype


class CellCheck(Protocol):
    """A public cell check: ``check(factory, *, input_size=3, hidden_size=5, ...)``."""

    def __call__(self, factory: CellFactory, **args: Unpack[CellArgs]) -> None: ...


def _spec(
    factory: CellFactory,
    *,
    input_size: int = 3,
    hidden_size: int = 5,
    options: Mapping[str, Any] | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> CellSpec:
    """The cell a check runs, with the checks' defaults: the signature of every public check."""
    atol = 1e-5 if dtype in (torch.float32, torch.float64) else 2e-2
    return CellSpec(factory, input_size, hidden_size, dict(options or {}), torch.device(device), dtype, atol)


def _describe(exc: BaseException) -> str | None:
    return str(exc) if isinstance(exc, CellError) else None  # the runtime's message names the cell already


def _run(body: Callable[[CellSpec], None], spec: CellSpec) -> CheckResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SlowPathWarning)  # the time-loop line reports the path
        return run_check(body.__name__, lambda: body(spec), _describe)


def _results(spec: CellSpec, bodies: tuple[Callable[[CellSpec], None], ...]) -> Iterator[CheckResult]:
    """Run ``bodies`` in order; after a failed foundation check (construction, shapes and
    state, finite outputs) the rest are skipped, as they would only repeat its failure."""
    broken = ""
    for body in bodies:
        if broken:
            yield CheckResult(body.__name__, True, f"not run: {broken} failed", skipped=True)
            continue
        result = _run(body, spec)
        if body in cell_checks.FOUNDATION and not result.passed:
            broken = body.__name__
        yield result


_SIGNATURE = inspect.signature(_spec).replace(return_annotation="None")


def _checker(name: str, bodies: tuple[Callable[[CellSpec], None], ...], doc: str) -> CellCheck:
    """A public check running ``bodies`` in order that raises an AssertionError at the first
    failure; its signature is :func:`_spec`'s (``check_x(factory, *, input_size=3, ...)``)."""

    def check(factory: CellFactory, **args: Unpack[CellArgs]) -> None:
        spec = _spec(factory, **args)
        for result in _results(spec, bodies):
            result.raise_if_failed(f"cell {cell_name(factory, spec.options)}")

    check.__name__ = check.__qualname__ = name
    check.__doc__ = doc + _ARGS_DOC
    check.__signature__ = _SIGNATURE  # type: ignore[attr-defined]  # what inspect and help() show
    return check


def _public(body: Callable[[CellSpec], None]) -> CellCheck:
    """The public check of one property: ``check_<body>``, documented by the body."""
    return _checker(f"check_{body.__name__}", (body,), body.__doc__ or "")


check_construction = _public(cell_checks.construction)
check_shapes_and_state = _public(cell_checks.shapes_and_state)
check_input_projection = _public(cell_checks.input_projection)
check_state_carry = _public(cell_checks.state_carry)
check_finite_outputs = _public(cell_checks.finite_outputs)
check_gradient_flow = _public(cell_checks.gradient_flow)
check_padding_invariance = _public(cell_checks.padding_invariance)
check_bidirectional_alignment = _public(cell_checks.bidirectional_alignment)
check_device_dtype = _public(cell_checks.device_dtype)
check_state_dict_round_trip = _public(cell_checks.state_dict_round_trip)
check_cell = _checker(
    "check_cell",
    cell_checks.BODIES,
    """Run every conformance check on a cell, construction first; stops at the first failure.""",
)


def iter_cell_checks(factory: CellFactory, *, quick: bool = False, **args: Unpack[CellArgs]) -> Iterator[CheckResult]:
    """Run every check (``quick``: the subset run before training), yielding one result
    each as it finishes; never raises for a broken cell. The other arguments are those of
    :func:`check_cell`."""
    spec = _spec(factory, **args)
    spec.quick = quick
    yield from _results(spec, cell_checks.QUICK if quick else cell_checks.BODIES)


def cell_report(factory: CellFactory, *, subject: str | None = None, **args: Unpack[CellArgs]) -> CheckReport:
    """Every check's result and, as a note, how the runtime unrolls the cell and why.

    Never raises for a broken cell: each failure is a record. ``subject`` names the cell
    in the report (default ``cell <name>(<options>)``); the other arguments are those of
    :func:`check_cell`.
    """
    spec = _spec(factory, **args)
    results = tuple(iter_cell_checks(factory, **args))
    try:
        path = describe_time_loop(
            factory, input_size=spec.input_size, hidden_size=spec.hidden_size, options=spec.options
        )
    except Exception as exc:  # the checks above say what is wrong with the cell
        path = f"unknown: building the cell raised {type(exc).__name__}"
    return CheckReport(subject or f"cell {cell_name(factory, spec.options)}", results, {"time loop": path})


def preflight_cell(
    factory: CellFactory,
    *,
    input_size: int,
    hidden_size: int,
    options: Mapping[str, Any] | None = None,
    device: torch.device | str = "cpu",
) -> CheckResult | None:
    """The fast subset run before training (construction, shapes and state, carrying the
    state, finite outputs, padding invariance of one layer); the first failure, or None.
    Results are cached per factory, options, sizes and device."""
    key = (factory, repr(sorted((options or {}).items())), input_size, hidden_size, str(device))
    if key not in _PREFLIGHT:
        results = iter_cell_checks(
            factory, input_size=input_size, hidden_size=hidden_size, options=options, device=device, quick=True
        )
        _PREFLIGHT[key] = next((r for r in results if not r.passed), None)
    return _PREFLIGHT[key]


_PREFLIGHT: dict[Any, CheckResult | None] = {}


def describe_time_loop(
    factory: CellFactory, *, input_size: int = 8, hidden_size: int = 16, options: Mapping[str, Any] | None = None
) -> str:
    """One line saying how the runtime unrolls the cell ``factory`` builds: torch's fused
    kernel, its declared input projection, the input part traced and hoisted, or the plain
    per-step loop and why (see :mod:`seqframe.rnn.hoist`)."""
    return describe_path(factory(input_size, hidden_size, **(options or {})))
