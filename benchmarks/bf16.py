"""bfloat16 autocast on CPU: variable-length LSTM layers against plain torch, in one run.

oneDNN runs an LSTM in bfloat16 on CPUs with AMX or AVX-512 BF16 several times faster than
in float32, but only for some shapes: an input width that is not a multiple of 8 (the 513
columns of 512 features and seqframe's padding flag) takes a slow path. This measures, for
the layer shapes of the ``multi30k`` recipe (batch 64, lengths 9 to 20 in a batch):

- ``torch``: the faster of ``nn.LSTM`` over the padded batch (unpacked: no lengths, so the
  shorter rows' final states are wrong) and over the packed batch (packed: the lengths
  honoured; torch runs it in float32 even under autocast), float32 and bf16 autocast;
- ``seqframe``: the stack over the same batch with its lengths (packed semantics), as it
  runs now (the flag rounded up to a multiple of 8 columns, one cast of the weights and
  inputs per layer, the span cost model of the precision) and as before (one flag column,
  the float32 cost model at any precision; the single cast stays);

forward and backward, process CPU time, median of ``--reps`` after a warm-up, 1 thread;
ratios are torch's time over seqframe's (higher is better). With ``--multi30k DIR`` it also
times training steps of the ``multi30k`` recipe in float32 and bf16 (CPU seconds a step,
steps 6-35 of one run each).

    python benchmarks/bf16.py [--multi30k ../shared/data/multi30k] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import seqframe
from seqframe.rnn import padded, paths, stack

SHAPES = {  # name: (input, hidden, bidirectional)
    "multi30k encoder layer (512 -> 2 x 256)": (512, 256, True),
    "multi30k decoder (512 -> 512)": (512, 512, False),
    "256 -> 256": (256, 256, False),
}
TINY_SHAPES = {"8 -> 2 x 8": (8, 8, True), "12 -> 16": (12, 16, False)}
BATCH, SHORTEST, LONGEST = 64, 9, 20


@contextmanager
def _before() -> Iterator[None]:
    """The code before: one flag column, float32 span costs at any precision."""
    saved = padded.flag_columns, paths.flag_columns, stack.choose_path

    def one(features: int) -> int:
        return 1

    padded.flag_columns = paths.flag_columns = one
    stack.choose_path = lambda lengths, mode, sizes, grad, reduced=False: saved[2](lengths, mode, sizes, grad)
    try:
        yield
    finally:
        padded.flag_columns, paths.flag_columns, stack.choose_path = saved


def _cpu_ms(fn: Callable[[], None], reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return 1e3 * sorted(times)[len(times) // 2]


def _pass(module: nn.Module, call: Callable[[], torch.Tensor], bf16: bool) -> Callable[[], None]:
    def run() -> None:
        module.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = call()
        out.float().sum().backward()

    return run


def layers(reps: int, shapes: dict[str, tuple[int, int, bool]] = SHAPES, batch: int = BATCH) -> list[dict[str, Any]]:
    """Forward+backward of each layer shape: torch, seqframe before and now, fp32 and bf16."""
    rows = []
    lengths = torch.randint(SHORTEST, LONGEST + 1, (batch,), generator=torch.Generator().manual_seed(0))
    lengths[0] = LONGEST
    for name, (features, hidden, bidirectional) in shapes.items():
        torch.manual_seed(0)
        ours = seqframe.build_rnn("lstm", input_size=features, hidden_size=hidden, bidirectional=bidirectional)
        ref = nn.LSTM(features, hidden, batch_first=True, bidirectional=bidirectional)
        x = torch.randn(batch, LONGEST, features)
        row: dict[str, Any] = {"layer": name}

        def packed() -> torch.Tensor:
            data = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            return pad_packed_sequence(ref(data)[0], batch_first=True, total_length=LONGEST)[0]

        for precision, bf16 in (("fp32", False), ("bf16", True)):
            unpacked_ms = _cpu_ms(_pass(ref, lambda: ref(x)[0], bf16), reps)
            packed_ms = _cpu_ms(_pass(ref, packed, bf16), reps)
            torch_ms = min(unpacked_ms, packed_ms)
            with _before():
                before_ms = _cpu_ms(_pass(ours, lambda: ours(x, lengths)[0], bf16), reps)
            now_ms = _cpu_ms(_pass(ours, lambda: ours(x, lengths)[0], bf16), reps)
            row[precision] = {
                "torch_unpacked_ms": round(unpacked_ms, 2),
                "torch_packed_ms": round(packed_ms, 2),
                "torch_ms": round(torch_ms, 2),
                "before_ms": round(before_ms, 2),
                "now_ms": round(now_ms, 2),
                "torch / before": round(torch_ms / before_ms, 3),
                "torch / now": round(torch_ms / now_ms, 3),
            }
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def training_steps(folder: Path, steps: int) -> dict[str, float]:
    """CPU seconds a training step of the ``multi30k`` recipe, float32 and bf16 autocast."""
    sys.path.insert(0, str(Path(__file__).parent.parent))
    from benchmarks.translation import MULTI30K_FILES, TrainingBudget

    overrides = [f"data.{key}={folder.resolve() / name}" for key, name in MULTI30K_FILES.items()]
    overrides += ["train.eval_every=0", "train.checkpoint.every=0", "task.eval_decode=0", f"train.steps={steps}"]
    result = {}
    for precision in ("fp32", "bf16"):
        pipeline = seqframe.build("multi30k", [*overrides, f"train.precision={precision}"])
        clock = TrainingBudget(float("inf"), skip=5)
        seqframe.train(pipeline, progress=False, callbacks=[clock])
        result[precision] = round(clock.spent / clock.timed, 4)
        print(json.dumps({"multi30k step cpu_s": {precision: result[precision]}}), flush=True)
    result["bf16 / fp32"] = round(result["bf16"] / result["fp32"], 3)
    return result


def _markdown(result: dict[str, Any]) -> str:
    lines = [
        "# bfloat16 autocast on CPU: LSTM layers with variable lengths",
        "",
        f"{result['machine']}; {result['date']}. `python benchmarks/bf16.py"
        + (" --multi30k ../shared/data/multi30k`" if "multi30k" in result else "`"),
        "",
        f"Forward and backward, batch {result['batch']}, lengths {SHORTEST}-{LONGEST}, process CPU ms (median); "
        "ratio = the faster torch time / seqframe's (higher is better). torch unpacked runs the padded batch "
        "without lengths, torch packed honours them (in float32 even under autocast); seqframe honours them.",
        "",
        "| layer | precision | torch unpacked ms | torch packed ms | seqframe before ms | seqframe now ms "
        "| ratio before | ratio now |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in result["layers"]:
        for precision in ("fp32", "bf16"):
            r = row[precision]
            lines.append(
                f"| {row['layer']} | {precision} | {r['torch_unpacked_ms']} | {r['torch_packed_ms']} | "
                f"{r['before_ms']} | {r['now_ms']} | "
                f"{r['torch / before']} | **{r['torch / now']}** |"
            )
    if "multi30k" in result:
        m = result["multi30k"]
        lines += [
            "",
            f"A `multi30k` training step (1 thread): {m['fp32']} CPU-s in float32, {m['bf16']} in bf16 "
            f"(`train.precision: bf16`): **{m['bf16 / fp32']}** of the time.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--multi30k", type=Path, metavar="DIR", help="also time multi30k training steps")
    parser.add_argument("--steps", type=int, default=35, help="training steps timed per precision (first 5 skipped)")
    parser.add_argument("--out", type=Path, help="write bf16.json and bf16.md in this folder")
    parser.add_argument("--tiny", action="store_true", help="tiny layers, batch 4, one repetition: check the script")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    batch = 4 if args.tiny else BATCH
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {args.threads} thread(s), torch {torch.__version__}",
        "batch": batch,
        "layers": layers(1, TINY_SHAPES, batch) if args.tiny else layers(args.reps),
    }
    if args.multi30k is not None:
        result["multi30k"] = training_steps(args.multi30k, args.steps)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bf16.json").write_text(json.dumps(result, indent=1) + "\n")
        (args.out / "bf16.md").write_text(_markdown(result))


if __name__ == "__main__":
    main()
