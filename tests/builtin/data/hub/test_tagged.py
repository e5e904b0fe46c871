"""``huggingface_tagged``: word-tagged Hub datasets (conll2003 style) as one tag per
character or per word, served by the ``fake_hub`` stand-in (no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from datasets import ClassLabel, Dataset, Features, Sequence, Value

import seqframe
from seqframe.builtin.data.hub.tagged import HuggingFaceTaggedSource, word_tags
from seqframe.errors import DataError

from .conftest import FakeHub

NER = ["O", "B-LOC", "I-LOC", "B-PER"]
FEATURES = Features(
    {
        "id": Value("string"),
        "tokens": Sequence(Value("string")),
        "ner_tags": Sequence(ClassLabel(names=NER)),
        "pos": Sequence(Value("string")),
    }
)


def conll(rows: list[tuple[list[str], list[int]]]) -> Dataset:
    return Dataset.from_dict(
        {
            "id": [str(i) for i in range(len(rows))],
            "tokens": [r[0] for r in rows],
            "ner_tags": [r[1] for r in rows],
            "pos": [["X"] * len(r[0]) for r in rows],
        },
        features=FEATURES,
    )


SENTENCES = [(["Ada", "visits", "New", "York"], [3, 0, 1, 2]), (["Hi", "Bo"], [0, 3]), ([], [])]


@pytest.fixture
def hub(fake_hub: FakeHub) -> FakeHub:
    fake_hub.tables.update({"train": conll(SENTENCES * 4), "validation": conll(SENTENCES[:1])})
    return fake_hub


def tagged(**options: Any) -> HuggingFaceTaggedSource:
    return HuggingFaceTaggedSource("eriktks/conll2003", **{"split": {"train": "train"}, **options})


def test_word_tags_spread_over_characters_with_space_tags() -> None:
    assert word_tags(["New", "York"], ["B-LOC", "I-LOC"]) == ("New York", ["B-LOC"] * 3 + ["O"] + ["I-LOC"] * 4)
    assert word_tags(["a", "b"], ["X", "Y"], space_tag="_") == ("a b", ["X", "_", "Y"])
    assert word_tags(["New", "York"], ["B-LOC", "I-LOC"], unit="word") == ("New York", ["B-LOC", "I-LOC"])


def test_class_label_ids_become_one_tag_per_character(hub: FakeHub) -> None:
    data = tagged()
    with pytest.warns(UserWarning, match="dropped 4 empty"):
        first = data.examples("train")[0]
    assert first["text"] == "Ada visits New York" and len(first["tags"]) == len(first["text"])
    assert first["tags"][:5] == ["B-PER", "B-PER", "B-PER", "O", "O"] and first["tags"][-4:] == ["I-LOC"] * 4
    assert data.texts("train")[1] == "Hi Bo" and len(data.examples("train")) == 8
    assert data.stats == {"dropped_empty": 4}


def test_word_unit_keeps_one_tag_per_word(hub: FakeHub) -> None:
    with pytest.warns(UserWarning):
        first = tagged(tag_unit="word").examples("train")[0]
    assert first == {"text": "Ada visits New York", "tags": ["B-PER", "O", "B-LOC", "I-LOC"]}


def test_text_tags_without_class_names_are_kept(hub: FakeHub) -> None:
    with pytest.warns(UserWarning):
        assert tagged(tags_column="pos", space_tag="SPACE").examples("train")[1]["tags"] == [
            "X",
            "X",
            "SPACE",
            "X",
            "X",
        ]


def test_truncation_cuts_tags_with_the_text_and_keeps_whole_words(hub: FakeHub) -> None:
    hub.tables["train"] = conll(SENTENCES[:2] * 2)
    with pytest.warns(UserWarning, match="truncated 2"):
        first = tagged(max_chars=12).examples("train")[0]
    assert first == {"text": "Ada visits N", "tags": ["B-PER"] * 3 + ["O"] * 8 + ["B-LOC"]}
    with pytest.warns(UserWarning, match="truncated 2"):
        first = tagged(max_chars=12, tag_unit="word").examples("train")[0]
    assert first == {"text": "Ada visits", "tags": ["B-PER", "O"]}


def test_split_mapping_and_unseen_tags(hub: FakeHub) -> None:
    hub.tables["train"] = conll([(["Hi", "Bo"], [0, 3])] * 4)
    data = tagged(split={"train": "train", "valid": "validation"})
    with pytest.raises(
        DataError,
        match=r"tags not seen in training: valid: 'B-LOC' \(first at eriktks/conll2003 "
        r"\[validation\] row 1\)",
    ):
        data.examples("train")
    data = tagged(split={"train": "train", "valid": "validation"}, on_unseen_label="keep")
    assert data.examples("valid")[0]["text"] == "Ada visits New York" and data.examples("test") == []


def test_one_split_is_cut_by_seed(hub: FakeHub) -> None:
    hub.tables["train"] = conll([([f"w{i}"], [0]) for i in range(20)])
    data = tagged(split="train", valid_fraction=0.1, test_fraction=0.1, seed=1)
    texts = {split: data.texts(split) for split in ("train", "valid", "test")}
    assert sorted(sum(texts.values(), [])) == sorted(f"w{i}" for i in range(20))
    assert len(texts["valid"]) == len(texts["test"]) == 2


@pytest.mark.parametrize(
    ("rows", "options", "match"),
    [
        ([(["a", "b"], [0])], {}, r"eriktks/conll2003 \[train\] row 1: 1 tags for 2 words; data\.tags_column must"),
        ([(["a b"], [0])], {"tag_unit": "word"}, r"row 1: word 'a b' is empty or holds whitespace.*tag_unit: char"),
        ([(["a"], [-1])], {}, r"row 1: tag -1 is not an id of the column's 4 class names"),
    ],
)
def test_bad_rows_name_the_row(hub: FakeHub, rows: list[Any], options: dict[str, Any], match: str) -> None:
    hub.tables["train"] = conll(rows)
    with pytest.raises(DataError, match=match):
        tagged(**options).examples("train")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"tokens_column": "token"}, r"data\.tokens_column: 'token' is not a column .*did you mean 'tokens'\?"),
        (
            {"tags_column": "tags"},
            r"data\.tags_column: 'tags' is not a column .*\(columns: id, tokens, ner_tags, pos\)",
        ),
        (
            {"tokens_column": "id"},
            r"data\.tokens_column: column 'id' .* holds text, expected list\[text\] \(columns of "
            r"that kind: tokens, pos\)",
        ),
        (
            {"tags_column": "id"},
            r"data\.tags_column: column 'id' .* holds text, expected list\[class_label\] or "
            r"list\[int\] or list\[text\]",
        ),
    ],
)
def test_a_missing_or_mistyped_column_names_the_key(hub: FakeHub, options: dict[str, Any], match: str) -> None:
    with pytest.raises(DataError, match=match):
        tagged(**options).examples("train")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"tag_unit": "token"}, "tag_unit must be char or word"),
        ({"tags_column": "tokens"}, "tokens_column and tags_column are both"),
        ({"space_tag": ""}, "space_tag must be a non-empty string"),
    ],
)
def test_bad_options_are_rejected(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tagged(**options)


def test_many_to_many_recipe_trains_on_a_hub_dataset(hub: FakeHub, tmp_path: Path) -> None:
    hub.tables["train"] = conll(SENTENCES[:2] * 8)
    data = "data={name: huggingface_tagged, path: eriktks/conll2003, split: {train: train, valid: validation}}"
    result = seqframe.run(
        "many-to-many",
        [
            data,
            "task.render=tags",
            "model.topology.hidden_size=8",
            "model.embedding_dim=4",
            "train.steps=2",
            "train.batch_size=4",
            "train.eval_every=0",
        ],
        out_dir=tmp_path / "run",
        progress=False,
    )
    assert result.step == 2 and {"accuracy", "macro_f1", "f1_B-PER"} <= set(result.final_eval)
    assert json.loads((tmp_path / "run" / "task.json").read_text()) == {"tags": ["B-LOC", "B-PER", "I-LOC", "O"]}
    [answer] = seqframe.predict(tmp_path / "run", ["Hi Bo"])
    assert len(answer.split()) == 5  # one tag per character
