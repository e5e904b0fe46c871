"""What the recurrence does inside a model: activations, saturation and the gradient through
time of every layer and direction of every topology that shows its cells
(:class:`~seqframe.interfaces.CellStack`), for any cell.

:func:`probe_recurrence` runs a task's ``training_step`` on one batch while each cell
stack's layers are re-run one at a time through the public runtime
(:func:`seqframe.rnn.run_stack`), every cell wrapped so that the state entering each step is
a node of the graph (its gradient is ``dL/dh_t`` with every path through later steps) and
the cell's declared gates (:meth:`~seqframe.interfaces.Cell.gate_activations`) are counted.
Nothing of the model changes: gradients are taken with :func:`torch.autograd.grad` (no
``.grad`` is written), in eval mode, with the random generators restored afterwards.
Facade layer.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import torch
from torch import Tensor, nn

from seqframe.interfaces import Cell, CellStack, State, Task
from seqframe.rnn import run_stack

__all__ = ["LayerRecord", "SATURATION", "grad_slope", "probe_recurrence"]

SATURATION = 0.99
"""A unit is saturated when ``|h| > 0.99 * output_bound``; a gate when below 0.01 or above 0.99."""


@dataclass
class LayerRecord:
    """What one cell (a layer and direction of a stack) did on the probe batch."""

    states: list[State] = field(default_factory=list)  # the state entering each step, graph nodes
    gates: dict[str, list[int]] = field(default_factory=dict)  # name -> [saturated, total]

    def count_gates(self, values: Mapping[str, Tensor]) -> None:
        for name, value in values.items():
            counts = self.gates.setdefault(name, [0, 0])
            counts[0] += int(((value < 1 - SATURATION) | (value > SATURATION)).sum())
            counts[1] += value.numel()


class _RecordingCell(Cell):
    """Runs ``inner`` step by step, recording the state entering each step and the gates."""

    auto_hoist = False  # the plain per-step loop: one forward call per step, in order

    def __init__(self, inner: Cell, record: LayerRecord) -> None:
        super().__init__(inner.input_size, inner.hidden_size)
        self.output_size = inner.output_size
        self.inner, self.record = inner, record

    def initial_state(
        self, batch_size: int, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> State:
        return self.inner.initial_state(batch_size, device=device, dtype=dtype)

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        # Its own node (a leaf for the zero initial state): dL/d(state) counts every later step.
        state = tuple(s.clone() if s.requires_grad else s.detach().clone().requires_grad_() for s in state)
        self.record.states.append(state)
        with torch.no_grad():
            self.record.count_gates(self.inner.gate_activations(x_t, state))
        result: tuple[Tensor, State] = self.inner(x_t, state)
        return result


@dataclass
class _StackProbe:
    """One cell stack's re-run: its layer outputs ``(B, T, D*O)`` and a record per cell."""

    name: str
    stack: CellStack
    lengths: Tensor | None = None
    outputs: list[Tensor] = field(default_factory=list)
    records: list[list[LayerRecord]] = field(default_factory=list)
    inputs: list[tuple[Tensor, State | None]] = field(default_factory=list)  # each layer's, detached
    mismatch: str | None = None
    done: bool = False

    def _layer(
        self, layer: Sequence[Cell], data: Tensor, state: State | None
    ) -> tuple[Tensor, State, list[LayerRecord]]:
        records = [LayerRecord() for _ in layer]
        wrapped = [_RecordingCell(cell, record) for cell, record in zip(layer, records)]
        lengths = self.lengths
        out, final = run_stack([wrapped], data, lengths, state, who=f"diagnostics of {self.name!r}")
        return out, final, records

    def rerun(self, x: Tensor, lengths: Any, state: State | None) -> tuple[Tensor, State]:
        """The stack's forward, one layer at a time, with recording cells."""
        cells = self.stack.cells
        width = len(cells[0])
        self.lengths = None if lengths is None else torch.as_tensor(lengths).cpu()
        data, finals = x, []
        for index, layer in enumerate(cells):
            layer_state = None if state is None else tuple(s[index * width : (index + 1) * width] for s in state)
            self.inputs.append((data.detach(), None if layer_state is None else tuple(s.detach() for s in layer_state)))
            data, final, records = self._layer(layer, data, layer_state)
            self.outputs.append(data)
            self.records.append(records)
            finals.append(final)
        return data, tuple(torch.cat([f[i] for f in finals], 0) for i in range(len(finals[0])))

    def memory(self) -> list[list[list[float]]]:
        """Per layer and direction, the mean norm of ``d(u . s_T) / d s_t`` at each step: how
        much the cell's final state still depends on its state at step ``t`` (its own
        recurrence only: each layer re-runs on its detached input; ``u`` is a fixed random
        direction per state tensor)."""
        generator = torch.Generator().manual_seed(0)
        out = []
        for layer, (data, state) in zip(self.stack.cells, self.inputs):
            _, final, records = self._layer(layer, data, state)
            # a Tensor, not sum()'s start value 0: final is non-empty (a cell has state)
            target = cast(
                Tensor,
                sum(
                    (f * torch.randn(f.shape, generator=generator).to(f) / math.sqrt(f.shape[-1])).sum() for f in final
                ),
            )
            states = [s for record in records for step in record.states for s in step]
            grads = dict(zip(map(id, states), torch.autograd.grad(target, states, allow_unused=True)))
            out.append([_step_norms(record, grads) for record in records])
        return out


def _stacks(model: nn.Module) -> list[_StackProbe]:
    return [
        _StackProbe(name or "model", module) for name, module in model.named_modules() if isinstance(module, CellStack)
    ]


def _hook(probe: _StackProbe) -> Any:
    """A forward hook replacing the stack's output by its layer-by-layer re-run (first call only)."""

    def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Any:
        if probe.done:
            return output
        probe.done = True
        x = args[0] if args else kwargs["x"]
        lengths = args[1] if len(args) > 1 else kwargs.get("lengths")
        state = args[2] if len(args) > 2 else kwargs.get("state")
        try:
            rerun = probe.rerun(x, lengths, state)
        except Exception as exc:  # e.g. a 'cells' attribute that is not [layer][direction] cells
            probe.mismatch = f"its cells could not be run as a stack ({type(exc).__name__}: {exc})"
        else:
            if torch.allclose(rerun[0], output[0], rtol=1e-3, atol=1e-4):
                return rerun
            probe.mismatch = "its outputs are not those of its cells run as a stack"
        probe.outputs, probe.records = [], []
        return output

    return hook


@contextmanager
def _quiet_model(model: nn.Module, device: torch.device) -> Iterator[None]:
    """Eval mode and untouched random generators while probing; the mode is restored after."""
    was_training = model.training
    state = random.getstate()
    cuda = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=cuda):
            model.eval()
            yield
    finally:
        model.train(was_training)
        random.setstate(state)


def probe_recurrence(task: Task, model: nn.Module, batch: Mapping[str, Any]) -> tuple[float, list[dict[str, Any]]]:
    """Measure every layer and direction of every cell stack of ``model`` on one batch.

    Args:
        task: the task whose ``training_step`` gives the loss.
        model: the model (unwrapped, any device; left unchanged).
        batch: one batch as ``task.train_batches`` gives it, on the model's device.

    Returns:
        ``(probe loss, rows)``: one row per stack, layer and direction with ``topology``,
        ``layer`` (1-based), ``direction``, ``cell``, ``mean`` and ``std`` of ``h_t`` over the
        batch, time and units, ``saturated`` (share of ``|h| > 0.99 * output_bound``, None
        without a bound), ``gates_saturated`` and ``gate_saturation`` (per gate; None / {}
        without declared gates), ``grad_norms`` (mean norm of ``dL/dh_t`` per step, in the
        direction's order) and ``grad_slope`` (see :func:`grad_slope`), ``memory_norms`` and
        ``memory_slope`` (the same for ``d(u . s_T)/d s_t``, the cell's final state against its
        state at each step through its own recurrence, whatever the loss: the vanishing or
        exploding gradient of the recurrence itself), ``param_norm`` and ``grad_norm`` (of the
        cell's parameters), and ``skipped`` (why a stack was left out).

    Raises:
        ValueError: the model has no cell stack.
    """
    probes = _stacks(model)
    if not probes:
        raise ValueError(
            "the model has no topology that shows its cells (seqframe.interfaces.CellStack); "
            "the built-in 'stacked' and 'bidirectional' topologies do"
        )
    device = next(model.parameters()).device
    handles = [probe.stack.register_forward_hook(_hook(probe), with_kwargs=True) for probe in probes]  # type: ignore[attr-defined]
    try:
        with _quiet_model(model, device):
            loss = task.training_step(model, batch, None)[0]
            measured = [probe for probe in probes if probe.records]
            cells = [cell for probe in measured for layer in probe.stack.cells for cell in layer]
            params: list[Tensor] = [p for cell in cells for p in cell.parameters() if p.requires_grad]
            states = [
                s for probe in measured for layer in probe.records for r in layer for state in r.states for s in state
            ]
            grads = torch.autograd.grad(loss, states + params, allow_unused=True) if states + params else ()
            state_grads = dict(zip(map(id, states), grads[: len(states)]))
            param_grads = dict(zip(map(id, params), grads[len(states) :]))
            rows = [row for probe in probes for row in _rows(probe, state_grads, param_grads)]
    finally:
        for handle in handles:
            handle.remove()
    return float(loss.detach()), rows


def _rows(
    probe: _StackProbe, state_grads: Mapping[int, Tensor | None], param_grads: Mapping[int, Tensor | None]
) -> list[dict[str, Any]]:
    if probe.mismatch or not probe.outputs:
        return [{"topology": probe.name, "skipped": probe.mismatch or "the task's training_step did not call it"}]
    rows, memory = [], probe.memory()
    for index, (layer, output) in enumerate(zip(probe.stack.cells, probe.outputs)):
        width = output.shape[-1] // len(layer)
        for direction, (cell, record) in enumerate(zip(layer, probe.records[index])):
            values = output[..., direction * width : (direction + 1) * width].detach()
            row = {
                "topology": probe.name,
                "layer": index + 1,
                "direction": ("forward", "backward")[direction],
                "cell": type(cell).__name__,
                **_activation_stats(values, probe.lengths, cell.output_bound),
                **_gate_stats(record),
                **_gradient_stats(record, state_grads, memory[index][direction]),
                **_parameter_stats(cell, param_grads),
            }
            rows.append(row)
    return rows


def _activation_stats(values: Tensor, lengths: Tensor | None, bound: float | None) -> dict[str, Any]:
    """Mean, std and saturated share of ``values (B, T, O)`` over the real steps."""
    if lengths is not None:
        real = torch.arange(values.shape[1]) < lengths.unsqueeze(1)  # (B, T)
        values = values[real.to(values.device)]
    values = values.float().flatten()
    saturated = None if bound is None else float((values.abs() > SATURATION * bound).float().mean())
    return {"mean": float(values.mean()), "std": float(values.std(unbiased=False)), "saturated": saturated}


def _gate_stats(record: LayerRecord) -> dict[str, Any]:
    if not record.gates:
        return {"gates_saturated": None, "gate_saturation": {}}
    total = sum(n for _, n in record.gates.values())
    return {
        "gates_saturated": sum(s for s, _ in record.gates.values()) / max(total, 1),
        "gate_saturation": {name: s / max(n, 1) for name, (s, n) in record.gates.items()},
    }


def _step_norms(record: LayerRecord, grads: Mapping[int, Tensor | None]) -> list[float]:
    """Mean norm (over the rows running at each step) of the gradient for each recorded state."""
    norms = []
    for state in record.states:
        parts = [grads.get(id(s)) for s in state]
        squares = sum((g.float() ** 2).sum(-1) for g in parts if g is not None)
        norms.append(float(torch.as_tensor(squares).sqrt().mean()) if isinstance(squares, Tensor) else 0.0)
    return [float(f"{n:.4g}") for n in norms]


def _gradient_stats(record: LayerRecord, grads: Mapping[int, Tensor | None], memory: list[float]) -> dict[str, Any]:
    """``dL/dh_t`` and ``d(u . s_T)/d s_t`` per step, and their slopes."""
    norms = _step_norms(record, grads)
    return {
        "grad_norms": norms,
        "grad_slope": grad_slope(norms),
        "memory_norms": memory,
        "memory_slope": grad_slope(memory),
    }


def _parameter_stats(cell: Cell, grads: Mapping[int, Tensor | None]) -> dict[str, float]:
    params = [p for p in cell.parameters() if p.requires_grad]
    found = [g for g in (grads.get(id(p)) for p in params) if g is not None]
    return {
        "param_norm": math.sqrt(sum(float((p.detach().float() ** 2).sum()) for p in params)),
        "grad_norm": math.sqrt(sum(float((g.float() ** 2).sum()) for g in found)),
    }


def grad_slope(norms: Sequence[float]) -> float | None:
    """How ``log10 ||dL/dh_t||`` changes per step back in time: the least-squares slope over
    the steps with a positive norm, in the direction's processing order read backwards.
    Negative: the gradient vanishes into the past (-0.05 is 10x smaller every 20 steps);
    about 0: it is carried; positive: it grows (explodes). None with fewer than 2 such steps."""
    points = [(len(norms) - 1 - t, math.log10(n)) for t, n in enumerate(norms) if n > 0 and math.isfinite(n)]
    if len(points) < 2:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    spread = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / spread if spread else None
