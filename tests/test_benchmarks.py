"""The speed suite (``python -m benchmarks.speed``) keeps working: one ``--tiny`` run.

No timing is asserted: only that every section wrote finite, positive times and ratios, that
the compared variants computed the same thing, and that the Markdown report exists. Runs in
a subprocess from the repository root (``benchmarks`` is a namespace package there) with
no Multi30k folder, so it needs no data outside the repository.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ("builtins", "plugins", "training", "generation", "data")


def _numbers(row: dict[str, Any]) -> list[float]:
    """Every time and ratio of a row."""
    values = list(row.get("times_ms", {}).values()) + list(row.get("ratios", {}).values())
    for key in ("tokens_per_s", "sentences_per_s"):
        values += list(row.get(key, {}).values())
    return values


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("speed")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.speed",
            "--tiny",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--multi30k",
            str(out / "no-multi30k-here"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "speed-tiny.json").read_text(encoding="utf-8")), out


def test_tiny_run_reports_every_section(report: tuple[dict[str, Any], Path]) -> None:
    doc, _ = report
    assert set(doc["sections"]) == set(SECTIONS)
    assert doc["meta"]["mode"] == "tiny" and doc["meta"]["torch"]


@pytest.mark.parametrize("section", SECTIONS)
def test_tiny_run_times_and_ratios_are_finite_and_positive(report: tuple[dict[str, Any], Path], section: str) -> None:
    rows = [row for row in report[0]["sections"][section]["rows"] if "times_ms" in row]
    assert rows, f"{section}: no timed rows"
    for row in rows:
        values = _numbers(row)
        assert values and all(math.isfinite(v) and v > 0 for v in values), (section, row)


def test_tiny_run_compared_variants_agree(report: tuple[dict[str, Any], Path]) -> None:
    for name, section in report[0]["sections"].items():
        for row in section["rows"]:
            checks = [row["check"]] if "check" in row else list(row.get("checks", {}).values())
            assert all(c["ok"] for c in checks), (name, row)


def test_tiny_run_writes_markdown_and_skips_missing_multi30k(report: tuple[dict[str, Any], Path]) -> None:
    doc, out = report
    text = (out / "speed-tiny.md").read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f"## {section}" in text
    assert "| seqframe ms |" in text and "| torch unpacked ms |" in text
    assert any("Multi30k" in item for item in doc["sections"]["data"]["skipped"])
