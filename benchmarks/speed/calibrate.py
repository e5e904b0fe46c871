"""Measure the constants of the span cost model in ``seqframe/rnn/segments.py`` on this machine.

``python -m benchmarks.speed.calibrate [--threads 2] [--quick]`` times torch's unpacked
kernels (time-major, one layer, input 128) the way :mod:`seqframe.rnn.padded` calls them,
and the memory-cell recovery of carried LSTM rows, then fits (least squares):

- per kernel call: ``call_s = a + b * W`` seconds, ``W`` = weight elements of the layer
  (gates * H * (F + H)), from the same steps run as 1, 2, 4 and 8 calls;
- per row-step: ``W * k`` seconds (``k`` = seconds per weight element and row-step), from
  one call at two lengths;
- recovery (LSTM): ``r0 + (row-steps) * W * kr`` seconds.

Each figure is a median of interleaved repetitions (:mod:`.harness`). It prints the
fitted constants and a JSON line; the cost model's constants are these, rounded. It
measures, it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from torch import nn  # noqa: E402

from seqframe.rnn.fused import run_fused  # noqa: E402
from seqframe.rnn.padded import _Batch, _memory_of_carried  # noqa: E402
from seqframe.rnn.segments import plan_segments  # noqa: E402

MODES = {"LSTM": (nn.LSTM, 4), "GRU": (nn.GRU, 3), "RNN_TANH": (nn.RNN, 1)}
INPUT = 128


def _median_time(fn: Callable[[], Any], reps: int, min_s: float = 0.05) -> float:
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
    return statistics.median(times)


def _pass(fn: Callable[[], torch.Tensor], params: list[torch.Tensor], grad: bool) -> Callable[[], None]:
    def run() -> None:
        if grad:
            for p in params:
                p.grad = None
            fn().sum().backward()
        else:
            with torch.no_grad():
                fn()
    return run


class _Cell(nn.Module):
    """A built-in-like cell: torch's parameter names on a plain module, for run_fused."""

    def __init__(self, ref: nn.RNNBase) -> None:
        super().__init__()
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            setattr(self, name, getattr(ref, f"{name}_l0"))


def _fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares ``y = a + b x``."""
    xs, ys = zip(*points)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    b = sum((x - mx) * (y - my) for x, y in points) / max(sum((x - mx) ** 2 for x in xs), 1e-30)
    return my - b * mx, b


def calls_and_steps(mode: str, grad: bool, hiddens: list[int], batch: int, steps: int, reps: int) -> dict[str, float]:
    """Per-call overhead ``a + b W`` and per row-step cost ``k W``."""
    module, gates = MODES[mode]
    per_call, per_step = [], []
    for hidden in hiddens:
        torch.manual_seed(0)
        ref = module(INPUT, hidden)
        cell = _Cell(ref)
        width = gates * hidden * (INPUT + hidden)
        x = torch.randn(steps, batch, INPUT)
        zeros = torch.zeros(1, batch, hidden)
        hx = (zeros, zeros) if mode == "LSTM" else (zeros,)

        def split(n: int, length: int = steps) -> Callable[[], torch.Tensor]:
            def run() -> torch.Tensor:
                outs, state = [], hx
                for i in range(n):
                    part = x[i * length // n:(i + 1) * length // n]
                    out, state = run_fused(mode, [[cell]], part, None, state, 0.0, False, batch_first=False)
                    outs.append(out)
                return torch.cat(outs)
            return run

        params = list(cell.parameters())
        times = {n: _median_time(_pass(split(n), params, grad), reps) for n in (1, 2, 4, 8)}
        slope = _fit([(n, t) for n, t in times.items()])[1]
        per_call.append((width, slope))
        short = _median_time(_pass(split(1, steps // 2), params, grad), reps)
        per_step.append((width, (times[1] - short) / (batch * (steps - steps // 2)) / width))
    a, b = _fit(per_call)
    return {"call_a_s": a, "call_b_s_per_weight": b, "step_s_per_weight": statistics.fmean(k for _, k in per_step)}


def recovery(grad: bool, hiddens: list[int], batch: int, reps: int) -> dict[str, float]:
    """Cost of recovering the memory cell of carried LSTM rows: ``r0 + row-steps * W * kr``."""
    points = []
    for hidden in hiddens:
        torch.manual_seed(0)
        cell = _Cell(nn.LSTM(INPUT, hidden))
        width = 4 * hidden * (INPUT + hidden)
        for spread in (4, 16, 48):
            lengths = sorted((100 - (i * spread) // batch for i in range(batch)), reverse=True)
            plan = plan_segments(lengths, 1 << 30, prefix=True)
            where = _Batch(torch.tensor(lengths), torch.device("cpu")).carried(plan)
            data = torch.randn(100, batch, INPUT)
            raw = torch.randn(100, batch, hidden, requires_grad=grad)
            entering = [(torch.randn(batch, hidden), torch.randn(batch, hidden))] * len(plan.spans)
            row_steps = sum(plan.lengths[r] - plan.bounds[s] for s in range(len(plan.reach))
                            for r in plan.carried_rows(s))
            params = list(cell.parameters())
            seconds = _median_time(_pass(lambda: torch.cat(list(_memory_of_carried(
                cell, data, raw, where, entering).values())), params, grad), reps)
            points.append((row_steps * width, seconds))
    r0, kr = _fit(points)
    return {"recover_a_s": r0, "recover_s_per_weight_row_step": kr}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repetitions")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    hiddens, reps = ([128, 512], 3) if args.quick else ([128, 256, 512], 7)
    result: dict[str, Any] = {"threads": args.threads, "batch": 32, "steps": 64}
    for grad in (False, True):
        for mode in MODES:
            fitted = calls_and_steps(mode, grad, hiddens, 32, 64, reps)
            result[f"{mode} {'fwd+bwd' if grad else 'fwd'}"] = fitted
            print(mode, "fwd+bwd" if grad else "fwd", {k: f"{v:.3g}" for k, v in fitted.items()}, flush=True)
        fitted = recovery(grad, hiddens, 32, reps)
        result[f"recovery {'fwd+bwd' if grad else 'fwd'}"] = fitted
        print("LSTM recovery", "fwd+bwd" if grad else "fwd", {k: f"{v:.3g}" for k, v in fitted.items()}, flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
