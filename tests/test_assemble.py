"""The Python API as a way in: recipes as dicts, assemble by name or object, the round trip
through a run directory, one result type, sizes checked at assembly."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
import yaml

import seqframe
from seqframe.api.training import RunResult, UnreloadableRunWarning
from seqframe.builtin.heads import LinearHead
from seqframe.builtin.tasks.language_modelling import LanguageModellingTask
from seqframe.builtin.tokenizers import CharTokenizer
from seqframe.engine import TrainResult
from seqframe.errors import RecipeError

TRAIN = {"steps": 2, "batch_size": 4, "eval_every": 0, "sample": {"max_tokens": 5}}
RECIPE = {
    "task": {"name": "language_modelling", "seq_len": 16},
    "data": "pydoc_topics",
    "tokenizer": "char",
    "model": {"embedding_dim": 8, "topology": {"cell": "gru", "hidden_size": 16}},
    "train": TRAIN,
}


def _named(**changes):
    arguments = {
        "task": {"name": "language_modelling", "seq_len": 16},
        "tokenizer": "char",
        "data": "pydoc_topics",
        "topology": {"cell": "lstm", "hidden_size": 16},
        "head": "linear",
        "embedding_dim": 8,
        "train": TRAIN,
    }
    return seqframe.assemble(**{**arguments, **changes})


# -- recipes as dicts -----------------------------------------------------------------------------


def test_run_build_and_validate_take_a_recipe_dict(tmp_path: Path) -> None:
    assert seqframe.api.validate(RECIPE).data["model"]["topology"] == {"cell": "gru", "hidden_size": 16}
    pipeline = seqframe.build(RECIPE, ["model.topology.hidden_size=12"])
    assert pipeline.model.topology.hidden_size == 12
    result = seqframe.run(RECIPE, out_dir=tmp_path / "run", progress=False)
    assert result.step == 2 and (tmp_path / "run/recipe.yaml").is_file()
    assert yaml.safe_load((tmp_path / "run/recipe.yaml").read_text())["model"]["topology"]["cell"] == "gru"
    assert RECIPE["train"] is TRAIN and "name" not in RECIPE["model"]["topology"]  # the dict is not changed


def test_a_recipe_dict_holding_an_object_names_the_key() -> None:
    with pytest.raises(RecipeError, match=r"model.topology.cell: expected plain data .* got object"):
        seqframe.api.validate({**RECIPE, "model": {"topology": {"cell": object()}}})


def test_a_recipe_dict_is_validated_like_a_file() -> None:
    with pytest.raises(RecipeError, match=r"model.topology.hiden_size: unknown parameter .*did you mean 'hidden_size'"):
        seqframe.api.validate({**RECIPE, "model": {"topology": {"hiden_size": 8}}})


def test_topology_without_a_name_is_the_documented_default_stacked(capsys) -> None:
    recipe = seqframe.recipe.Recipe(data={**RECIPE, "model": {"topology": {"hidden_size": 8, "cell": {"bias": True}}}})
    assert type(seqframe.build(recipe).model.topology).__name__ == "StackedTopology"
    assert seqframe.cli.main(["validate", "lm", "~model.topology.name"]) == 0
    assert capsys.readouterr().out.endswith("lm.yaml: OK\n")


def test_a_run_of_a_recipe_dict_gets_a_named_default_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = seqframe.run({**RECIPE, "train": {**TRAIN, "sample": None}}, progress=False)
    assert result.out_dir.parent == Path("runs") and result.out_dir.name.startswith("recipe-")


# -- one result type --------------------------------------------------------------------------------


def test_train_and_run_return_one_result_type(tmp_path) -> None:
    trained = seqframe.train(_named(), progress=False)
    ran = seqframe.run(RECIPE, out_dir=tmp_path / "r", progress=False)
    for result in (trained, ran):
        assert isinstance(result, RunResult) and isinstance(result, TrainResult)
        assert result.step == 2 and result.pipeline is not None
    assert trained.out_dir is None and ran.out_dir == tmp_path / "r" and ran.sample.startswith("The ")


def test_the_old_result_attribute_still_works_with_a_deprecation_warning(tmp_path) -> None:
    result = seqframe.train(_named(), progress=False)
    with pytest.warns(DeprecationWarning, match="read its attributes directly"):
        assert result.result.step == result.step == 2


# -- assemble by name ----------------------------------------------------------------------------------


def test_assemble_by_name_resolves_through_the_registry_and_has_its_recipe(monkeypatch) -> None:
    monkeypatch.delenv("SEQFRAME_DISABLE_PLUGIN_AUTOLOAD")  # the installed plugin cell, by name
    pipeline = _named(topology={"cell": "indrnn", "hidden_size": 16})
    cell = pipeline.model.topology.layers[0][0]
    assert type(cell).__name__ == "IndRNNCell"
    assert pipeline.components["model.topology.cell"]["plugin"] == "indrnn"
    recipe = pipeline.to_recipe()
    assert recipe["model"]["topology"] == {"cell": "indrnn", "hidden_size": 16}
    assert seqframe.api.validate(recipe, registry=seqframe.api.registry()).data == recipe  # a plain, valid recipe


def test_assemble_mistakes_get_the_recipe_message_at_the_argument() -> None:
    with pytest.raises(RecipeError) as caught:
        _named(topology={"cell": "lstn", "hidden_size": "wide"}, task="language_modeling")
    text = str(caught.value)
    assert "assemble(task=...): task: unknown task 'language_modeling'; did you mean 'language_modelling'?" in text
    assert "assemble(topology=...): model.topology.cell: unknown cell 'lstn'; did you mean 'lstm'?" in text
    assert "assemble(topology=...): model.topology.hidden_size: expected int, got str 'wide'" in text


def test_assemble_checks_a_plugin_cells_options_as_strictly_as_a_recipe() -> None:
    with pytest.raises(RecipeError, match=r"assemble\(topology=\.\.\.\): model.topology.cell.nonlinearity"):
        _named(topology={"cell": {"name": "elman", "nonlinearity": "sigmoidal"}, "hidden_size": 8})


def test_the_topology_input_size_may_stand_for_the_embedding_size() -> None:
    pipeline = _named(topology={"cell": "gru", "hidden_size": 8, "input_size": 12}, embedding_dim=None)
    assert pipeline.model.topology.input_size == 12 and pipeline.to_recipe()["model"]["embedding_dim"] == 12
    with pytest.raises(RecipeError, match="differs from embedding_dim 8"):
        _named(topology={"cell": "gru", "hidden_size": 8, "input_size": 12})


# -- objects ---------------------------------------------------------------------------------------------


def test_objects_are_still_accepted_and_sizes_follow_the_topology() -> None:
    rnn = seqframe.build_rnn("gru", input_size=12, hidden_size=16)
    pipeline = seqframe.assemble(
        task=LanguageModellingTask(seq_len=16),
        tokenizer=CharTokenizer(),
        topology=rnn,
        head=LinearHead,
        data="pydoc_topics",
        train=TRAIN,
    )
    assert pipeline.model.topology is rnn and pipeline.model.embedding.embedding_dim == 12
    assert pipeline.unnamed == ("task", "tokenizer", "model.topology", "model.head")
    seqframe.train(pipeline, progress=False)


def test_a_topology_that_does_not_read_the_embedding_size_is_refused_at_assembly() -> None:
    rnn = seqframe.build_rnn("gru", input_size=12, hidden_size=16)
    with pytest.raises(
        RecipeError,
        match=r"assemble\(topology=\.\.\.\): model.topology: the given topology reads 12 "
        r"features per step, but the model feeds it 8",
    ):
        _named(topology=rnn, embedding_dim=8)


def test_a_head_module_is_checked_against_the_topology_and_vocabulary() -> None:
    vocabulary = _named().tokenizer.vocab_size
    pipeline = _named(head=torch.nn.Linear(16, vocabulary))
    assert isinstance(pipeline.model.head, torch.nn.Linear)
    with pytest.raises(RecipeError, match="head module does not take the topology's 16 output features"):
        _named(head=torch.nn.Linear(5, 3))


def test_a_pipeline_of_objects_has_no_recipe_and_says_why() -> None:
    pipeline = _named(task=LanguageModellingTask(seq_len=16))
    with pytest.raises(ValueError, match="task was given as a Python object, not by name"):
        pipeline.to_recipe()


# -- the round trip --------------------------------------------------------------------------------------


def test_an_assembled_run_reloads_by_name_and_predicts_and_evaluates(tmp_path) -> None:
    pipeline = _named()
    result = seqframe.train(pipeline, tmp_path / "run", progress=False)
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"recipe.yaml", "sample.txt", "model.safetensors", "tokenizer.json", "run.json"} <= files
    assert (tmp_path / "run/sample.txt").read_text() == result.sample + "\n"
    assert yaml.safe_load((tmp_path / "run/recipe.yaml").read_text()) == pipeline.to_recipe()
    again = seqframe.load_run(tmp_path / "run")
    assert seqframe.predict(again, ["The "], max_tokens=6, seed=1) == seqframe.predict(
        pipeline, ["The "], max_tokens=6, seed=1
    )
    assert seqframe.api.evaluate(tmp_path / "run", split="test")["loss"] > 0
    done = subprocess.run(
        [sys.executable, "-m", "seqframe", "predict", str(tmp_path / "run"), "The ", "--max-tokens", "4"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.startswith("The "), done.stderr


@pytest.mark.slow
def test_an_assembled_run_exports_and_loads_for_serving(tmp_path) -> None:
    seqframe.train(_named(), tmp_path / "run", progress=False)
    folder = seqframe.api.export(tmp_path / "run", "torchscript")
    assert (folder / "export.json").is_file()
    from seqframe.api.runtime import load_for_runtime  # what seqframe serve and predict --runtime load

    eager = seqframe.predict(load_for_runtime(tmp_path / "run", "torch"), ["The "], max_tokens=5, temperature=0)
    exported = seqframe.predict(
        load_for_runtime(tmp_path / "run", "torchscript"), ["The "], max_tokens=5, temperature=0
    )
    assert exported == eager


def test_an_assembled_run_with_objects_warns_once_and_saves_weights_and_tokenizer(tmp_path) -> None:
    pipeline = _named(topology=seqframe.build_rnn("gru", input_size=8, hidden_size=16))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        seqframe.train(pipeline, tmp_path / "run", progress=False)
    mine = [w for w in caught if issubclass(w.category, UnreloadableRunWarning)]
    assert len(mine) == 1 and "\n" not in str(mine[0].message)
    assert "cannot be reloaded by name" in str(mine[0].message) and "model.topology was given" in str(mine[0].message)
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"model.safetensors", "tokenizer.json"} <= files and "recipe.yaml" not in files


def test_an_assembled_data_object_keeps_the_run_reloadable_for_predict(tmp_path) -> None:
    data = seqframe.api.registry().get("dataset", "pydoc_topics").factory()
    pipeline = _named(data=data)
    assert "data" not in pipeline.to_recipe()
    seqframe.train(pipeline, tmp_path / "run", progress=False)
    again = seqframe.load_run(tmp_path / "run")
    assert len(seqframe.predict(again, ["The "], max_tokens=3)[0]) > 0


def test_own_training_loop_uses_the_tasks_batches_and_training_step() -> None:
    pipeline = _named()
    model, task = pipeline.model, pipeline.task
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    carry, losses = None, []
    for _, batch in zip(range(4), pipeline.batches()):
        loss, count, carry = task.training_step(model, batch, carry)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert count > 0 and losses[-1] < losses[0]
