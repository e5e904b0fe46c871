"""Built-in data sources: split_text, pydoc_topics, text_files."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqframe.builtin.datasets import PydocTopicsDataset, TextFilesDataset, split_text
from seqframe.errors import DataError
from seqframe.plugins import load_plugin_manager
from seqframe.registry import Registry


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.from_plugin_manager(load_plugin_manager(entry_points=False))


@pytest.fixture(scope="module")
def pydoc() -> PydocTopicsDataset:
    return PydocTopicsDataset()


def lines_text(n: int) -> str:
    return "".join(f"line {i} with some words\n" for i in range(n))


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_builtin_datasets_are_registered(registry: Registry) -> None:
    assert registry.get("dataset", "pydoc_topics").factory is PydocTopicsDataset
    assert registry.get("dataset", "text_files").factory is TextFilesDataset


# --- split_text ------------------------------------------------------------------------


@pytest.mark.parametrize(("valid", "test"), [(0.05, 0.05), (0.2, 0.0), (0.0, 0.3), (0.0, 0.0), (0.49, 0.49)])
def test_split_text_is_contiguous_and_covers_the_text(valid: float, test: float) -> None:
    text = lines_text(100)
    splits = split_text(text, valid, test)
    assert splits["train"] + splits["valid"] + splits["test"] == text


def test_split_text_cuts_at_line_boundaries() -> None:
    text = lines_text(100)
    splits = split_text(text, 0.1, 0.1)
    for name in ("train", "valid", "test"):
        assert splits[name] and splits[name].endswith("\n")
        assert splits[name].startswith("line ")


def test_split_text_sizes_follow_the_fractions() -> None:
    text = lines_text(1000)
    splits = split_text(text, 0.1, 0.2)
    assert len(splits["valid"]) == pytest.approx(0.1 * len(text), abs=30)
    assert len(splits["test"]) == pytest.approx(0.2 * len(text), abs=30)


def test_split_text_zero_fractions_leave_valid_and_test_empty() -> None:
    assert split_text("a\nb\n", 0.0, 0.0) == {"train": "a\nb\n", "valid": "", "test": ""}


@pytest.mark.parametrize(("valid", "test"), [(-0.1, 0.0), (0.0, 0.5), (True, 0.0)])
def test_split_text_rejects_bad_fractions(valid: float, test: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        split_text("a\n", valid, test)


# --- pydoc_topics ------------------------------------------------------------------------


def test_pydoc_topics_gives_english_prose(pydoc: PydocTopicsDataset) -> None:
    train = "".join(pydoc.texts("train"))
    assert len(train) > 400_000
    assert train.count(" the ") > 1000


def test_pydoc_topics_valid_and_test_are_not_empty(pydoc: PydocTopicsDataset) -> None:
    assert "".join(pydoc.texts("valid")).strip()
    assert "".join(pydoc.texts("test")).strip()


def test_pydoc_topics_is_deterministic(pydoc: PydocTopicsDataset) -> None:
    again = PydocTopicsDataset()
    for split in ("train", "valid", "test"):
        assert again.texts(split) == pydoc.texts(split)


def test_unknown_split_is_a_value_error(pydoc: PydocTopicsDataset) -> None:
    with pytest.raises(ValueError, match="'dev'"):
        pydoc.texts("dev")


# --- text_files ---------------------------------------------------------------------------


def test_text_files_glob_reads_matches_in_sorted_order(tmp_path: Path) -> None:
    write(tmp_path / "b.txt", "second\n")
    write(tmp_path / "a.txt", "first\n")
    write(tmp_path / "skip.md", "not matched\n")
    source = TextFilesDataset(["*.txt"], valid_fraction=0.0, test_fraction=0.0, base_dir=str(tmp_path))
    assert source.texts("train") == ["first\nsecond\n"]


def test_text_files_relative_paths_use_base_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "corpus.txt", "hello\n")
    monkeypatch.chdir(tmp_path.parent)
    source = TextFilesDataset("corpus.txt", valid_fraction=0.0, test_fraction=0.0, base_dir=str(tmp_path))
    assert source.texts("train") == ["hello\n"]


def test_text_files_missing_file_names_the_pattern(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"'absent\.txt'"):
        TextFilesDataset(["absent.txt"], base_dir=str(tmp_path))


def test_text_files_glob_matching_nothing_names_the_pattern(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"'\*\.txt'"):
        TextFilesDataset(["*.txt"], base_dir=str(tmp_path))


def test_text_files_no_paths_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no files given"):
        TextFilesDataset([], base_dir=str(tmp_path))


def test_text_files_invalid_utf8_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.txt", b"fine first line\nbroken \xff here\nthird\n")
    source = TextFilesDataset([str(path)], valid_fraction=0.0, test_fraction=0.0)
    with pytest.raises(DataError) as info:
        source.texts("train")
    assert f"{path}:2:" in str(info.value)
    assert "byte 23" in str(info.value)


@pytest.mark.parametrize("content", ["", "  \n\n\t\n"])
def test_text_files_empty_or_blank_file_is_a_data_error(tmp_path: Path, content: str) -> None:
    path = write(tmp_path / "empty.txt", content)
    source = TextFilesDataset([str(path)])
    with pytest.raises(DataError, match="no text") as info:
        source.texts("train")
    assert str(path) in str(info.value)


def test_text_files_valid_paths_replace_the_fraction(tmp_path: Path) -> None:
    train_text = lines_text(50)
    write(tmp_path / "train.txt", train_text)
    write(tmp_path / "valid.txt", "held out\n")
    source = TextFilesDataset("train.txt", valid_paths="valid.txt", valid_fraction=0.3, test_fraction=0.0,
                              base_dir=str(tmp_path))
    assert source.texts("valid") == ["held out\n"]
    assert source.texts("train") == [train_text]  # nothing cut off for validation
    assert source.texts("test") == []


def test_text_files_empty_valid_file_names_valid_paths(tmp_path: Path) -> None:
    write(tmp_path / "train.txt", "some text\n")
    write(tmp_path / "valid.txt", "")
    source = TextFilesDataset("train.txt", valid_paths="valid.txt", base_dir=str(tmp_path))
    with pytest.raises(DataError, match="data.valid_paths"):
        source.texts("valid")


def test_text_files_unknown_encoding_is_rejected_at_construction(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "x\n")
    with pytest.raises(ValueError, match="'utf-9'"):
        TextFilesDataset("a.txt", encoding="utf-9", base_dir=str(tmp_path))


def test_text_files_reads_nothing_until_asked(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", b"\xff\xfe not utf-8\n")
    TextFilesDataset([str(path)])  # construction only checks that the file exists
