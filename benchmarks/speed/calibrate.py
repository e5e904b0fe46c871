"""Measure the constants of the LSTM span cost model in ``seqframe/rnn/paths.py``, and
compare the paths for GRU and tanh-RNN, on this machine.

``python -m benchmarks.speed.calibrate [--threads 2] [--quick] [--precision bf16] [--lstm-only]``:

- torch's unpacked LSTM kernel called the way :mod:`seqframe.rnn.padded` calls it (input
  128, hidden 128/256/512, batch 8 and 32) at 1, 16 and 32 steps: ``call + call_per_weight * W``
  per call, ``step_per_weight * W`` per step and ``row_per_weight * W`` per row and step
  (``W``: weight elements of the layer);
- ``cut_per_element``: what cutting a batch into spans costs beyond the kernel calls (sorting
  rows, assembling outputs), per element of the inputs and outputs: every candidate cut of
  :func:`~seqframe.rnn.segments.candidate_bounds` is timed through
  :func:`~seqframe.rnn.padded.run_segmented` on a few shapes (lengths in ``[T/2, T]``), and the
  value kept is the one of a grid whose cuts, chosen by the model, come closest to the
  fastest measured (geometric mean of chosen / fastest);
- for GRU and tanh-RNN with gradients (information behind the rule that they take the
  loop): the loop against the unpacked kernel span by span, lengths in ``[T/2, T]``.

Every figure is the fastest of its repetitions (on a machine shared with other processes
the fastest is the one least disturbed by them); the constants are least-squares fits. It
prints them as the ``SpanCosts(...)`` lines of ``paths.py`` and one JSON line. It asserts
nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch
from torch import nn

from seqframe.builtin.cells import ElmanCell, GRUCell, LSTMCell
from seqframe.builtin.topologies import StackedTopology
from seqframe.rnn.fused import run_fused
from seqframe.rnn.padded import run_segmented, sorted_lengths
from seqframe.rnn.paths import SpanCosts, lstm_segments
from seqframe.rnn.segments import candidate_bounds, make_segments, plan_segments

MODES = {"LSTM": (LSTMCell, 4), "GRU": (GRUCell, 3), "RNN_TANH": (ElmanCell, 1)}
INPUT = 128


def _best_time(fn: Callable[[], Any], reps: int, min_s: float = 0.03) -> float:
    fn()
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-6)
    calls = max(1, int(min_s / once))
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls)
    return min(times)


PRECISION = {"fp32": None, "bf16": torch.bfloat16}
AUTOCAST: torch.dtype | None = None  # set by --precision: the dtype every timed pass runs under


def _pass(fn: Callable[[], torch.Tensor], module: nn.Module, grad: bool) -> Callable[[], None]:
    def run() -> None:
        with torch.autocast("cpu", dtype=AUTOCAST or torch.bfloat16, enabled=AUTOCAST is not None):
            if grad:
                module.zero_grad(set_to_none=True)
                fn().float().sum().backward()
            else:
                with torch.no_grad():
                    fn()

    return run


def _fit(rows: list[list[float]], ys: list[float]) -> list[float]:
    """Least squares ``y = rows @ coefficients``."""
    solution = torch.linalg.lstsq(
        torch.tensor(rows, dtype=torch.float64), torch.tensor(ys, dtype=torch.float64)[:, None]
    )
    return solution.solution.flatten().tolist()


def kernel(mode: str, grad: bool, hiddens: list[int], reps: int) -> dict[str, float]:
    """``call``, ``call_per_weight``, ``step_per_weight``, ``row_per_weight``: one call of the
    unpacked kernel.

    Per step: the difference between 32 and 16 steps, at 8 and at 32 rows; its part that
    does not depend on the rows and its part per row follow from the two. Per call: the time
    of one step (32 rows) minus one step's work, fitted over the hidden sizes as
    ``call + call_per_weight * W``.
    """
    cls, gates = MODES[mode]
    calls, fixed, per_row = [], [], []
    for hidden in hiddens:
        torch.manual_seed(0)
        cell = cls(INPUT, hidden)
        weights = gates * hidden * (INPUT + hidden)
        step = {}
        for rows in (8, 32):
            hx = tuple(torch.zeros(1, rows, hidden) for _ in range(2 if mode == "LSTM" else 1))
            times = {}
            for length in (1, 16, 32):
                x = torch.randn(length, rows, INPUT)

                def run(x: torch.Tensor = x, cell: nn.Module = cell, hx: tuple[torch.Tensor, ...] = hx) -> torch.Tensor:
                    return run_fused(mode, [[cell]], x, None, hx, 0.0, False, batch_first=False)[0]

                times[length] = _best_time(_pass(run, cell, grad), reps)
            step[rows] = (times[32] - times[16]) / 16
            if rows == 32:
                calls.append([[1.0, weights], times[1] - step[32]])
        row = max(step[32] - step[8], 0.0) / 24
        per_row.append(row / weights)
        fixed.append(max(step[8] - 8 * row, 0.0) / weights)
    call, per_weight = _fit([row for row, _ in calls], [y for _, y in calls])
    return {
        "call": call,
        "call_per_weight": per_weight,
        "step_per_weight": sum(fixed) / len(fixed),
        "row_per_weight": sum(per_row) / len(per_row),
    }


CUT_SHAPES = [(32, 128, 50), (32, 256, 50), (64, 256, 100), (32, 512, 100), (64, 512, 100), (16, 256, 200)]
CUT_GRID = [0.0, 0.5e-9, 1e-9, 1.5e-9, 2e-9, 3e-9, 4e-9, 6e-9, 8e-9]


def cut_cost(
    grad: bool, kernel_costs: dict[str, float], shapes: list[tuple[int, int, int]], reps: int
) -> dict[str, Any]:
    """``cut_per_element`` fitted to timed cuts (see the module docstring), with each shape's
    ratio of the chosen cut's time to the fastest cut's."""
    timed = []
    for batch, hidden, steps in shapes:
        torch.manual_seed(0)
        stack = StackedTopology(LSTMCell, INPUT, hidden)
        x = torch.randn(batch, steps, INPUT)
        lengths = torch.randint((steps + 1) // 2, steps + 1, (batch,), generator=torch.Generator().manual_seed(0))
        lengths[0] = steps
        ordered = sorted_lengths(lengths)
        state = (torch.zeros(1, batch, hidden), torch.zeros(1, batch, hidden))
        cuts = {tuple(b): make_segments(ordered, b) for b in candidate_bounds(sorted(set(ordered)))}

        def run(plan: Any) -> torch.Tensor:
            return run_segmented("LSTM", stack.cells, x, lengths, state, [plan], 0.0, False)[0]

        times = {bounds: _best_time(_pass(lambda p=plan: run(p), stack, grad), reps) for bounds, plan in cuts.items()}
        timed.append((ordered, hidden, times))

    def score(value: float) -> tuple[float, list[float]]:
        costs = SpanCosts(**kernel_costs, cut_per_element=value)
        ratios = []
        for ordered, hidden, times in timed:
            chosen = lstm_segments(ordered, INPUT, hidden, hidden, grad, costs).bounds
            ratios.append(times[chosen] / min(times.values()))
        return math.exp(sum(math.log(r) for r in ratios) / len(ratios)), ratios

    value = min(CUT_GRID, key=lambda v: score(v)[0])
    geo, ratios = score(value)
    return {"cut_per_element": value, "chosen / fastest": ratios, "geo-mean": geo}


def compare_paths(mode: str, shapes: list[tuple[int, int, int]], reps: int) -> list[dict[str, Any]]:
    """Forward+backward time of the loop and of the unpacked kernel span by span (every 4
    steps past the shortest length), lengths in ``[T/2, T]``."""
    cls, _ = MODES[mode]
    looped = type(f"Loop{cls.__name__}", (cls,), {})
    rows = []
    for batch, hidden, steps in shapes:
        torch.manual_seed(0)
        fused, loop = StackedTopology(cls, INPUT, hidden), StackedTopology(looped, INPUT, hidden)
        loop.load_state_dict(fused.state_dict())
        x = torch.randn(batch, steps, INPUT)
        lengths = torch.randint((steps + 1) // 2, steps + 1, (batch,), generator=torch.Generator().manual_seed(0))
        lengths[0] = steps
        plan = plan_segments(sorted(lengths.tolist(), reverse=True), 4, prefix=True)
        state = (torch.zeros(1, batch, hidden),)
        times = {
            "loop": _best_time(_pass(lambda: loop(x, lengths)[0], loop, True), reps),
            "segments": _best_time(
                _pass(lambda: run_segmented(mode, fused.cells, x, lengths, state, [plan], 0.0, False)[0], fused, True),
                reps,
            ),
        }
        rows.append(
            {
                "shape": [batch, hidden, steps],
                "ms": {k: 1e3 * v for k, v in times.items()},
                "loop/segments": times["loop"] / times["segments"],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="two sizes, four repetitions")
    parser.add_argument("--out", type=Path, help="also write the JSON line to this file")
    parser.add_argument(
        "--precision", choices=sorted(PRECISION), default="fp32", help="bf16: every pass under CPU autocast"
    )
    parser.add_argument("--lstm-only", action="store_true", help="skip the GRU and tanh-RNN comparison")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    global AUTOCAST
    AUTOCAST = PRECISION[args.precision]
    hiddens, reps = ([128, 512], 4) if args.quick else ([128, 256, 512], 9)
    result: dict[str, Any] = {"threads": args.threads, "precision": args.precision, "hiddens": hiddens}
    for grad in (False, True):
        fitted = kernel("LSTM", grad, hiddens, reps)
        cuts = cut_cost(grad, fitted, CUT_SHAPES[:3] if args.quick else CUT_SHAPES, max(3, reps // 2))
        fitted["cut_per_element"] = cuts["cut_per_element"]
        result[f"LSTM {'forward+backward' if grad else 'forward'}"] = {**fitted, "cuts": cuts}
        values = ", ".join(f"{fitted[k]:.3g}" for k in SpanCosts.__dataclass_fields__)
        key = f"({grad}, {args.precision != 'fp32'})"
        print(f"    {key}: SpanCosts({values}),  # cuts chosen / fastest: geo-mean {cuts['geo-mean']:.3f}", flush=True)
    shapes = [(32, 128, 50), (32, 256, 100)] + ([] if args.quick else [(64, 512, 200)])
    for mode in () if args.lstm_only else ("GRU", "RNN_TANH"):
        result[f"{mode} paths"] = compare_paths(mode, shapes, max(3, reps // 2))
        for row in result[f"{mode} paths"]:
            print(f"{mode} {row['shape']}: loop / segments = {row['loop/segments']:.2f}", flush=True)
    print(json.dumps(result))
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
