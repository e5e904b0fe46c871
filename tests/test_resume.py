"""Exact resume (bitwise, mid-epoch or at an epoch boundary), metrics without duplicates,
recipe changes on resume (refused key by key unless allowed), broken newest checkpoint,
missing plugin, run-directory hygiene (nothing written outside it, no secrets in it)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import seqframe
from seqframe.engine import Callback
from seqframe.errors import CheckpointError, PluginError, RecipeError, TrainingInterrupted

CORPUS = (
    "It was the best of times, it was the worst of times,\nit was the age of wisdom, it was the age of foolishness.\n"
) * 7
RECIPE = """\
task: {name: language_modelling, seq_len: 8}
data: {name: text_files, paths: [corpus.txt], valid_fraction: 0.1, test_fraction: 0.1}
tokenizer: {name: char}
model:
  embedding_dim: 8
  topology: {name: stacked, cell: lstm, hidden_size: 16, num_layers: 2, dropout: 0.0}
  head: {name: linear}
train:
  steps: 30
  batch_size: 4
  seed: 3
  optimizer: {name: adam, lr: 0.01}
  scheduler: {name: cosine, warmup_steps: 4, min_lr: 0.001}
  eval_every: 6
  log_every: 1
  checkpoint: {every: 5, keep_last: 2}
  sample: null
  device: cpu
"""


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    (tmp_path / "corpus.txt").write_text(CORPUS)
    path = tmp_path / "tiny.yaml"
    path.write_text(RECIPE)
    return path


def _train_rows(run: Path) -> list[tuple[int, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in rows if r["split"] == "train"]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model.safetensors"))


def _latest_state(run: Path) -> dict:
    pointer = json.loads((run / "checkpoints/latest.json").read_text())
    return torch.load(run / "checkpoints" / pointer["path"] / "state.pt", weights_only=True)


class _SignalAt(Callback):
    """Sends this process ``signum`` after step ``step`` (the trainer's own handler catches it)."""

    def __init__(self, step: int, signum: int = signal.SIGINT) -> None:
        self.step, self.signum = step, signum

    def on_train_batch_end(self, step: int, row: dict) -> None:
        if step == self.step:
            signal.raise_signal(self.signum)


def _epoch_boundary(recipe: Path) -> int:
    """Steps in the first epoch of the tiny recipe's token stream."""
    pipeline = seqframe.build(recipe)
    ids = pipeline.task.encode(pipeline.tokenizers, pipeline.data.texts("train"))
    stream = pipeline.task.train_batches(ids, 4, 3, pipeline.tokenizers)
    steps = 0
    while stream.state_dict()["epoch"] == 0:
        next(stream)
        steps += 1
    return steps - 1


def _assert_same_run(a: Path, b: Path) -> None:
    assert _train_rows(a) == _train_rows(b)  # bitwise: JSON floats round-trip exactly
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    sa, sb = _latest_state(a), _latest_state(b)
    for key in ("step", "data", "schedule", "best", "skips"):
        assert sa[key] == sb[key], key
    for pa, pb in zip(sa["optimizer"]["state"].values(), sb["optimizer"]["state"].values()):
        assert all(torch.equal(pa[k], pb[k]) for k in pa)


@pytest.mark.parametrize("where", ["mid_epoch", "epoch_boundary", "dropout"])
def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(recipe: Path, tmp_path: Path, where: str) -> None:
    overrides = ["model.topology.dropout=0.3"] if where == "dropout" else []
    stop = {"mid_epoch": 9, "epoch_boundary": _epoch_boundary(recipe), "dropout": 11}[where]
    assert 5 < stop < 25
    seqframe.run(recipe, overrides, out_dir=tmp_path / "straight", progress=False)
    with pytest.raises(TrainingInterrupted) as info:
        seqframe.run(recipe, overrides, out_dir=tmp_path / "resumed", progress=False, callbacks=[_SignalAt(stop)])
    assert info.value.step == stop and info.value.exit_code == 130
    assert Path(info.value.checkpoint).name == f"step_{stop:08d}"
    assert _train_rows(tmp_path / "resumed")[-1][0] == stop
    result = seqframe.run(recipe, overrides, out_dir=tmp_path / "resumed", progress=False, resume=True)
    assert result.start_step == stop and result.step == 30
    _assert_same_run(tmp_path / "straight", tmp_path / "resumed")


def test_epoch_boundary_resume_starts_the_next_epoch(recipe: Path, tmp_path: Path) -> None:
    boundary = _epoch_boundary(recipe)
    with pytest.raises(TrainingInterrupted):
        seqframe.run(recipe, out_dir=tmp_path / "r", progress=False, callbacks=[_SignalAt(boundary)])
    state = _latest_state(tmp_path / "r")
    assert state["data"]["epoch"] == 0 and state["step"] == boundary
    seen = []

    class Data(Callback):
        def on_train_batch_end(self, step: int, row: dict) -> None:
            seen.append(step)

    seqframe.run(recipe, out_dir=tmp_path / "r", progress=False, resume=True, callbacks=[Data()])
    assert seen[0] == boundary + 1 and seen[-1] == 30  # neither an epoch skipped nor the run cut short
    assert _latest_state(tmp_path / "r")["data"]["epoch"] >= 1


def test_resume_after_a_crash_drops_metrics_rows_written_after_the_checkpoint(recipe: Path, tmp_path: Path) -> None:
    # cosine would depend on train.steps, which changes here; keep the step-10 checkpoint
    constant = ["train.scheduler=constant", "train.checkpoint.keep_last=5"]
    seqframe.run(recipe, constant, out_dir=tmp_path / "straight", progress=False)
    seqframe.run(recipe, [*constant, "train.steps=13"], out_dir=tmp_path / "crashed", progress=False)
    # A kill after the step-10 checkpoint: the later ones (a best at 12, the last at 13) never appeared.
    for name in ("step_00000012", "step_00000013"):
        for f in (tmp_path / "crashed/checkpoints" / name).iterdir():
            f.unlink()
        (tmp_path / "crashed/checkpoints" / name).rmdir()
    with (tmp_path / "crashed/metrics.jsonl").open("a") as handle:
        handle.write('{"step": 14, "split": "train", "lo')  # a torn last line
    with pytest.warns(UserWarning, match="train.steps: 13 -> 30"):
        result = seqframe.run(recipe, constant, out_dir=tmp_path / "crashed", progress=False, resume=True)
    assert result.start_step == 10
    steps = [s for s, _ in _train_rows(tmp_path / "crashed")]
    assert steps == list(range(1, 31))  # no duplicates, no gap
    assert _train_rows(tmp_path / "crashed") == _train_rows(tmp_path / "straight")


def test_resume_refuses_a_changed_model_with_a_key_by_key_diff(recipe: Path, tmp_path: Path) -> None:
    seqframe.run(recipe, ["train.steps=5"], out_dir=tmp_path / "r", progress=False)
    with pytest.raises(RecipeError) as info:
        seqframe.run(
            recipe,
            ["model.topology.hidden_size=32", "tokenizer.name=word", "train.steps=9"],
            out_dir=tmp_path / "r",
            progress=False,
            resume=True,
        )
    message = str(info.value)
    assert "model.topology.hidden_size: 16 -> 32" in message and "tokenizer.name: 'char' -> 'word'" in message
    assert "--allow-recipe-change" in message and "train.steps" not in message
    assert json.loads((tmp_path / "r/checkpoints/latest.json").read_text())["step"] == 5  # untouched


def test_allowed_recipe_change_still_refuses_weights_of_another_shape(recipe: Path, tmp_path: Path) -> None:
    seqframe.run(recipe, ["train.steps=5"], out_dir=tmp_path / "r", progress=False)
    with (
        pytest.raises(CheckpointError, match=r"shape mismatches: .*\[64, 8\] vs model \[128, 8\]"),
        pytest.warns(UserWarning, match="hidden_size: 16 -> 32"),
    ):
        seqframe.run(
            recipe,
            ["model.topology.hidden_size=32"],
            out_dir=tmp_path / "r",
            progress=False,
            resume=True,
            allow_recipe_change=True,
        )


def test_resume_with_a_corrupt_newest_checkpoint_falls_back_with_a_warning(recipe: Path, tmp_path: Path) -> None:
    options = ["train.eval_every=0", "train.checkpoint.keep_last=5"]  # checkpoints at steps 5 and 10 only
    seqframe.run(recipe, [*options, "train.steps=10"], out_dir=tmp_path / "r", progress=False)
    state = tmp_path / "r/checkpoints/step_00000010/state.pt"
    state.write_bytes(state.read_bytes()[:-100])  # truncated
    (tmp_path / "r/checkpoints/.tmp-step_00000015-abcd").mkdir()  # left by a killed save
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = seqframe.run(recipe, [*options, "train.steps=12"], out_dir=tmp_path / "r", progress=False, resume=True)
    assert any(
        "step_00000010 is corrupt: state.pt is missing, truncated or modified" in str(w.message)
        and "resuming from the older step_00000005" in str(w.message)
        for w in caught
    )
    assert result.start_step == 5 and result.step == 12
    assert not (tmp_path / "r/checkpoints/.tmp-step_00000015-abcd").exists()


def test_resume_without_checkpoints_is_an_error(recipe: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="nothing to resume"):
        seqframe.run(recipe, out_dir=tmp_path / "empty", progress=False, resume=True)


def _rewrite_meta(checkpoint: Path, **changes: object) -> None:
    meta = json.loads((checkpoint / "meta.json").read_text())
    meta.update(changes)
    (checkpoint / "meta.json").write_text(json.dumps(meta))
    manifest = json.loads((checkpoint / "manifest.json").read_text())
    data = (checkpoint / "meta.json").read_bytes()
    manifest["files"]["meta.json"] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (checkpoint / "manifest.json").write_text(json.dumps(manifest))


def test_resume_names_the_package_of_a_missing_plugin(recipe: Path, tmp_path: Path) -> None:
    seqframe.run(recipe, ["train.steps=5"], out_dir=tmp_path / "r", progress=False)
    checkpoint = tmp_path / "r/checkpoints/step_00000005"
    components = json.loads((checkpoint / "meta.json").read_text())["components"]
    assert components["model.topology.cell"]["distribution"] == "seqframe"
    components["model.topology.cell"] = {
        "name": "qrnn",
        "plugin": "acme",
        "distribution": "seqframe-acme",
        "version": "1.4",
    }
    _rewrite_meta(checkpoint, components=components)
    with pytest.raises(
        PluginError, match="cell 'qrnn' from plugin 'acme' \\(seqframe-acme 1.4\\).*install seqframe-acme"
    ):
        seqframe.run(recipe, ["train.steps=9"], out_dir=tmp_path / "r", progress=False, resume=True)


def test_checkpoints_record_recipe_provenance_and_versions(recipe: Path, tmp_path: Path) -> None:
    seqframe.run(recipe, ["train.steps=5"], out_dir=tmp_path / "r", progress=False)
    meta = json.loads((tmp_path / "r/checkpoints/step_00000005/meta.json").read_text())
    assert meta["recipe"] == (tmp_path / "r/recipe.yaml").read_text()
    assert meta["seqframe"] == seqframe.__version__ and meta["torch"] == torch.__version__
    assert meta["format"] == 1 and meta["step"] == 5 and meta["components"]["model.topology.cell"]["name"] == "lstm"


def test_secrets_from_the_environment_never_reach_the_run_directory(recipe: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "sentinel-hf-7f3a")
    monkeypatch.setenv("SEQFRAME_SECRET", "sentinel-hf-7f3a")
    seqframe.run(recipe, ["train.steps=5"], out_dir=tmp_path / "r", progress=False)
    files = [p for p in (tmp_path / "r").rglob("*") if p.is_file()]
    assert len(files) > 8
    assert not [p for p in files if b"sentinel-hf-7f3a" in p.read_bytes()]


def test_everything_written_stays_inside_the_run_directory(recipe: Path, tmp_path: Path) -> None:
    before = set(tmp_path.rglob("*"))
    seqframe.run(recipe, ["train.steps=12"], out_dir=tmp_path / "out" / "r", progress=False)
    new = set(tmp_path.rglob("*")) - before
    assert new and all(p == tmp_path / "out" or (tmp_path / "out" / "r") in [p, *p.parents] for p in new)
    assert {"loss.png", "metrics.jsonl", "checkpoints", "model.safetensors"} <= {
        p.name for p in (tmp_path / "out/r").iterdir()
    }


def test_overwrite_replaces_a_previous_run_and_refuses_files_seqframe_did_not_write(
    recipe: Path, tmp_path: Path
) -> None:
    seqframe.run(recipe, ["train.steps=15"], out_dir=tmp_path / "r", progress=False)
    (tmp_path / "r/notes.txt").write_text("mine")
    (tmp_path / "r/checkpoints/README").write_text("mine too")
    with pytest.raises(CheckpointError, match="not empty.*--resume.*--overwrite"):
        seqframe.run(recipe, ["train.steps=4"], out_dir=tmp_path / "r", progress=False)
    before = _tree(tmp_path / "r")
    with pytest.raises(CheckpointError, match="files it did not write: 'checkpoints/README', 'notes.txt'"):
        seqframe.run(recipe, ["train.steps=4"], out_dir=tmp_path / "r", progress=False, overwrite=True)
    assert _tree(tmp_path / "r") == before  # refused: nothing removed, nothing written
    (tmp_path / "r/notes.txt").unlink()
    (tmp_path / "r/checkpoints/README").unlink()
    seqframe.run(recipe, ["train.steps=4"], out_dir=tmp_path / "r", progress=False, overwrite=True)
    steps = sorted(p.name for p in (tmp_path / "r/checkpoints").glob("step_*"))
    assert steps == ["step_00000004"]  # nothing of the old run left to resume from by mistake
    assert [s for s, _ in _train_rows(tmp_path / "r")] == [1, 2, 3, 4]


def _tree(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` with the sha256 of its bytes (links by target)."""
    out = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            out[key] = "link:" + os.readlink(path)
        elif path.is_file():
            out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[key] = "folder"
    return out


def test_resume_and_overwrite_together_are_refused(recipe: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="pass only one"):
        seqframe.run(recipe, out_dir=tmp_path / "r", progress=False, resume=True, overwrite=True)


def test_load_run_of_an_interrupted_run_uses_its_newest_checkpoint(recipe: Path, tmp_path: Path) -> None:
    with pytest.raises(TrainingInterrupted):
        seqframe.run(recipe, out_dir=tmp_path / "r", progress=False, callbacks=[_SignalAt(7, signal.SIGTERM)])
    assert not (tmp_path / "r/model.safetensors").exists()
    pipeline = seqframe.load_run(tmp_path / "r")
    saved = load_file(str(tmp_path / "r/checkpoints/step_00000007/model.safetensors"))
    assert all(torch.equal(pipeline.model.state_dict()[k], v) for k, v in saved.items())
    metrics = seqframe.api.evaluate(tmp_path / "r", split="test")
    assert metrics["loss"] > 0 and os.path.exists(tmp_path / "r/loss.png")


def test_harmless_recipe_change_on_resume_only_warns(recipe: Path, tmp_path: Path) -> None:
    seqframe.run(recipe, ["train.steps=5"], out_dir=tmp_path / "r", progress=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        seqframe.run(
            recipe,
            ["train.steps=8", "train.log_every=2", "train.eval_every=4"],
            out_dir=tmp_path / "r",
            progress=False,
            resume=True,
        )
    text = " ".join(str(w.message) for w in caught)
    assert "train.steps: 5 -> 8" in text and "train.log_every: 1 -> 2" in text and "train.eval_every: 6 -> 4" in text
