"""The programs in ``examples/`` run as documented and do what they say."""

from __future__ import annotations

import math
import runpy
from pathlib import Path

import pytest

import seqframe
from seqframe.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
def test_own_training_loop_trains_and_saves_a_run_that_seqframe_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    program = runpy.run_path(str(EXAMPLES / "own_training_loop.py"))
    metrics = program["train_own_loop"](20, str(tmp_path / "run"))
    out = capsys.readouterr().out
    assert "step 20: loss " in out and "validation: loss " in out and "sample: The " in out
    vocabulary = seqframe.load_run(tmp_path / "run").tokenizer.vocab_size
    assert math.isfinite(metrics["loss"]) and metrics["loss"] < math.log(vocabulary)  # learnt beyond a uniform guess
    assert main(["predict", str(tmp_path / "run"), "The ", "--max-tokens", "5", "--temperature", "0"]) == 0
    assert capsys.readouterr().out.startswith("The ")
