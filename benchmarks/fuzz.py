"""A fresh recipe-fuzzing campaign: ``python -m benchmarks.fuzz [--cases 2000] [--seed S] [--json]``.

Draws N mutated recipes from the shipped ones (:mod:`seqframe.testing.mutations`, the same
generators as the test suite's ``tests/test_fuzz.py``), checks what ``seqframe validate``
answers to each, then trains ``--runs`` of the accepted ones two tiny steps with
``seqframe run`` in fresh processes, and reports the counts: cases, validate accepted (exit
0) / rejected (exit 2) / tracebacks / hangs, and for the runs exit 0 / exit 2 / tracebacks /
hangs / slow (still training at the time bound, after its first step). Every traceback,
hang or slow run is listed with the case that caused it. Without ``--seed`` a random seed is drawn and
printed, so any campaign can be repeated. ``--write`` records the result in
``benchmarks/results/fuzz.md`` and ``fuzz.json``. Exit status 1 when anything was found.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fuzz", description=__doc__.split("\n\n")[1])
    parser.add_argument("--cases", type=int, default=2000, help="mutated recipes to validate (default 2000)")
    parser.add_argument("--seed", type=int, default=None, help="campaign seed (default: a fresh random one)")
    parser.add_argument("--runs", type=int, default=40, help="accepted cases to train two tiny steps (default 40)")
    parser.add_argument(
        "--run-timeout", type=float, default=180.0, help="seconds per run before it counts as slow/hang"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--write", action="store_true", help="also write benchmarks/results/fuzz.md and fuzz.json")
    return parser


def _markdown(report: dict[str, Any]) -> str:
    v, r = report["validate"], report["runs"]
    lines = [
        "# Recipe fuzzing",
        "",
        f"Command: `{report['command']}` ({report['seconds'] / 60:.1f} min, {report['machine']}, {report['date']}).",
        "",
        "Mutated shipped recipes (deleted keys, wrong types, NaN/inf, huge and negative numbers, unicode and control "
        "characters, lists for mappings, unknown components and keys, real options with random values, damaged YAML, "
        "the same as overrides); generators in `src/seqframe/testing/mutations.py`.",
        "",
        "| command | cases | exit 0 | exit 2 | tracebacks | hangs | slow (past step 1) |",
        "|---|---|---|---|---|---|---|",
        f"| `seqframe validate` | {report['cases']} | {v['accepted']} | {v['rejected']} | {v['traceback']} | {v['hang']} | - |",
        f"| `seqframe run` (2 tiny steps) | {r['sampled']} | {r['exit_0']} | {r['exit_2']} | {r['traceback']} | "
        f"{r['hang']} | {r['slow']} |",
        "",
        f"Distinct accepted recipes: {report['distinct_accepted']}; runs are spread over them.",
    ]
    if report["findings"]:
        lines += [
            "",
            "## Findings",
            "",
            "Slow runs got past their first step (what a run must do); tracebacks and hangs are bugs.",
            "",
        ]
        lines += [
            f"- {f['command']} {f['outcome']}: {f['detail']} ({f['recipe']}: {'; '.join(f['mutations'])}"
            + (f"; overrides {' '.join(f['overrides'])}" if f["overrides"] else "")
            + ")"
            for f in report["findings"]
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    from seqframe.api import registry
    from seqframe.testing.fuzz import campaign

    log = None if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="seqframe-fuzz-") as folder:
        report = campaign(
            args.cases, Path(folder), registry(), seed=seed, runs=args.runs, run_timeout_s=args.run_timeout, log=log
        )
    words = [
        "python",
        "-m",
        "benchmarks.fuzz",
        "--cases",
        str(args.cases),
        "--seed",
        str(seed),
        "--runs",
        str(args.runs),
    ]
    report = {
        "command": shlex.join(words),
        "seed": seed,
        **report,
        "seconds": round(time.perf_counter() - start, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "date": datetime.date.today().isoformat(),
    }
    print(json.dumps(report, indent=2) if args.json else _markdown(report))
    if args.write:
        (RESULTS / "fuzz.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        (RESULTS / "fuzz.md").write_text(_markdown(report), encoding="utf-8")
    found = (
        report["validate"]["traceback"]
        + report["validate"]["hang"]
        + report["runs"]["traceback"]
        + report["runs"]["hang"]
    )
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
