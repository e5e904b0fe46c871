"""Decoding with an exported model: torch against onnxruntime against TorchScript.

The shipped ``lm`` recipe's model (2-layer LSTM, 256 units, character vocabulary; trained
for ``--steps`` steps: speed does not depend on the weights) is exported to ONNX and
TorchScript, then each runtime greedily continues a 4-character prompt by ``--tokens``
tokens, for a batch of 1 and of 32 prompts, through ``seqframe.predict`` (the task's own
decoding loop; only what computes the model differs). The runtimes run interleaved in a
shuffled order, ``--repeats`` times; the table gives medians: the time per generated token
(one step of the whole batch), tokens per second, and each runtime's time as a ratio of
torch's (below 1 is faster). Every runtime's text is checked equal to torch's. Also: the
export times and the sizes of the exported files beside the weights.

    python benchmarks/export.py                 # ~3 minutes on 2 CPU cores
    python benchmarks/export.py --quick         # a few seconds: check that it works
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch

import seqframe
from seqframe.api import export, load_exported

RUNTIMES = ("torch", "onnx", "torchscript")
QUICK = ["model.topology.hidden_size=16", "model.embedding_dim=8", "task.seq_len=16", "train.batch_size=4"]


def _machine() -> str:
    return f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def _pipelines(run: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    pipelines: dict[str, Any] = {"torch": seqframe.load_run(run)}
    files: dict[str, Any] = {"weights (model.safetensors)": (run / "model.safetensors").stat().st_size}
    for fmt in ("onnx", "torchscript"):
        start = time.perf_counter()
        folder = export(run, fmt)
        files[f"export {fmt} (s)"] = round(time.perf_counter() - start, 2)
        for graph in folder.iterdir():
            if graph.suffix in (".onnx", ".pt"):
                files[f"{fmt}: {graph.name}"] = graph.stat().st_size
        pipelines[fmt] = load_exported(run, fmt)
    return pipelines, files


def measure(pipelines: dict[str, Any], batch: int, tokens: int, repeats: int) -> dict[str, Any]:
    prompts = ["The "] * batch
    times: dict[str, list[float]] = {name: [] for name in pipelines}
    texts: dict[str, list[str]] = {}
    for name, pipeline in pipelines.items():  # warm-up
        texts[name] = seqframe.predict(pipeline, prompts, temperature=0, max_tokens=tokens)
    order = list(pipelines)
    for _ in range(repeats):
        random.shuffle(order)
        for name in order:
            start = time.perf_counter()
            seqframe.predict(pipelines[name], prompts, temperature=0, max_tokens=tokens)
            times[name].append(time.perf_counter() - start)
    same = {name: texts[name] == texts["torch"] for name in pipelines}
    row: dict[str, Any] = {"batch": batch, "tokens": tokens, "same_text_as_torch": same}
    for name, values in times.items():
        median = statistics.median(values)
        ratio = statistics.median(t / b for t, b in zip(values, times["torch"]))
        row[name] = {
            "ms_per_token": 1000 * median / tokens,
            "tokens_per_s": batch * tokens / median,
            "time_ratio_to_torch": ratio,
        }
    return row


def _table(result: dict[str, Any]) -> str:
    lines = [
        "| batch | runtime | ms per token (one step of the batch) | tokens/s | time / torch's | same text |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        for name in RUNTIMES:
            r = row[name]
            lines.append(
                f"| {row['batch']} | {name} | {r['ms_per_token']:.3f} | {r['tokens_per_s']:,.0f} | "
                f"{r['time_ratio_to_torch']:.2f} | {'yes' if row['same_text_as_torch'][name] else 'NO'} |"
            )
    lines += ["", "| file | bytes (or seconds) |", "|---|---|"]
    lines += [f"| {name} | {value:,}" + " |" for name, value in result["files"].items()]
    return "\n".join(lines) + (
        f"\n\nlm recipe ({' '.join(result['overrides']) or 'as shipped'}), greedy, "
        f"{result['rows'][0]['tokens']} tokens after a 4-character prompt, median of "
        f"{result['repeats']} interleaved repetitions; {result['machine']}; {result['date']}.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="a tiny model, few tokens: check that it works")
    parser.add_argument("--work", type=Path, default=Path("runs/export-bench"))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = [*(QUICK if args.quick else []), "train.steps=1", "train.eval_every=0", "train.sample=null"]
    run = args.work / ("lm-quick" if args.quick else "lm")
    seqframe.run("lm", overrides, out_dir=run, progress=False, overwrite=run.exists())
    pipelines, files = _pipelines(run)
    tokens, repeats = (10, 2) if args.quick else (args.tokens, args.repeats)
    rows = [measure(pipelines, batch, tokens, repeats) for batch in args.batches]
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": _machine(),
        "overrides": overrides[:-3],
        "repeats": repeats,
        "rows": rows,
        "files": files,
    }
    stem = "export_quick" if args.quick else "export"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text(_table(result))
    print(_table(result), end="")


if __name__ == "__main__":
    main()
