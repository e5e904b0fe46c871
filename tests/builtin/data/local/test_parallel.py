"""``parallel_files``: line-aligned translation files, plain or gzip, with errors for
structural mismatches (different line counts, a pair with one empty side)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from seqframe.builtin.data.local.parallel import ParallelFilesSource
from seqframe.errors import DataError

SPLITS = ("train", "valid", "test")

WriteFile = Callable[..., Path]  # the type of the conftest fixture `write`


def lines(prefix: str, n: int) -> str:
    return "".join(f"{prefix} {i}\n" for i in range(n))


def parallel(tmp_path: Path, source: str, target: str, **options: object) -> ParallelFilesSource:
    options = {"valid_fraction": 0.0, "test_fraction": 0.0, **options}
    return ParallelFilesSource(source, target, base_dir=str(tmp_path), **options)  # type: ignore[arg-type]


def test_pairs_are_read_line_by_line(write: WriteFile, tmp_path: Path) -> None:
    write("train.en", "a cat\ntwo dogs\n")
    write("train.de", "eine Katze\nzwei Hunde\n")
    data = parallel(tmp_path, "train.en", "train.de")
    assert data.examples("train") == [
        {"source": "a cat", "target": "eine Katze"},
        {"source": "two dogs", "target": "zwei Hunde"},
    ]
    assert data.texts("train") == ["a cat", "two dogs"]
    assert data.target_texts("train") == ["eine Katze", "zwei Hunde"]


def test_gzip_files_are_decompressed(write: WriteFile, tmp_path: Path) -> None:
    write("train.en.gz", "a cat\n")
    write("train.de.gz", "eine Katze\n")
    assert parallel(tmp_path, "train.en.gz", "train.de.gz").examples("train") == [
        {"source": "a cat", "target": "eine Katze"}
    ]


def test_corrupt_gzip_file_is_a_data_error(write: WriteFile, tmp_path: Path) -> None:
    (tmp_path / "train.en.gz").write_bytes(b"not gzip at all\n")
    write("train.de", "eine Katze\n")
    with pytest.raises(DataError, match=r"train\.en\.gz: not a readable gzip file"):
        parallel(tmp_path, "train.en.gz", "train.de").examples("train")


def test_line_count_mismatch_names_both_files(write: WriteFile, tmp_path: Path) -> None:
    write("a.en", lines("en", 3))
    write("a.de", lines("de", 2))
    with pytest.raises(DataError, match=r"a\.en' has 3 lines, .*a\.de' has 2"):
        parallel(tmp_path, "a.en", "a.de").examples("train")


def test_missing_file_is_a_data_error_naming_the_option(write: WriteFile, tmp_path: Path) -> None:
    write("a.en", "x\n")
    with pytest.raises(DataError, match="data.target_path: no file 'a.de'"):
        parallel(tmp_path, "a.en", "a.de")


def test_pairs_with_an_empty_side_are_dropped_and_counted(write: WriteFile, tmp_path: Path) -> None:
    write("a.en", "one\n\nthree\n")
    write("a.de", "eins\nzwei\n \n")
    data = parallel(tmp_path, "a.en", "a.de")
    with pytest.warns(UserWarning, match="dropped 2 pair"):
        assert data.texts("train") == ["one"]
    assert data.stats["dropped_empty_pairs"] == 2


def test_fraction_split_is_seeded_and_disjoint(write: WriteFile, tmp_path: Path) -> None:
    write("a.en", lines("en", 100))
    write("a.de", lines("de", 100))
    data = parallel(tmp_path, "a.en", "a.de", valid_fraction=0.1, test_fraction=0.2, seed=5)
    sources = {split: data.texts(split) for split in SPLITS}
    assert [len(sources[s]) for s in SPLITS] == [70, 10, 20]
    assert len(set(sum(sources.values(), []))) == 100
    assert parallel(tmp_path, "a.en", "a.de", valid_fraction=0.1, seed=5).examples("valid") == data.examples("valid")
    for example in data.examples("test"):
        assert example["source"].split()[1] == example["target"].split()[1]  # pairs stay aligned


def test_valid_and_test_files_replace_the_fractions(write: WriteFile, tmp_path: Path) -> None:
    for name, n in (("train", 10), ("val", 3), ("test", 2)):
        write(f"{name}.en.gz", lines(f"{name}-en", n))
        write(f"{name}.de.gz", lines(f"{name}-de", n))
    data = ParallelFilesSource(
        "train.en.gz",
        "train.de.gz",
        valid_source_path="val.en.gz",
        valid_target_path="val.de.gz",
        test_source_path="test.en.gz",
        test_target_path="test.de.gz",
        base_dir=str(tmp_path),
    )
    assert [len(data.examples(s)) for s in SPLITS] == [10, 3, 2]
    assert data.examples("valid")[0] == {"source": "val-en 0", "target": "val-de 0"}


def test_half_a_valid_pair_is_rejected(write: WriteFile, tmp_path: Path) -> None:
    write("a.en", "x\n")
    write("a.de", "y\n")
    with pytest.raises(ValueError, match="valid_source_path is set but valid_target_path is not"):
        parallel(tmp_path, "a.en", "a.de", valid_source_path="a.en")


def test_multi30k_gzip_files_when_present() -> None:
    folder = Path("/work/shared/data/multi30k")
    if not (folder / "val.en.gz").is_file():
        pytest.skip("no Multi30k copy here")
    data = ParallelFilesSource("val.en.gz", "val.de.gz", valid_fraction=0.0, test_fraction=0.0, base_dir=str(folder))
    assert len(data.examples("train")) == 1014
