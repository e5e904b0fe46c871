"""Peak-memory worker of the ``training`` section: one variant per fresh process.

``python -m benchmarks.speed.memory {seqframe,torch} [--case lm|"lm sentences"|translation] --steps N [--device cpu|cuda] [--tiny]``
builds the case's pipeline (and for ``torch`` the hand-written loop), then, just before the
first training step, resets the kernel's peak-RSS counter (``echo 5 > /proc/self/clear_refs``
sets ``VmHWM`` to the current RSS) and records the RSS; after step ``N`` it reads ``VmHWM``.
Growth = peak - RSS at the start, so what the process held before training (imports, the
encoded corpus, the model) counts on neither side. Where the counter cannot be reset it
falls back to ``ru_maxrss`` minus the RSS at the start (an underestimate only if an earlier
transient peak was higher than the training peak). On CUDA it reports
``torch.cuda.max_memory_allocated`` growth instead. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import sys
from pathlib import Path
from typing import Any

import torch
from benchmarks.speed.harness import rss_bytes
from benchmarks.speed.training import Enough
from benchmarks.speed.training_cases import CASES, ReferenceLoop, build_pipeline

from seqframe.engine.callbacks import Callback

MB = 1024 * 1024


class PeakMeter:
    """Peak memory from :meth:`start` to :meth:`stop`, in bytes, by the best method available."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.method = ""
        self.start_bytes = 0

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.method, self.start_bytes = "torch.cuda.max_memory_allocated growth", torch.cuda.memory_allocated()
            return
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
                handle.write("5")
            self.method = "peak RSS growth (VmHWM reset via /proc/self/clear_refs at the first step)"
        except OSError:
            self.method = "peak RSS growth (ru_maxrss minus RSS at the first step)"
        self.start_bytes = rss_bytes()

    def stop(self) -> dict[str, Any]:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        elif "clear_refs" in self.method:
            with open("/proc/self/status", encoding="ascii") as handle:
                peak = int(re.search(r"VmHWM:\s+(\d+)", handle.read()).group(1)) * 1024  # type: ignore[union-attr]
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return {
            "method": self.method,
            "start_mb": self.start_bytes / MB,
            "peak_mb": peak / MB,
            "growth_mb": (peak - self.start_bytes) / MB,
        }


class _Measure(Callback):
    def __init__(self, meter: PeakMeter, steps: int) -> None:
        self.meter, self.steps = meter, steps
        self.result: dict[str, Any] = {}

    def on_train_start(self, total_steps: int, start_step: int) -> None:
        self.meter.start()

    def on_train_batch_end(self, step: int, row: dict[str, Any]) -> None:
        if step == self.steps:
            self.result = self.meter.stop()
            raise Enough


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.memory")
    parser.add_argument("variant", choices=("seqframe", "torch"))
    parser.add_argument("--case", choices=list(CASES), default="lm")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    case = CASES[args.case]
    pipeline = build_pipeline(case, args.tiny, device, args.steps + 1)
    meter = PeakMeter(device)
    if args.variant == "seqframe":
        import tempfile

        import seqframe

        measure = _Measure(meter, args.steps)
        with tempfile.TemporaryDirectory(prefix="seqframe-speed-memory-") as tmp:
            try:
                seqframe.train(pipeline, Path(tmp) / "run", progress=False, callbacks=[measure], handle_signals=False)
            except Enough:
                pass
        result = measure.result
    else:
        loop = ReferenceLoop(case, pipeline, device)
        meter.start()
        for _ in range(args.steps):
            loop.step()
        result = meter.stop()
    print(json.dumps({"variant": args.variant, "case": args.case, "steps": args.steps, **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
