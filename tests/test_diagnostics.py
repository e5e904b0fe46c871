"""Diagnostics of the recurrence (``train.diagnostics``, ``probe_recurrence``): saturation is
seen and worded, the gradient through time is flat for an identity recurrence and decays at
the contraction's rate otherwise, any cell works (``(h, c)`` states, mixed widths, plugins),
the probe changes nothing, and the rows survive ``--resume``."""

from __future__ import annotations

import importlib.util
import json
import math
import signal
import sys
from pathlib import Path

import pytest
import torch

import seqframe
import seqframe.rnn
from seqframe.api.diagnostics import RecurrenceDiagnostics, probe_batch
from seqframe.api.inspection import readings
from seqframe.api.recurrence import grad_slope, probe_recurrence
from seqframe.api.training import _diagnostics
from seqframe.builtin.cells import ElmanCell, GRUCell, LSTMCell
from seqframe.builtin.data.generated.long_memory import AddingSource
from seqframe.builtin.heads import LinearHead
from seqframe.builtin.tasks.sequence_regression import SequenceRegressionTask
from seqframe.builtin.tokenizers import CharTokenizer
from seqframe.builtin.topologies import StackedTopology
from seqframe.engine import Callback
from seqframe.errors import CheckpointError, TrainingInterrupted
from seqframe.interfaces import ModelParts, Tokenizers
from seqframe.plugins import load_plugin_manager
from seqframe.registry import Registry

_SPEC = importlib.util.spec_from_file_location(
    "natural_cells_diagnostics", Path(__file__).parent / "plugins_samples" / "natural_cells.py"
)
natural = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = natural
_SPEC.loader.exec_module(natural)  # type: ignore[union-attr]


def _adding(cell, hidden: int = 8, length: int = 20, **topology):
    """A sequence-regression task and model over a tiny adding problem, and a probe batch."""
    torch.manual_seed(0)
    data = AddingSource(length=length, size=16, valid_size=8, test_size=4)
    task = SequenceRegressionTask()
    task.fit(data)
    model = task.build_model(
        ModelParts(Tokenizers(CharTokenizer()), StackedTopology(cell, 2, hidden, **topology), LinearHead, 1),
    )
    encoded = task.encode(Tokenizers(CharTokenizer()), data.examples("valid"))
    batch = next(task.train_batches(encoded, 8, 0, Tokenizers(CharTokenizer())))
    return task, model, batch


def _set_recurrence(model: torch.nn.Module, scale: float) -> None:
    """Elman weights of a near-linear recurrence h_t = tanh(scale * h + 0.01 x): tanh' ~ 1."""
    cell = model.topology.cells[0][0]
    with torch.no_grad():
        cell.weight_hh.copy_(scale * torch.eye(cell.hidden_size))
        cell.weight_ih.fill_(0.01)
        cell.bias_ih.zero_()
        cell.bias_hh.zero_()


def test_identity_recurrence_keeps_the_gradient_flat_through_time() -> None:
    task, model, batch = _adding(ElmanCell)
    _set_recurrence(model, 1.0)
    _, (row,) = probe_recurrence(task, model, batch)
    assert abs(row["grad_slope"]) < 0.005 and abs(row["memory_slope"]) < 0.005
    norms = row["grad_norms"]
    assert len(norms) == 20 and max(norms) / min(norms) < 1.2
    assert "carried back through time" in readings([row])[0]


def test_contracting_recurrence_makes_the_gradient_decay_at_its_rate() -> None:
    task, model, batch = _adding(ElmanCell)
    _set_recurrence(model, 0.5)
    _, (row,) = probe_recurrence(task, model, batch)
    assert row["grad_slope"] == pytest.approx(math.log10(0.5), abs=0.01)  # 2x smaller per step back
    assert row["memory_slope"] == pytest.approx(math.log10(0.5), abs=0.01)
    assert row["grad_norms"][0] < 1e-4 * row["grad_norms"][-1]
    assert "through the recurrence vanishes (10x smaller every 3 steps back)" in readings([row])[0]


def test_pushed_pre_activations_saturate_and_the_reading_says_so() -> None:
    task, model, batch = _adding(ElmanCell)
    with torch.no_grad():
        model.topology.cells[0][0].weight_ih.fill_(50.0)  # |W x| >> 1 at every step with a value
    _, (row,) = probe_recurrence(task, model, batch)
    assert row["saturated"] > 0.9
    assert "% of units saturated (|h| > 0.99)" in readings([row])[0]
    _, (quiet,) = probe_recurrence(*_adding(ElmanCell))
    assert quiet["saturated"] < 0.05 and "no saturation" in readings([quiet])[0]


def test_a_pushed_forget_gate_saturates_and_is_named() -> None:
    task, model, batch = _adding(LSTMCell)
    with torch.no_grad():
        model.topology.cells[0][0].bias_ih[8:16].fill_(20.0)  # the forget gate's bias: f ~ 1
    _, (row,) = probe_recurrence(task, model, batch)
    assert row["gate_saturation"]["f"] == 1.0 and row["gate_saturation"]["i"] < 0.5
    assert row["gates_saturated"] >= 1 / 3
    assert "of gate values saturated (i " in readings([row])[0] and "f 100%" in readings([row])[0]


def test_gru_exposes_its_gates_and_elman_none() -> None:
    assert set(GRUCell(2, 3).gate_activations(torch.zeros(1, 2), (torch.zeros(1, 3),))) == {"r", "z"}
    assert ElmanCell(2, 3).gate_activations(torch.zeros(1, 2), (torch.zeros(1, 3),)) == {}
    assert ElmanCell(2, 3).output_bound == 1.0 and ElmanCell(2, 3, "relu").output_bound is None
    assert LSTMCell(2, 4).output_bound == 1.0 and LSTMCell(2, 4, proj_size=2).output_bound is None


@pytest.mark.parametrize(
    "cell",
    [natural.CIFGCell, natural.ProjectedCell, natural.FiveStateCell, lambda i, h: LSTMCell(i, h, proj_size=3)],
    ids=["cifg_h_c", "projected_mixed_widths", "five_state", "lstm_proj"],
)
def test_any_cell_through_the_topology_bidirectional_and_stacked(cell) -> None:
    task, model, batch = _adding(cell, num_layers=2, bidirectional=True, length=6)
    loss, rows = probe_recurrence(task, model, batch)
    assert [(r["layer"], r["direction"]) for r in rows] == [
        (1, "forward"),
        (1, "backward"),
        (2, "forward"),
        (2, "backward"),
    ]
    for row in rows:
        assert len(row["grad_norms"]) == 6 and all(n > 0 for n in row["grad_norms"])
        assert math.isfinite(row["mean"]) and row["std"] > 0 and row["param_norm"] > 0 and row["grad_norm"] > 0
    assert math.isfinite(loss)


def test_probing_changes_nothing_in_the_model_or_the_random_streams() -> None:
    task, model, batch = _adding(LSTMCell)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = torch.get_rng_state()
    probe_recurrence(task, model, batch)
    assert model.training and all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(torch.get_rng_state(), state)


class _Mismatched(StackedTopology):
    """Shows its cells but adds one to every output: not a plain stack."""

    def forward(self, x, lengths=None, state=None):
        out, final = super().forward(x, lengths, state)
        return out + 1.0, final


def test_a_topology_whose_outputs_are_not_its_cells_is_skipped_with_the_reason() -> None:
    data = AddingSource(length=5, size=8, valid_size=4, test_size=4)
    task = SequenceRegressionTask()
    task.fit(data)
    model = task.build_model(ModelParts(Tokenizers(CharTokenizer()), _Mismatched(ElmanCell, 2, 4), LinearHead, 1))
    batch = next(
        task.train_batches(
            task.encode(Tokenizers(CharTokenizer()), data.examples("valid")), 4, 0, Tokenizers(CharTokenizer())
        )
    )
    _, rows = probe_recurrence(task, model, batch)
    assert rows == [{"topology": "topology", "skipped": "its outputs are not those of its cells run as a stack"}]
    assert readings(rows) == ["topology: not inspected: its outputs are not those of its cells run as a stack"]


def test_a_model_without_a_cell_stack_is_a_clear_error() -> None:
    task, model, batch = _adding(ElmanCell)
    model.topology = torch.nn.RNN(2, 8, batch_first=True)  # a plain torch module: no cells to show
    with pytest.raises(ValueError, match="no topology that shows its cells"):
        probe_recurrence(task, model, batch)


def test_grad_slope_reads_backwards_in_time() -> None:
    assert grad_slope([0.01, 0.1, 1.0]) == pytest.approx(-1.0)  # 10x smaller each step back: vanishing
    assert grad_slope([1.0, 1.0, 1.0]) == 0.0
    assert grad_slope([0.0, 1.0]) is None


# --- train.diagnostics in runs -------------------------------------------------------------

RECIPE = """\
task: {name: sequence_regression}
data: {name: adding, length: 6, size: 32, valid_size: 8, test_size: 8}
tokenizer: {name: char}
model:
  topology: {name: stacked, cell: lstm, hidden_size: 6, num_layers: 2}
  head: {name: linear}
train:
  steps: 8
  batch_size: 4
  seed: 1
  optimizer: {name: adam, lr: 0.01}
  eval_every: 4
  log_every: 1
  checkpoint: {every: 2, keep_last: 2}
  diagnostics: {every: 2, batch_size: 4}
  device: cpu
"""


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    path = tmp_path / "adding.yaml"
    path.write_text(RECIPE)
    return path


def _rows(run: Path, split: str) -> list[dict]:
    return [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r["split"] == split]


class _SignalAt(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, step: int, row: dict) -> None:
        if step == self.step:
            signal.raise_signal(signal.SIGINT)


def test_diagnostics_rows_are_written_every_n_steps_per_layer(recipe: Path, tmp_path: Path) -> None:
    seqframe.run(recipe, out_dir=tmp_path / "run", progress=False)
    rows = _rows(tmp_path / "run", "diagnostics")
    assert [(r["step"], r["layer"], r["direction"]) for r in rows] == [
        (step, layer, "forward") for step in (0, 2, 4, 6, 8) for layer in (1, 2)
    ]
    assert all("loss" not in r and r["probe_loss"] > 0 and len(r["grad_norms"]) == 6 for r in rows)
    assert {tuple(r["gate_saturation"]) for r in rows} == {("i", "f", "o")}


def test_diagnostics_rows_survive_resume_with_no_duplicate_and_none_lost(recipe: Path, tmp_path: Path) -> None:
    straight = tmp_path / "straight"
    seqframe.run(recipe, out_dir=straight, progress=False)
    with pytest.raises(TrainingInterrupted):
        seqframe.run(recipe, out_dir=tmp_path / "resumed", progress=False, callbacks=[_SignalAt(5)])
    seqframe.run(recipe, out_dir=tmp_path / "resumed", progress=False, resume=True)
    expected, got = _rows(straight, "diagnostics"), _rows(tmp_path / "resumed", "diagnostics")
    assert [(r["step"], r["layer"]) for r in got] == [(r["step"], r["layer"]) for r in expected]
    for a, b in zip(expected, got):  # exact resume: the same weights are probed at each step
        assert a["probe_loss"] == pytest.approx(b["probe_loss"], rel=1e-5)
        assert a["grad_norms"] == pytest.approx(b["grad_norms"], rel=1e-3)


def test_diagnostics_do_not_change_training(recipe: Path, tmp_path: Path) -> None:
    seqframe.run(recipe, out_dir=tmp_path / "on", progress=False)
    seqframe.run(recipe, ["train.diagnostics=null"], out_dir=tmp_path / "off", progress=False)

    def losses(run: Path) -> list[tuple[int, float, float]]:
        return [(r["step"], r["loss"], r.get("grad_norm")) for r in _rows(run, "train") + _rows(run, "valid")]

    assert losses(tmp_path / "on") == losses(tmp_path / "off")
    assert not _rows(tmp_path / "off", "diagnostics")


def test_diagnostics_are_off_by_default_and_cost_nothing(recipe: Path) -> None:
    pipeline = seqframe.build(recipe, ["~train.diagnostics"])
    assert pipeline.train.diagnostics is None and _diagnostics(pipeline, Path("unused")) == []


def test_bad_diagnostics_settings_are_recipe_errors(recipe: Path) -> None:
    with pytest.raises(seqframe.RecipeError, match=r"train\.diagnostics\.every: expected a value >= 1, got 0"):
        seqframe.api.validate(recipe, ["train.diagnostics.every=0"])
    with pytest.raises(seqframe.RecipeError, match="train.diagnostics.evry"):
        seqframe.api.validate(recipe, ["train.diagnostics.evry=3"])


def test_plugin_cell_with_h_c_state_in_a_run_with_diagnostics(recipe: Path, tmp_path: Path) -> None:
    pm = load_plugin_manager(entry_points=False)
    pm.register(natural, name="natural")
    registry = Registry.from_plugin_manager(pm)
    seqframe.run(
        recipe,
        ["model.topology.cell=cifg", "model.topology.bidirectional=true"],
        out_dir=tmp_path / "run",
        progress=False,
        registry=registry,
    )
    rows = _rows(tmp_path / "run", "diagnostics")
    assert {(r["cell"], r["direction"]) for r in rows} == {("CIFGCell", "forward"), ("CIFGCell", "backward")}
    assert all(r["gates_saturated"] is None and r["saturated"] is None for r in rows)  # nothing declared


def test_probe_batch_is_fixed_whatever_the_training_seed(recipe: Path) -> None:
    a = probe_batch(seqframe.build(recipe, ["train.seed=1"]), 4)
    b = probe_batch(seqframe.build(recipe, ["train.seed=7"]), 4)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_callback_without_a_path_keeps_rows_in_memory(recipe: Path) -> None:
    pipeline = seqframe.build(recipe, ["train.diagnostics=null"])
    callback = RecurrenceDiagnostics(pipeline, every=4, batch_size=2)
    seqframe.train(pipeline, callbacks=[callback], progress=False)
    assert [(r["step"], r["layer"]) for r in callback.rows] == [(0, 1), (0, 2), (4, 1), (4, 2), (8, 1), (8, 2)]


def test_callback_never_writes_its_rows_through_a_symbolic_link(recipe: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.jsonl"
    outside.write_text("")
    link = tmp_path / "metrics.jsonl"
    link.symlink_to(outside)
    pipeline = seqframe.build(recipe, ["train.diagnostics=null"])
    callback = RecurrenceDiagnostics(pipeline, every=4, batch_size=2, path=link)
    with pytest.raises(CheckpointError, match="could not write the metrics row of step 0"):
        seqframe.train(pipeline, callbacks=[callback], progress=False)
    assert outside.read_text() == ""


@pytest.mark.slow
def test_under_two_processes_rank_0_alone_writes_the_rows(recipe: Path, tmp_path: Path) -> None:
    import os
    import subprocess

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "seqframe",
            "run",
            str(recipe),
            "train.batch_size=8",
            "--nproc",
            "2",
            "--quiet",
            "--out",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = _rows(tmp_path / "run", "diagnostics")
    assert [(r["step"], r["layer"]) for r in rows] == [(s, l) for s in (0, 2, 4, 6, 8) for l in (1, 2)]


class _FlatCells(StackedTopology):
    """Has a ``cells`` attribute, but a flat list: not ``[layer][direction]``."""

    @property
    def cells(self):
        return [cell for layer in self.layers for cell in layer]

    def forward(self, x, lengths=None, state=None):
        return seqframe.rnn.run_stack([list(layer) for layer in self.layers], x, lengths, state)


def test_a_topology_whose_cells_cannot_be_run_as_a_stack_is_skipped_not_fatal() -> None:
    data = AddingSource(length=5, size=8, valid_size=4, test_size=4)
    task = SequenceRegressionTask()
    task.fit(data)
    model = task.build_model(ModelParts(Tokenizers(CharTokenizer()), _FlatCells(ElmanCell, 2, 4), LinearHead, 1))
    batch = next(
        task.train_batches(
            task.encode(Tokenizers(CharTokenizer()), data.examples("valid")), 4, 0, Tokenizers(CharTokenizer())
        )
    )
    _, (row,) = probe_recurrence(task, model, batch)
    assert row["skipped"].startswith("its cells could not be run as a stack (TypeError")


def test_a_failing_probe_warns_once_and_training_goes_on(recipe: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import seqframe.api.diagnostics as diagnostics

    def broken(*args, **kwargs):
        raise ValueError("the model has no topology that shows its cells")

    monkeypatch.setattr(diagnostics, "probe_recurrence", broken)
    pipeline = seqframe.build(recipe, ["train.diagnostics=null"])
    callback = RecurrenceDiagnostics(pipeline, every=2, batch_size=2)
    with pytest.warns(UserWarning, match="train.diagnostics: stopped at step 0 .*no topology that shows its cells"):
        result = seqframe.train(pipeline, callbacks=[callback], progress=False)
    assert result.step == 8 and callback.rows == []
