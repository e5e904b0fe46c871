"""``tagged_files``: character tagging examples from JSON Lines files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqframe.builtin.data.local.tagged import TaggedFilesSource
from seqframe.errors import DataError

SPLITS = ("train", "valid", "test")


def jsonl(path: Path, *records: object) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


def tagged(tmp_path: Path, *records: object, **options: object) -> TaggedFilesSource:
    jsonl(tmp_path / "tags.jsonl", *records)
    options = {"valid_fraction": 0.0, "test_fraction": 0.0, **options}
    return TaggedFilesSource("tags.jsonl", base_dir=str(tmp_path), **options)  # type: ignore[arg-type]


def test_tagged_files_reads_text_and_tags(tmp_path: Path) -> None:
    data = tagged(tmp_path, {"text": "ab c", "tags": ["B", "I", "O", "B"]}, "", {"text": "x", "tags": [1]})
    assert data.examples("train") == [{"text": "ab c", "tags": ["B", "I", "O", "B"]}, {"text": "x", "tags": ["1"]}]
    assert data.texts("train") == ["ab c", "x"]


def test_tagged_files_tag_count_mismatch_names_file_and_line(tmp_path: Path) -> None:
    data = tagged(tmp_path, {"text": "ab", "tags": ["L", "L"]}, {"text": "abc", "tags": ["L"]})
    with pytest.raises(DataError, match=r"tags\.jsonl:2: 1 tags for 3 characters"):
        data.examples("train")


@pytest.mark.parametrize(
    ("record", "match"),
    [
        ({"text": "ab"}, r":1: no 'tags' field \(fields: text\)"),
        ({"text": 3, "tags": []}, "'text' must be a string"),
        ({"text": "a", "tags": "L"}, "'tags' must be a list of strings"),
        ("[1, 2]", "expected a JSON object, got list"),
        ("{oops", ":1: not valid JSON"),
    ],
)
def test_tagged_files_bad_records_name_file_and_line(tmp_path: Path, record: object, match: str) -> None:
    with pytest.raises(DataError, match=match):
        tagged(tmp_path, record).examples("train")


def test_tagged_files_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="data.paths: no file matches 'nope.jsonl'"):
        TaggedFilesSource("nope.jsonl", base_dir=str(tmp_path))


def test_tagged_files_empty_file_has_no_examples(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="contains no examples"):
        tagged(tmp_path, "", "  ").examples("train")


def test_tagged_files_unseen_tag_in_valid_is_reported_with_its_line(tmp_path: Path) -> None:
    jsonl(tmp_path / "valid.jsonl", {"text": "a", "tags": ["L"]}, {"text": "b", "tags": ["X"]})
    data = tagged(tmp_path, {"text": "ab", "tags": ["L", "U"]}, valid_paths="valid.jsonl")
    with pytest.raises(DataError, match=r"tags not seen in training: valid: 'X' \(first at .*valid\.jsonl:2\)"):
        data.examples("valid")
    kept = tagged(tmp_path, {"text": "ab", "tags": ["L", "U"]}, valid_paths="valid.jsonl", on_unseen_label="keep")
    assert kept.examples("valid")[1]["tags"] == ["X"]


def test_tagged_files_truncates_text_and_tags_together(tmp_path: Path) -> None:
    data = tagged(tmp_path, {"text": "abcdef", "tags": list("LLULLL")}, max_chars=3)
    with pytest.warns(UserWarning, match="truncated 1"):
        assert data.examples("train") == [{"text": "abc", "tags": ["L", "L", "U"]}]


def test_tagged_files_split_by_seed(tmp_path: Path) -> None:
    records = [{"text": f"w{i:02d}", "tags": ["L", "O", "O"]} for i in range(40)]
    data = tagged(tmp_path, *records, valid_fraction=0.25, test_fraction=0.25, seed=2)
    texts = {split: data.texts(split) for split in SPLITS}
    assert [len(texts[s]) for s in SPLITS] == [20, 10, 10]
    assert sorted(sum(texts.values(), [])) == sorted(r["text"] for r in records)
