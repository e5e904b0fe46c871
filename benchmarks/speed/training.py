"""Section ``training``: what ``seqframe run`` executes vs a hand-written PyTorch loop on
the same model and the same batches, for the recipes of :mod:`.training_cases` (the ``lm``
recipe as a stream and in sentence mode, and the ``translate`` recipe).

seqframe side: the recipe's pipeline trained by ``seqframe.train`` into a run folder, as
``seqframe run`` does (progress bar off, no evaluation or sample during the timed steps).
torch side: :class:`~.training_cases.ReferenceLoop` (``nn.LSTM`` unpacked over the padded
batch, outputs masked). Its steps run inside a callback of the seqframe trainer, so the two
loops alternate step by step in one process on the same batch; a seqframe step is the time
from the end of one callback to the next (all framework work included), a torch step the
time of one call. Tokens per second count the real target tokens of each batch (the same
on both sides). Where both sides compute the same loss, the first steps' losses must agree.

Peak memory is measured per variant in a fresh subprocess (:mod:`.memory`).
Targets: throughput >= 0.95x, peak memory growth <= 1.1x.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from benchmarks.speed.harness import FOREIGN_LIMIT, CpuMeter, Settings, check
from benchmarks.speed.report import SectionResult, md_table
from benchmarks.speed.training_cases import CASES, Case, ReferenceLoop, build_pipeline

import seqframe
from seqframe.engine.callbacks import Callback

__all__ = ["run"]

REPO = Path(__file__).resolve().parents[2]
THROUGHPUT_TARGET, MEMORY_TARGET = 0.95, 1.1


def plan(settings: Settings) -> dict[str, int]:
    """Warm-up steps, repetitions, steps per repetition, spare repetitions, memory steps."""
    if settings.tiny:
        return {"warm": 1, "reps": 1, "per_rep": 2, "spare": 0, "memory_steps": 2}
    if settings.quick:
        return {"warm": 3, "reps": 3, "per_rep": 4, "spare": 1, "memory_steps": 8}
    return {"warm": 5, "reps": settings.reps, "per_rep": 8, "spare": 3, "memory_steps": 20}


class Enough(Exception):
    """Raised by a callback to end training once the measurement has what it needs."""


class _Interleave(Callback):
    """Runs one reference step after every seqframe step and times both."""

    def __init__(self, reference: ReferenceLoop, layout: dict[str, int], device: torch.device) -> None:
        self.reference, self.layout, self.device = reference, layout, device
        self.seqframe_s: list[float] = []
        self.torch_s: list[float] = []
        self.tokens: list[int] = []
        self.losses: list[tuple[float, float]] = []
        self.reps: list[tuple[list[float], list[float], float, list[int]]] = []  # seqframe, torch, foreign, tokens
        self.rejected = 0
        self.meter = CpuMeter()
        self._mark = 0.0

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def on_train_start(self, total_steps: int, start_step: int) -> None:
        self._mark = self._now()

    def on_train_batch_end(self, step: int, row: dict[str, Any]) -> None:
        seqframe_s = self._now() - self._mark
        start = self._now()
        loss = self.reference.step()
        torch_s = self._now() - start
        self.losses.append((row["loss"], loss))
        tokens = self.reference.tokens
        warm, per_rep = self.layout["warm"], self.layout["per_rep"]
        if step == warm:
            self.meter.start()
        if step > warm:
            self.seqframe_s.append(seqframe_s)
            self.torch_s.append(torch_s)
            self.tokens.append(tokens)
            if len(self.seqframe_s) == per_rep:
                self._close_rep()
        self._mark = self._now()

    def _close_rep(self) -> None:
        share = self.meter.stop()
        spare_left = self.rejected < self.layout["spare"]
        if not math.isnan(share) and share > FOREIGN_LIMIT and spare_left:
            self.rejected += 1  # contaminated: measure this repetition again
        else:
            self.reps.append((self.seqframe_s, self.torch_s, share, self.tokens))
        self.seqframe_s, self.torch_s, self.tokens = [], [], []
        if len(self.reps) == self.layout["reps"]:
            raise Enough
        self.meter.start()


def _memory(case: str, variant: str, tiny: bool, device: torch.device, steps: int) -> dict[str, Any]:
    """Peak memory growth of one variant, from a fresh subprocess of :mod:`.memory`."""
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.speed.memory",
        variant,
        "--case",
        case,
        "--steps",
        str(steps),
        "--device",
        device.type,
        "--threads",
        str(torch.get_num_threads()),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        cmd + (["--tiny"] if tiny else []), cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory worker {variant} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _case(name: str, case: Case, settings: Settings, device: torch.device, scratch: Path) -> dict[str, Any]:
    """Interleaved throughput of one case, then peak memory in fresh subprocesses."""
    layout = plan(settings)
    steps = layout["warm"] + (layout["reps"] + layout["spare"]) * layout["per_rep"]
    pipeline = build_pipeline(case, settings.tiny, device, steps)
    reference = ReferenceLoop(case, pipeline, device)
    interleave = _Interleave(reference, layout, device)
    try:
        seqframe.train(
            pipeline,
            scratch / f"{name.replace(' ', '-')}-{device.type}",
            progress=False,
            callbacks=[interleave],
            overwrite=True,
            handle_signals=False,
        )
    except Enough:
        pass
    else:
        raise RuntimeError(f"training {name}: the trainer ended before the measurement was complete")
    checked = min(3, len(interleave.losses))
    diff = max(abs(a - b) for a, b in interleave.losses[:checked])
    verdict = check(
        diff,
        1e-4 if case.same_loss else math.inf,
        f"training loss of the first {checked} steps"
        + ("" if case.same_loss else " (information: torch's encoder reads the padding)"),
    )
    memory = {v: _memory(name, v, settings.tiny, device, layout["memory_steps"]) for v in ("seqframe", "torch")}
    return {"case": name, "what": case.what, **_row(interleave, memory, verdict, device, layout)}


def run(settings: Settings, device: torch.device, *, scratch: Path) -> SectionResult:
    """Every case: interleaved throughput, then peak memory."""
    result = SectionResult()
    for name, case in CASES.items():
        result.rows.append(_case(name, case, settings, device, scratch))
    result.markdown += _markdown(result.rows)
    result.notes += NOTES
    return result


def _row(
    interleave: _Interleave,
    memory: dict[str, Any],
    verdict: dict[str, Any],
    device: torch.device,
    layout: dict[str, int],
) -> dict[str, Any]:
    reps = interleave.reps
    step_ms = {
        name: statistics.median([s for rep in reps for s in rep[i]]) * 1e3
        for i, name in enumerate(("seqframe", "torch"))
    }
    tok_s = {
        name: statistics.median([sum(rep[3]) / sum(rep[i]) for rep in reps])
        for i, name in enumerate(("seqframe", "torch"))
    }
    ratios = [sum(rep[0]) / sum(rep[1]) for rep in reps]  # seqframe time / torch time
    throughput = [1 / r for r in ratios]
    foreign = [rep[2] for rep in reps if not math.isnan(rep[2])]
    growth = {name: memory[name]["growth_mb"] for name in memory}
    return {
        "device": str(device),
        "reference": "torch",
        "tokens_per_step": statistics.median([t for rep in reps for t in rep[3]]),
        "layout": layout,
        "times_ms": step_ms,
        "ratios": {"seqframe": statistics.median(ratios)},
        "ratio_ranges": {"seqframe": [min(ratios), max(ratios)]},
        "tokens_per_s": tok_s,
        "throughput_ratio": statistics.median(throughput),
        "throughput_target": f">= {THROUGHPUT_TARGET}",
        "overhead_ms_per_step": step_ms["seqframe"] - step_ms["torch"],
        "peak_memory": memory,
        "memory_growth_mb": growth,
        "memory_ratio": growth["seqframe"] / growth["torch"] if growth["torch"] > 0 else None,
        "memory_target": f"<= {MEMORY_TARGET}",
        "check": verdict,
        "repetitions": len(reps),
        "reruns": interleave.rejected,
        "foreign_cpu_max": max(foreign) if foreign else None,
        "loss_max_abs_diff_all_steps": max(abs(a - b) for a, b in interleave.losses),
    }


def _markdown(rows: list[dict[str, Any]]) -> list[str]:
    layout = rows[0]["layout"]
    lines = [
        f"Device {rows[0]['device']}; {layout['reps']} repetitions of {layout['per_rep']} steps each after "
        f"{layout['warm']} warm-up steps, per recipe. Torch: the hand-written loop (nn.LSTM unpacked over the "
        f"padded batch, outputs masked). Targets: throughput >= {THROUGHPUT_TARGET}x, peak memory growth <= "
        f"{MEMORY_TARGET}x. Memory: {rows[0]['peak_memory']['seqframe']['method']}.",
        "",
    ]
    table = []
    for row in rows:
        ratio, (low, high) = row["ratios"]["seqframe"], row["ratio_ranges"]["seqframe"]
        mem, foreign = row["peak_memory"], row["foreign_cpu_max"]
        loss = (
            ("ok" if row["check"]["ok"] else f"FAILED ({row['check']['max_abs_diff']:.1e})")
            if math.isfinite(row["check"]["tolerance"])
            else f"{row['check']['max_abs_diff']:.1e} (information)"
        )
        table.append(
            [
                row["case"],
                row["what"],
                f"{row['tokens_per_s']['torch']:,.0f}",
                f"{row['tokens_per_s']['seqframe']:,.0f}",
                f"{row['throughput_ratio']:.3f}",
                f"{ratio:.3f} ({low:.3f}..{high:.3f})",
                f"{row['overhead_ms_per_step']:+.1f}",
                f"{mem['torch']['growth_mb']:.1f} / {mem['seqframe']['growth_mb']:.1f}",
                f"{row['memory_ratio']:.2f}" if row["memory_ratio"] else "n/a",
                "n/a" if foreign is None else f"{100 * foreign:.0f}%",
                loss,
            ]
        )
    lines += md_table(
        [
            "recipe",
            "model",
            "torch tokens/s",
            "seqframe tokens/s",
            "throughput ratio",
            "time ratio",
            "overhead ms/step",
            "memory growth MB torch / seqframe",
            "memory ratio",
            "foreign CPU",
            "loss check",
        ],
        table,
    )
    return lines


NOTES = [
    "Same work per step on both sides: the same batches (the task's own batch stream), the same initial weights, "
    "Adam and clipping settings of the recipe, loss read back to Python every step on both sides. The torch side "
    "reuses seqframe's plain-torch modules around the recurrent part (embeddings, output layer; translation: the "
    "bridge, attention and read-out) and runs nn.LSTM unpacked over the padded batch.",
    "What only seqframe does per step: the trainer's bookkeeping (learning-rate schedule, finiteness checks, "
    "tokens/s row, callbacks: disabled progress bar, metrics.jsonl every few steps, loss-plot points), the "
    "topology's input checks, and the exact variable-length semantics (final states at each sequence's own end, "
    "the backward direction from each sequence's end). Checkpoints, evaluation and samples happen after the timed "
    "steps or not at all.",
]
