"""Built-in data sources: splitting, pydoc_topics, text_files, read_parallel (tables and Hub
datasets are in test_data_sources.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from seqframe.builtin.datasets import (
    HuggingFaceSource,
    PydocTopicsSource,
    TableFilesSource,
    TextFilesSource,
    read_parallel,
    split_examples,
    split_text,
)
from seqframe.errors import DataError
from seqframe.plugins import load_plugin_manager
from seqframe.registry import Registry

WriteFile = Callable[..., Path]  # the type of the conftest fixture `write`


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.from_plugin_manager(load_plugin_manager(entry_points=False))


@pytest.fixture(scope="module")
def pydoc() -> PydocTopicsSource:
    return PydocTopicsSource()


def lines_text(n: int) -> str:
    return "".join(f"line {i} with some words\n" for i in range(n))


def test_builtin_datasets_are_registered(registry: Registry) -> None:
    assert registry.get("dataset", "pydoc_topics").factory is PydocTopicsSource
    assert registry.get("dataset", "text_files").factory is TextFilesSource
    assert registry.get("dataset", "table_files").factory is TableFilesSource
    assert registry.get("dataset", "huggingface").factory is HuggingFaceSource


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


def test_pydoc_topics_gives_english_prose(pydoc: PydocTopicsSource) -> None:
    train = "".join(pydoc.texts("train"))
    assert len(train) > 400_000
    assert train.count(" the ") > 1000


def test_pydoc_topics_valid_and_test_are_not_empty(pydoc: PydocTopicsSource) -> None:
    assert "".join(pydoc.texts("valid")).strip()
    assert "".join(pydoc.texts("test")).strip()


def test_pydoc_topics_is_deterministic(pydoc: PydocTopicsSource) -> None:
    again = PydocTopicsSource()
    for split in ("train", "valid", "test"):
        assert again.texts(split) == pydoc.texts(split)


def test_unknown_split_is_a_value_error(pydoc: PydocTopicsSource) -> None:
    with pytest.raises(ValueError, match="'dev'"):
        pydoc.texts("dev")


# --- text_files ---------------------------------------------------------------------------


def test_text_files_glob_reads_matches_in_sorted_order(write: WriteFile, tmp_path: Path) -> None:
    write("b.txt", "second\n")
    write("a.txt", "first\n")
    write("skip.md", "not matched\n")
    source = TextFilesSource(["*.txt"], valid_fraction=0.0, test_fraction=0.0, base_dir=str(tmp_path))
    assert source.texts("train") == ["first\nsecond\n"]


def test_text_files_relative_paths_use_base_dir(
    write: WriteFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write("corpus.txt", "hello\n")
    monkeypatch.chdir(tmp_path.parent)
    source = TextFilesSource("corpus.txt", valid_fraction=0.0, test_fraction=0.0, base_dir=str(tmp_path))
    assert source.texts("train") == ["hello\n"]


def test_text_files_missing_file_names_the_pattern(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"'absent\.txt'"):
        TextFilesSource(["absent.txt"], base_dir=str(tmp_path))


def test_text_files_glob_matching_nothing_names_the_pattern(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"'\*\.txt'"):
        TextFilesSource(["*.txt"], base_dir=str(tmp_path))


def test_text_files_no_paths_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no files given"):
        TextFilesSource([], base_dir=str(tmp_path))


def test_text_files_invalid_utf8_names_file_and_line(write: WriteFile, tmp_path: Path) -> None:
    path = write("bad.txt", b"fine first line\nbroken \xff here\nthird\n")
    source = TextFilesSource([str(path)], valid_fraction=0.0, test_fraction=0.0)
    with pytest.raises(DataError) as info:
        source.texts("train")
    assert f"{path}:2:" in str(info.value)
    assert "byte 23" in str(info.value)


@pytest.mark.parametrize("sample_by", ["stream", "line", "paragraph", "document"])
@pytest.mark.parametrize("content", ["", "  \n\n\t\n"])
def test_text_files_empty_or_blank_file_is_a_data_error(
    write: WriteFile, tmp_path: Path, content: str, sample_by: str
) -> None:
    path = write("empty.txt", content)
    source = TextFilesSource([str(path)], sample_by=sample_by)
    with pytest.raises(DataError, match="contains no examples") as info:
        source.texts("train")
    assert str(path) in str(info.value)


def test_text_files_valid_paths_replace_the_fraction(write: WriteFile, tmp_path: Path) -> None:
    train_text = lines_text(50)
    write("train.txt", train_text)
    write("valid.txt", "held out\n")
    source = TextFilesSource(
        "train.txt", valid_paths="valid.txt", valid_fraction=0.3, test_fraction=0.0, base_dir=str(tmp_path)
    )
    assert source.texts("valid") == ["held out\n"]
    assert source.texts("train") == [train_text]  # nothing cut off for validation
    assert source.texts("test") == []


def test_text_files_empty_valid_file_names_valid_paths(write: WriteFile, tmp_path: Path) -> None:
    write("train.txt", "some text\n")
    write("valid.txt", "")
    source = TextFilesSource("train.txt", valid_paths="valid.txt", base_dir=str(tmp_path))
    with pytest.raises(DataError, match="data.valid_paths"):
        source.texts("valid")


def test_text_files_unknown_encoding_is_rejected_at_construction(write: WriteFile, tmp_path: Path) -> None:
    write("a.txt", "x\n")
    with pytest.raises(ValueError, match="'utf-9'"):
        TextFilesSource("a.txt", encoding="utf-9", base_dir=str(tmp_path))


def test_text_files_reads_nothing_until_asked(write: WriteFile, tmp_path: Path) -> None:
    path = write("a.txt", b"\xff\xfe not utf-8\n")
    TextFilesSource([str(path)])  # construction only checks that the file exists


# --- split_examples ------------------------------------------------------------------------------


def test_split_examples_is_fixed_by_the_seed() -> None:
    # golden values: the permutation uses only Random.random(), stable across Python versions
    assert split_examples(list(range(10)), 0.2, 0.1, seed=0) == {
        "train": [1, 2, 3, 5, 6, 7, 8],
        "valid": [4, 9],
        "test": [0],
    }
    assert split_examples(list(range(10)), 0.2, 0.1, seed=1) != split_examples(list(range(10)), 0.2, 0.1, seed=0)


def test_split_examples_partitions_and_keeps_order_within_each_split() -> None:
    splits = split_examples(list(range(100)), 0.1, 0.2, seed=3)
    assert sorted(splits["train"] + splits["valid"] + splits["test"]) == list(range(100))
    assert (len(splits["valid"]), len(splits["test"])) == (10, 20)
    assert all(part == sorted(part) for part in splits.values())


def test_split_examples_leaving_nothing_to_train_on_is_a_data_error() -> None:
    with pytest.raises(DataError, match="only 2 examples"):
        split_examples(["a", "b"], 0.4, 0.4, seed=0)


# --- text_files: examples, policies ----------------------------------------------------------------


def source(write: WriteFile, text: str | bytes, **options: object) -> TextFilesSource:
    folder = write("data.txt", text).parent
    options = {"valid_fraction": 0.0, "test_fraction": 0.0, **options}
    return TextFilesSource("data.txt", base_dir=str(folder), **options)  # type: ignore[arg-type]


def test_line_mode_drops_blank_lines_and_counts_them(write: WriteFile, tmp_path: Path) -> None:
    data = source(write, "a\n\n  \nb", sample_by="line")
    with pytest.warns(UserWarning, match="dropped 2 empty examples"):
        assert data.texts("train") == ["a", "b"]
    assert data.stats["dropped_empty"] == 2


def test_on_empty_error_names_the_line(write: WriteFile, tmp_path: Path) -> None:
    data = source(write, "a\n\nb\n", sample_by="line", on_empty="error")
    with pytest.raises(DataError, match=r"data\.txt:2: empty example"):
        data.texts("train")


def test_stream_mode_keeps_blank_lines(write: WriteFile, tmp_path: Path) -> None:
    assert source(write, "a\n\n\nb").texts("train") == ["a\n\n\nb\n"]


def test_line_mode_strips_line_endings(write: WriteFile, tmp_path: Path) -> None:
    assert source(write, "one\r\ntwo\n", sample_by="line").texts("train") == ["one", "two"]


def test_paragraph_mode_splits_on_blank_lines(write: WriteFile, tmp_path: Path) -> None:
    data = source(write, "first a\nfirst b\n\n \nsecond\n", sample_by="paragraph")
    assert data.texts("train") == ["first a\nfirst b", "second"]


def test_document_mode_gives_one_example_per_file(write: WriteFile, tmp_path: Path) -> None:
    for name in "abc":
        write(f"{name}.txt", f"doc {name}\nmore\n")
    data = TextFilesSource("*.txt", sample_by="document", valid_fraction=0.0, test_fraction=0.0, base_dir=str(tmp_path))
    assert data.texts("train") == ["doc a\nmore\n", "doc b\nmore\n", "doc c\nmore\n"]


def test_example_split_is_seeded_disjoint_and_complete(write: WriteFile, tmp_path: Path) -> None:
    lines = [f"line {i}" for i in range(40)]
    write("data.txt", "\n".join(lines))

    def splits(seed: int) -> dict[str, list[str]]:
        data = TextFilesSource(
            "data.txt", sample_by="line", seed=seed, valid_fraction=0.1, test_fraction=0.1, base_dir=str(tmp_path)
        )
        return {name: data.texts(name) for name in ("train", "valid", "test")}

    first = splits(0)
    assert first == splits(0) and first != splits(1)
    assert sorted(sum(first.values(), [])) == sorted(lines)
    assert (len(first["valid"]), len(first["test"])) == (4, 4)


def test_invalid_utf8_with_replace_loads_and_counts_the_line(write: WriteFile, tmp_path: Path) -> None:
    data = source(write, b"fine first line\nbroken \xff here\nthird\n", encoding_errors="replace")
    with pytest.warns(UserWarning, match=r"replaced undecodable bytes in 1 line"):
        assert data.texts("train") == ["fine first line\nbroken \N{REPLACEMENT CHARACTER} here\nthird\n"]
    assert data.stats["replaced_lines"] == 1


def test_very_long_line_is_truncated_and_counted(write: WriteFile, tmp_path: Path) -> None:
    data = source(write, "short\n" + "x" * 5_000_000, max_chars=1000)
    with pytest.warns(UserWarning, match="truncated 1 example"):
        text = data.texts("train")[0]
    assert text == "short\n" + "x" * 1000 + "\n"
    assert data.stats["truncated"] == 1


def test_very_long_line_can_be_dropped(write: WriteFile, tmp_path: Path) -> None:
    data = source(
        write, "short\n" + "x" * 5_000_000 + "\nend\n", sample_by="line", max_chars=1000, on_overlength="drop"
    )
    with pytest.warns(UserWarning, match="dropped 1 example"):
        assert data.texts("train") == ["short", "end"]
    assert data.stats["dropped_overlength"] == 1


def test_very_long_line_can_be_an_error_naming_file_and_line(write: WriteFile, tmp_path: Path) -> None:
    data = source(write, "short\n" + "x" * 5000 + "\n", max_chars=1000, on_overlength="error")
    with pytest.raises(DataError, match=r"data\.txt:2: 5000 characters, more than data\.max_chars=1000"):
        data.texts("train")


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"sample_by": "sentence"}, "sample_by"),
        ({"on_overlength": "cut"}, "on_overlength"),
        ({"on_empty": "keep"}, "on_empty"),
        ({"encoding_errors": "ignore"}, "encoding_errors"),
        ({"max_chars": 0}, "max_chars"),
        ({"encoding": "utf-16"}, "utf-16"),
    ],
)
def test_text_files_invalid_options_raise_value_error(
    write: WriteFile, tmp_path: Path, options: dict[str, object], name: str
) -> None:
    write("a.txt", "x\n")
    with pytest.raises(ValueError, match=name):
        TextFilesSource("a.txt", base_dir=str(tmp_path), **options)  # type: ignore[arg-type]


def test_texts_returns_a_copy(write: WriteFile, tmp_path: Path) -> None:
    data = source(write, "a\nb\n", sample_by="line")
    data.texts("train").append("mutated")
    assert data.texts("train") == ["a", "b"]


# --- read_parallel -----------------------------------------------------------------------------------


def test_read_parallel_pairs_lines(write: WriteFile, tmp_path: Path) -> None:
    src, tgt = write("src.txt", "a\nb\n"), write("tgt.txt", "A\r\nB")
    assert read_parallel(str(src), str(tgt)) == [("a", "A"), ("b", "B")]


def test_read_parallel_line_count_mismatch_names_both_files_and_counts(write: WriteFile, tmp_path: Path) -> None:
    src, tgt = write("src.txt", "a\nb\nc\n"), write("tgt.txt", "A\nB\n")
    with pytest.raises(DataError) as info:
        read_parallel(str(src), str(tgt))
    message = str(info.value)
    assert f"{str(src)!r} has 3 lines" in message and f"{str(tgt)!r} has 2" in message


def test_read_parallel_drops_and_counts_pairs_with_an_empty_side(write: WriteFile, tmp_path: Path) -> None:
    src, tgt = write("src.txt", "a\n\nc\nd\n"), write("tgt.txt", "A\nB\n \nD\n")
    stats: dict[str, int] = {}
    with pytest.warns(UserWarning, match="dropped 2 pair"):
        assert read_parallel(str(src), str(tgt), stats=stats) == [("a", "A"), ("d", "D")]
    assert stats == {"dropped_empty_pairs": 2}


def test_read_parallel_dropping_an_overlong_side_keeps_alignment(write: WriteFile, tmp_path: Path) -> None:
    src, tgt = write("src.txt", "a\n" + "x" * 50 + "\nc\n"), write("tgt.txt", "A\nB\nC\n")
    with pytest.warns(UserWarning, match="dropped 1 example"):
        pairs = read_parallel(str(src), str(tgt), max_chars=10, on_overlength="drop")
    assert pairs == [("a", "A"), ("c", "C")]


@pytest.mark.parametrize("content", ["", "\n \n"])
def test_read_parallel_empty_file_is_a_data_error(write: WriteFile, tmp_path: Path, content: str) -> None:
    src, tgt = write("src.txt", content), write("tgt.txt", "A\n")
    with pytest.raises(DataError, match="contains no examples"):
        read_parallel(str(src), str(tgt))


def test_read_parallel_invalid_utf8_names_file_and_line(write: WriteFile, tmp_path: Path) -> None:
    src, tgt = write("src.txt", "a\nb\n"), write("tgt.txt", b"A\n\xffB\n")
    with pytest.raises(DataError, match=rf"{tgt}:2: not valid utf-8 \(byte 2"):
        read_parallel(str(src), str(tgt))
