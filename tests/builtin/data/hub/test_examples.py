"""``huggingface_labelled`` and ``huggingface_parallel``: classification examples and
translation pairs from Hub datasets, served by the ``fake_hub`` stand-in (no network)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from datasets import ClassLabel, Dataset, Features, Translation, Value
from datasets.exceptions import DatasetNotFoundError

import seqframe
from seqframe.api import RECIPES_DIR
from seqframe.builtin.data.hub.examples import HuggingFaceLabelledSource, HuggingFaceParallelSource
from seqframe.builtin.data.hub.tagged import HuggingFaceTaggedSource
from seqframe.errors import DataError
from seqframe.plugins import load_plugin_manager
from seqframe.registry import Registry

from .conftest import FakeHub

SPLITS = ("train", "valid", "test")
SENTIMENT = Features(
    {"sentence": Value("string"), "label": ClassLabel(names=["neg", "pos"]), "score": Value("float32")}
)
TINY_MODEL = [
    "model.topology.hidden_size=8",
    "model.embedding_dim=4",
    "train.steps=2",
    "train.batch_size=4",
    "train.eval_every=0",
]


def sentiment(rows: list[tuple[str | None, int]]) -> Dataset:
    return Dataset.from_dict(
        {"sentence": [r[0] for r in rows], "label": [r[1] for r in rows], "score": [0.5] * len(rows)},
        features=SENTIMENT,
    )


def pairs(rows: list[tuple[str, str]]) -> Dataset:
    return Dataset.from_dict(
        {"id": [str(i) for i in range(len(rows))], "translation": [{"en": en, "de": de} for en, de in rows]},
        features=Features({"id": Value("string"), "translation": Translation(languages=["de", "en"])}),
    )


@pytest.fixture
def glue(fake_hub: FakeHub) -> FakeHub:
    """GLUE-like splits: labelled train and validation, a test split labelled -1 throughout."""
    fake_hub.tables.update(
        {
            "train": sentiment([(f"good film {i}", 1) if i % 2 else (f"bad film {i}", 0) for i in range(20)]),
            "validation": sentiment([("fine", 1), ("dull", 0), ("  ", 1), (None, 0), ("unknown", -1)]),
            "test": sentiment([("hidden", -1), ("also hidden", -1)]),
        }
    )
    return fake_hub


def labelled(**options: Any) -> HuggingFaceLabelledSource:
    return HuggingFaceLabelledSource("nyu-mll/glue", **{"config": "sst2", "text_column": "sentence", **options})


def test_new_sources_are_registered() -> None:
    registry = Registry.from_plugin_manager(load_plugin_manager(entry_points=False))
    assert registry.get("dataset", "huggingface_labelled").factory is HuggingFaceLabelledSource
    assert registry.get("dataset", "huggingface_parallel").factory is HuggingFaceParallelSource
    assert registry.get("dataset", "huggingface_tagged").factory is HuggingFaceTaggedSource


# --- huggingface_labelled --------------------------------------------------------------


def test_class_label_ids_become_their_names(glue: FakeHub) -> None:
    data = labelled(split={"train": "train"})
    assert data.examples("train")[:2] == [
        {"text": "bad film 0", "label": "neg"},
        {"text": "good film 1", "label": "pos"},
    ]
    assert data.texts("train")[0] == "bad film 0"
    assert data.examples("valid") == [] and data.examples("test") == []


def test_split_mapping_loads_the_named_hub_splits_once(glue: FakeHub) -> None:
    data = labelled(split={"train": "train", "valid": "validation"}, revision="abc123")
    with pytest.warns(UserWarning):
        assert data.examples("valid") == [{"text": "fine", "label": "pos"}, {"text": "dull", "label": "neg"}]
    data.examples("train")
    assert [c["split"] for c in glue.calls] == ["train", "validation"]
    assert all(c["revision"] == "abc123" and c["name"] == "sst2" for c in glue.calls)
    assert not any("trust_remote_code" in c for c in glue.calls)


def test_empty_and_unlabelled_rows_are_dropped_counted_and_warned(glue: FakeHub) -> None:
    data = labelled(split={"train": "train", "valid": "validation"})
    with pytest.warns(UserWarning) as warned:
        data.examples("train")
    assert data.stats == {"dropped_empty": 2, "dropped_unlabelled": 1}
    messages = " ".join(str(w.message) for w in warned)
    assert "dropped 2 empty examples" in messages and "1 row(s) without a label" in messages


def test_one_split_is_cut_by_seed_without_overlap(glue: FakeHub) -> None:
    data = labelled(valid_fraction=0.2, test_fraction=0.1)
    texts = {split: data.texts(split) for split in SPLITS}
    assert sorted(sum(texts.values(), [])) == sorted(glue.tables["train"]["sentence"])
    assert (len(texts["valid"]), len(texts["test"])) == (4, 2)
    assert labelled(valid_fraction=0.2, test_fraction=0.1).texts("valid") == texts["valid"]
    assert labelled(valid_fraction=0.2, test_fraction=0.1, seed=3).texts("valid") != texts["valid"]
    assert len(glue.calls) == 3  # one load per source


def test_a_mapped_split_without_a_labelled_row_is_an_error(glue: FakeHub) -> None:
    with pytest.raises(
        DataError,
        match=r"data\.split: 'nyu-mll/glue' split 'test' has no usable example "
        r"\(dropped: dropped_unlabelled 2\)",
    ):
        labelled(split={"train": "train", "test": "test"}).examples("train")


def test_text_and_integer_labels_without_class_names_become_strings(fake_hub: FakeHub) -> None:
    fake_hub.tables["train"] = Dataset.from_dict(
        {"text": ["a", "b", "c"], "stars": [5, 1, 5], "lang": [" en", "de", ""]}
    )
    data = HuggingFaceLabelledSource("someone/reviews", label_column="stars", valid_fraction=0, test_fraction=0)
    assert [e["label"] for e in data.examples("train")] == ["5", "1", "5"]
    data = HuggingFaceLabelledSource("someone/reviews", label_column="lang", valid_fraction=0, test_fraction=0)
    with pytest.warns(UserWarning, match="1 row"):
        assert [e["label"] for e in data.examples("train")] == ["en", "de"]


def test_a_label_unseen_in_training_is_an_error_unless_kept(fake_hub: FakeHub) -> None:
    fake_hub.tables.update({"train": sentiment([("a", 0), ("b", 0)]), "validation": sentiment([("c", 1)])})
    with pytest.raises(
        DataError,
        match=r"label not seen in training: valid: 'pos' \(first at nyu-mll/glue "
        r"\[validation\] row 1\)",
    ):
        labelled(split={"train": "train", "valid": "validation"}).examples("train")
    assert labelled(split={"train": "train", "valid": "validation"}, on_unseen_label="keep").examples("valid")


def test_long_texts_follow_the_example_policy(glue: FakeHub) -> None:
    data = labelled(split={"train": "train"}, max_chars=4)
    with pytest.warns(UserWarning, match="truncated 20"):
        assert data.texts("train")[:2] == ["bad ", "good"]
    with pytest.raises(DataError, match=r"nyu-mll/glue \[train\] row 1: 10 characters"):
        labelled(split={"train": "train"}, max_chars=4, on_overlength="error").examples("train")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (
            {"text_column": "sentense"},
            r"data\.text_column: 'sentense' is not a column of 'nyu-mll/glue' \(columns: "
            r"sentence, label, score\); did you mean 'sentence'\?",
        ),
        ({"text_column": "text"}, r"data\.text_column: 'text' is not a column .*did you mean 'sentence'\?"),
        ({"label_column": "labels"}, r"data\.label_column: 'labels' is not a column .*did you mean 'label'\?"),
        (
            {"text_column": "label", "label_column": "sentence"},
            r"data\.text_column: column 'label' of 'nyu-mll/glue' holds class_label, expected text \(columns of that kind: "
            r"sentence\); did you mean 'sentence'\?",
        ),
        (
            {"label_column": "score"},
            r"data\.label_column: column 'score' .* holds float, expected bool or class_label "
            r"or int or text",
        ),
    ],
)
def test_a_missing_or_mistyped_column_names_the_key_and_suggests(
    glue: FakeHub, options: dict[str, Any], match: str
) -> None:
    with pytest.raises(DataError, match=match):
        labelled(**options).examples("train")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"label_column": "sentence"}, "text_column and label_column are both"),
        ({"label_column": ""}, "label_column must be a non-empty string"),
        ({"on_unseen_label": "drop"}, "on_unseen_label must be error or keep"),
        ({"on_empty": "skip"}, "on_empty must be one of"),
        ({"split": {"valid": "validation"}}, "split must map train"),
        ({"valid_fraction": 0.7}, "valid_fraction must lie in"),
    ],
)
def test_bad_options_are_rejected_before_loading(fake_hub: FakeHub, options: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        labelled(**options)
    assert fake_hub.calls == []


@pytest.mark.parametrize(
    "make",
    [
        lambda: HuggingFaceLabelledSource("someone/nothing"),
        lambda: HuggingFaceParallelSource("someone/nothing", source_lang="en", target_lang="de"),
        lambda: HuggingFaceTaggedSource("someone/nothing"),
    ],
)
def test_hub_errors_are_translated_for_every_structured_source(monkeypatch: pytest.MonkeyPatch, make: Any) -> None:
    import datasets

    def load_dataset(*_: Any, **__: Any) -> None:
        raise DatasetNotFoundError("Dataset 'someone/nothing' doesn't exist on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    with pytest.raises(DataError, match=r"data\.path: no dataset 'someone/nothing' on the Hub"):
        make().examples("train")


@pytest.mark.parametrize("path", ["https://example.com/data.csv", "../up", "a/b/c"])
def test_path_must_be_a_hub_id(path: str) -> None:
    with pytest.raises(ValueError, match="huggingface_labelled: path must be a Hub dataset id"):
        HuggingFaceLabelledSource(path)


# --- huggingface_parallel --------------------------------------------------------------


def test_translation_column_gives_pairs_in_the_chosen_direction(fake_hub: FakeHub) -> None:
    fake_hub.tables["train"] = pairs([("one", "eins"), ("two", "zwei"), ("three", "")])
    data = HuggingFaceParallelSource(
        "wmt/wmt16", config="de-en", source_lang="de", target_lang="en", valid_fraction=0, test_fraction=0
    )
    with pytest.warns(UserWarning, match="dropped 1 pair"):
        assert data.examples("train") == [{"source": "eins", "target": "one"}, {"source": "zwei", "target": "two"}]
    assert data.texts("train") == ["eins", "zwei"] and data.target_texts("train") == ["one", "two"]
    assert data.stats == {"dropped_empty_pairs": 1}


def test_a_struct_column_without_translation_feature_also_works(fake_hub: FakeHub) -> None:
    fake_hub.tables["train"] = Dataset.from_dict({"translation": [{"en": "hi", "fr": "salut"}]})
    data = HuggingFaceParallelSource(
        "someone/opus", source_lang="en", target_lang="fr", valid_fraction=0, test_fraction=0
    )
    assert data.examples("train") == [{"source": "hi", "target": "salut"}]


def test_two_text_columns_and_a_split_mapping(fake_hub: FakeHub) -> None:
    rows = {"question": ["q1", "q2", "q3"], "answer": ["a1", "a2", "a3"]}
    fake_hub.tables.update(
        {"train": Dataset.from_dict(rows), "dev": Dataset.from_dict({k: v[:1] for k, v in rows.items()})}
    )
    data = HuggingFaceParallelSource(
        "someone/qa",
        split={"train": "train", "test": "dev"},
        source_column="question",
        target_column="answer",
        max_chars=1,
    )
    with pytest.warns(UserWarning, match="truncated"):
        assert data.examples("test") == [{"source": "q", "target": "a"}]
    assert len(data.examples("train")) == 3 and data.examples("valid") == []


def test_an_unknown_language_suggests_a_close_one(fake_hub: FakeHub) -> None:
    fake_hub.tables["train"] = pairs([("one", "eins")])
    data = HuggingFaceParallelSource("wmt/wmt16", source_lang="en", target_lang="deu")
    with pytest.raises(
        DataError,
        match=r"data\.target_lang: 'deu' is not a language of column 'translation' of "
        r"'wmt/wmt16' \(languages: de, en\); did you mean 'de'\?",
    ):
        data.examples("train")


def test_a_translation_column_that_is_not_one_suggests_the_right_kind(fake_hub: FakeHub) -> None:
    fake_hub.tables["train"] = pairs([("one", "eins")])
    data = HuggingFaceParallelSource("wmt/wmt16", source_lang="en", target_lang="de", translation_column="id")
    with pytest.raises(
        DataError,
        match=r"data\.translation_column: column 'id' .* holds text, expected translation "
        r".*did you mean 'translation'\?",
    ):
        data.examples("train")


def test_a_non_text_source_column_names_the_key(fake_hub: FakeHub) -> None:
    fake_hub.tables["train"] = Dataset.from_dict({"q": ["a"], "n": [3]})
    with pytest.raises(DataError, match=r"data\.target_column: column 'n' .* holds int, expected text"):
        HuggingFaceParallelSource("someone/qa", source_column="q", target_column="n").examples("train")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({}, "give source_lang and target_lang .* not neither"),
        ({"source_lang": "en"}, "source_lang is set but target_lang is not"),
        ({"target_column": "b"}, "target_column is set but source_column is not"),
        ({"source_lang": "en", "target_lang": "en"}, "two different non-empty strings"),
        ({"source_lang": "en", "target_lang": "de", "source_column": "a", "target_column": "b"}, "not both"),
    ],
)
def test_parallel_needs_languages_or_columns(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        HuggingFaceParallelSource("wmt/wmt16", **options)


# --- end to end ------------------------------------------------------------------------


def test_many_to_one_recipe_trains_on_a_hub_dataset(glue: FakeHub, tmp_path: Path) -> None:
    data = (
        "data={name: huggingface_labelled, path: nyu-mll/glue, config: sst2, text_column: sentence, "
        "split: {train: train, valid: validation}}"
    )
    with pytest.warns(UserWarning) as warned:
        result = seqframe.run("many-to-one", [data, *TINY_MODEL], out_dir=tmp_path / "run", progress=False)
    assert any("without a label" in str(w.message) for w in warned)
    assert result.step == 2 and {"loss", "accuracy"} <= set(result.final_eval)
    assert json.loads((tmp_path / "run" / "task.json").read_text())["labels"] == ["neg", "pos"]
    assert seqframe.predict(tmp_path / "run", ["good film"])[0] in ("neg", "pos")


def test_translate_recipe_trains_on_a_hub_translation_column(fake_hub: FakeHub, tmp_path: Path) -> None:
    words = ["one", "two", "three", "four", "five", "six"]
    german = ["eins", "zwei", "drei", "vier", "fünf", "sechs"]
    fake_hub.tables["train"] = pairs(list(zip(words, german)) * 4)
    data = (
        "data={name: huggingface_parallel, path: wmt/wmt16, config: de-en, source_lang: en, target_lang: de, "
        "valid_fraction: 0.2, test_fraction: 0.0}"
    )
    result = seqframe.run(
        "translate",
        [data, *TINY_MODEL, "model.decoder.hidden_size=8", "task.eval_decode=4"],
        out_dir=tmp_path / "run",
        progress=False,
    )
    assert result.step == 2 and "loss" in result.final_eval


@pytest.mark.parametrize("name", ["many-to-one", "many-to-many", "translate"])
def test_the_hub_command_in_a_shipped_recipes_header_validates(name: str) -> None:
    header = [line for line in (RECIPES_DIR / f"{name}.yaml").read_text().splitlines() if line.startswith("#")]
    [command] = [line.lstrip("# ") for line in header if line.lstrip("# ").startswith(f"seqframe run {name} ")]
    overrides = shlex.split(command)[3:]
    assert any(o.startswith("data={name: huggingface_") for o in overrides)
    seqframe.api.validate(name, overrides)
