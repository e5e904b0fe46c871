"""``labelled_files``: text and label columns of CSV, TSV and JSON Lines files."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqframe.builtin.data.local.labelled import LabelledFilesSource
from seqframe.errors import DataError

SPLITS = ("train", "valid", "test")


def labelled(tmp_path: Path, name: str, content: str, **options: object) -> LabelledFilesSource:
    (tmp_path / name).write_text(content, encoding="utf-8")
    options = {"valid_fraction": 0.0, "test_fraction": 0.0, **options}
    return LabelledFilesSource(name, base_dir=str(tmp_path), **options)  # type: ignore[arg-type]


def test_csv_text_and_label(tmp_path: Path) -> None:
    data = labelled(tmp_path, "a.csv", 'id,text,label\n1,"hello, world",greeting\n2,NA, other \n')
    assert data.examples("train") == [{"text": "hello, world", "label": "greeting"}, {"text": "NA", "label": "other"}]
    assert data.texts("train") == ["hello, world", "NA"]


def test_tsv_and_custom_columns(tmp_path: Path) -> None:
    data = labelled(tmp_path, "a.tsv", 'lang\tsentence\nde\tes "geht"\n', text_column="sentence", label_column="lang")
    assert data.examples("train") == [{"text": 'es "geht"', "label": "de"}]


def test_jsonl_numbers_become_string_labels_and_missing_text_is_empty(tmp_path: Path) -> None:
    data = labelled(tmp_path, "a.jsonl", '{"text": "good", "label": 1}\n\n{"label": 0}\n{"text": "bad", "label": 0}\n')
    with pytest.warns(UserWarning, match="dropped 1 empty"):
        assert data.examples("train") == [{"text": "good", "label": "1"}, {"text": "bad", "label": "0"}]


def test_wrong_csv_column_lists_the_columns_and_a_suggestion(tmp_path: Path) -> None:
    data = labelled(tmp_path, "a.csv", "text,labels\nx,y\n")
    with pytest.raises(DataError, match=r"a\.csv:1: no column 'label' \(columns: text, labels\).*'label' -> 'labels'"):
        data.examples("train")


def test_jsonl_without_the_text_key_anywhere_is_an_error(tmp_path: Path) -> None:
    data = labelled(tmp_path, "a.jsonl", '{"body": "x", "label": "a"}\n')
    with pytest.raises(DataError, match=r"no column 'text' \(columns: body, label\)"):
        data.examples("train")


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("a.jsonl", '{"text": "x"}\n', r"a\.jsonl:1: no column 'label'"),
        ("a.jsonl", '{"text": "x", "label": ""}\n', r"a\.jsonl:1: label 'label' must be a non-empty string"),
        ("a.jsonl", '{"text": "x", "label": "a"}\n{bad\n', r"a\.jsonl:2: not valid JSON"),
        ("a.csv", "text,label\nx,a\ny,b,extra\n", r"a\.csv:3: 3 fields, but the header has 2"),
        ("a.csv", "text,label\n", "contains no examples"),
        ("a.csv", "", "contains no examples"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path: Path, name: str, content: str, match: str) -> None:
    with pytest.raises(DataError, match=match):
        labelled(tmp_path, name, content).examples("train")


def test_csv_line_numbers_count_quoted_newlines(tmp_path: Path) -> None:
    data = labelled(tmp_path, "a.csv", 'text,label\n"two\nlines",a\nx,\n')
    with pytest.raises(DataError, match=r"a\.csv:4: label"):
        data.examples("train")


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no file matches 'nope.csv'"):
        LabelledFilesSource("nope.csv", base_dir=str(tmp_path))


def test_label_only_in_test_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "test.csv").write_text("text,label\nx,a\ny,zz\nw,zz\n", encoding="utf-8")
    data = labelled(tmp_path, "a.csv", "text,label\nx,a\ny,b\n", test_paths="test.csv")
    with pytest.raises(DataError, match=r"label not seen in training: test: 'zz' \(first at .*test\.csv:3\)"):
        data.examples("train")


def test_seeded_split_keeps_every_row_once(tmp_path: Path) -> None:
    rows = "".join(f"row {i},{'ab'[i % 2]}\n" for i in range(60))
    data = labelled(tmp_path, "a.csv", "text,label\n" + rows, valid_fraction=0.2, test_fraction=0.2, seed=1)
    texts = {split: data.texts(split) for split in SPLITS}
    assert [len(texts[s]) for s in SPLITS] == [36, 12, 12]
    assert len(set(sum(texts.values(), []))) == 60


def test_same_column_for_text_and_label_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="both 'x'"):
        labelled(tmp_path, "a.csv", "x\n1\n", text_column="x", label_column="x")


def test_columns_maps_text_and_label(tmp_path: Path) -> None:
    data = labelled(tmp_path, "a.tsv", "lang\tsentence\nde\tja\n", columns={"text": "sentence", "label": "lang"})
    assert data.examples("train") == [{"text": "ja", "label": "de"}]


def test_labelled_and_table_files_read_a_file_through_the_same_reader(tmp_path: Path) -> None:
    from seqframe.builtin.data.local.tables import TableFilesSource

    content = 'text,label\n"a, b",x\nc,y\n'
    rows = labelled(tmp_path, "a.csv", content).texts("train")
    assert rows == TableFilesSource("a.csv", valid_fraction=0.0, test_fraction=0.0, base_dir=str(tmp_path)).texts(
        "train"
    )
