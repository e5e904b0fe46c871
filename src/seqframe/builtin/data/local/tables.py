"""``table_files``: one text column of local CSV, TSV or JSON Lines files, read through
HuggingFace ``datasets`` and split at random by seed.

Each file is first decoded by seqframe (so an empty file or an invalid byte gets an error
naming the file and line), then loaded by ``datasets`` into a temporary cache that is
removed afterwards. CSV/TSV cells are read as text exactly as written: ``NA`` or ``123``
stay strings. TSV has no quoting. Imports layer 0 only.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import tempfile
from collections.abc import Sequence
from typing import Any

from seqframe.builtin.data.examples import SplitSource, split_examples, split_text
from seqframe.builtin.data.files import decode_file, expand_paths, make_policy
from seqframe.builtin.data.hf import causes, quiet
from seqframe.errors import DataError, suggest

__all__ = ["TableFilesDataset"]

FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


class TableFilesDataset(SplitSource):
    """The text column of CSV, TSV or JSON Lines files; one example per row.

    Args:
        paths: files or glob patterns (relative to the recipe's folder).
        column: the column (CSV/TSV header name, or JSON key) holding the text.
        format: ``csv``, ``tsv`` or ``jsonl``; null infers it from each file's extension
            (``.csv``; ``.tsv``/``.tab``; ``.jsonl``/``.ndjson``/``.json``).
        valid_paths: files for validation; if set, ``valid_fraction`` is not used.
        test_paths: files for test; if set, ``test_fraction`` is not used.
        valid_fraction: share of the rows of ``paths`` drawn for validation.
        test_fraction: share drawn for test.
        seed: the shuffle seed of the split.
        encoding: text encoding (any that writes ``\\n`` as one byte).
        encoding_errors: ``strict`` or ``replace`` (affected lines counted in ``stats``).
        max_chars: longest example in characters, or null.
        on_overlength: ``truncate``, ``drop`` or ``error`` past ``max_chars``.
        on_empty: ``drop`` (counted) or ``error`` for blank or missing values.
        base_dir: folder relative paths resolve against (set by the recipe builder).
    """

    name = "table_files"

    def __init__(
        self,
        paths: Sequence[str] | str,
        column: str = "text",
        format: str | None = None,  # noqa: A002 (the recipe option's natural name)
        valid_paths: Sequence[str] | str | None = None,
        test_paths: Sequence[str] | str | None = None,
        valid_fraction: float = 0.05,
        test_fraction: float = 0.05,
        seed: int = 0,
        encoding: str = "utf-8",
        encoding_errors: str = "strict",
        max_chars: int | None = None,
        on_overlength: str = "truncate",
        on_empty: str = "drop",
        base_dir: str | None = None,
    ) -> None:
        super().__init__()
        if format is not None and format not in ("csv", "tsv", "jsonl"):
            raise ValueError(f"table_files: format must be csv, tsv, jsonl or null; got {format!r}")
        if not isinstance(column, str) or not column:
            raise ValueError(f"table_files: column must be a non-empty string, got {column!r}")
        self.policy = make_policy("table_files", encoding=encoding, encoding_errors=encoding_errors,
                                  max_chars=max_chars, on_overlength=on_overlength, on_empty=on_empty)
        self.column, self.format, self.seed = column, format, seed
        base_dir = base_dir or os.getcwd()
        self.paths = expand_paths(paths, "paths", base_dir)
        self.valid_paths = expand_paths(valid_paths, "valid_paths", base_dir) if valid_paths else None
        self.test_paths = expand_paths(test_paths, "test_paths", base_dir) if test_paths else None
        self.valid_fraction = 0.0 if self.valid_paths else valid_fraction
        self.test_fraction = 0.0 if self.test_paths else test_fraction
        split_text("", self.valid_fraction, self.test_fraction)  # validates the fractions
        for path in [*self.paths, *(self.valid_paths or ()), *(self.test_paths or ())]:
            self._format_of(path)

    def _format_of(self, path: str) -> str:
        if self.format is not None:
            return self.format
        extension = os.path.splitext(path)[1].lower()
        if extension not in FORMATS:
            raise ValueError(f"table_files: cannot tell the format of {path!r} from its extension; set format: "
                             "csv, tsv or jsonl")
        return FORMATS[extension]

    def _read_file(self, path: str, key: str) -> list[str]:
        kind = self._format_of(path)
        replaced_before = self.stats.get("replaced_lines", 0)
        text = decode_file(path, self.policy, self.stats)
        rows = [line for line in text.split("\n") if line.strip()]
        if len(rows) <= (0 if kind == "jsonl" else 1):  # CSV/TSV: a header alone holds no example
            raise DataError(f"data.{key}: {path!r} contains no examples; remove it from data.{key} or fill it")
        needs_replace = self.stats.get("replaced_lines", 0) > replaced_before
        values = self._load_column(path, kind, text, needs_replace)
        where = f"{path}: column {self.column!r}, row"
        examples = self.policy.clean(((value, f"{where} {i}") for i, value in enumerate(values, 1)), self.stats)
        if not examples:
            raise DataError(f"data.{key}: {path!r} contains no examples (all {len(values)} values of column "
                            f"{self.column!r} are empty)")
        return examples

    def _load_column(self, path: str, kind: str, text: str, needs_replace: bool) -> list[Any]:
        import datasets

        options: dict[str, Any] = {"encoding": self.policy.encoding}
        if kind == "jsonl":
            builder = "json"
            if needs_replace and codecs.lookup(self.policy.encoding).name == "utf-8":
                # datasets' JSON reader applies encoding_errors only when the encoding is not
                # spelt "utf-8"; this alias of the same codec takes that path.
                options["encoding"] = "utf_8"
        else:
            builder = "csv"
            options.update(usecols=[self.column], keep_default_na=False, na_filter=False,
                           features=datasets.Features({self.column: datasets.Value("string")}))
            if kind == "tsv":
                options.update(delimiter="\t", quoting=csv.QUOTE_NONE)
        if needs_replace:
            options["encoding_errors"] = "replace"
        try:
            with quiet(), tempfile.TemporaryDirectory(prefix="seqframe-datasets-") as cache:
                table = datasets.load_dataset(builder, data_files=[path], split="train", cache_dir=cache,
                                              keep_in_memory=True, **options)
                columns = list(table.column_names)
                values = table[self.column] if self.column in columns else None
                del table
        except Exception as exc:  # datasets wraps parser errors in generic ones
            raise self._diagnose(path, kind, text, exc) from exc
        if values is None:
            raise self._missing_column(path, columns)
        return list(values)

    def _missing_column(self, path: str, columns: list[str]) -> DataError:
        close = suggest(self.column, columns)
        hint = f"; did you mean {close!r}?" if close else ""
        return DataError(f"data.column: {self.column!r} is not a column of {path!r} (columns: "
                         f"{', '.join(columns) or 'none'}){hint}")

    def _diagnose(self, path: str, kind: str, text: str, exc: Exception) -> DataError:
        if kind == "jsonl":
            for number, line in enumerate(text.split("\n"), 1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except ValueError as error:
                    return DataError(f"{path}:{number}: not valid JSON ({error}); a JSON Lines file holds one "
                                     "JSON object per line")
                if not isinstance(value, dict):
                    return DataError(f"{path}:{number}: expected a JSON object, got {type(value).__name__}")
        else:
            header = next(csv.reader(io.StringIO(text), delimiter="\t" if kind == "tsv" else ","), [])
            if self.column not in header:
                return self._missing_column(path, header)
        root = causes(exc)[-1]
        return DataError(f"{path}: could not be read as {kind}: {type(root).__name__}: {root}")

    def _read(self, paths: list[str], key: str) -> list[str]:
        return [example for path in paths for example in self._read_file(path, key)]

    def _load(self) -> dict[str, list[str]]:
        splits = split_examples(self._read(self.paths, "paths"), self.valid_fraction, self.test_fraction, self.seed)
        if self.valid_paths:
            splits["valid"] = self._read(self.valid_paths, "valid_paths")
        if self.test_paths:
            splits["test"] = self._read(self.test_paths, "test_paths")
        return splits
