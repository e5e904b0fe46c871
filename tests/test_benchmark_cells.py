"""The cell comparison (``python -m benchmarks.cells``) keeps working: one ``--tiny`` run in a
subprocess from the repository root, with the installed plugins (the indrnn cell). Nothing
about the figures is asserted, only that both problems were swept and reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_tiny_cell_comparison_writes_its_tables(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "OMP_NUM_THREADS": "1",
    }
    env.pop("SEQFRAME_DISABLE_PLUGIN_AUTOLOAD", None)  # the benchmark compares the indrnn plugin cell
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.cells",
            "--tiny",
            "--seeds",
            "1",
            "--out",
            str(tmp_path / "runs"),
            "--results",
            str(tmp_path),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "cells.json").read_text())
    assert {(r["problem"], r["cell"], r["length"]) for r in report["rows"]} == {
        (p, c, t) for p in ("adding", "copy") for c in ("elman", "indrnn") for t in (3, 4)
    }
    assert (
        report["meta"]["cpu_minutes"] > 0
        and "| cell | adding T=3: MSE | solved | adding T=4: MSE" in (tmp_path / "cells.md").read_text()
    )
    assert (tmp_path / "runs" / "adding" / "results.md").is_file()
