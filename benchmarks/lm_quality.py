"""Language-model quality on Tiny Shakespeare within a CPU time budget.

Character level, 90/10 train/validation split as in char-rnn and nanoGPT. Trains the
shipped ``lm`` recipe (overrides below) and reports validation loss in nats per character
after each wall-clock budget of *training* time (evaluation pauses the clock). The anchor
is nanoGPT's CPU example: a small transformer reaching about 1.88 validation loss in ~3
minutes.

Usage:
    python benchmarks/lm_quality.py --data ../shared/data/tinyshakespeare.txt \
        --budgets 3 10 [--threads 2] [KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

import seqframe
from seqframe.engine.callbacks import Callback

DEFAULTS = [
    "train.steps=1000000", "train.eval_every=0", "train.sample=null",
    "data.name=text_files", "data.valid_fraction=0.1", "data.test_fraction=0.0",
]


class _Budget(Exception):
    pass


class BudgetEvaluator(Callback):
    """Evaluates at each training-time budget; stops after the last one."""

    def __init__(self, pipeline: seqframe.Pipeline, budgets_s: list[float]) -> None:
        self.pipeline, self.budgets = pipeline, sorted(budgets_s)
        task, tok = pipeline.task, pipeline.tokenizer
        texts = pipeline.data.texts("valid")
        self.valid_ids, self.valid_chars = task.encode(tok, texts), sum(map(len, texts))
        self.rows: list[dict[str, float]] = []
        self.train_time, self._last = 0.0, None

    def on_train_start(self, total_steps: int, start_step: int) -> None:
        self._last = time.perf_counter()

    def on_train_batch_end(self, step: int, row: dict) -> None:
        now = time.perf_counter()
        self.train_time += now - self._last
        if self.train_time >= self.budgets[len(self.rows)]:
            device = next(self.pipeline.model.parameters()).device
            metrics = self.pipeline.task.evaluate(self.pipeline.model, self.valid_ids, 64, device, self.valid_chars,
                                                  tokenizer=self.pipeline.tokenizer)
            self.rows.append({"budget_min": self.budgets[len(self.rows)] / 60, "step": step,
                              "train_s": round(self.train_time, 1), **metrics})
            print(json.dumps(self.rows[-1]), flush=True)
            if len(self.rows) == len(self.budgets):
                raise _Budget
        self._last = time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--budgets", nargs="+", type=float, default=[3, 10], help="minutes of training")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results/lm_quality.json")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = [*DEFAULTS, f"data.paths=[{args.data.resolve()}]", *args.overrides]
    pipeline = seqframe.build("lm", overrides)
    evaluator = BudgetEvaluator(pipeline, [m * 60 for m in args.budgets])
    try:
        seqframe.train(pipeline, progress=False, callbacks=[evaluator])
    except _Budget:
        pass
    result = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
              "torch": torch.__version__, "overrides": overrides[len(DEFAULTS):], "rows": evaluator.rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
