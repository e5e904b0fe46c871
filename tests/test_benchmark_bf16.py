"""``benchmarks/bf16.py`` keeps working: one ``--tiny`` run in a subprocess from the repository
root. No timing is asserted: only that every time is finite and positive, the ratios are what
the times give, and the report names every layer. bf16 autocast runs on any CPU (emulated
where the hardware lacks it), so this needs nothing special."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_tiny_run_writes_finite_times_and_consistent_ratios(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "benchmarks/bf16.py", "--tiny", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "bf16.json").read_text())
    assert [row["layer"] for row in result["layers"]] == ["8 -> 2 x 8", "12 -> 16"]
    for row in result["layers"]:
        for precision in ("fp32", "bf16"):
            r = row[precision]
            for key in ("torch_ms", "before_ms", "now_ms"):
                assert math.isfinite(r[key]) and r[key] > 0, (row["layer"], precision, r)
            assert math.isclose(r["torch / now"], r["torch_ms"] / r["now_ms"], rel_tol=0.05, abs_tol=0.01)
    report = (tmp_path / "bf16.md").read_text()
    assert "| 12 -> 16 | bf16 |" in report and "batch 4" in report
