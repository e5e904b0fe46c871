"""Measure the constants of the path cost model in ``seqframe/rnn/paths.py`` on this machine.

``python -m benchmarks.speed.calibrate [--threads 2] [--quick]`` times, for the LSTM, GRU
and tanh-RNN built-in cells (input 128, hidden 128/256/512), forward and forward+backward:

- torch's unpacked kernel called the way :mod:`seqframe.rnn.padded` calls it, the same 64
  steps as 1, 2, 4 and 8 calls and at two lengths: ``call + call_per_weight * W`` per call
  and ``step_per_weight * W`` per row-step (``W``: weight elements of the layer);
- the memory-cell recovery of carried LSTM rows: ``recover + recover_per_weight * W`` per
  row-step redone;
- the per-step loop (a subclass of the cell, so nothing is fused) and torch's packed kernel
  (forward only) on equal lengths at two lengths and two batch sizes: per step and per
  row-step.

Every figure is a median of repetitions; the constants are least-squares fits. It prints
them as the ``_Costs(...)`` lines of ``paths.py`` and as one JSON line. It asserts nothing.
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
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence  # noqa: E402

from seqframe.builtin.cells import ElmanCell, GRUCell, LSTMCell  # noqa: E402
from seqframe.builtin.topologies import StackedTopology  # noqa: E402
from seqframe.rnn.fused import run_fused  # noqa: E402
from seqframe.rnn.padded import _Batch, _memory_of_carried  # noqa: E402
from seqframe.rnn.segments import plan_segments  # noqa: E402

MODES = {"LSTM": (LSTMCell, 4), "GRU": (GRUCell, 3), "RNN_TANH": (ElmanCell, 1)}
INPUT = 128


def _median_time(fn: Callable[[], Any], reps: int, min_s: float = 0.03) -> float:
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


def _pass(fn: Callable[[], torch.Tensor], module: nn.Module, grad: bool) -> Callable[[], None]:
    def run() -> None:
        if grad:
            module.zero_grad(set_to_none=True)
            fn().sum().backward()
        else:
            with torch.no_grad():
                fn()
    return run


def _fit(rows: list[list[float]], ys: list[float]) -> list[float]:
    """Least squares ``y = rows @ coefficients``."""
    solution = torch.linalg.lstsq(torch.tensor(rows, dtype=torch.float64), torch.tensor(ys, dtype=torch.float64)[:, None])
    return solution.solution.flatten().tolist()


def kernel(mode: str, grad: bool, hiddens: list[int], reps: int) -> dict[str, float]:
    """``call``, ``call_per_weight``, ``step_per_weight``: the kernel called span by span."""
    cls, gates = MODES[mode]
    rows, ys = [], []
    for hidden in hiddens:
        torch.manual_seed(0)
        cell = cls(INPUT, hidden)
        weights = gates * hidden * (INPUT + hidden)
        for batch, steps in ((32, 64), (32, 32)):
            x = torch.randn(steps, batch, INPUT)
            hx = tuple(torch.zeros(1, batch, hidden) for _ in range(2 if mode == "LSTM" else 1))
            for calls in (1, 2, 4, 8):
                def split(calls: int = calls, x: torch.Tensor = x, hx: Any = hx, cell: nn.Module = cell) -> torch.Tensor:
                    outs, state = [], hx
                    for i in range(calls):
                        part = x[i * x.shape[0] // calls:(i + 1) * x.shape[0] // calls]
                        out, state = run_fused(mode, [[cell]], part, None, state, 0.0, False, batch_first=False)
                        outs.append(out)
                    return torch.cat(outs)
                ys.append(_median_time(_pass(split, cell, grad), reps))
                rows.append([calls, calls * weights, batch * steps * weights])
    call, per_weight, step = _fit(rows, ys)
    return {"call": call, "call_per_weight": per_weight, "step_per_weight": step}


def recovery(grad: bool, hiddens: list[int], reps: int) -> dict[str, float]:
    """``recover``, ``recover_per_weight``: the memory cell of carried LSTM rows."""
    rows, ys = [], []
    for hidden in hiddens:
        torch.manual_seed(0)
        cell = LSTMCell(INPUT, hidden)
        weights = 4 * hidden * (INPUT + hidden)
        for spread in (4, 16, 48):
            lengths = sorted((100 - (i * spread) // 32 for i in range(32)), reverse=True)
            plan = plan_segments(lengths, 1 << 30, prefix=True)
            where = _Batch(torch.tensor(lengths), torch.device("cpu")).carried(plan)
            data = torch.randn(100, 32, INPUT)
            raw = torch.randn(100, 32, hidden, requires_grad=grad)
            entering = [(torch.randn(32, hidden), torch.randn(32, hidden))] * len(plan.spans)
            redone = sum(plan.lengths[r] - plan.bounds[s] for s in range(len(plan.reach)) for r in plan.carried_rows(s))

            def run(cell: nn.Module = cell, data: torch.Tensor = data, raw: torch.Tensor = raw, where: Any = where,
                    entering: Any = entering) -> torch.Tensor:
                return torch.cat(list(_memory_of_carried(cell, data, raw, where, entering).values()))
            ys.append(_median_time(_pass(run, cell, grad), reps))
            rows.append([1.0, redone * weights])
    recover, per_weight = _fit(rows, ys)
    return {"recover": recover, "recover_per_weight": per_weight}


def loop_and_packed(mode: str, grad: bool, hiddens: list[int], reps: int) -> dict[str, float]:
    """``loop_step``, ``loop_per_weight`` (and without gradients ``packed_step``, ``packed_per_weight``)."""
    cls, gates = MODES[mode]
    looped = type(f"Loop{cls.__name__}", (cls,), {})  # a subclass is never fused: the loop
    result: dict[str, float] = {}
    for name in ("loop", "packed") if not grad else ("loop",):
        rows, ys = [], []
        for hidden in hiddens:
            torch.manual_seed(0)
            rnn = StackedTopology(looped, INPUT, hidden)
            cells = rnn.cells
            weights = gates * hidden * (INPUT + hidden)
            for batch, steps in ((8, 32), (32, 32), (8, 64), (32, 64)):
                x = torch.randn(batch, steps, INPUT)
                lengths = torch.full((batch,), steps)
                lengths[-1] = steps - 1  # variable lengths

                def packed(x: torch.Tensor = x, lengths: torch.Tensor = lengths, cells: Any = cells) -> torch.Tensor:
                    data = pack_padded_sequence(x, lengths, batch_first=True)
                    hx = tuple(torch.zeros(1, x.shape[0], cells[0][0].hidden_size)
                               for _ in range(2 if mode == "LSTM" else 1))
                    out, _ = run_fused(mode, cells, data.data, data.batch_sizes, hx, 0.0, False)
                    return pad_packed_sequence(PackedSequence(out, data.batch_sizes), batch_first=True)[0]

                fn = (lambda rnn=rnn, x=x, lengths=lengths: rnn(x, lengths)[0]) if name == "loop" else packed
                ys.append(_median_time(_pass(fn, rnn, grad), reps))
                rows.append([steps, batch * steps * weights])
        step, per_weight = _fit(rows, ys)
        result |= {f"{name}_step": step, f"{name}_per_weight": per_weight}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="two sizes, three repetitions")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    hiddens, reps = ([128, 512], 3) if args.quick else ([128, 256, 512], 5)
    result: dict[str, Any] = {"threads": args.threads, "hiddens": hiddens}
    for mode in MODES:
        for grad in (False, True):
            fitted = kernel(mode, grad, hiddens, reps)
            fitted |= recovery(grad, hiddens, reps) if mode == "LSTM" else {"recover": 0.0, "recover_per_weight": 0.0}
            fitted |= loop_and_packed(mode, grad, hiddens, reps)
            result[f"{mode} {grad}"] = fitted
            order = ("call", "call_per_weight", "step_per_weight", "recover", "recover_per_weight", "loop_step",
                     "loop_per_weight", "packed_step", "packed_per_weight")
            values = ", ".join(f"{fitted[k]:.3g}" for k in order if k in fitted)
            print(f'    ("{mode}", {grad}): _Costs({values}),', flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
