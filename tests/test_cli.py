"""The command line: exit codes, messages without tracebacks, the listed commands."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from seqframe.cli import main

TINY = ["model.topology.hidden_size=16", "model.embedding_dim=8", "task.seq_len=16", "train.batch_size=4",
        "train.steps=2", "train.eval_every=0", "train.sample.max_tokens=5", "model.topology.num_layers=1"]


def test_run_trains_and_prints_a_sample(tmp_path, capsys) -> None:
    assert main(["run", "lm", *TINY, "--out", str(tmp_path / "r"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "validation: loss" in out and "bpc" in out and "sample:\nThe " in out


def test_recipe_error_exits_2_without_traceback(tmp_path, capsys) -> None:
    code = main(["run", "lm", "model.topology.cell=lstn", "train.step=3", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    assert "did you mean 'lstm'" in err and "did you mean 'steps'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "r").exists()  # nothing written for a wrong recipe


def test_traceback_flag_shows_the_traceback(capsys) -> None:
    assert main(["--traceback", "validate", "lm", "model.topology.cell=lstn"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_validate_prints_the_resolved_recipe(capsys) -> None:
    assert main(["validate", "lm", "train.steps=7", "--print"]) == 0
    assert "steps: 7" in capsys.readouterr().out


def test_plugins_json_lists_builtin_components(capsys) -> None:
    assert main(["plugins", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    names = {(c["kind"], c["name"]) for c in payload["components"]}
    assert {("cell", "elman"), ("cell", "lstm"), ("cell", "gru"), ("topology", "stacked")} <= names
    builtin = next(p for p in payload["plugins"] if p["name"] == "builtin.cells")
    assert builtin["distribution"] == "seqframe" and builtin["hooks"] == ["seqframe_cells"]


def test_plugins_check_runs_the_conformance_checks(capsys) -> None:
    assert main(["plugins", "check", "elman"]) == 0
    assert "all conformance checks passed" in capsys.readouterr().out


def test_plugins_check_unknown_cell_exits_2(capsys) -> None:
    assert main(["plugins", "check", "lstmm"]) == 2
    assert "did you mean 'lstm'" in capsys.readouterr().err


def test_predict_reads_prompts_from_stdin(tmp_path, monkeypatch, capsys) -> None:
    assert main(["run", "lm", *TINY, "--out", str(tmp_path / "r"), "--quiet"]) == 0
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO("The \nA\n"))
    assert main(["predict", str(tmp_path / "r"), "--max-tokens", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("The ") and any(line.startswith("A") for line in lines)


def test_recipes_lists_the_shipped_recipes(capsys) -> None:
    assert main(["recipes"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert "lm" in names and "lm-indrnn" in names


@pytest.mark.slow
def test_python_dash_m_seqframe_works() -> None:
    done = subprocess.run([sys.executable, "-m", "seqframe", "recipes"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "lm" in done.stdout
