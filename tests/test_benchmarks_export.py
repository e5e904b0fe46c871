"""The export and serving benchmarks keep working: one ``--quick`` run of each (a tiny
model), checking what they report, never how fast it was."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _run(script: str, tmp_path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / script),
            "--quick",
            "--work",
            str(tmp_path / "w"),
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    stem = script.removesuffix(".py") + "_quick"
    assert (tmp_path / "out" / f"{stem}.md").read_text().startswith("| ")
    return json.loads((tmp_path / "out" / f"{stem}.json").read_text())


def test_the_export_benchmark_reports_every_runtime_with_the_same_text(tmp_path: Path) -> None:
    result = _run("export.py", tmp_path)
    for row in result["rows"]:
        assert all(row["same_text_as_torch"].values())
        for runtime in ("torch", "onnx", "torchscript"):
            assert math.isfinite(row[runtime]["ms_per_token"]) and row[runtime]["tokens_per_s"] > 0
    assert result["files"]["onnx: step.onnx"] > 0 and result["files"]["torchscript: step.pt"] > 0


def test_the_serving_benchmark_reports_throughput_and_latency(tmp_path: Path) -> None:
    result = _run("serve.py", tmp_path)
    assert len(result["rows"]) == 4
    for row in result["rows"].values():
        assert row["requests_per_s"] > 0 and 0 < row["p50_ms"] <= row["p99_ms"]
