"""``table_files``: CSV, TSV and JSON Lines through HuggingFace datasets, with seqframe's
errors for empty files, bad bytes, bad JSON and missing columns."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from seqframe.builtin.data.local.tables import TableFilesSource
from seqframe.errors import DataError
from seqframe.plugins import load_plugin_manager
from seqframe.recipe import build_pipeline, load_recipe
from seqframe.registry import Registry

WriteFile = Callable[..., Path]  # the type of the conftest fixture `write`


def table(write: WriteFile, name: str, content: str | bytes, **options: object) -> TableFilesSource:
    folder = write(name, content).parent
    options = {"valid_fraction": 0.0, "test_fraction": 0.0, **options}
    return TableFilesSource(name, base_dir=str(folder), **options)  # type: ignore[arg-type]


def test_csv_column_is_read_as_written(write: WriteFile, tmp_path: Path) -> None:
    data = table(write, "a.csv", 'label,text\n1,hello world\n2,NA\n3,123\n4,"two\nlines, quoted"\n')
    assert data.texts("train") == ["hello world", "NA", "123", "two\nlines, quoted"]


def test_tsv_has_no_quoting(write: WriteFile, tmp_path: Path) -> None:
    data = table(write, "a.tsv", 'text\tlabel\nhe said "hi\t1\nok\t2\n')
    assert data.texts("train") == ['he said "hi', "ok"]


def test_jsonl_column_and_missing_values_counted_as_empty(write: WriteFile, tmp_path: Path) -> None:
    data = table(write, "a.jsonl", '{"text": "hi", "n": 1}\n\n{"text": null}\n{"n": 3}\n{"text": "there"}\n')
    with pytest.warns(UserWarning, match="dropped 2 empty examples"):
        assert data.texts("train") == ["hi", "there"]
    assert data.stats["dropped_empty"] == 2


def test_column_option_selects_another_column(write: WriteFile, tmp_path: Path) -> None:
    data = table(write, "a.jsonl", '{"text": "no", "body": "yes"}\n', column="body")
    assert data.texts("train") == ["yes"]


def test_explicit_format_overrides_the_extension(write: WriteFile, tmp_path: Path) -> None:
    assert table(write, "a.txt", "text\nrow\n", format="csv").texts("train") == ["row"]


def test_unknown_extension_without_format_is_rejected(write: WriteFile, tmp_path: Path) -> None:
    write("a.dat", "text\nrow\n")
    with pytest.raises(ValueError, match="set format"):
        TableFilesSource("a.dat", base_dir=str(tmp_path))


@pytest.mark.parametrize(("name", "content"), [("a.csv", "body,label\nx,1\n"), ("a.jsonl", '{"body": "x"}\n')])
def test_missing_column_lists_the_columns_and_suggests(
    write: WriteFile, tmp_path: Path, name: str, content: str
) -> None:
    data = table(write, name, content, column="bodi")
    with pytest.raises(
        DataError, match=r"no column 'bodi' \(columns: body.*set data\.columns; did you mean 'bodi' -> 'body'"
    ):
        data.texts("train")


@pytest.mark.parametrize(
    ("name", "content"), [("a.csv", ""), ("a.csv", "text\n"), ("a.jsonl", "\n \n"), ("a.tsv", "  ")]
)
def test_empty_or_header_only_file_contains_no_examples(
    write: WriteFile, tmp_path: Path, name: str, content: str
) -> None:
    data = table(write, name, content)
    with pytest.raises(DataError, match=rf"{name}' contains no examples"):
        data.texts("train")


def test_all_values_empty_contains_no_examples(write: WriteFile, tmp_path: Path) -> None:
    data = table(write, "a.csv", "text,n\n,1\n  ,2\n")
    with pytest.raises(DataError, match="contains no examples"):
        data.texts("train")


@pytest.mark.parametrize("name", ["a.csv", "a.jsonl"])
def test_invalid_utf8_names_file_and_line(write: WriteFile, tmp_path: Path, name: str) -> None:
    content = b"text\nfine\nbro\xffken\n" if name.endswith("csv") else b'{"text": "a"}\n{"text": "b\xff"}\n'
    data = table(write, name, content)
    with pytest.raises(DataError, match=rf"{name}:{3 if name.endswith('csv') else 2}: not valid utf-8 \(byte"):
        data.texts("train")


@pytest.mark.parametrize("name", ["a.csv", "a.jsonl"])
def test_invalid_utf8_with_replace_loads_and_counts(write: WriteFile, tmp_path: Path, name: str) -> None:
    content = b"text\nfine\nbro\xffken\n" if name.endswith("csv") else b'{"text": "fine"}\n{"text": "bro\xffken"}\n'
    data = table(write, name, content, encoding_errors="replace")
    with pytest.warns(UserWarning, match="1 line"):
        assert data.texts("train") == ["fine", "bro\N{REPLACEMENT CHARACTER}ken"]
    assert data.stats["replaced_lines"] == 1


def test_broken_json_line_is_named(write: WriteFile, tmp_path: Path) -> None:
    data = table(write, "a.jsonl", '{"text": "a"}\n{"text": \n')
    with pytest.raises(DataError, match=r"a\.jsonl:2: not valid JSON"):
        data.texts("train")


def test_non_text_value_names_row_and_column(write: WriteFile, tmp_path: Path) -> None:
    data = table(write, "a.jsonl", '{"text": "a"}\n{"text": 5}\n')
    with pytest.raises(DataError, match=r"a\.jsonl:2: column 'text': expected text, got int"):
        data.texts("train")


def test_long_values_follow_max_chars(write: WriteFile, tmp_path: Path) -> None:
    data = table(write, "a.csv", "text\nshort\n" + "y" * 100 + "\n", max_chars=10)
    with pytest.warns(UserWarning, match="truncated 1"):
        assert data.texts("train") == ["short", "y" * 10]


def test_rows_split_by_seed(write: WriteFile, tmp_path: Path) -> None:
    write("a.csv", "text\n" + "".join(f"row {i}\n" for i in range(20)))

    def splits(seed: int) -> dict[str, list[str]]:
        data = TableFilesSource("a.csv", valid_fraction=0.1, test_fraction=0.1, seed=seed, base_dir=str(tmp_path))
        return {name: data.texts(name) for name in ("train", "valid", "test")}

    assert splits(0) == splits(0) != splits(1)
    assert sorted(sum(splits(0).values(), [])) == sorted(f"row {i}" for i in range(20))


def test_valid_paths_replace_the_fraction(write: WriteFile, tmp_path: Path) -> None:
    write("train.jsonl", '{"text": "a"}\n{"text": "b"}\n')
    write("valid.jsonl", '{"text": "held out"}\n')
    data = TableFilesSource("train.jsonl", valid_paths="valid.jsonl", test_fraction=0.0, base_dir=str(tmp_path))
    assert data.texts("train") == ["a", "b"] and data.texts("valid") == ["held out"]


def test_recipe_paths_resolve_against_the_recipe_folder(
    write: WriteFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEQFRAME_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "recipes"
    folder.mkdir()
    write(folder / "rows.csv", "id,text\n" + "".join(f"{i},the cat sat on mat {i}\n" for i in range(30)))
    write(
        folder / "lm.yaml",
        "task: {name: language_modelling, seq_len: 4}\n"
        "data: {name: table_files, paths: [rows.csv], column: text, valid_fraction: 0.1, test_fraction: 0.0}\n"
        "tokenizer: {name: char}\n"
        "model: {embedding_dim: 4, topology: {name: stacked, cell: gru, hidden_size: 4}}\n",
    )
    monkeypatch.chdir(tmp_path)
    registry = Registry.from_plugin_manager(load_plugin_manager(entry_points=False))
    pipeline = build_pipeline(load_recipe(folder / "lm.yaml"), registry)
    assert len(pipeline.data.texts("train")) == 27 and len(pipeline.data.texts("valid")) == 3


def test_columns_maps_the_text_field_to_a_column(write: WriteFile, tmp_path: Path) -> None:
    data = table(write, "a.csv", "id,body\n1,hello\n", columns={"text": "body"})
    assert data.texts("train") == ["hello"]


def test_columns_with_an_unknown_field_suggests_the_known_one(write: WriteFile, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"columns has no field 'txt' \(fields: text\); did you mean 'text'\?"):
        table(write, "a.csv", "text\nrow\n", columns={"txt": "body"})


def test_columns_and_the_older_column_option_together_are_refused(write: WriteFile, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="give columns or column, not both"):
        table(write, "a.csv", "text\nrow\n", columns={"text": "text"}, column="text")
