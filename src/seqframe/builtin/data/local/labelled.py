"""``labelled_files``: classification examples from the text and label columns of local
CSV, TSV or JSON Lines files.

Files are decoded by seqframe (errors name file and line, as for ``table_files``) and
parsed with the standard library rather than HuggingFace ``datasets``: two columns are
read, each row keeps its line number for error messages, and nothing is cached. CSV/TSV
cells are text exactly as written (``NA`` stays ``NA``); TSV has no quoting, as in
``table_files``. Imports layer 0 only.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

from seqframe.builtin.data.examples import split_examples, split_text, warn_stats
from seqframe.builtin.data.files import decode_file, expand_paths, make_policy
from seqframe.builtin.data.structured import Example, ExampleSource, check_unseen
from seqframe.builtin.data.tables import FORMATS
from seqframe.errors import DataError, suggest

__all__ = ["LabelledFilesDataset"]


class LabelledFilesDataset(ExampleSource):
    """Classification examples from the text and label columns of CSV, TSV or JSON Lines files.

    One example per row, ``{"text": str, "label": str}``. Labels are stripped of surrounding
    spaces; JSON numbers become strings (``1`` -> ``"1"``).

    Args:
        paths: files or glob patterns (relative to the recipe's folder).
        text_column: the column (CSV/TSV header name, or JSON key) holding the text.
        label_column: the column holding the label.
        format: ``csv``, ``tsv`` or ``jsonl``; null infers it from each file's extension
            (``.csv``; ``.tsv``/``.tab``; ``.jsonl``/``.ndjson``/``.json``).
        valid_paths: files for validation; if set, ``valid_fraction`` is not used.
        test_paths: files for test; if set, ``test_fraction`` is not used.
        valid_fraction: share of the rows of ``paths`` drawn for validation.
        test_fraction: share drawn for test.
        seed: the shuffle seed of the split.
        encoding: text encoding (any that writes ``\\n`` as one byte).
        encoding_errors: ``strict`` or ``replace`` (affected lines counted in ``stats``).
        max_chars: longest text in characters, or null.
        on_overlength: ``truncate``, ``drop`` or ``error`` past ``max_chars``.
        on_empty: ``drop`` (counted) or ``error`` for a blank or missing text.
        on_unseen_label: ``error`` (a label of valid/test never seen in train, listed with the
            row it first occurs on) or ``keep``.
        base_dir: folder relative paths resolve against (set by the recipe builder).
    """

    name = "labelled_files"

    def __init__(self, paths: Sequence[str] | str, text_column: str = "text", label_column: str = "label",
                 format: str | None = None,  # noqa: A002 (the recipe option's natural name)
                 valid_paths: Sequence[str] | str | None = None, test_paths: Sequence[str] | str | None = None,
                 valid_fraction: float = 0.05, test_fraction: float = 0.05, seed: int = 0, encoding: str = "utf-8",
                 encoding_errors: str = "strict", max_chars: int | None = None, on_overlength: str = "truncate",
                 on_empty: str = "drop", on_unseen_label: str = "error", base_dir: str | None = None) -> None:
        super().__init__()
        if format is not None and format not in ("csv", "tsv", "jsonl"):
            raise ValueError(f"{self.name}: format must be csv, tsv, jsonl or null; got {format!r}")
        for key, value in (("text_column", text_column), ("label_column", label_column)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{self.name}: {key} must be a non-empty string, got {value!r}")
        if text_column == label_column:
            raise ValueError(f"{self.name}: text_column and label_column are both {text_column!r}")
        if on_unseen_label not in ("error", "keep"):
            raise ValueError(f"{self.name}: on_unseen_label must be error or keep; got {on_unseen_label!r}")
        self.policy = make_policy(self.name, encoding=encoding, encoding_errors=encoding_errors,
                                  max_chars=max_chars, on_overlength=on_overlength, on_empty=on_empty)
        self.text_column, self.label_column, self.format, self.seed = text_column, label_column, format, seed
        self.on_unseen_label = on_unseen_label
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
            raise ValueError(f"{self.name}: cannot tell the format of {path!r} from its extension; set format: "
                             "csv, tsv or jsonl")
        return FORMATS[extension]

    def _missing(self, where: str, wanted: list[str], columns: Sequence[str]) -> DataError:
        hints = [f"{name!r} -> {close!r}" for name in wanted if (close := suggest(name, columns))]
        hint = f"; did you mean {', '.join(hints)}?" if hints else ""
        return DataError(f"{where}: no column {' or '.join(map(repr, wanted))} (columns: "
                         f"{', '.join(map(str, columns)) or 'none'}); set data.text_column / data.label_column{hint}")

    def _rows(self, path: str, kind: str, text: str) -> Iterator[tuple[dict[str, Any], str]]:
        """Each row as a mapping with its ``file:line``."""
        wanted = [self.text_column, self.label_column]
        if kind == "jsonl":
            for number, line in enumerate(text.split("\n"), 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    raise DataError(f"{path}:{number}: not valid JSON ({exc}); a JSON Lines file holds one JSON "
                                    "object per line") from None
                if not isinstance(record, dict):
                    raise DataError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
                if self.label_column not in record:
                    raise self._missing(f"{path}:{number}", [self.label_column], list(record))
                yield record, f"{path}:{number}"
            return
        options: dict[str, Any] = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if kind == "tsv" else {}
        reader = csv.reader(io.StringIO(text, newline=""), **options)
        header = next(reader, [])
        missing = [name for name in wanted if name not in header]
        if missing:
            raise self._missing(f"{path}:1", missing, header)
        line = reader.line_num + 1
        for row in reader:
            if row:
                if len(row) != len(header):
                    raise DataError(f"{path}:{line}: {len(row)} fields, but the header has {len(header)}")
                yield dict(zip(header, row)), f"{path}:{line}"
            line = reader.line_num + 1

    def _read_file(self, path: str, key: str) -> list[Example]:
        text = decode_file(path, self.policy, self.stats)
        if not text.strip():
            raise DataError(f"data.{key}: {path!r} contains no examples; remove it from data.{key} or fill it")
        examples: list[Example] = []
        columns: set[str] = set()
        for record, where in self._rows(path, self._format_of(path), text):
            columns.update(record)
            label = record[self.label_column]
            if isinstance(label, bool) or not isinstance(label, (str, int)) or not str(label).strip():
                raise DataError(f"{where}: label {self.label_column!r} must be a non-empty string, got {label!r}")
            kept = self.policy.clean([(record.get(self.text_column), where)], self.stats)
            if kept:
                examples.append({"text": kept[0], "label": str(label).strip(), "_where": where})
        if not columns:
            raise DataError(f"data.{key}: {path!r} contains no examples; remove it from data.{key} or fill it")
        if self.text_column not in columns:  # JSON Lines: a row without the key counts as empty, but none has it
            raise self._missing(path, [self.text_column], sorted(columns))
        return examples

    def _read(self, paths: list[str], key: str) -> list[Example]:
        return [example for path in paths for example in self._read_file(path, key)]

    def _load(self) -> dict[str, list[Example]]:
        splits = split_examples(self._read(self.paths, "paths"), self.valid_fraction, self.test_fraction, self.seed)
        if self.valid_paths:
            splits["valid"] = self._read(self.valid_paths, "valid_paths")
        if self.test_paths:
            splits["test"] = self._read(self.test_paths, "test_paths")
        warn_stats(self.name, self.stats, self.policy)
        if not splits["train"]:
            raise DataError(f"{self.name}: no training example left in {', '.join(map(repr, self.paths))}")
        check_unseen(self.name, splits, "label", self.on_unseen_label)
        return splits
