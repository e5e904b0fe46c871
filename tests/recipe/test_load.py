"""Recipe loading: safe YAML with YAML 1.2 numbers, duplicate keys, line numbers, overrides."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from seqframe.errors import RecipeError
from seqframe.plugins import load_plugin_manager
from seqframe.recipe import apply_overrides, load_recipe, parse_recipe, validate
from seqframe.recipe.load import MAX_RECIPE_BYTES
from seqframe.registry import Registry

SHIPPED = Path(__file__).resolve().parents[2] / "src" / "seqframe" / "recipes" / "lm.yaml"

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
train:
  steps: 10
  optimizer: {name: adam, lr: 3.0e-3}
  sample: {prompt: "The ", max_tokens: 5}
"""

WriteFile = Callable[..., Path]  # the type of the conftest fixture `write`


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.from_plugin_manager(load_plugin_manager(entry_points=False))


def load_error(path: Path, overrides: tuple[str, ...] = ()) -> RecipeError:
    with pytest.raises(RecipeError) as info:
        load_recipe(path, overrides)
    return info.value


# --- YAML typing: 1e-3 is a float, `no` is not a bool for a str field -------------------


def test_exponent_without_dot_is_a_float(write: WriteFile, tmp_path: Path) -> None:
    recipe = load_recipe(write("recipe.yaml", "train:\n  optimizer: {name: adam, lr: 1e-3}\n"))
    lr = recipe.data["train"]["optimizer"]["lr"]
    assert isinstance(lr, float) and lr == 0.001


def test_leading_zero_integer_is_decimal_not_octal(write: WriteFile, tmp_path: Path) -> None:
    recipe = load_recipe(write("recipe.yaml", "train: {seed: 010}\n"))
    assert recipe.data["train"]["seed"] == 10


def test_colon_number_stays_text_not_base_60(write: WriteFile, tmp_path: Path) -> None:
    recipe = load_recipe(write("recipe.yaml", "train: {sample: {prompt: 1:20}}\n"))
    assert recipe.data["train"]["sample"]["prompt"] == "1:20"


def test_unquoted_no_in_text_field_errors_with_quoting_hint(
    write: WriteFile, tmp_path: Path, registry: Registry
) -> None:
    path = write("recipe.yaml", RECIPE.replace('prompt: "The "', "prompt: no"))
    with pytest.raises(RecipeError) as info:
        validate(load_recipe(path), registry)
    message = str(info.value)
    assert "train.sample.prompt" in message
    assert "boolean False" in message
    assert "quote it" in message


def test_unquoted_number_in_text_field_errors_with_quoting_hint(
    write: WriteFile, tmp_path: Path, registry: Registry
) -> None:
    path = write("recipe.yaml", RECIPE.replace('prompt: "The "', "prompt: 010"))
    with pytest.raises(RecipeError) as info:
        validate(load_recipe(path), registry)
    assert "train.sample.prompt" in str(info.value)
    assert "quote it" in str(info.value)


# --- structural errors: duplicate keys, syntax, empty or non-mapping recipes -----------


def test_duplicate_key_names_key_and_both_lines(write: WriteFile, tmp_path: Path) -> None:
    error = load_error(write("recipe.yaml", "train:\n  steps: 1\n  batch_size: 2\n  steps: 3\n"))
    message = str(error)
    assert "'steps'" in message
    assert "line 2" in message and "line 4" in message
    assert error.issues[0].path == "train.steps"


def test_merge_key_may_be_overridden_without_duplicate_error(write: WriteFile, tmp_path: Path) -> None:
    text = "defaults: &d {steps: 1, seed: 3}\ntrain:\n  <<: *d\n  steps: 5\n"
    recipe = load_recipe(write("recipe.yaml", text))
    assert recipe.data["train"] == {"steps": 5, "seed": 3}


def test_syntax_error_reports_file_line_and_column(write: WriteFile, tmp_path: Path) -> None:
    path = write("recipe.yaml", "task: {name: language_modelling\ndata: x\n")
    error = load_error(path)
    location = error.issues[0].location or ""
    assert location.startswith(f"{path}:")
    line, column = location[len(str(path)) + 1 :].split(":")
    assert int(line) >= 1 and int(column) >= 1
    assert "invalid YAML" in str(error)


@pytest.mark.parametrize("text", ["", "   \n# only a comment\n", "null\n"])
def test_empty_recipe_is_rejected(write: WriteFile, tmp_path: Path, text: str) -> None:
    error = load_error(write("recipe.yaml", text))
    assert "recipe is empty" in str(error)


def test_top_level_list_is_rejected(write: WriteFile, tmp_path: Path) -> None:
    error = load_error(write("recipe.yaml", "- task\n- data\n"))
    assert "mapping" in str(error) and "list" in str(error)


# --- safety: safe YAML only (no tags run code), no alias bombs ---------------------------


def test_python_tag_is_rejected_and_never_executed(
    write: WriteFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    sentinel = tmp_path / "SENTINEL"
    path = write("recipe.yaml", f'task: !!python/object/apply:os.system ["touch {sentinel}"]\n')
    error = load_error(path)
    assert "python/object/apply:os.system" in str(error)
    assert error.issues[0].location == f"{path}:1:7"
    assert not sentinel.exists()


@pytest.mark.parametrize("tag", ["!!python/name:os.system", "!!python/object:os.PathLike {a: 1}", "!!set {a, b}"])
def test_non_plain_tags_are_rejected(tag: str) -> None:
    with pytest.raises(RecipeError, match="is not allowed"):
        parse_recipe(f"task: {tag}\n")


def test_alias_bomb_is_rejected(write: WriteFile, tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    error = load_error(write("recipe.yaml", "\n".join(lines) + "\n"))
    assert "expands to more than" in str(error)


def test_recursive_alias_is_rejected() -> None:
    with pytest.raises(RecipeError, match="nesting deeper"):
        parse_recipe("a: &a [*a]\n")


# --- files -------------------------------------------------------------------------------


def test_missing_file_is_a_recipe_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    error = load_error(path)
    assert str(path) in str(error)
    assert "cannot read recipe" in str(error)


def test_non_utf8_file_names_the_file(write: WriteFile, tmp_path: Path) -> None:
    path = write("recipe.yaml", b"task: {name: caf\xe9}\n")
    error = load_error(path)
    assert str(path) in str(error) and "UTF-8" in str(error)


def test_file_over_size_limit_names_the_file(write: WriteFile, tmp_path: Path) -> None:
    path = write("recipe.yaml", "# " + "x" * MAX_RECIPE_BYTES + "\ntask: {}\n")
    error = load_error(path)
    assert str(path) in str(error) and "limit" in str(error)


def test_every_key_line_is_recorded(write: WriteFile, tmp_path: Path) -> None:
    recipe = load_recipe(write("recipe.yaml", RECIPE))
    assert recipe.lines["task"] == 1
    assert recipe.lines["model.topology"] == 6
    assert recipe.lines["model.topology.hidden_size"] == 9
    assert recipe.lines["train.optimizer.lr"] == 12


def test_where_gives_file_and_line(write: WriteFile, tmp_path: Path) -> None:
    path = write("recipe.yaml", RECIPE)
    recipe = load_recipe(path)
    assert recipe.where("model.topology.hidden_size") == f"{path}:9"
    assert recipe.where("model.topology.num_layers") == f"{path}:6"  # unwritten: its parent's line


# --- overrides ---------------------------------------------------------------------------


def test_override_integer(write: WriteFile, tmp_path: Path) -> None:
    recipe = load_recipe(write("recipe.yaml", RECIPE), ["train.steps=100"])
    assert recipe.data["train"]["steps"] == 100 and isinstance(recipe.data["train"]["steps"], int)


def test_override_exponent_float(write: WriteFile, tmp_path: Path) -> None:
    recipe = load_recipe(write("recipe.yaml", RECIPE), ["train.optimizer.lr=1e-4"])
    assert recipe.data["train"]["optimizer"]["lr"] == pytest.approx(1e-4)
    assert isinstance(recipe.data["train"]["optimizer"]["lr"], float)


def test_override_replaces_a_mapping_with_a_name(write: WriteFile, tmp_path: Path) -> None:
    path = write("recipe.yaml", RECIPE.replace("cell: lstm", "cell: {name: lstm, bias: false}"))
    recipe = load_recipe(path, ["model.topology.cell=gru"])
    assert recipe.data["model"]["topology"]["cell"] == "gru"
    assert recipe.where("model.topology.cell.name") == "override 'model.topology.cell=gru'"


def test_override_option_on_named_component_makes_a_mapping(write: WriteFile, tmp_path: Path) -> None:
    recipe = load_recipe(write("recipe.yaml", RECIPE), ["model.topology.cell.nonlinearity=relu"])
    assert recipe.data["model"]["topology"]["cell"] == {"name": "lstm", "nonlinearity": "relu"}


def test_override_removes_a_key(write: WriteFile, tmp_path: Path) -> None:
    recipe = load_recipe(write("recipe.yaml", RECIPE), ["~train.sample"])
    assert "sample" not in recipe.data["train"]


def test_removing_a_missing_key_is_an_error(write: WriteFile, tmp_path: Path) -> None:
    error = load_error(write("recipe.yaml", RECIPE), ("~nope.key",))
    assert "'~nope.key'" in str(error)


def test_override_without_equals_is_an_error(write: WriteFile, tmp_path: Path) -> None:
    error = load_error(write("recipe.yaml", RECIPE), ("train.steps",))
    assert "not KEY=VALUE" in str(error)


def test_override_below_a_number_is_an_error(write: WriteFile, tmp_path: Path) -> None:
    error = load_error(write("recipe.yaml", RECIPE), ("model.embedding_dim.x=1",))
    assert "model.embedding_dim is int 8, not a mapping" in str(error)


def test_all_malformed_overrides_reported_at_once(write: WriteFile, tmp_path: Path) -> None:
    bad = ("train.steps", "~nope.key", "a..b=1", "train.steps=[1,", "~train.steps=3")
    error = load_error(write("recipe.yaml", RECIPE), bad)
    assert len(error.issues) == len(bad)
    for override in bad:
        assert repr(override) in str(error)


def test_where_names_the_override(write: WriteFile, tmp_path: Path) -> None:
    recipe = load_recipe(write("recipe.yaml", RECIPE), ["train.steps=100"])
    assert recipe.where("train.steps") == "override 'train.steps=100'"


def test_overrides_leave_the_original_untouched() -> None:
    recipe = parse_recipe(RECIPE)
    apply_overrides(recipe, ["train.steps=100", "~train.sample"])
    assert recipe.data["train"]["steps"] == 10 and "sample" in recipe.data["train"]


def test_shipped_recipe_loads() -> None:
    recipe = load_recipe(SHIPPED)
    assert recipe.data["task"]["name"] == "language_modelling"


def test_to_yaml_round_trips_strings_that_look_like_numbers() -> None:
    recipe = parse_recipe("train: {sample: {prompt: '1e-3'}, seed: 7}\ntask: {name: '010', x: '1:20', y: 'no'}\n")
    assert parse_recipe(recipe.to_yaml()).data == recipe.data
