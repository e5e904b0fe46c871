"""The public API: run a recipe, load the run, predict; provenance; missing plugins."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import pytest
import torch

import seqframe
from seqframe.errors import CheckpointError, DataError, PluginError, RecipeError

TINY = [
    "model.topology.hidden_size=16",
    "model.embedding_dim=8",
    "model.topology.num_layers=1",
    "task.seq_len=16",
    "train.batch_size=4",
    "train.steps=3",
    "train.eval_every=0",
    "train.sample.max_tokens=10",
]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> seqframe.api.RunResult:
    out = tmp_path_factory.mktemp("runs") / "lm"
    return seqframe.run("lm", TINY, out_dir=out, progress=False)


def test_run_writes_the_run_directory(finished_run) -> None:
    files = {p.name for p in finished_run.out_dir.iterdir()}
    assert {
        "recipe.yaml",
        "metrics.jsonl",
        "model.safetensors",
        "tokenizer.json",
        "run.json",
        "sample.txt",
        "loss.png",
        "checkpoints",
    } <= files
    assert json.loads((finished_run.out_dir / "checkpoints/latest.json").read_text())["step"] == 3
    assert not [name for name in files if name.endswith(".tmp")]
    recipe = (finished_run.out_dir / "recipe.yaml").read_text()
    assert "hidden_size: 16" in recipe  # the resolved recipe, overrides applied


def test_run_records_component_provenance(finished_run) -> None:
    meta = json.loads((finished_run.out_dir / "run.json").read_text())
    cell = meta["components"]["model.topology.cell"]
    assert cell == {"name": "lstm", "plugin": "builtin.cells", "distribution": "seqframe", "version": cell["version"]}
    assert meta["step"] == 3 and meta["torch"] == torch.__version__


def test_run_prints_a_sample_from_the_prompt(finished_run) -> None:
    assert finished_run.sample is not None and finished_run.sample.startswith("The ")
    assert len(finished_run.sample) > len("The ")


def test_load_run_restores_identical_predictions(finished_run) -> None:
    pipeline = seqframe.load_run(finished_run.out_dir)
    again = seqframe.load_run(finished_run.out_dir)
    a = seqframe.predict(pipeline, ["The ", "x"], max_tokens=15, seed=3)
    b = seqframe.predict(again, ["The ", "x"], max_tokens=15, seed=3)
    assert a == b and all(len(t) > 0 for t in a)
    for p, q in zip(pipeline.model.state_dict().values(), finished_run.pipeline.model.state_dict().values()):
        assert torch.equal(p.cpu(), q.cpu())


def test_predict_takes_a_run_directory(finished_run) -> None:
    assert seqframe.predict(finished_run.out_dir, ["The "], max_tokens=5, seed=0) == seqframe.predict(
        finished_run.pipeline, ["The "], max_tokens=5, seed=0
    )


def test_load_run_names_the_missing_plugin_package(finished_run, tmp_path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(finished_run.out_dir, copy)
    meta = json.loads((copy / "run.json").read_text())
    meta["components"]["model.topology.cell"] = {
        "name": "qrnn",
        "plugin": "acme",
        "distribution": "seqframe-acme",
        "version": "1.2",
    }
    (copy / "run.json").write_text(json.dumps(meta))
    manifest = json.loads((copy / "manifest.json").read_text())  # the edit is deliberate: list its checksum
    data = (copy / "run.json").read_bytes()
    manifest["files"]["run.json"] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PluginError, match="seqframe-acme 1.2.*install seqframe-acme"):
        seqframe.load_run(copy)


def test_load_run_of_a_folder_that_is_not_a_run(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="no recipe.yaml"):
        seqframe.load_run(tmp_path)


def test_run_refuses_a_non_empty_output_folder(tmp_path) -> None:
    (tmp_path / "keep.txt").write_text("precious")
    with pytest.raises(CheckpointError, match="not empty"):
        seqframe.run("lm", TINY, out_dir=tmp_path, progress=False)
    assert (tmp_path / "keep.txt").read_text() == "precious"


def test_unknown_recipe_name_suggests_a_shipped_one() -> None:
    with pytest.raises(RecipeError, match="did you mean 'lm'"):
        seqframe.load_recipe("lmm")


def test_shipped_recipe_loads_by_name_and_path() -> None:
    by_name = seqframe.load_recipe("lm")
    by_path = seqframe.load_recipe(Path(__file__).resolve().parents[1] / "recipes/lm.yaml")
    assert by_name.data == by_path.data


def test_build_from_recipe_with_a_plugin_cell_given_as_class(tmp_path) -> None:
    pipeline = seqframe.build("lm", [*TINY, "model.topology.cell=gru"])
    assert type(pipeline.model.topology.layers[0][0]).__name__ == "GRUCell"


def test_evaluate_reports_loss_perplexity_and_bits(finished_run) -> None:
    metrics = seqframe.api.evaluate(finished_run.out_dir)
    assert set(metrics) == {"loss", "ppl", "bits_per_token", "bpc"}
    assert math.isclose(metrics["ppl"], math.exp(metrics["loss"]), rel_tol=1e-9)
    assert math.isclose(metrics["bits_per_token"], metrics["loss"] / math.log(2))
    assert metrics["loss"] == pytest.approx(finished_run.final_eval["loss"], rel=1e-6)  # same valid split


def test_evaluate_on_the_test_split_differs_from_valid(finished_run) -> None:
    valid = seqframe.api.evaluate(finished_run.out_dir, split="valid")
    test = seqframe.api.evaluate(finished_run.out_dir, split="test")
    assert test["loss"] != valid["loss"] and test["loss"] > 0


def test_evaluate_a_text_file_uses_the_runs_tokenizer(finished_run, tmp_path) -> None:
    text = tmp_path / "held_out.txt"
    text.write_text("The quick brown fox jumps over the lazy dog. " * 20)
    metrics = seqframe.api.evaluate(finished_run.out_dir, data=text)
    assert metrics["loss"] > 0
    # bpc counts characters: the char tokenizer makes it equal to bits per token (up to the eos tokens)
    assert metrics["bpc"] == pytest.approx(metrics["bits_per_token"], rel=0.02)


def test_evaluate_an_empty_or_undecodable_file_is_a_data_error(finished_run, tmp_path) -> None:
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(DataError, match="empty.txt: no text to evaluate"):
        seqframe.api.evaluate(finished_run.out_dir, data=tmp_path / "empty.txt")
    (tmp_path / "bad.txt").write_bytes(b"ok\n\xff\xfe")
    with pytest.raises(DataError, match="bad.txt:2: not valid UTF-8"):
        seqframe.api.evaluate(finished_run.out_dir, data=tmp_path / "bad.txt")


def test_load_run_can_rebuild_the_data_source(finished_run) -> None:
    assert seqframe.load_run(finished_run.out_dir).data is None
    pipeline = seqframe.load_run(finished_run.out_dir, with_data=True)
    assert pipeline.data is not None and pipeline.data.texts("valid") == finished_run.pipeline.data.texts("valid")


def test_relative_data_paths_resolve_against_the_original_recipe_when_evaluating(tmp_path, monkeypatch) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data/corpus.txt").write_text("Some words here and there.\nMore words, more lines.\n" * 30)
    recipe = (
        (seqframe.api.RECIPES_DIR / "lm.yaml")
        .read_text()
        .replace(
            "name: pydoc_topics        # ~0.47 MB of English; 90% train, 5% valid, 5% test",
            "name: text_files\n  paths: [data/corpus.txt]",
        )
    )
    assert "name: text_files" in recipe
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes/local.yaml").write_text(recipe.replace("data/corpus.txt", "../data/corpus.txt"))
    seqframe.run(tmp_path / "recipes/local.yaml", TINY, out_dir=tmp_path / "run", progress=False)
    monkeypatch.chdir(tmp_path / "data")  # another working directory
    assert seqframe.api.evaluate(tmp_path / "run", split="test")["loss"] > 0
