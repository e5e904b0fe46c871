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


def _bounds(distinct: list[int], gap: int, prefix: bool) -> list[int]:
    """Greedy cuts over the ascending distinct lengths, spans of at least ``gap`` steps."""
    bounds = [0, distinct[0]] if prefix else [0]
    last = distinct[-1]
    while bounds[-1] < last:
        at = bisect.bisect_left(distinct, bounds[-1] + gap)
        bounds.append(distinct[at] if at < len(distinct) else last)
    return bounds


def _segments(lengths: list[int], bounds: list[int]) -> Segments:
    ascending = lengths[::-1]
    count = len(lengths)
    active = tuple(count - bisect.bisect_right(ascending, b) for b in bounds)
    reach = tuple(count - bisect.bisect_left(ascending, b) for b in bounds[1:])
    return Segments(tuple(lengths), tuple(bounds), active, reach)


def plan_segments(lengths: list[int], gap: int, prefix: bool = False) -> Segments:
    """Cut at the distinct lengths, each span at least ``gap`` steps (the last may be shorter).

    Args:
        lengths: non-increasing, each ``>= 1``.
        gap: minimum span length; 1 cuts at every distinct length.
        prefix: also cut at the shortest length, so the steps every row runs form one span.
    """
    return _segments(lengths, _bounds(sorted(set(lengths)), gap, prefix))


@dataclass(frozen=True)
class _Costs:
    """Seconds: a kernel call costs ``call + call_per_weight * W`` and ``step_per_weight * W``
    per row-step; recovering carried LSTM rows costs ``recover + recover_per_weight * W`` per
    row-step recomputed (``W``: the layer's weight elements)."""

    call: float
    call_per_weight: float
    step_per_weight: float
    recover: float = 0.0
    recover_per_weight: float = 0.0


# Measured with `python -m benchmarks.speed.calibrate` (2 threads; figures in
# benchmarks/results/speed.md), keyed by (mode, gradients).
_COSTS = MappingProxyType({
    ("LSTM", False): _Costs(0.7e-3, 0.7e-9, 1.5e-11, 0.8e-3, 3.7e-11),
    ("LSTM", True): _Costs(1.1e-3, 5.9e-9, 5.6e-11, 4.1e-3, 9.9e-11),
    ("GRU", False): _Costs(0.09e-3, 1.2e-9, 6.4e-11),
    ("GRU", True): _Costs(0.05e-3, 7.3e-9, 13.6e-11),
    ("RNN_TANH", False): _Costs(0.02e-3, 0.65e-9, 5.8e-11),
    ("RNN_TANH", True): _Costs(0.05e-3, 1.8e-9, 30.6e-11),
})
_GATES = MappingProxyType({"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1})


def choose_segments(lengths: list[int], mode: str, input_size: int, output_size: int, hidden_size: int,
                    grad: bool) -> Segments:
    """The cheapest cut of ``lengths`` (non-increasing) for a kernel of ``mode`` by the cost model.

    ``RNN_RELU`` is always cut at every length: its state is unbounded, so a row carried
    past its end could overflow and turn the masked gradients into NaN.
    """
    if mode == "RNN_RELU":
        return plan_segments(lengths, 1)
    costs = _COSTS[(mode, grad)]
    weights = _GATES[mode] * hidden_size * (input_size + output_size)
    per_call, per_step = costs.call + costs.call_per_weight * weights, costs.step_per_weight * weights
    ascending = lengths[::-1]
    total = list(itertools.accumulate(ascending, initial=0))  # total[j] = sum of the j shortest
    distinct, count = sorted(set(lengths)), len(lengths)
    best: tuple[float, list[int]] | None = None
    for gap, prefix in itertools.product(_GAPS, (False, True)):
        if prefix and distinct[0] >= gap:
            continue  # the same cuts as without
        bounds = _bounds(distinct, gap, prefix)
        cost, carried = 0.0, 0
        for start, end in zip(bounds, bounds[1:]):
            low = bisect.bisect_right(ascending, start)
            high = bisect.bisect_left(ascending, end)  # rows [low, high) end strictly inside
            cost += per_call + (count - low) * (end - start) * per_step
            carried += total[high] - total[low] - start * (high - low)
        if mode == "LSTM" and carried:
            cost += costs.recover + costs.recover_per_weight * weights * carried
        if best is None or cost < best[0]:
            best = (cost, bounds)
    assert best is not None
    return _segments(lengths, best[1])
