"""Recipe validation: every problem in one RecipeError, with path, file:line and a fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from seqframe.errors import DataError, RecipeError
from seqframe.plugins import load_plugin_manager
from seqframe.recipe import build_pipeline, load_recipe, validate
from seqframe.recipe.load import Recipe
from seqframe.registry import Registry

RECIPE = """\
task: {name: language_modelling, seq_len: 16}
data: {name: pydoc_topics}
tokenizer: {name: char}
model:
  embedding_dim: 8
  topology:
    name: stacked
    cell: lstm
    hidden_size: 16
    num_layers: 1
    dropout: 0.0
train:
  steps: 10
  optimizer: {name: adam, lr: 3.0e-3}
"""

WriteFile = Callable[..., Path]  # the type of the conftest fixture `write`


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.from_plugin_manager(load_plugin_manager(entry_points=False))


def invalid(registry: Registry, recipe: Recipe) -> RecipeError:
    with pytest.raises(RecipeError) as info:
        validate(recipe, registry)
    return info.value


def paths(error: RecipeError) -> list[str]:
    return [issue.path for issue in error.issues]


def test_valid_recipe_passes(write: WriteFile, tmp_path: Path, registry: Registry) -> None:
    validate(load_recipe(write("recipe.yaml", RECIPE)), registry)


def test_two_typos_reported_together_with_lines_and_suggestions(
    write: WriteFile, tmp_path: Path, registry: Registry
) -> None:
    text = RECIPE.replace("    hidden_size: 16", "    hiden_size: 16").replace("  steps: 10", "  step: 10")
    path = write("recipe.yaml", text)
    error = invalid(registry, load_recipe(path))
    message = str(error)
    assert sorted(paths(error)) == ["model.topology.hiden_size", "train.step"]
    assert f"{path}:9: model.topology.hiden_size" in message
    assert f"{path}:13: train.step" in message
    assert "did you mean 'hidden_size'?" in message
    assert "did you mean 'steps'?" in message


def test_unknown_cell_suggests_close_match_and_lists_known(
    write: WriteFile, tmp_path: Path, registry: Registry
) -> None:
    path = write("recipe.yaml", RECIPE.replace("cell: lstm", "cell: lstn"))
    error = invalid(registry, load_recipe(path))
    message = str(error)
    assert "unknown cell 'lstn'" in message
    assert "did you mean 'lstm'?" in message
    assert "known: " in message and all(name in message for name in registry.names("cell"))
    assert error.issues[0].location == f"{path}:8"


def test_unknown_section_suggests_close_match(write: WriteFile, tmp_path: Path, registry: Registry) -> None:
    path = write("recipe.yaml", RECIPE + "trian: {steps: 3}\n")
    error = invalid(registry, load_recipe(path))
    assert paths(error) == ["trian"]
    assert "did you mean 'train'?" in str(error)
    assert error.issues[0].location == f"{path}:15"


@pytest.mark.parametrize(
    ("override", "path", "expected"),
    [
        ('model.topology.num_layers="two"', "model.topology.num_layers", "expected int, got str 'two'"),
        ("model.topology.num_layers=true", "model.topology.num_layers", "expected int, got boolean True"),
        ("model.topology.hidden_size=0", "model.topology.hidden_size", "expected a value >= 1, got 0"),
        ("model.topology.dropout=1.5", "model.topology.dropout", "expected a value < 1.0, got 1.5"),
        ("model.embedding_dim=2.5", "model.embedding_dim", "expected int, got float 2.5"),
        ("train.optimizer.lr=-1", "train.optimizer.lr", "expected a value > 0.0, got -1"),
        ("train.optimizer.name=adagrad", "train.optimizer.name", "expected one of adam, adamw, sgd, got 'adagrad'"),
        ("train.batch_size=false", "train.batch_size", "expected int, got boolean False"),
    ],
)
def test_wrong_type_or_range_names_path_expected_and_got(
    write: WriteFile, tmp_path: Path, registry: Registry, override: str, path: str, expected: str
) -> None:
    error = invalid(registry, load_recipe(write("recipe.yaml", RECIPE), [override]))
    assert paths(error) == [path]
    assert expected in str(error)


def test_top_p_of_one_is_accepted(write: WriteFile, tmp_path: Path, registry: Registry) -> None:
    validate(load_recipe(write("recipe.yaml", RECIPE), ["train.sample.top_p=1.0"]), registry)


def test_missing_sections_listed_at_once(write: WriteFile, tmp_path: Path, registry: Registry) -> None:
    error = invalid(registry, load_recipe(write("recipe.yaml", "train: {steps: 3}\n")))
    message = str(error)
    for section in ("task", "data", "tokenizer", "model"):
        assert f"missing section {section!r}" in message
    assert len(error.issues) == 4


def test_unknown_cell_option_names_it_and_the_accepted_ones(
    write: WriteFile, tmp_path: Path, registry: Registry
) -> None:
    path = write("recipe.yaml", RECIPE.replace("cell: lstm", "cell: {name: lstm, nonlinearity: relu}"))
    error = invalid(registry, load_recipe(path))
    assert paths(error) == ["model.topology.cell.nonlinearity"]
    assert "unknown parameter 'nonlinearity' for cell 'lstm'" in str(error)
    assert "accepted: bias" in str(error)


def test_cell_option_that_exists_is_accepted(write: WriteFile, tmp_path: Path, registry: Registry) -> None:
    validate(
        load_recipe(
            write("recipe.yaml", RECIPE), ["model.topology.cell=elman", "model.topology.cell.nonlinearity=relu"]
        ),
        registry,
    )


@pytest.mark.parametrize(
    ("override", "path"),
    [
        (("model.topology.input_size=3",), "model.topology.input_size"),
        (("data.base_dir=/tmp",), "data.base_dir"),
        (("model.head=linear", "model.head.num_outputs=5"), "model.head.num_outputs"),
    ],
)
def test_derived_parameter_set_by_recipe_is_an_error(
    write: WriteFile, tmp_path: Path, registry: Registry, override: tuple[str, ...], path: str
) -> None:
    error = invalid(registry, load_recipe(write("recipe.yaml", RECIPE), override))
    assert paths(error) == [path]
    assert "derived" in str(error)


def test_component_option_typed_by_its_annotation(write: WriteFile, tmp_path: Path, registry: Registry) -> None:
    path = write("recipe.yaml", RECIPE.replace("tokenizer: {name: char}", 'tokenizer: {name: word, min_freq: "x"}'))
    error = invalid(registry, load_recipe(path))
    assert paths(error) == ["tokenizer.min_freq"]
    assert "expected int, got str 'x'" in str(error)
    assert error.issues[0].location == f"{path}:3"


def test_component_option_bool_rejected_for_int_annotation(
    write: WriteFile, tmp_path: Path, registry: Registry
) -> None:
    error = invalid(registry, load_recipe(write("recipe.yaml", RECIPE), ["tokenizer.min_freq=yes"]))
    assert paths(error) == ["tokenizer.min_freq"]
    assert "boolean True" in str(error)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("model.topology.cell=os.system", "unknown cell 'os.system'"),
        ("task.name=builtins.eval", "unknown task 'builtins.eval'"),
        ("data.name=os.remove", "unknown dataset 'os.remove'"),
    ],
)
def test_dotted_import_path_is_not_a_component(
    write: WriteFile, tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch, override: str, expected: str
) -> None:
    import importlib

    imported: list[str] = []
    real_import = importlib.import_module
    monkeypatch.setattr(importlib, "import_module", lambda name, *a: imported.append(name) or real_import(name, *a))
    error = invalid(registry, load_recipe(write("recipe.yaml", RECIPE), [override]))
    assert expected in str(error)
    assert imported == []


def test_validate_reads_no_data(write: WriteFile, tmp_path: Path, registry: Registry) -> None:
    text = RECIPE.replace("data: {name: pydoc_topics}", "data: {name: text_files, paths: [missing.txt]}")
    recipe = load_recipe(write("recipe.yaml", text))
    validate(recipe, registry)
    with pytest.raises(DataError, match="missing.txt"):
        build_pipeline(recipe, registry)


def test_unknown_parameter_of_data_source(write: WriteFile, tmp_path: Path, registry: Registry) -> None:
    error = invalid(registry, load_recipe(write("recipe.yaml", RECIPE), ["data.valid_fractoin=0.1"]))
    assert paths(error) == ["data.valid_fractoin"]
    assert "did you mean 'valid_fraction'?" in str(error)


def test_missing_required_component_parameter(write: WriteFile, tmp_path: Path, registry: Registry) -> None:
    text = RECIPE.replace("data: {name: pydoc_topics}", "data: {name: text_files}")
    error = invalid(registry, load_recipe(write("recipe.yaml", text)))
    assert "dataset 'text_files' needs parameter 'paths'" in str(error)


def test_section_that_is_not_a_mapping(write: WriteFile, tmp_path: Path, registry: Registry) -> None:
    error = invalid(registry, load_recipe(write("recipe.yaml", RECIPE), ["train=5"]))
    assert paths(error) == ["train"]
    assert "expected a mapping for train" in str(error)


@pytest.mark.parametrize(
    ("loggers", "path", "words"),
    [
        ("[tensorbord]", "train.loggers[0]", "did you mean 'tensorboard'?"),
        (
            "[tensorboard, {name: tensorboard, flsh_secs: 3}]",
            "train.loggers[1].flsh_secs",
            "did you mean 'flush_secs'?",
        ),
        ("[{name: tensorboard, flush_secs: soon}]", "train.loggers[0].flush_secs", "expected int"),
        ("[{name: tensorboard, log_dir: /tmp}]", "train.loggers[0].log_dir", "derived by seqframe"),
    ],
)
def test_loggers_are_checked_by_validate_as_run_would(
    write: WriteFile, registry: Registry, loggers: str, path: str, words: str
) -> None:
    error = invalid(registry, load_recipe(write("recipe.yaml", RECIPE + f"  loggers: {loggers}\n")))
    assert paths(error) == [path]
    assert words in str(error)


def test_a_registered_logger_with_its_options_validates(write: WriteFile, registry: Registry) -> None:
    validate(
        load_recipe(write("recipe.yaml", RECIPE + "  loggers: [tensorboard, {name: tensorboard, flush_secs: 5}]\n")),
        registry,
    )


def test_target_tokenizer_null_means_not_set(registry: Registry) -> None:
    translate = Path(__file__).resolve().parents[2] / "src" / "seqframe" / "recipes" / "translate.yaml"
    recipe = load_recipe(translate, ["target_tokenizer=null"])
    validate(recipe, registry)  # one vocabulary shared by source and target, as when the section is left out
    assert build_pipeline(recipe, registry).target_tokenizer is None
