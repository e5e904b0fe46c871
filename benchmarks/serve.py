"""``seqframe serve`` under load, on loopback only: throughput and p50/p99 latency.

The shipped ``lm`` recipe's model (trained ``--steps`` steps) is served by ``seqframe serve``
in a subprocess on 127.0.0.1 (a free port), once per runtime and merging setting; after two
warm-up requests, ``--requests`` requests (each one prompt, greedy, ``--max-tokens`` tokens)
are sent over ``--threads`` threads, and every answer is checked equal to the in-process
``seqframe.predict``. Reported: requests and tokens per second over the whole load, p50 and
p99 latency of a request, and the in-process time of one request alone (no HTTP, no
batching) for scale. Bounded: a fixed number of requests, each with a 120 s timeout; the
server is stopped with SIGTERM and must exit 0.

    python benchmarks/serve.py                  # ~2 minutes on 2 CPU cores
    python benchmarks/serve.py --quick
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch

import seqframe

PROMPTS = ["The ", "In ", "A ", "It ", "To ", "This ", "For ", "If "]
QUICK = ["model.topology.hidden_size=16", "model.embedding_dim=8", "task.seq_len=16", "train.batch_size=4"]


def _post(port: int, payload: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request("POST", "/predict", json.dumps(payload))
        response = connection.getresponse()
        body = json.loads(response.read())
        assert response.status == 200, body
    finally:
        connection.close()
    return time.perf_counter() - start, body


def _load(
    run: Path, runtime: str, extra: list[str], requests: int, threads: int, tokens: int, expected: dict[str, str]
) -> dict[str, Any]:
    process = subprocess.Popen(
        [sys.executable, "-m", "seqframe", "serve", str(run), "--port", "0", "--runtime", runtime, *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        found = re.search(r":(\d+):", process.stdout.readline() if process.stdout else "")
        assert found, "the server did not start"
        port = int(found.group(1))
        payloads = [
            {"inputs": [PROMPTS[i % len(PROMPTS)]], "temperature": 0, "max_tokens": tokens} for i in range(requests)
        ]
        for payload in payloads[:2]:
            _post(port, payload)
        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            answers = list(pool.map(lambda p: _post(port, p), payloads))
        wall = time.perf_counter() - start
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
    assert code == 0, f"the server exited {code}"
    for payload, (_, body) in zip(payloads, answers):
        assert body["outputs"] == [expected[payload["inputs"][0]]]
    latencies = sorted(seconds for seconds, _ in answers)
    return {
        "requests_per_s": requests / wall,
        "tokens_per_s": requests * tokens / wall,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=50)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--work", type=Path, default=Path("runs/serve-bench"))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    torch.set_num_threads(2)
    overrides = [*(QUICK if args.quick else []), "train.steps=1", "train.eval_every=0", "train.sample=null"]
    run = args.work / ("lm-quick" if args.quick else "lm")
    seqframe.run("lm", overrides, out_dir=run, progress=False, overwrite=run.exists())
    seqframe.api.export(run, "onnx")
    tokens = 5 if args.quick else args.max_tokens
    pipeline = seqframe.load_run(run)
    expected = {p: seqframe.predict(pipeline, [p], temperature=0, max_tokens=tokens)[0] for p in PROMPTS}
    start = time.perf_counter()
    for prompt in PROMPTS:
        seqframe.predict(pipeline, [prompt], temperature=0, max_tokens=tokens)
    alone_ms = 1000 * (time.perf_counter() - start) / len(PROMPTS)
    rows = {}
    for runtime in ("torch", "onnx"):
        for label, extra in (
            ("merged (--max-batch 32)", []),
            ("one request per call (--max-batch 1)", ["--max-batch", "1"]),
        ):
            rows[f"{runtime}, {label}"] = _load(run, runtime, extra, args.requests, args.threads, tokens, expected)
            print(json.dumps({f"{runtime}, {label}": rows[f"{runtime}, {label}"]}), flush=True)
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, torch {torch.__version__}",
        "requests": args.requests,
        "threads": args.threads,
        "max_tokens": tokens,
        "one_request_in_process_ms": alone_ms,
        "rows": rows,
    }
    lines = ["| server | requests/s | tokens/s | p50 latency (ms) | p99 latency (ms) |", "|---|---|---|---|---|"]
    lines += [
        f"| {name} | {r['requests_per_s']:.1f} | {r['tokens_per_s']:,.0f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} |"
        for name, r in rows.items()
    ]
    table = "\n".join(lines) + (
        f"\n\n{args.requests} requests over {args.threads} threads, each one prompt, greedy, "
        f"{tokens} tokens; lm recipe model; one request alone in process (torch): "
        f"{alone_ms:.0f} ms; loopback; {result['machine']}; {result['date']}.\n"
    )
    stem = "serve_quick" if args.quick else "serve"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text(table)
    print(table, end="")


if __name__ == "__main__":
    main()
