"""Where calls of a fused kernel start and end over a batch of variable lengths.

Rows are sorted by decreasing length. The steps ``[0, longest)`` are cut into *spans* at
some of the lengths; span ``i`` runs ``[bounds[i], bounds[i+1])`` in one call of the kernel
over the rows still running at its start (a prefix of the sorted batch, so the batch
shrinks between spans). A row whose length is a bound leaves the kernel exactly at its
end. A row whose length falls strictly inside a span is *carried* to the span's end: its
outputs past its length are masked and its final state is recovered (see
:mod:`seqframe.rnn.padded`).

Cutting at every distinct length carries no row (no wasted steps, more calls); one span
over everything is torch's unpacked kernel over the padded batch (one call, the most
wasted steps). :func:`choose_segments` picks between them with a cost model whose
constants were measured on CPU (figures in ``benchmarks/results/speed.md``): it is a pure
function of the lengths and sizes, so the same batch always runs the same way (results
and training runs stay reproducible; a timing taken at run time would not be).
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["Segments", "choose_segments", "plan_segments"]

_GAPS = (1, 2, 4, 8, 16, 32, 64, 1 << 30)
"""Minimum span lengths :func:`choose_segments` compares (1: every length; the last: one span)."""


@dataclass(frozen=True)
class Segments:
    """Spans of steps over a batch sorted by decreasing length.

    Attributes:
        lengths: the sorted lengths, non-increasing.
        bounds: ``0 = bounds[0] < ... < bounds[-1] = lengths[0]``.
        active: per span, the rows running at its start (``#{L > bounds[i]}``), and a last 0.
        reach: per span, the rows running to its end (``#{L >= bounds[i+1]}``); rows
            ``[active[i+1], reach[i])`` end exactly at the span's end, rows
            ``[reach[i], active[i])`` are carried past their ends.
    """

    lengths: tuple[int, ...]
    bounds: tuple[int, ...]
    active: tuple[int, ...]
    reach: tuple[int, ...]

    @property
    def steps(self) -> int:
        """The longest length."""
        return self.bounds[-1]

    @property
    def spans(self) -> list[tuple[int, int, int]]:
        """``(start, end, active rows)`` of every span."""
        return [(self.bounds[i], self.bounds[i + 1], self.active[i]) for i in range(len(self.bounds) - 1)]

    @property
    def carried(self) -> bool:
        """Whether some row runs past its own end inside a span."""
        return any(r < a for r, a in zip(self.reach, self.active))

    def carried_rows(self, span: int) -> range:
        """Rows (sorted order) that end strictly inside ``span``."""
        return range(self.reach[span], self.active[span])


def plan_segments(lengths: list[int], gap: int, prefix: bool = False) -> Segments:
    """Cut at the distinct lengths, each span at least ``gap`` steps (the last may be shorter).

    Args:
        lengths: non-increasing, each ``>= 1``.
        gap: minimum span length; 1 cuts at every distinct length.
        prefix: also cut at the shortest length, so the steps every row runs form one span.
    """
    ascending = lengths[::-1]
    distinct = sorted(set(lengths))
    bounds = [0, distinct[0]] if prefix else [0]
    for value in distinct:
        if value > bounds[-1] and (value - bounds[-1] >= gap or value == distinct[-1]):
            bounds.append(value)
    count = len(lengths)
    active = tuple(count - bisect.bisect_right(ascending, b) for b in bounds)
    reach = tuple(count - bisect.bisect_left(ascending, b) for b in bounds[1:])
    return Segments(tuple(lengths), tuple(bounds), active, reach)


# Cost model, seconds (CPU, 2 threads; see the module docstring). A call of the kernel costs
# a fixed overhead plus its row-steps at a rate of multiply-adds; recovering the memory cell
# of carried LSTM rows costs one batched gate product over their steps plus a short loop.
_CALL_S = MappingProxyType({False: 60e-6, True: 250e-6})  # per kernel call: forward / forward+backward
_MACS_PER_S = 60e9
_RERUN_S = MappingProxyType({False: 150e-6, True: 600e-6})  # fixed cost of the memory-cell recovery
_RERUN_STEP_S = MappingProxyType({False: 12e-6, True: 45e-6})  # per step of its loop
_GATES = MappingProxyType({"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1})


def _cost(plan: Segments, mode: str, width: int, grad: bool) -> float:
    """Estimated seconds of one layer and direction; ``width`` = multiply-adds per row-step."""
    passes = 3 if grad else 1
    rate = _MACS_PER_S / passes / width
    total = 0.0
    for start, end, rows in plan.spans:
        total += _CALL_S[grad] + rows * (end - start) / rate
    if mode == "LSTM" and plan.carried:
        steps = [plan.lengths[r] - plan.bounds[i] for i in range(len(plan.reach)) for r in plan.carried_rows(i)]
        total += _RERUN_S[grad] + max(steps) * _RERUN_STEP_S[grad] + sum(steps) / rate
    return total


def choose_segments(lengths: list[int], mode: str, input_size: int, output_size: int, hidden_size: int,
                    grad: bool) -> Segments:
    """The cheapest cut of ``lengths`` (non-increasing) for a kernel of ``mode`` by the cost model.

    ``RNN_RELU`` is always cut at every length: its state is unbounded, so a row carried
    past its end could overflow and turn the masked gradients into NaN.
    """
    if mode == "RNN_RELU":
        return plan_segments(lengths, 1)
    width = _GATES[mode] * hidden_size * (input_size + output_size)
    best: tuple[float, Segments] | None = None
    seen: set[tuple[int, ...]] = set()
    for gap, prefix in itertools.product(_GAPS, (False, True)):
        plan = plan_segments(lengths, gap, prefix)
        if plan.bounds in seen:
            continue
        seen.add(plan.bounds)
        cost = _cost(plan, mode, width, grad)
        if best is None or cost < best[0]:
            best = (cost, plan)
    assert best is not None
    return best[1]
