"""Building a Pipeline from a recipe: sizes, provenance, constructor errors, relative paths."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from seqframe.errors import DataError, RecipeError
from seqframe.pipeline import Pipeline
from seqframe.plugins import load_plugin_manager
from seqframe.recipe import build_pipeline, load_recipe
from seqframe.registry import Registry

SHIPPED = Path(__file__).resolve().parents[2] / "src" / "seqframe" / "recipes" / "lm.yaml"

WORDS = [
    "river",
    "stone",
    "light",
    "garden",
    "window",
    "paper",
    "quiet",
    "morning",
    "letter",
    "bridge",
    "candle",
    "harbour",
    "meadow",
    "lantern",
    "orchard",
    "pebble",
]

TINY = (
    "model.topology.hidden_size=8",
    "model.embedding_dim=4",
    "model.topology.num_layers=1",
    "task.seq_len=8",
)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.from_plugin_manager(load_plugin_manager(entry_points=False))


@pytest.fixture
def recipe_dir(tmp_path: Path) -> Path:
    """The shipped recipe, reading ``corpus.txt`` (a few KB, next to it) instead of pydoc_topics."""
    lines = [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(10)) for i in range(60)]
    (tmp_path / "corpus.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    text = re.sub(
        r"(?m)^  name: pydoc_topics.*$",
        "  name: text_files\n  paths: [corpus.txt]",
        SHIPPED.read_text(encoding="utf-8"),
        count=1,
    )
    assert "text_files" in text
    (tmp_path / "lm.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_shipped_recipe_builds_with_requested_sizes(recipe_dir: Path, registry: Registry) -> None:
    pipeline = build_pipeline(load_recipe(recipe_dir / "lm.yaml", TINY), registry)
    assert isinstance(pipeline, Pipeline)
    corpus = (recipe_dir / "corpus.txt").read_text(encoding="utf-8")
    assert pipeline.tokenizer.vocab_size == 4 + len(set(corpus))  # fitted on the corpus
    topology = pipeline.model.topology
    assert (topology.input_size, topology.hidden_size, topology.num_layers) == (4, 8, 1)
    assert pipeline.model.embedding.num_embeddings == pipeline.tokenizer.vocab_size


def test_provenance_records_the_providing_plugin(recipe_dir: Path, registry: Registry) -> None:
    pipeline = build_pipeline(load_recipe(recipe_dir / "lm.yaml", TINY), registry)
    assert pipeline.components["model.topology.cell"]["plugin"] == "builtin.cells"
    assert pipeline.components["model.topology.cell"]["name"] == "lstm"
    assert pipeline.components["data"]["name"] == "text_files"


def test_cell_option_reaches_the_cell(recipe_dir: Path, registry: Registry) -> None:
    recipe = load_recipe(
        recipe_dir / "lm.yaml", (*TINY, "model.topology.cell=elman", "model.topology.cell.nonlinearity=relu")
    )
    pipeline = build_pipeline(recipe, registry)
    assert pipeline.model.topology.cells[0][0].nonlinearity == "relu"


def test_bidirectional_language_model_is_rejected_before_building(recipe_dir: Path, registry: Registry) -> None:
    recipe = load_recipe(recipe_dir / "lm.yaml", (*TINY, "model.topology.bidirectional=true"))
    with pytest.raises(RecipeError) as info:
        build_pipeline(recipe, registry)
    assert [issue.path for issue in info.value.issues] == ["model.topology.bidirectional"]
    assert "cannot be bidirectional" in str(info.value)


def test_constructor_value_error_becomes_recipe_error_at_its_path(recipe_dir: Path, registry: Registry) -> None:
    recipe = load_recipe(recipe_dir / "lm.yaml", (*TINY, "task.seq_len=0"))
    with pytest.raises(RecipeError) as info:
        build_pipeline(recipe, registry)
    assert [issue.path for issue in info.value.issues] == ["task.seq_len"]  # the option it rejects
    assert "seq_len must be an int >= 1, got 0" in str(info.value)
    assert info.value.issues[0].location == "override 'task.seq_len=0'"


def test_relative_data_path_resolves_against_recipe_folder(
    recipe_dir: Path, registry: Registry, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "corpus.txt").write_text("a decoy file that must not be read\n", encoding="utf-8")
    monkeypatch.chdir(elsewhere)
    pipeline = build_pipeline(load_recipe(recipe_dir / "lm.yaml", TINY), registry)
    assert pipeline.data is not None
    assert "decoy" not in "".join(pipeline.data.texts("train"))
    assert "river" in "".join(pipeline.data.texts("train"))


def test_missing_data_file_names_the_file(recipe_dir: Path, registry: Registry) -> None:
    recipe = load_recipe(recipe_dir / "lm.yaml", (*TINY, "data.paths=[absent.txt]"))
    with pytest.raises(DataError, match="absent.txt"):
        build_pipeline(recipe, registry)


def test_invalid_recipe_builds_nothing(recipe_dir: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    from seqframe.builtin import tokenizers

    fitted: list[bool] = []
    monkeypatch.setattr(tokenizers.CharTokenizer, "fit", lambda self, texts: fitted.append(True))
    recipe = load_recipe(recipe_dir / "lm.yaml", (*TINY, "model.topology.hiden_size=3"))
    with pytest.raises(RecipeError, match="hiden_size"):
        build_pipeline(recipe, registry)
    assert fitted == []


def test_tokenizer_model_path_resolves_against_the_recipe_folder(
    recipe_dir: Path, registry: Registry, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sentencepiece as spm

    spm.SentencePieceTrainer.train(
        input=str(recipe_dir / "corpus.txt"),
        model_prefix=str(recipe_dir / "sp"),
        vocab_size=40,
        pad_id=0,
        bos_id=1,
        eos_id=2,
        unk_id=3,
    )
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    recipe = load_recipe(
        recipe_dir / "lm.yaml", (*TINY, "tokenizer.name=sentencepiece", "tokenizer.model_path=sp.model")
    )
    pipeline = build_pipeline(recipe, registry)
    assert pipeline.tokenizer.vocab_size == 40


def test_tokenizer_base_dir_is_derived_not_set_by_the_recipe(recipe_dir: Path, registry: Registry) -> None:
    recipe = load_recipe(recipe_dir / "lm.yaml", (*TINY, "tokenizer.name=sentencepiece", "tokenizer.base_dir=/tmp"))
    with pytest.raises(RecipeError, match="derived"):
        build_pipeline(recipe, registry)
