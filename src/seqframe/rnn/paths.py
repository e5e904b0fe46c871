"""Which way a variable-length batch of built-in cells runs on CPU: :func:`choose_path`.

Three ways give the same results (packed sequences' semantics) at different costs:

- ``segments``: torch's unpacked kernel span by span between lengths
  (:mod:`seqframe.rnn.padded`, cut by :mod:`seqframe.rnn.segments`): oneDNN's LSTM is about
  twice as fast per step as anything else here, but every call costs a fixed overhead
  plus work proportional to the weights (reordering them, and with gradients summing
  their gradients), rows carried past their ends waste steps, and an LSTM's carried rows
  need their memory cell recomputed;
- ``loop``: the per-step loop over a shrinking batch (:mod:`seqframe.rnn.loop`, with the
  cell's declared input projection): no wasted steps and no per-call weight work, a small
  fixed cost per step;
- ``packed``: torch's packed kernel, without gradients only (its backward takes every
  step's slice of the packed data separately, several times slower than the others).

A cost model estimates each, per layer and direction, from the lengths and the layer's
sizes, with constants measured on CPU (2 threads) by ``python -m benchmarks.speed.calibrate``
(figures in ``benchmarks/results/speed.md``); the cheapest runs. The choice is a pure
function of the lengths and sizes, so the same batch always runs the same way: results
and training runs stay reproducible, which a timing taken at run time would not allow.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from types import MappingProxyType

from seqframe.rnn.segments import Segments, candidate_bounds, make_segments

__all__ = ["choose_path"]


@dataclass(frozen=True)
class _Costs:
    """Seconds; ``W`` = the layer's weight elements (``gates * H * (F + output)``).

    - a kernel call: ``call + call_per_weight * W``, and ``step_per_weight * W`` per row-step;
    - recovering carried LSTM rows: ``recover + recover_per_weight * W`` per row-step redone;
    - the loop: ``loop_step`` per step and ``loop_per_weight * W`` per row-step;
    - the packed kernel: ``packed_step`` per step and ``packed_per_weight * W`` per row-step
      (None: not offered).
    """

    call: float
    call_per_weight: float
    step_per_weight: float
    recover: float
    recover_per_weight: float
    loop_step: float
    loop_per_weight: float
    packed_step: float | None = None
    packed_per_weight: float = 0.0


_COSTS = MappingProxyType({  # (mode, gradients) -> constants
    ("LSTM", False): _Costs(0.1e-3, 0.4e-9, 1.5e-11, 0.5e-3, 3.7e-11, 30e-6, 4e-11, 10e-6, 3e-11),
    ("LSTM", True): _Costs(0.3e-3, 4e-9, 5.6e-11, 1.5e-3, 9.9e-11, 100e-6, 1.5e-10),
    ("GRU", False): _Costs(0.05e-3, 1.2e-9, 6.4e-11, 0.0, 0.0, 25e-6, 6.4e-11, 8e-6, 6.4e-11),
    ("GRU", True): _Costs(0.05e-3, 7.3e-9, 13.6e-11, 0.0, 0.0, 60e-6, 13.6e-11),
    ("RNN_TANH", False): _Costs(0.02e-3, 0.65e-9, 5.8e-11, 0.0, 0.0, 15e-6, 5.8e-11, 5e-6, 5.8e-11),
    ("RNN_TANH", True): _Costs(0.05e-3, 1.8e-9, 30.6e-11, 0.0, 0.0, 40e-6, 30.6e-11),
})
_GATES = MappingProxyType({"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1})


def _segments_cost(costs: _Costs, mode: str, weights: int, ascending: list[int], total: list[int],
                   bounds: list[int]) -> float:
    cost, carried, count = 0.0, 0, len(ascending)
    per_call, per_step = costs.call + costs.call_per_weight * weights, costs.step_per_weight * weights
    for start, end in zip(bounds, bounds[1:]):
        low = bisect.bisect_right(ascending, start)
        high = bisect.bisect_left(ascending, end)  # rows [low, high) end strictly inside
        cost += per_call + (count - low) * (end - start) * per_step
        carried += total[high] - total[low] - start * (high - low)
    if mode == "LSTM" and carried:
        cost += costs.recover + costs.recover_per_weight * weights * carried
    return cost


def choose_path(lengths: list[int], mode: str, sizes: list[tuple[int, int, int]],
                grad: bool) -> list[Segments] | str:
    """The cheapest way to run ``lengths`` (non-increasing, not all equal) through a stack.

    Args:
        lengths: the batch's lengths, non-increasing.
        mode: the cells' fused mode.
        sizes: per layer, ``(input_size, output_size, hidden_size)`` of its cells.
        grad: whether gradients will flow.

    Returns:
        Per layer, the spans to run the unpacked kernel over; or ``"loop"``; or ``"packed"``.
    """
    if mode == "RNN_RELU":  # unbounded state: a row carried past its end could overflow into NaN gradients
        return "loop" if grad else "packed"
    costs = _COSTS[(mode, grad)]
    ascending = lengths[::-1]
    total = list(itertools.accumulate(ascending, initial=0))  # total[j] = sum of the j shortest
    steps, row_steps = lengths[0], total[-1]
    candidates = list(candidate_bounds(sorted(set(lengths))))
    loop = packed = segmented = 0.0
    plans = []
    for input_size, output_size, hidden_size in sizes:
        weights = _GATES[mode] * hidden_size * (input_size + output_size)
        loop += steps * costs.loop_step + row_steps * costs.loop_per_weight * weights
        if costs.packed_step is not None:
            packed += steps * costs.packed_step + row_steps * costs.packed_per_weight * weights
        cost, bounds = min(((_segments_cost(costs, mode, weights, ascending, total, b), b) for b in candidates),
                           key=lambda option: option[0])
        segmented += cost
        plans.append(make_segments(lengths, bounds))
    if costs.packed_step is not None and packed < min(loop, segmented):
        return "packed"
    return "loop" if loop < segmented else plans
