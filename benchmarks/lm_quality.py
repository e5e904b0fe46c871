"""Language-model quality on Tiny Shakespeare within a budget of process CPU time.

Character level, 90/10 train/validation split as in char-rnn and nanoGPT (the last tenth of
the file is the validation text). For each budget (in CPU-minutes: process CPU time over all
threads while training steps run; evaluation, data loading and tokenizing are excluded), a
fresh run of the ``lm`` recipe (with the overrides given) trains for as many steps as fit the
budget, so a decaying learning-rate schedule reaches its end: a short pilot run measures the
CPU time of one step, ``train.steps`` is set from it, and the budget is also a hard cap (a run
that is slower than its pilot stops at the budget and is evaluated there). CPU time, not wall
time, so that other processes on the machine do not change the figure much.

The anchors: nanoGPT's "baby GPT" reaches a validation loss of about 1.47 on a GPU; its CPU
example about 1.88 in a few minutes.

Usage:
    python benchmarks/lm_quality.py --data ../shared/data/tinyshakespeare.txt \
        --budgets 3 10 [--threads 2] [--recipe lm] [KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle threads sleep: CPU time counts work, not spinning
import torch

import seqframe
from seqframe.engine.callbacks import Callback
from seqframe.interfaces import EvalSettings

DEFAULTS = [
    "train.eval_every=0",
    "train.sample=null",
    "train.checkpoint.every=0",
    "data.name=text_files",
    "data.valid_fraction=0.1",
    "data.test_fraction=0.0",
]
PILOT_STEPS = 60  # the first few are slower (allocation, warm-up): see PILOT_SKIP
PILOT_SKIP = 10


class _Budget(Exception):
    pass


class CPUBudget(Callback):
    """Counts the process CPU time spent in training steps; stops training at ``budget_s``."""

    def __init__(self, budget_s: float, skip: int = 0) -> None:
        self.budget_s, self.skip = budget_s, skip
        self.spent, self.wall, self.step, self.timed_steps = 0.0, 0.0, 0, 0
        self._cpu, self._wall = 0.0, 0.0

    def on_train_start(self, total_steps: int, start_step: int) -> None:
        self._cpu, self._wall = time.process_time(), time.perf_counter()

    def on_train_batch_end(self, step: int, row: dict) -> None:
        cpu, wall = time.process_time(), time.perf_counter()
        if step > self.skip:
            self.spent += cpu - self._cpu
            self.wall += wall - self._wall
            self.timed_steps += 1
        self.step = step
        if self.spent >= self.budget_s:
            raise _Budget
        self._cpu, self._wall = time.process_time(), time.perf_counter()


def _cpu_per_step(recipe: str, overrides: list[str]) -> float:
    """CPU seconds of one training step, from a short pilot run."""
    pipeline = seqframe.build(recipe, [*overrides, f"train.steps={PILOT_STEPS}", "data.valid_fraction=0.0"])
    clock = CPUBudget(math.inf, skip=PILOT_SKIP)
    seqframe.train(pipeline, progress=False, callbacks=[clock])
    return clock.spent / max(clock.timed_steps, 1)


def _train_for(recipe: str, overrides: list[str], minutes: float, per_step: float) -> dict[str, float]:
    # All of the budget: a pilot overestimates the cost of a step a little (its steps run on a cold
    # allocator), and the budget stays a hard cap for a run that is slower than its pilot.
    steps = max(1, int(minutes * 60 / per_step))
    pipeline = seqframe.build(recipe, [*overrides, f"train.steps={steps}"])
    budget = CPUBudget(minutes * 60)
    try:
        seqframe.train(pipeline, progress=False, callbacks=[budget])
    except _Budget:
        pass
    texts = pipeline.data.texts("valid")
    task, model = pipeline.task, pipeline.model
    settings = EvalSettings(pipeline.tokenizers, 64, next(model.parameters()).device, sum(map(len, texts)))
    metrics = task.evaluate(model, task.encode(pipeline.tokenizers, texts), settings)
    return {
        "budget_cpu_min": minutes,
        "planned_steps": steps,
        "step": budget.step,
        "train_cpu_s": round(budget.spent, 1),
        "train_wall_s": round(budget.wall, 1),
        **metrics,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--budgets", nargs="+", type=float, default=[3, 10], help="CPU-minutes of training")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--recipe", default="lm", help="the recipe to train (default: the shipped lm)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results/lm_quality.json")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = [*DEFAULTS, f"data.paths=[{args.data.resolve()}]", *args.overrides]
    per_step = _cpu_per_step(args.recipe, overrides)
    print(json.dumps({"pilot_cpu_s_per_step": round(per_step, 4)}), flush=True)
    rows = []
    for minutes in args.budgets:
        rows.append(_train_for(args.recipe, overrides, minutes, per_step))
        print(json.dumps(rows[-1]), flush=True)
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "recipe": args.recipe,
        "overrides": overrides[len(DEFAULTS) :],
        "pilot_cpu_s_per_step": per_step,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
