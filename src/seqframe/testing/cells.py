"""Conformance checks for recurrent cells, for plugin authors to run from their own tests.

Every ``check_*`` function builds small instances of a cell from its factory, runs them
through the seqframe runtime and raises :class:`AssertionError` naming the cell and the
check at the first violation; :func:`check_cell` runs them all. Inputs come from a fixed
seed and the caller's global RNG state is left as it was. Imports the runtime and the
built-in stacked topology only (layers 0-2).

Example:
    >>> from seqframe.testing import check_cell
    >>> def test_my_cell_conforms():
    ...     check_cell(MyCell, options={"alpha": 0.5})
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from seqframe.builtin.topologies import StackedTopology
from seqframe.interfaces import Cell, CellFactory, State, overrides_input_projection
from seqframe.rnn import run_stack
from seqframe.rnn.hoist import describe_path

__all__ = [
    "check_bidirectional_alignment", "check_cell", "check_device_dtype", "check_gradient_flow",
    "check_input_projection", "check_padding_invariance", "check_shapes_and_state",
    "check_state_dict_round_trip", "describe_time_loop",
]

_SEED = 1234
_LENGTHS = (5, 2, 1, 4)  # unsorted, with a length-1 sequence
_STEPS = 6  # so every sequence has padding, filled with noise rather than zeros
_ARGS_DOC = """
    Args:
        factory: cell class or factory, called as ``factory(input_size, hidden_size, **options)``.
        input_size: features of ``x_t``.
        hidden_size: features of ``h_t``.
        options: extra keyword arguments for the factory.
        device: device to run on.
        dtype: floating dtype to run in.

    Raises:
        AssertionError: naming the cell and the check, when the cell breaks the contract.
"""


@dataclasses.dataclass
class _Spec:
    """What a check needs: how to build the cell, where to run it, and a seeded generator."""

    factory: CellFactory
    input_size: int
    hidden_size: int
    options: dict[str, Any]
    device: torch.device
    dtype: torch.dtype
    atol: float = 1e-5  # 2e-2 for half precision
    gen: torch.Generator = dataclasses.field(default_factory=lambda: torch.Generator().manual_seed(_SEED))

    def build(self, build: Callable[[], nn.Module], seed: int = _SEED) -> Any:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return build().to(self.device, self.dtype)

    def cell(self, seed: int = _SEED) -> Any:
        return self.build(lambda: self.factory(self.input_size, self.hidden_size, **self.options), seed)

    def rnn(self, num_layers: int, bidirectional: bool) -> Any:
        factory = functools.partial(self.factory, **self.options)
        sizes = (self.input_size, self.hidden_size)
        return self.build(lambda: StackedTopology(factory, *sizes, num_layers, bidirectional))

    def randn(self, *shape: int) -> Tensor:
        return torch.randn(*shape, generator=self.gen).to(self.device, self.dtype)

    def batch(self) -> tuple[Tensor, Tensor]:
        """A padded batch ``(B, T, F)`` and its lengths ``(B,)``."""
        return self.randn(len(_LENGTHS), _STEPS, self.input_size), torch.tensor(_LENGTHS)

    def weighted_sum(self, tensors: Iterable[Tensor]) -> Tensor:  # a loss touching every element
        return sum(((t * self.randn(*t.shape)).sum() for t in tensors), torch.zeros((), device=self.device))


def _cell_name(factory: CellFactory, options: Mapping[str, Any]) -> str:
    func = factory.func if isinstance(factory, functools.partial) else factory
    name = getattr(func, "__qualname__", None) or repr(func)
    return name + (f"({', '.join(f'{k}={v!r}' for k, v in options.items())})" if options else "")


def _conformance_check(body: Callable[[_Spec], None]) -> Callable[..., None]:
    """Turn ``body(spec)`` into a public check that reports any failure as an AssertionError."""

    def check(  # the signature of check_cell
        factory: CellFactory, *, input_size: int = 3, hidden_size: int = 5,
        options: Mapping[str, Any] | None = None, device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        opts = dict(options or {})
        atol = 1e-5 if dtype in (torch.float32, torch.float64) else 2e-2
        spec = _Spec(factory, input_size, hidden_size, opts, torch.device(device), dtype, atol)
        where = f"cell {_cell_name(factory, opts)} failed {body.__name__}"
        try:
            body(spec)
        except AssertionError as exc:
            raise AssertionError(f"{where}: {exc}") from None
        except Exception as exc:
            raise AssertionError(f"{where}: raised {type(exc).__name__}: {exc}") from exc

    check.__name__ = check.__qualname__ = body.__name__
    check.__doc__ = (body.__doc__ or "") + _ARGS_DOC
    return check


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _close(actual: Tensor | State, expected: Tensor | State, atol: float, what: str) -> None:
    if isinstance(actual, tuple) or isinstance(expected, tuple):  # states: compare tensor by tensor
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _close(a, e, atol, f"state[{i}] of {what}")
        return
    shapes = (tuple(actual.shape), tuple(expected.shape))
    _expect(shapes[0] == shapes[1], f"{what}: shape {shapes[0]} vs {shapes[1]}")
    diff = (actual - expected).abs().max().item() if actual.numel() else 0.0
    _expect(diff <= atol, f"{what}: max abs difference {diff:.3g} > {atol:g}")


def _check_tensor(t: object, shape: tuple[int, ...], spec: _Spec, what: str) -> None:
    if not isinstance(t, Tensor):
        raise AssertionError(f"{what} must be a Tensor, got {type(t).__name__}")
    _expect(tuple(t.shape) == shape, f"{what} must have shape {shape}, got {tuple(t.shape)}")
    _expect(t.dtype == spec.dtype, f"{what} must have dtype {spec.dtype}, got {t.dtype}")
    _expect(t.device.type == spec.device.type, f"{what} must be on {spec.device}, got {t.device}")


def _check_state(state: object, size: int, shape: tuple[int, ...], spec: _Spec, what: str) -> None:
    if not isinstance(state, tuple):
        raise AssertionError(f"{what} must be a tuple (the runtime rejects {type(state).__name__})")
    _expect(len(state) == size, f"{what} must hold state_size={size} tensor(s), got {len(state)}")
    for i, s in enumerate(state):
        _check_tensor(s, shape, spec, f"{what}[{i}]")


@_conformance_check
def check_shapes_and_state(spec: _Spec) -> None:
    """Check ``h_t`` is ``(B, H)`` and the state a tuple of ``state_size`` ``(B, H)`` tensors
    (zeros from ``initial_state``), on the requested device and dtype, also in the runtime."""
    cell = spec.cell()
    _expect(isinstance(cell, Cell), f"the factory returned {type(cell).__name__}, not a seqframe.Cell")
    sizes = (cell.input_size, cell.hidden_size)
    _expect(sizes == (spec.input_size, spec.hidden_size), f"(input_size, hidden_size) is {sizes}")
    B, H = 3, spec.hidden_size
    state = cell.initial_state(B, device=spec.device, dtype=spec.dtype)
    _check_state(state, cell.state_size, (B, H), spec, "initial_state(B)")
    _expect(all(bool((s == 0).all()) for s in state), "initial_state must be all zeros")
    result = cell(spec.randn(B, spec.input_size), state)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise AssertionError(f"forward must return a pair (h_t, state), got {type(result).__name__}")
    _check_tensor(result[0], (B, H), spec, "h_t returned by forward")
    _check_state(result[1], cell.state_size, (B, H), spec, "state returned by forward")
    x, lengths = spec.batch()
    outputs, final = run_stack([[cell]], x, lengths)
    _check_tensor(outputs, (x.shape[0], _STEPS, H), spec, "runtime outputs")
    _check_state(final, cell.state_size, (1, x.shape[0], H), spec, "runtime final state")


@_conformance_check
def check_gradient_flow(spec: _Spec) -> None:
    """Check gradients reach every parameter and, back through time, the first input step."""
    rnn = spec.rnn(2, True).train()
    x, lengths = spec.batch()
    outputs, final = rnn(x, lengths)
    spec.weighted_sum([outputs, *final]).backward()
    for name, param in rnn.named_parameters():
        grad = param.grad if param.grad is not None else torch.zeros(())
        _expect(not param.requires_grad or bool(grad.ne(0).any()), f"no gradient reaches {name!r}")
        _expect(bool(torch.isfinite(grad).all()), f"gradient of {name!r} is not finite")
    x.requires_grad_(True)
    _, final = spec.rnn(1, False).train()(x, lengths)
    (grad,) = torch.autograd.grad(spec.weighted_sum(final), x)
    _expect(bool(torch.isfinite(grad).all()), "gradient of the input is not finite")
    dead = [b for b in range(len(_LENGTHS)) if not bool(grad[b, 0].ne(0).any())]
    _expect(not dead, f"the final state gets no gradient from step 0 of sequences {dead}")


@_conformance_check
def check_padding_invariance(spec: _Spec) -> None:
    """Check a sequence in a padded batch gives what it gives alone (outputs, final state),
    padded outputs are exactly 0, and padded inputs get exactly zero gradient."""
    x, lengths = spec.batch()
    padded = (torch.arange(_STEPS).unsqueeze(0) >= lengths.unsqueeze(1)).to(spec.device)  # (B, T)
    for layers, bidirectional in ((1, False), (2, True)):
        rnn = spec.rnn(layers, bidirectional).eval()
        config = f"num_layers={layers}, bidirectional={bidirectional}"
        xb = x.clone().requires_grad_(True)
        outputs, final = rnn(xb, lengths)
        _expect(bool((outputs[padded] == 0).all()), f"padded outputs are not exactly 0 ({config})")
        (grad,) = torch.autograd.grad(spec.weighted_sum([outputs, *final]), xb)
        _expect(bool((grad[padded] == 0).all()), f"padded inputs receive gradient ({config})")
        with torch.no_grad():
            for b, n in enumerate(_LENGTHS):
                alone, alone_final = rnn(x[b : b + 1, :n])
                what = f"sequence {b} (length {n}) in a padded batch vs alone ({config})"
                _close(outputs[b, :n], alone[0], spec.atol, f"outputs of {what}")
                batched = tuple(f[:, b] for f in final)
                _close(batched, tuple(a[:, 0] for a in alone_final), spec.atol, what)


@_conformance_check
def check_bidirectional_alignment(spec: _Spec) -> None:
    """Check the backward direction at step ``t`` of a length-``L`` sequence equals a forward
    run of a cell with the same weights over the reversed sequence at step ``L-1-t``; the
    final backward state equals that run's final state."""
    rnn = spec.rnn(1, True).eval()
    forward_only = spec.rnn(1, False).eval()
    forward_only.layers[0][0].load_state_dict(rnn.layers[0][1].state_dict())
    x, lengths = spec.batch()
    H = spec.hidden_size
    with torch.no_grad():
        outputs, final = rnn(x, lengths)
        for b, n in enumerate(_LENGTHS):
            ref, ref_final = forward_only(x[b : b + 1, :n].flip(1))
            what = f"sequence {b} (length {n}), backward direction vs forward run over it reversed"
            _close(outputs[b, :n, H:], ref[0].flip(0), spec.atol, f"outputs of {what}")
            _close(tuple(f[1, b] for f in final), tuple(r[0, 0] for r in ref_final), spec.atol, what)


def _check_float64(spec: _Spec, cell: Any, device: torch.device, how: str) -> None:
    """Check ``cell`` holds float64 parameters and that its outputs and states follow."""
    wrong = [n for n, p in cell.named_parameters() if p.is_floating_point() and p.dtype != torch.float64]
    _expect(not wrong, f"after {how}, parameters {wrong} are not float64")
    target = dataclasses.replace(spec, device=device, dtype=torch.float64)
    x, lengths = spec.batch()
    B, H = x.shape[0], spec.hidden_size
    outputs, final = run_stack([[cell]], x.to(device, torch.float64), lengths)
    _check_tensor(outputs, (B, _STEPS, H), target, f"outputs after {how}")
    _check_state(final, cell.state_size, (1, B, H), target, f"final state after {how}")
    if next(cell.parameters(), None) is not None:  # the default follows the parameters
        _check_state(cell.initial_state(2), cell.state_size, (2, H), target, f"initial_state after {how}")


def _accepts_device_dtype(factory: CellFactory, options: Mapping[str, Any]) -> bool:
    try:
        inspect.signature(factory).bind(1, 1, device=None, dtype=None, **options)
    except TypeError:
        return False
    except ValueError:  # no signature to inspect: try it
        return True
    return True


@_conformance_check
def check_device_dtype(spec: _Spec) -> None:
    """Check float64 works, converted with ``.to`` and, when the constructor takes them (the
    torch.nn convention), built with ``device=``/``dtype=``; outputs and states follow. The
    same on CUDA when it is available."""
    devices = [spec.device]
    if torch.cuda.is_available() and spec.device.type != "cuda":
        devices.append(torch.device("cuda"))
    sizes, options = (spec.input_size, spec.hidden_size), spec.options
    for device in devices:
        with torch.random.fork_rng(devices=[]):
            converted = spec.factory(*sizes, **options).to(device).to(torch.float64)
            _check_float64(spec, converted, device, f".to({str(device)!r}).to(torch.float64)")
            if _accepts_device_dtype(spec.factory, options):
                built = spec.factory(*sizes, device=device, dtype=torch.float64, **options)
                how = f"construction with device={str(device)!r}, dtype=float64"
                _check_float64(spec, built, device, how)


@_conformance_check
def check_state_dict_round_trip(spec: _Spec) -> None:
    """Check ``state_dict`` loaded (strictly) into a fresh instance gives identical outputs."""
    original, fresh = spec.cell(seed=_SEED).eval(), spec.cell(seed=_SEED + 1).eval()
    fresh.load_state_dict(original.state_dict())
    x, lengths = spec.batch()
    with torch.no_grad():
        expected, expected_final = run_stack([[original]], x, lengths)
        actual, actual_final = run_stack([[fresh]], x, lengths)
    _close(actual, expected, 0.0, "outputs after loading the state_dict into a fresh instance")
    _close(actual_final, expected_final, 0.0, "a fresh instance after loading the state_dict")


@_conformance_check
def check_input_projection(spec: _Spec) -> None:
    """If the cell defines both ``project_input`` and ``step_projected``: the projection acts
    on the last dimension only, on ``(N, F)`` and ``(B, T, F)`` inputs, and
    ``step_projected(project_input(x_t), s) == forward(x_t, s)``."""
    cell = spec.cell().eval()
    if not overrides_input_projection(cell):
        return
    N, B, T, F = 5, 2, 4, spec.input_size
    only_last = "(it must act on the last dim only)"
    with torch.no_grad():
        x2 = spec.randn(N, F)
        rows = torch.cat([cell.project_input(x2[i : i + 1]) for i in range(N)])
        _close(cell.project_input(x2), rows, spec.atol, f"project_input on (N, F) mixes rows {only_last}")
        x3 = spec.randn(B, T, F)
        projected = cell.project_input(x3)
        flat = cell.project_input(x3.reshape(B * T, F)).reshape(B, T, -1)
        _close(projected, flat, spec.atol, f"project_input on (B, T, F) mixes time steps {only_last}")
        state: State = tuple(spec.randn(B, spec.hidden_size) for _ in range(cell.state_size))
        for t in range(T):
            h_p, state_p = cell.step_projected(projected[:, t], state)
            h, state = cell(x3[:, t], state)
            what = f"step {t}: step_projected(project_input(x_t), s) vs forward(x_t, s)"
            _close(h_p, h, spec.atol, f"h_t of {what}")
            _close(state_p, state, spec.atol, what)


_CHECKS = (  # contract first, so a broken contract is reported before its consequences
    check_shapes_and_state, check_input_projection, check_gradient_flow, check_padding_invariance,
    check_bidirectional_alignment, check_device_dtype, check_state_dict_round_trip,
)


def check_cell(
    factory: CellFactory, *, input_size: int = 3, hidden_size: int = 5,
    options: Mapping[str, Any] | None = None, device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> None:
    """Run every conformance check on a cell, shapes first; stops at the first failure."""
    sizes = {"input_size": input_size, "hidden_size": hidden_size}
    for check in _CHECKS:
        check(factory, **sizes, options=options, device=device, dtype=dtype)


check_cell.__doc__ = (check_cell.__doc__ or "") + _ARGS_DOC


def describe_time_loop(factory: CellFactory, *, input_size: int = 8, hidden_size: int = 16,
                       options: Mapping[str, Any] | None = None) -> str:
    """One line saying how the runtime unrolls the cell ``factory`` builds: torch's fused
    kernel, its declared input projection, the input part traced and hoisted, or the plain
    per-step loop and why (see :mod:`seqframe.rnn.hoist`)."""
    return describe_path(factory(input_size, hidden_size, **(options or {})))
