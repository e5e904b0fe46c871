"""GPU checks for a machine with CUDA: the test suite's GPU-marked tests, the speed suite on
the GPU, and seqframe's own training on CUDA in fp32, bf16 and fp16, twice with
``train.deterministic`` (bitwise-equal losses expected), and with two processes (NCCL) when
there are two GPUs. Prints a summary and writes it to ``OUT/gpu-check.md``, with the speed
suite's CUDA tables (every variable-length ratio against the faster of cuDNN's packed and
unpacked kernels, named per row) appended.

    python -m benchmarks.gpu_check [--out DIR] [--steps N] [--no-speed] [--no-tests]

Run from the repository root. Without CUDA it says so and exits 0: there is nothing to
check (the GPU-marked tests skip themselves). Exit status 1 when a check failed.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]


def _shell(command: list[str], timeout: int) -> tuple[bool, str]:
    """Run ``command`` from the repository root; whether it succeeded and its last lines."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout} s"
    tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
    return done.returncode == 0, " / ".join(tail)


def _train(out: Path, steps: int, *overrides: str) -> dict[str, Any]:
    """Train the shipped ``lm`` recipe on CUDA for ``steps`` steps; losses and speed."""
    import seqframe
    from seqframe.engine import Callback

    rows: list[dict[str, Any]] = []

    class Rows(Callback):
        def on_train_batch_end(self, step: int, row: dict[str, Any]) -> None:
            rows.append(row)

    start = time.perf_counter()
    seqframe.run(
        "lm",
        [f"train.steps={steps}", "train.eval_every=0", "train.sample=null", "train.device=cuda", *overrides],
        out_dir=out,
        progress=False,
        callbacks=[Rows()],
    )
    losses = [row["loss"] for row in rows]
    speed = statistics.median(row["tokens_per_s"] for row in rows[len(rows) // 5 :])  # after warm-up
    return {"losses": losses, "tokens_per_s": speed, "seconds": time.perf_counter() - start}


def _checks(out: Path, steps: int, speed: bool, tests: bool) -> list[tuple[str, bool, str]]:
    results: list[tuple[str, bool, str]] = []
    if tests:
        ok, tail = _shell([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "tests", "plugins"], 1800)
        results.append(("GPU-marked tests (pytest -m gpu)", ok, tail))
    if speed:
        ok, tail = _shell(
            [sys.executable, "-m", "benchmarks.speed", "--quick", "--device", "cuda", "--out", str(out / "speed")], 1800
        )
        results.append((f"speed suite --quick on cuda (report in {out / 'speed'})", ok, tail))
    fp32: list[float] = []
    for precision in ("fp32", "bf16", "fp16"):
        try:
            run = _train(out / f"lm-{precision}", steps, f"train.precision={precision}")
            finite = all(math.isfinite(x) for x in run["losses"])
            fp32 = run["losses"] if precision == "fp32" else fp32
            gap = f" ({abs(run['losses'][-1] - fp32[-1]):.4f} from fp32)" if fp32 and precision != "fp32" else ""
            results.append(
                (
                    f"lm on cuda, {precision}",
                    finite,
                    f"{run['tokens_per_s']:,.0f} tokens/s, final loss "
                    f"{run['losses'][-1]:.4f}{gap}, {run['seconds']:.1f} s",
                )
            )
        except Exception as exc:  # report and go on with the other checks
            results.append((f"lm on cuda, {precision}", False, f"{type(exc).__name__}: {exc}"))
    try:
        first, second = (
            _train(out / f"lm-deterministic-{i}", min(steps, 30), "train.deterministic=true") for i in (1, 2)
        )
        same = first["losses"] == second["losses"]
        results.append(
            (
                "train.deterministic twice on cuda",
                same,
                "bitwise-equal losses"
                if same
                else f"losses differ (first step: {first['losses'][0]} vs {second['losses'][0]})",
            )
        )
    except Exception as exc:
        results.append(("train.deterministic twice on cuda", False, f"{type(exc).__name__}: {exc}"))
    if torch.cuda.device_count() >= 2:
        ok, tail = _shell(
            [
                sys.executable,
                "-m",
                "seqframe",
                "run",
                "lm",
                f"train.steps={steps}",
                "train.eval_every=0",
                "train.sample=null",
                "train.device=cuda",
                "train.precision=bf16",
                "--nproc",
                "2",
                "--out",
                str(out / "lm-ddp"),
                "--quiet",
            ],
            1800,
        )
        results.append(("seqframe run --nproc 2 on 2 GPUs (nccl, bf16)", ok, tail))
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the checks; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for the report and runs (default: a temporary folder)")
    parser.add_argument("--steps", type=int, default=200, help="training steps per precision (default 200)")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed suite")
    parser.add_argument("--no-tests", action="store_true", help="skip the GPU-marked tests")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; nothing to check (the GPU-marked tests skip without one)")
        return 0
    out = args.out or Path(tempfile.mkdtemp(prefix="seqframe-gpu-check-"))
    out.mkdir(parents=True, exist_ok=True)
    results = _checks(out, args.steps, not args.no_speed, not args.no_tests)
    lines = [
        f"# GPU check: {torch.cuda.get_device_name(0)} x {torch.cuda.device_count()}, torch {torch.__version__}",
        "",
        "| check | result | details |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {'ok' if ok else 'FAILED'} | {detail.replace('|', '/')} |" for name, ok, detail in results]
    speed = out / "speed" / "speed-quick.md"
    if speed.is_file():  # the CUDA tables: seqframe vs cuDNN, packed and unpacked, per row
        lines += [
            "",
            "## Speed suite (--quick --device cuda): ratios against cuDNN packed and unpacked",
            "",
            speed.read_text(encoding="utf-8"),
        ]
    report = "\n".join(lines) + "\n"
    (out / "gpu-check.md").write_text(report, encoding="utf-8")
    print(report + f"\nwritten to {out / 'gpu-check.md'}")
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
