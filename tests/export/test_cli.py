"""``seqframe export`` and ``predict --runtime`` from the command line, and every way they
refuse: no export, a stale or damaged one, a cell whose operation has no ONNX form (named
with its plugin), a run held by another writer, a foreign --out folder. The export is a
writer of the run directory: listed in its manifest, removed by --overwrite."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest
import torch
from torch import nn

import seqframe
from seqframe.cli import main
from seqframe.engine.rundir import RunDir
from seqframe.errors import CheckpointError, ExportError
from seqframe.interfaces import Task
from seqframe.plugins import PluginInfo, load_plugin_manager
from seqframe.registry import Registry

TINY = [
    "model.topology.hidden_size=8",
    "model.embedding_dim=4",
    "task.seq_len=8",
    "train.batch_size=2",
    "train.steps=4",
    "train.eval_every=0",
    "train.sample.max_tokens=3",
    "train.checkpoint.every=2",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "lm"
    seqframe.run("lm", TINY, out_dir=out, progress=False)
    return out


def _predict(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["predict", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_export_then_predict_with_each_runtime_prints_what_torch_prints(run: Path, capsys) -> None:
    for fmt in ("onnx", "torchscript"):
        assert main(["export", str(run), "--format", fmt]) == 0
        assert f"to {run / 'export' / fmt}" in capsys.readouterr().out
    options = ["The ", "a", "--temperature", "0", "--max-tokens", "15"]
    torch_out = _predict(capsys, str(run), *options)
    assert torch_out[0] == 0 and torch_out[1].count("\n") == 2
    for runtime in ("onnx", "torchscript"):
        assert _predict(capsys, str(run), *options, "--runtime", runtime) == torch_out
    sampled = ["The ", "--temperature", "0.9", "--seed", "3", "--max-tokens", "15"]
    assert _predict(capsys, str(run), *sampled, "--runtime", "onnx") == _predict(capsys, str(run), *sampled)


def test_the_export_is_listed_in_the_manifest_and_readers_verify_it(run: Path, capsys) -> None:
    main(["export", str(run)])
    files = json.loads((run / "manifest.json").read_text())["files"]
    assert files["export"] is None and files["export/onnx/step.onnx"]["sha256"]
    assert json.loads((run / "manifest.json").read_text())["complete"] is True  # amending keeps the run finished
    assert not (run / ".lock").exists()
    exported = json.loads((run / "export" / "onnx" / "export.json").read_text())
    assert exported["task"] == "language_modelling" and exported["graphs"]["step"]["inputs"][0] == {
        "name": "tokens",
        "dtype": "int64",
        "shape": ["B"],
    }
    assert (run / "export" / "onnx" / "tokenizer.json").read_bytes() == (run / "tokenizer.json").read_bytes()


def test_predict_without_an_export_says_how_to_make_one(tmp_path: Path, run: Path, capsys) -> None:
    code, out, err = _predict(capsys, str(run), "x", "--runtime", "onnx", "--export", str(tmp_path / "none"))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "no onnx export" in err and f"seqframe export {run} --format onnx" in err


def test_a_damaged_graph_file_is_refused_naming_it(tmp_path: Path, run: Path, capsys) -> None:
    out = tmp_path / "shipped"
    assert main(["export", str(run), "--out", str(out)]) == 0
    graph = out / "step.onnx"
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 1
    graph.write_bytes(bytes(data))
    code, _, err = _predict(capsys, str(run), "x", "--runtime", "onnx", "--export", str(out))
    assert code == 2 and f"{graph}: its sha256 differs from export.json" in err


def test_an_export_of_older_weights_is_refused_as_stale(tmp_path: Path, capsys) -> None:
    run = tmp_path / "lm"
    seqframe.run("lm", TINY, out_dir=run, progress=False)
    main(["export", str(run), "--out", str(tmp_path / "old")])
    seqframe.run("lm", [*TINY, "train.steps=6"], out_dir=run, progress=False, resume=True)
    code, _, err = _predict(capsys, str(run), "x", "--runtime", "onnx", "--export", str(tmp_path / "old"))
    assert code == 2 and "exported from other weights" in err and "export again" in err


def test_overwrite_removes_the_export_with_the_run(tmp_path: Path) -> None:
    run = tmp_path / "lm"
    seqframe.run("lm", TINY, out_dir=run, progress=False)
    seqframe.api.export(run, "torchscript")
    seqframe.run("lm", TINY, out_dir=run, progress=False, overwrite=True)
    assert not (run / "export").exists()


def test_export_refuses_a_run_held_by_another_writer(run: Path) -> None:
    with RunDir.open_writer(run, amend=True), pytest.raises(CheckpointError, match="PID"):
        seqframe.api.export(run, "torchscript")


def test_export_refuses_a_foreign_out_folder(tmp_path: Path, run: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match="not empty and holds no earlier export"):
        seqframe.api.export(run, "onnx", out=tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


class BesselCell(seqframe.Cell):
    """An Elman-like cell squashing with the modified Bessel function I0, which ONNX lacks."""

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.inp = nn.Linear(input_size, hidden_size)
        self.rec = nn.Linear(hidden_size, hidden_size, bias=False)

    def forward(self, x_t, state):
        (h,) = state
        h = torch.tanh(torch.special.i0(self.inp(x_t) + self.rec(h)))
        return h, (h,)


def test_a_cell_without_an_onnx_form_is_named_with_its_plugin_and_operation(tmp_path: Path) -> None:
    plugin = types.ModuleType("seqframe_bessel")
    plugin.seqframe_cells = seqframe.hookimpl(lambda: {"bessel": BesselCell})
    pm = load_plugin_manager(entry_points=False)
    pm.add_plugin(plugin, PluginInfo("bessel", "seqframe_bessel", "seqframe-bessel", "0.1.0"))
    registry = Registry.from_plugin_manager(pm)
    run = tmp_path / "lm"
    seqframe.run("lm", [*TINY, "model.topology.cell=bessel"], out_dir=run, progress=False, registry=registry)
    with pytest.raises(ExportError) as info:
        seqframe.api.export(run, "onnx", registry=registry)
    message = str(info.value)
    assert "graph 'step' cannot be exported to onnx" in message
    assert "cell 'bessel' (plugin 'bessel', seqframe-bessel 0.1.0)" in message and "bessel_i0" in message
    assert not (run / "export").exists()  # nothing written
    folder = seqframe.api.export(run, "torchscript", registry=registry)  # TorchScript runs any torch operation
    assert seqframe.predict(
        seqframe.api.load_exported(run, "torchscript", registry=registry), ["a"], temperature=0, max_tokens=5
    ) == seqframe.predict(seqframe.load_run(run, registry=registry), ["a"], temperature=0, max_tokens=5)
    assert folder.is_dir()


def test_a_task_that_declares_no_export_says_so() -> None:
    with pytest.raises(ExportError, match=r"does not declare how its model is exported \(Task.export_plan"):
        Task().export_plan(nn.Linear(1, 1))


def test_export_never_writes_through_a_symbolic_link(tmp_path: Path) -> None:
    run = tmp_path / "lm"
    seqframe.run("lm", TINY, out_dir=run, progress=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (run / "export").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(CheckpointError, match="is a symbolic link"):
        seqframe.api.export(run, "torchscript")
    assert list(elsewhere.iterdir()) == []
