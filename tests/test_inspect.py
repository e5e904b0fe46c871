"""``seqframe inspect``: reads a run without writing into it, probes its recurrence, words
what it finds, plots outside the run directory, and reads the diagnostics recorded in training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import seqframe
from seqframe.api.inspection import diagnostics_history
from seqframe.cli import main
from seqframe.errors import CheckpointError, SeqframeError

LM = [
    "train.steps=4",
    "train.batch_size=4",
    "train.eval_every=0",
    "model.topology.hidden_size=8",
    "model.embedding_dim=4",
    "task.seq_len=12",
    "train.sample=null",
    "data.valid_fraction=0.02",
    "data.test_fraction=0.02",
]


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny two-layer lm run that recorded diagnostics every 2 steps."""
    out = tmp_path_factory.mktemp("lm") / "run"
    seqframe.run("lm", [*LM, "train.diagnostics={every: 2, batch_size: 2}"], out_dir=out, progress=False)
    return out


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_inspect_reads_without_writing_and_words_each_layer(lm_run: Path, tmp_path: Path) -> None:
    before = _snapshot(lm_run)
    report = seqframe.inspect(lm_run, batch_size=3, plots_dir=tmp_path / "plots")
    assert _snapshot(lm_run) == before  # readers never write into a run directory
    assert report.step == 4 and report.batch_size == 3 and report.probe_loss > 0
    assert [(r["layer"], r["direction"], r["cell"]) for r in report.rows] == [
        (1, "forward", "LSTMCell"),
        (2, "forward", "LSTMCell"),
    ]
    assert len(report.rows[0]["grad_norms"]) == 12
    assert [line.split(":")[0] for line in report.readings] == ["layer 1 forward", "layer 2 forward"]
    assert all("gradient" in line for line in report.readings)
    assert [p.name for p in report.plots] == ["gradient_through_time.png", "diagnostics_over_training.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in report.plots)
    assert [(r["step"], r["layer"]) for r in report.history] == [(s, l) for s in (0, 2, 4) for l in (1, 2)]


def test_inspect_on_the_command_line_prints_a_table_and_readings(
    lm_run: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["inspect", str(lm_run), "--batch", "2"]) == 0
    out = capsys.readouterr().out
    assert "layer  direction  cell      mean" in out and "\nreadings:\n  layer 1 forward: " in out
    assert (tmp_path / "run-inspect" / "gradient_through_time.png").is_file()  # the default: ./<run>-inspect
    assert main(["inspect", str(lm_run), "--json", "--no-plots"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["plots"] == [] and data["history_rows"] == 6 and len(data["rows"]) == 2
    assert data["rows"][0]["gate_saturation"].keys() == {"i", "f", "o"}


def test_plots_inside_the_run_directory_are_refused(lm_run: Path, capsys) -> None:
    before = _snapshot(lm_run)
    with pytest.raises(SeqframeError, match="inside the run directory"):
        seqframe.inspect(lm_run, plots_dir=lm_run / "plots")
    assert main(["inspect", str(lm_run), "--plots", str(lm_run)]) == 2
    assert "never writes into a run directory" in capsys.readouterr().err
    assert _snapshot(lm_run) == before


def test_inspect_needs_a_run_directory_and_a_positive_batch(tmp_path: Path, lm_run: Path) -> None:
    with pytest.raises(CheckpointError, match="no recipe.yaml"):
        seqframe.inspect(tmp_path)
    with pytest.raises(SeqframeError, match="--batch: expected a number of rows >= 1, got 0"):
        seqframe.inspect(lm_run, batch_size=0)


def test_a_run_without_diagnostics_has_no_history_and_one_plot(tmp_path: Path) -> None:
    seqframe.run("lm", LM, out_dir=tmp_path / "run", progress=False)
    assert diagnostics_history(tmp_path / "run") == []
    report = seqframe.inspect(tmp_path / "run", plots_dir=tmp_path / "plots")
    assert [p.name for p in report.plots] == ["gradient_through_time.png"] and report.history == []
