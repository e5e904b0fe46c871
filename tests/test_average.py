"""``seqframe average``: the element-wise mean of a run's last checkpoints, as a new finished
run directory that predict, eval, export and serve read; checkpoints of different recipes,
too few checkpoints and a taken output folder are refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load as load_safetensors

import seqframe
from seqframe.cli import main
from seqframe.engine.checkpoint import CheckpointStore
from seqframe.errors import CheckpointError

TINY = [
    "model.topology.hidden_size=8",
    "model.embedding_dim=4",
    "task.seq_len=8",
    "train.batch_size=2",
    "train.steps=6",
    "train.eval_every=0",
    "train.sample=null",
    "train.checkpoint.every=2",
    "train.checkpoint.keep_last=3",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("average") / "lm"
    seqframe.run("lm", TINY, out_dir=out, progress=False)
    return out


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_safetensors((folder / "model.safetensors").read_bytes())


def test_the_average_is_the_element_wise_mean_of_the_last_checkpoints(run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "avg"
    assert main(["average", str(run), "--last", "2", "--out", str(out)]) == 0
    assert f"into {out}" in capsys.readouterr().out
    steps = [path for _, path in CheckpointStore(run / "checkpoints").checkpoints()][-2:]
    first, second, averaged = _weights(steps[0]), _weights(steps[1]), _weights(out)
    assert averaged.keys() == first.keys()
    for name in averaged:
        torch.testing.assert_close(averaged[name], (first[name] + second[name]) / 2)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is True and manifest["files"]["model.safetensors"]["sha256"]
    meta = json.loads((out / "run.json").read_text())
    assert meta["averaged"]["steps"] == [4, 6] and meta["averaged"]["run"] == str(run.resolve())


def test_predict_eval_and_export_accept_the_averaged_run(run: Path, tmp_path: Path) -> None:
    out = seqframe.api.average(run, 3)
    assert out == run.with_name("lm-avg3")
    try:
        assert seqframe.api.evaluate(out)["loss"] > 0
        pipeline = seqframe.load_run(out)
        expected = seqframe.predict(pipeline, ["The "], temperature=0, max_tokens=8)
        seqframe.api.export(out, "torchscript")
        exported = seqframe.api.load_exported(out, "torchscript")
        assert seqframe.predict(exported, ["The "], temperature=0, max_tokens=8) == expected
    finally:
        shutil.rmtree(out)


def test_checkpoints_of_different_recipes_are_refused(run: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    seqframe.run("lm", [*TINY, "model.topology.hidden_size=6"], out_dir=other, progress=False)
    mixed = tmp_path / "mixed"
    shutil.copytree(run, mixed)
    newest = max((mixed / "checkpoints").glob("step_*"))
    shutil.rmtree(newest)
    shutil.copytree(other / "checkpoints" / newest.name, newest)  # a complete, valid checkpoint of another model
    with pytest.raises(CheckpointError, match=r"come from different recipes \(model.topology.hidden_size: 8 -> 6"):
        seqframe.api.average(mixed, 2, out=tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_too_few_checkpoints_says_how_to_keep_more(run: Path, tmp_path: Path, capsys) -> None:
    assert main(["average", str(run), "--last", "9", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "has 3 checkpoint(s) (steps 2, 4, 6), fewer than --last 9" in err and "keep_last" in err
    assert err.count("\n") == 1


def test_a_taken_output_folder_is_refused(run: Path, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(CheckpointError, match="not empty"):
        seqframe.api.average(run, 2, out=tmp_path / "taken")
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
