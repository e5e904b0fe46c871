"""Which way a variable-length batch of built-in cells runs on CPU: :func:`choose_path`.

Three ways give the same results (packed sequences' semantics) at different costs:

- ``segments``: torch's unpacked kernel span by span between lengths
  (:mod:`seqframe.rnn.padded`, cut by :mod:`seqframe.rnn.segments`);
- ``loop``: the per-step loop over a shrinking batch (:mod:`seqframe.rnn.loop`, with the
  cell's declared input projection);
- ``packed``: torch's packed kernel (its backward takes every step's slice of the packed
  data separately: several times slower than the others, so never with gradients).

oneDNN's LSTM kernel is about twice as fast per step as the loop or torch's packed LSTM, so
an LSTM runs ``segments``, cut where :func:`lstm_segments`'s cost model expects the least
time: every call of the kernel costs a fixed overhead plus work proportional to the weights
(reordering them, and with gradients summing their gradients); every step costs a part that
does not depend on the rows (reading the recurrent weights, which at small batches is most of
it) and work per row; and a row carried past its end wastes its steps there (its memory cell
stays its own: see :mod:`seqframe.rnn.padded`). So cutting where rows end saves only their
share of a step, which at small sizes is less than another call costs: there one span wins. For the tanh/relu RNN and the GRU,
torch's CPU kernels are themselves a loop of per-step operations; measured, the loop over a
shrinking batch is as fast as their unpacked kernels with gradients (faster at large
sizes) and carries no per-call weight work, and their packed kernel is as fast without
gradients, so they take ``loop`` and ``packed``.

The choice is a pure function of the lengths and sizes, so the same batch always runs the
same way: results and training runs stay reproducible, which a timing taken at run time
would not allow. The model's constants were measured on CPU (1 thread, x86_64 with oneDNN)
with ``python -m benchmarks.speed.calibrate`` (``benchmarks/results/calibrate.json``).
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from types import MappingProxyType

from seqframe.rnn.padded import flag_columns
from seqframe.rnn.segments import Segments, candidate_bounds, make_segments

__all__ = ["SpanCosts", "choose_path", "lstm_segments"]


@dataclass(frozen=True)
class SpanCosts:
    """Seconds, for an LSTM layer of ``W = 4 * H * (F + output)`` weight elements.

    A kernel call costs ``call + call_per_weight * W``; each of its steps
    ``step_per_weight * W`` plus ``row_per_weight * W`` per row it runs, carried rows
    past their ends included. A batch cut into more than one span also sorts its rows and
    assembles the spans' outputs: ``cut_per_element`` per element of its inputs and outputs,
    ``S * B * (F + output)``.
    """

    call: float
    call_per_weight: float
    step_per_weight: float
    row_per_weight: float
    cut_per_element: float


_COSTS = MappingProxyType(
    {  # (gradients, reduced precision) -> constants, 1 thread
        # float32: benchmarks/results/calibrate.json
        (False, False): SpanCosts(5.69e-05, 4.07e-10, 2.99e-11, 1.18e-11, 1e-09),
        (True, False): SpanCosts(3.07e-04, 1.43e-09, 7.35e-11, 3.73e-11, 2e-09),
        # bfloat16 autocast: benchmarks/results/calibrate_bf16.json
        (False, True): SpanCosts(1.58e-04, 1.2e-09, 5.2e-11, 6.3e-12, 5e-10),
        (True, True): SpanCosts(8.78e-04, 4.65e-09, 5.12e-10, 0.0, 0.0),
    }
)


def _cost(costs: SpanCosts, weights: int, features: int, ascending: list[int], bounds: list[int]) -> float:
    """Estimated seconds of one layer and direction cut at ``bounds`` (``features``: its
    input and output features together)."""
    cost, count = 0.0, len(ascending)
    per_call = costs.call + costs.call_per_weight * weights
    per_step, per_row = costs.step_per_weight * weights, costs.row_per_weight * weights
    for start, end in itertools.pairwise(bounds):
        rows = count - bisect.bisect_right(ascending, start)  # the rows running at the span's start
        cost += per_call + (end - start) * (per_step + rows * per_row)
    if len(bounds) > 2:
        cost += costs.cut_per_element * bounds[-1] * count * features
    return cost


def lstm_segments(
    lengths: list[int],
    input_size: int,
    output_size: int,
    hidden_size: int,
    grad: bool,
    costs: SpanCosts | None = None,
    reduced: bool = False,
) -> Segments:
    """The cut of ``lengths`` (non-increasing) the cost model expects to be fastest for an
    LSTM layer (``costs``: the model's constants, default this machine's calibration for
    ``grad`` and ``reduced``, a kernel running in bfloat16 or float16)."""
    costs = costs or _COSTS[grad, reduced]
    input_size += flag_columns(input_size)  # the kernel reads the padding flag too
    weights, features = 4 * hidden_size * (input_size + output_size), input_size + output_size
    ascending = lengths[::-1]
    best = min(candidate_bounds(sorted(set(lengths))), key=lambda b: _cost(costs, weights, features, ascending, b))
    return make_segments(lengths, best)


def choose_path(
    lengths: list[int], mode: str, sizes: list[tuple[int, int, int]], grad: bool, reduced: bool = False
) -> list[Segments] | str:
    """How to run ``lengths`` (non-increasing, not all equal) through a stack of ``mode`` cells.

    Args:
        lengths: the batch's lengths, non-increasing.
        mode: the cells' fused mode.
        sizes: per layer, ``(input_size, output_size, hidden_size)`` of its cells.
        grad: whether gradients will flow.
        reduced: whether the kernel runs in bfloat16 or float16 (autocast or such weights):
            its calls cost more, and its steps less, than in float32.

    Returns:
        Per layer, the spans to run the unpacked kernel over (LSTM); or ``"loop"``; or ``"packed"``.
    """
    if mode != "LSTM":
        return "loop" if grad else "packed"
    return [lstm_segments(lengths, *size, grad, reduced=reduced) for size in sizes]
