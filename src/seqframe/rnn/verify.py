"""Checking a hoisting plan before it is used: :class:`Sample`, :func:`propagate`, :func:`verify`.

On random inputs with shrinking batches, the hoisted loop must reproduce the plain loop's
outputs and final states (both run with the same random seed and without gradients; the
global random state and the cell's buffers are restored afterwards; dropout modules,
elementwise and so safe to hoist, are checked in eval mode). Imports only layer 0, torch
and the runtime's own modules.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from seqframe.interfaces import Cell, State, state_layout
from seqframe.rnn.plan import HoistPlan
from seqframe.rnn.steps import time_loop
from seqframe.rnn.tracing import NotHoistable

__all__ = ["SAMPLE_LENGTHS", "Sample", "preserved", "propagate", "verify"]

SAMPLE_LENGTHS = (5, 5, 3, 2)
"""Lengths of the verification batch: 4, 4, 3, 2, 2 rows per step."""


@dataclass
class Sample:
    """Random packed inputs for shape propagation and verification."""

    x: Tensor
    state: State
    batch_sizes: list[int]

    def __init__(self, cell: Cell) -> None:
        param = next(cell.parameters(), None)
        device = param.device if param is not None else None
        dtype = param.dtype if param is not None else None
        if dtype is not None and not dtype.is_floating_point:
            dtype = torch.float32
        steps = max(SAMPLE_LENGTHS)
        self.batch_sizes = [sum(1 for n in SAMPLE_LENGTHS if n > t) for t in range(steps)]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1234)
            self.x = torch.randn(sum(self.batch_sizes), cell.input_size).to(device=device, dtype=dtype)
            self.state = tuple(
                0.5 * torch.randn(len(SAMPLE_LENGTHS), width).to(device=device, dtype=dtype)
                for width in state_layout(cell, device=device, dtype=dtype)
            )


def propagate(gm: fx.GraphModule, sample: Sample) -> None:
    """Record shapes on the nodes of ``gm`` from the first step of ``sample``."""
    rows = sample.batch_sizes[0]
    try:
        with torch.no_grad(), preserved(gm):
            ShapeProp(gm).propagate(sample.x[:rows], *sample.state)
    except Exception as exc:
        raise NotHoistable(f"its traced step fails on a sample input ({type(exc).__name__}: {exc})") from None


@contextmanager
def preserved(module: nn.Module) -> Iterator[None]:
    """Restore ``module``'s buffers (e.g. running statistics) and the random state on exit."""
    buffers = [(b, b.detach().clone()) for b in module.buffers()]
    devices = sorted({b.device.index or 0 for b in module.buffers() if b.device.type == "cuda"})
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)


def verify(cell: Cell, plan: HoistPlan, sample: Sample) -> None:
    """Check the hoisted loop against the plain loop on ``sample``.

    Raises:
        NotHoistable: the hoisted loop fails or computes something else.
    """
    sizes = sample.batch_sizes
    for module in cell.modules():  # elementwise, so hoistable, but its draws differ by batch shape
        if isinstance(module, nn.modules.dropout._DropoutNd):
            module.training = False  # restored by the caller (attributes_kept)
    try:
        with torch.no_grad(), preserved(cell):
            torch.manual_seed(0)
            plain = time_loop(
                lambda inp, s: cell.forward(inp[0], s), ((t,) for t in sample.x.split(sizes)), sizes, sample.state
            )
            torch.manual_seed(0)
            steps, call = plan.prepare(sample.x, sizes)
            hoisted = time_loop(call, steps, sizes, sample.state)
    except Exception as exc:
        raise NotHoistable(f"its hoisted step fails on a sample input ({type(exc).__name__}: {exc})") from None
    tolerance = (
        {"rtol": 1e-4, "atol": 1e-5}
        if sample.x.dtype in (torch.float32, torch.float64)
        else {"rtol": 2e-2, "atol": 2e-2}
    )
    pairs = [(plain[0], hoisted[0]), *zip(plain[1], hoisted[1])]
    if not all(a.shape == b.shape and torch.allclose(a, b, equal_nan=True, **tolerance) for a, b in pairs):
        raise NotHoistable(
            "computing its input part for all steps at once changes the results (an operation "
            "across the batch, or random numbers drawn outside a dropout module)"
        )
