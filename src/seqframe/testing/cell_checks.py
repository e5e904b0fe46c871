"""The bodies of the cell conformance checks: each takes a :class:`CellSpec` and raises
:class:`AssertionError` (or :class:`~seqframe.testing.report.SkipCheck`) when the cell does
not honour what it verifies. :mod:`seqframe.testing.cells` turns them into public checks
and reports. Imports the runtime and the built-in stacked topology only (layers 0-2).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from seqframe.builtin.topologies import StackedTopology
from seqframe.interfaces import Cell, CellFactory, State, overrides_input_projection, state_layout
from seqframe.rnn import run_stack
from seqframe.testing.report import SkipCheck

__all__ = ["BODIES", "FOUNDATION", "QUICK", "CellSpec"]

SEED = 1234
LENGTHS = (5, 2, 1, 4)  # unsorted, with a length-1 sequence
STEPS = 6  # so every sequence has padding, filled with noise rather than zeros


@dataclasses.dataclass
class CellSpec:
    """What a check needs: how to build the cell, where to run it, and a seeded generator.

    ``quick`` runs the cheaper form of a check (padding invariance: one layer, one
    direction), as the check before training does.
    """

    factory: CellFactory
    input_size: int
    hidden_size: int
    options: dict[str, Any]
    device: torch.device
    dtype: torch.dtype
    atol: float = 1e-5  # 2e-2 for half precision
    quick: bool = False
    gen: torch.Generator = dataclasses.field(default_factory=lambda: torch.Generator().manual_seed(SEED))

    def build(self, build: Callable[[], nn.Module], seed: int = SEED) -> Any:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return build().to(self.device, self.dtype)

    def cell(self, seed: int = SEED) -> Any:
        return self.build(lambda: self.factory(self.input_size, self.hidden_size, **self.options), seed)

    def rnn(self, num_layers: int, bidirectional: bool) -> Any:
        factory = functools.partial(self.factory, **self.options)
        sizes = (self.input_size, self.hidden_size)
        return self.build(lambda: StackedTopology(factory, *sizes, num_layers, bidirectional))

    def randn(self, *shape: int) -> Tensor:
        return torch.randn(*shape, generator=self.gen).to(self.device, self.dtype)

    def batch(self) -> tuple[Tensor, Tensor]:
        """A padded batch ``(B, T, F)`` and its lengths ``(B,)``."""
        return self.randn(len(LENGTHS), STEPS, self.input_size), torch.tensor(LENGTHS)

    def weighted_sum(self, tensors: Iterable[Tensor]) -> Tensor:  # a loss touching every element
        return sum(((t * self.randn(*t.shape)).sum() for t in tensors), torch.zeros((), device=self.device))


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _close(actual: Tensor | State, expected: Tensor | State, atol: float, what: str) -> None:
    if isinstance(actual, tuple) or isinstance(expected, tuple):  # states: compare tensor by tensor
        _expect(len(actual) == len(expected), f"{what}: {len(actual)} state tensor(s) vs {len(expected)}")
        for i, (a, e) in enumerate(zip(actual, expected)):
            _close(a, e, atol, f"state[{i}] of {what}")
        return
    shapes = (tuple(actual.shape), tuple(expected.shape))
    _expect(shapes[0] == shapes[1], f"{what}: shape {shapes[0]} vs {shapes[1]}")
    diff = (actual - expected).abs().max().item() if actual.numel() else 0.0
    _expect(diff <= atol, f"{what}: max abs difference {diff:.3g} > {atol:g}")


def _check_tensor(t: object, shape: tuple[int, ...], device: torch.device, dtype: torch.dtype, what: str) -> None:
    if not isinstance(t, Tensor):
        raise AssertionError(f"{what} must be a Tensor, got {type(t).__name__}")
    _expect(tuple(t.shape) == shape, f"{what} must have shape {shape}, got {tuple(t.shape)}")
    _expect(t.dtype == dtype, f"{what} must have dtype {dtype}, got {t.dtype}")
    _expect(t.device.type == device.type, f"{what} must be on {device}, got {t.device}")


def _check_state(
    state: object, shapes: Sequence[tuple[int, ...]], device: torch.device, dtype: torch.dtype, what: str
) -> None:
    if not isinstance(state, tuple):
        raise AssertionError(f"{what} must be a tuple (the runtime rejects {type(state).__name__})")
    _expect(
        len(state) == len(shapes),
        f"{what} must hold {len(shapes)} tensor(s), as initial_state returns; got {len(state)}",
    )
    for i, (s, shape) in enumerate(zip(state, shapes)):
        _check_tensor(s, shape, device, dtype, f"{what}[{i}]")


def _built(spec: CellSpec) -> tuple[Any, tuple[int, ...]]:
    """A fresh cell and its state widths (from ``initial_state``)."""
    cell = spec.cell()
    return cell, state_layout(cell)


def construction(spec: CellSpec) -> None:
    """Check the factory builds a :class:`~seqframe.Cell` of the asked sizes, ``output_size``
    is a positive int, and ``initial_state`` returns a non-empty tuple of ``(B, width)``
    tensors (as many as ``state_size``, when the cell declares it)."""
    cell = spec.cell()
    _expect(isinstance(cell, Cell), f"the factory returned {type(cell).__name__}, not a seqframe.Cell")
    sizes = (cell.input_size, cell.hidden_size)
    _expect(
        sizes == (spec.input_size, spec.hidden_size),
        f"(input_size, hidden_size) must be the asked {(spec.input_size, spec.hidden_size)}, got {sizes}",
    )
    out = cell.output_size
    _expect(
        isinstance(out, int) and not isinstance(out, bool) and out > 0,
        f"output_size must be a positive int, got {out!r}",
    )
    state_layout(cell)


def shapes_and_state(spec: CellSpec) -> None:
    """Check ``h_t`` is ``(B, output_size)`` and the state has the structure of
    ``initial_state`` (zeros, one ``(B, width_i)`` tensor each), on the requested device
    and dtype, for one step and through the runtime."""
    cell, widths = _built(spec)
    B, O, at = 3, cell.output_size, (spec.device, spec.dtype)
    state = cell.initial_state(B, device=spec.device, dtype=spec.dtype)
    _check_state(state, [(B, w) for w in widths], *at, "initial_state(B)")
    _expect(all(bool((s == 0).all()) for s in state), "initial_state must be all zeros")
    result = cell(spec.randn(B, spec.input_size), state)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise AssertionError(f"forward must return a pair (h_t, state), got {type(result).__name__}")
    _check_tensor(result[0], (B, O), *at, "h_t returned by forward (B, output_size)")
    _check_state(result[1], [(B, w) for w in widths], *at, "state returned by forward")
    x, lengths = spec.batch()
    outputs, final = run_stack([[cell]], x, lengths)
    _check_tensor(outputs, (x.shape[0], STEPS, O), *at, "runtime outputs")
    _check_state(final, [(1, x.shape[0], w) for w in widths], *at, "runtime final state")


def finite_outputs(spec: CellSpec) -> None:
    """Check outputs and states stay finite (no NaN or inf) for finite inputs and a random
    initial state."""
    cell, widths = _built(spec)
    x, lengths = spec.batch()
    state = tuple(0.5 * spec.randn(1, len(LENGTHS), w) for w in widths)
    with torch.no_grad():
        outputs, final = run_stack([[cell.eval()]], x, lengths, state)
    for what, t in (("outputs", outputs), *((f"final state[{i}]", f) for i, f in enumerate(final))):
        bad = (~torch.isfinite(t)).nonzero()
        _expect(
            not len(bad),
            f"{what} hold {len(bad)} non-finite value(s) (NaN or inf) for finite inputs, "
            f"first at index {tuple(bad[0].tolist()) if len(bad) else ()}",
        )


def state_carry(spec: CellSpec) -> None:
    """Check the final state can be passed back in: running ``T`` steps at once equals
    running the first steps, then the rest from the state they returned (what a language
    model does from one window to the next)."""
    cell = spec.cell().eval()
    x = spec.randn(2, STEPS, spec.input_size)
    with torch.no_grad():
        whole, whole_final = run_stack([[cell]], x)
        first, carried = run_stack([[cell]], x[:, :2])
        rest, final = run_stack([[cell]], x[:, 2:], None, carried)
    _close(torch.cat([first, rest], 1), whole, spec.atol, "outputs run in two parts, the state carried, vs at once")
    _close(final, whole_final, spec.atol, "the final state run in two parts vs at once")


def gradient_flow(spec: CellSpec) -> None:
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
    dead = [b for b in range(len(LENGTHS)) if not bool(grad[b, 0].ne(0).any())]
    _expect(not dead, f"the final state gets no gradient from step 0 of sequences {dead}")


def padding_invariance(spec: CellSpec) -> None:
    """Check a sequence in a padded batch gives what it gives alone (outputs, final state),
    padded outputs are exactly 0, and padded inputs get exactly zero gradient."""
    x, lengths = spec.batch()
    padded = (torch.arange(STEPS).unsqueeze(0) >= lengths.unsqueeze(1)).to(spec.device)  # (B, T)
    for layers, bidirectional in ((1, False),) if spec.quick else ((1, False), (2, True)):
        rnn = spec.rnn(layers, bidirectional).eval()
        config = f"num_layers={layers}, bidirectional={bidirectional}"
        xb = x.clone().requires_grad_(True)
        outputs, final = rnn(xb, lengths)
        _expect(bool((outputs[padded] == 0).all()), f"padded outputs are not exactly 0 ({config})")
        (grad,) = torch.autograd.grad(spec.weighted_sum([outputs, *final]), xb)
        _expect(bool((grad[padded] == 0).all()), f"padded inputs receive gradient ({config})")
        with torch.no_grad():
            for b, n in enumerate(LENGTHS):
                alone, alone_final = rnn(x[b : b + 1, :n])
                what = f"sequence {b} (length {n}) in a padded batch vs alone ({config})"
                _close(outputs[b, :n], alone[0], spec.atol, f"outputs of {what}")
                batched = tuple(f[:, b] for f in final)
                _close(batched, tuple(a[:, 0] for a in alone_final), spec.atol, what)


def bidirectional_alignment(spec: CellSpec) -> None:
    """Check the backward direction at step ``t`` of a length-``L`` sequence equals a forward
    run of a cell with the same weights over the reversed sequence at step ``L-1-t``; the
    final backward state equals that run's final state."""
    rnn = spec.rnn(1, True).eval()
    forward_only = spec.rnn(1, False).eval()
    forward_only.layers[0][0].load_state_dict(rnn.layers[0][1].state_dict())
    x, lengths = spec.batch()
    O = rnn.layers[0][0].output_size
    with torch.no_grad():
        outputs, final = rnn(x, lengths)
        for b, n in enumerate(LENGTHS):
            ref, ref_final = forward_only(x[b : b + 1, :n].flip(1))
            what = f"sequence {b} (length {n}), backward direction vs forward run over it reversed"
            _close(outputs[b, :n, O:], ref[0].flip(0), spec.atol, f"outputs of {what}")
            _close(tuple(f[1, b] for f in final), tuple(r[0, 0] for r in ref_final), spec.atol, what)


def _check_float64(spec: CellSpec, cell: Any, device: torch.device, how: str) -> None:
    """Check ``cell`` holds float64 parameters and that its outputs and states follow."""
    wrong = [n for n, p in cell.named_parameters() if p.is_floating_point() and p.dtype != torch.float64]
    _expect(not wrong, f"after {how}, parameters {wrong} are not float64")
    at = (device, torch.float64)
    x, lengths = spec.batch()
    B, widths = x.shape[0], state_layout(cell, device=device, dtype=torch.float64)
    outputs, final = run_stack([[cell]], x.to(*at), lengths)
    _check_tensor(outputs, (B, STEPS, cell.output_size), *at, f"outputs after {how}")
    _check_state(final, [(1, B, w) for w in widths], *at, f"final state after {how}")
    if next(cell.parameters(), None) is not None:  # the default follows the parameters
        _check_state(cell.initial_state(2), [(2, w) for w in widths], *at, f"initial_state after {how}")


def _accepts_device_dtype(factory: CellFactory, options: Mapping[str, Any]) -> bool:
    try:
        inspect.signature(factory).bind(1, 1, device=None, dtype=None, **options)
    except TypeError:
        return False
    except ValueError:  # no signature to inspect: try it
        return True
    return True


def device_dtype(spec: CellSpec) -> None:
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


def state_dict_round_trip(spec: CellSpec) -> None:
    """Check ``state_dict`` loaded (strictly) into a fresh instance gives identical outputs."""
    original, fresh = spec.cell(seed=SEED).eval(), spec.cell(seed=SEED + 1).eval()
    fresh.load_state_dict(original.state_dict())
    x, lengths = spec.batch()
    with torch.no_grad():
        expected, expected_final = run_stack([[original]], x, lengths)
        actual, actual_final = run_stack([[fresh]], x, lengths)
    _close(actual, expected, 0.0, "outputs after loading the state_dict into a fresh instance")
    _close(actual_final, expected_final, 0.0, "a fresh instance after loading the state_dict")


def input_projection(spec: CellSpec) -> None:
    """If the cell defines both ``project_input`` and ``step_projected``: the projection acts
    on the last dimension only, on ``(N, F)`` and ``(B, T, F)`` inputs, and
    ``step_projected(project_input(x_t), s) == forward(x_t, s)``."""
    cell, widths = _built(spec)
    cell.eval()
    if not overrides_input_projection(cell):
        raise SkipCheck("the cell declares no project_input/step_projected (its forward is traced instead)")
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
        state: State = tuple(spec.randn(B, w) for w in widths)
        for t in range(T):
            h_p, state_p = cell.step_projected(projected[:, t], state)
            h, state = cell(x3[:, t], state)
            what = f"step {t}: step_projected(project_input(x_t), s) vs forward(x_t, s)"
            _close(h_p, h, spec.atol, f"h_t of {what}")
            _close(state_p, state, spec.atol, what)


BODIES: tuple[Callable[[CellSpec], None], ...] = (  # the contract first: a broken one is reported first
    construction,
    shapes_and_state,
    finite_outputs,
    input_projection,
    state_carry,
    gradient_flow,
    padding_invariance,
    bidirectional_alignment,
    device_dtype,
    state_dict_round_trip,
)
QUICK: tuple[Callable[[CellSpec], None], ...] = (
    construction,
    shapes_and_state,
    finite_outputs,
    state_carry,
    padding_invariance,
)
"""The checks run before training (``padding_invariance`` in its quick form)."""
FOUNDATION = (construction, shapes_and_state, finite_outputs)
"""When one of these fails, the later checks would only repeat it: they are skipped."""
