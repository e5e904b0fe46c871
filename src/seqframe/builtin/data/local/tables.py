"""The one reader of local CSV, TSV and JSON Lines files, and ``table_files``, the text column
of such files (``labelled_files`` in :mod:`.labelled` reads them through the same reader).

Which file column feeds which example field is the recipe's ``columns:`` mapping, e.g.
``columns: {text: body}`` (the older ``column: body`` still works). Files are decoded by
seqframe (errors name file, line and byte) and parsed with the standard library: each row
keeps its line number for error messages and nothing is cached. CSV/TSV cells are text
exactly as written (``NA`` or ``123`` stay strings); TSV has no quoting. A JSON Lines row
without a column's key counts as an empty value. :class:`TableOptions` holds what every table
source shares. No postponed annotations, for the reason given in
:mod:`seqframe.builtin.data.options`. Imports layer 0 only.
"""

import csv
import io
import json
import os
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from seqframe.builtin.data.local.options import FileSetOptions
from seqframe.builtin.data.local.reading import decode_file, no_examples
from seqframe.builtin.data.splits import SplitSource
from seqframe.errors import DataError, suggest

__all__ = ["FORMATS", "TableColumns", "TableFilesSource", "TableOptions", "read_table"]

FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


def missing_columns(where: str, wanted: Sequence[str], columns: Sequence[str]) -> DataError:
    """``<where>: no column 'x' (columns: ...); set data.columns; did you mean 'x' -> 'y'?``"""
    hints = [f"{name!r} -> {close!r}" for name in wanted if (close := suggest(name, columns))]
    hint = f"; did you mean {', '.join(hints)}?" if hints else ""
    return DataError(
        f"{where}: no column {' or '.join(map(repr, wanted))} (columns: "
        f"{', '.join(map(str, columns)) or 'none'}); set data.columns{hint}"
    )


def read_table(
    path: str, kind: str, text: str, columns: Sequence[str], required: Sequence[str] = ()
) -> Iterator[tuple[dict[str, Any], str]]:
    """Each row of a decoded table file as a mapping, with its ``file:line``.

    Args:
        path: the file, for messages.
        kind: ``csv``, ``tsv`` or ``jsonl``.
        text: the file's decoded text.
        columns: the columns the caller reads: a CSV/TSV header must name them all.
        required: the columns every JSON Lines row must have (others may be absent).

    Raises:
        DataError: invalid JSON, a row that is not an object or lacks a required key, a
            header without a wanted column, or a row with another number of fields.
    """
    if not text.strip():
        return
    if kind == "jsonl":
        for number, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise DataError(
                    f"{path}:{number}: not valid JSON ({exc}); a JSON Lines file holds one JSON object per line"
                ) from None
            if not isinstance(record, dict):
                raise DataError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
            absent = [name for name in required if name not in record]
            if absent:
                raise missing_columns(f"{path}:{number}", absent, list(record))
            yield record, f"{path}:{number}"
        return
    options: dict[str, Any] = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if kind == "tsv" else {}
    reader = csv.reader(io.StringIO(text, newline=""), **options)
    header = next(reader, [])
    absent = [name for name in columns if name not in header]
    if header and absent:
        raise missing_columns(f"{path}:1", absent, header)
    number = reader.line_num + 1
    for row in reader:
        if row:
            if len(row) != len(header):
                raise DataError(f"{path}:{number}: {len(row)} fields, but the header has {len(header)}")
            yield dict(zip(header, row)), f"{path}:{number}"
        number = reader.line_num + 1


class TableColumns:
    """The ``columns:`` mapping of a table source (example field -> file column) and the file
    format, checked once.

    Args:
        source: the source's name, for messages.
        fields: the example fields and their default columns, e.g. ``{"text": "text"}``.
        columns: the recipe's mapping (fields not named keep their default).
        format: ``csv``, ``tsv``, ``jsonl``, or None to infer it from each file's extension.
    """

    def __init__(
        self, source: str, fields: Mapping[str, str], columns: Mapping[str, str] | None, format: str | None
    ) -> None:
        if format is not None and format not in ("csv", "tsv", "jsonl"):
            raise ValueError(f"{source}: format must be csv, tsv, jsonl or null; got {format!r}")
        if columns is not None and not isinstance(columns, Mapping):
            raise ValueError(
                f"{source}: columns must be a mapping of field to column, e.g. "
                f"{{{', '.join(f'{k}: {v}' for k, v in fields.items())}}}; got {columns!r}"
            )
        unknown = sorted(set(columns or ()) - set(fields))
        if unknown:
            close = suggest(unknown[0], list(fields))
            raise ValueError(
                f"{source}: columns has no field {unknown[0]!r} (fields: {', '.join(fields)})"
                + (f"; did you mean {close!r}?" if close else "")
            )
        self.source, self.format = source, format
        self.names = {**fields, **(columns or {})}
        for field_name, name in self.names.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"{source}: columns.{field_name} must be a non-empty string, got {name!r}")
        shared = [name for name, count in Counter(self.names.values()).items() if count > 1]
        if shared:
            raise ValueError(f"{source}: two fields read the same column: both {shared[0]!r}")

    def format_of(self, path: str) -> str:
        """The format of ``path``: the given one, else from its extension."""
        if self.format is not None:
            return self.format
        extension = os.path.splitext(path)[1].lower()
        if extension not in FORMATS:
            raise ValueError(
                f"{self.source}: cannot tell the format of {path!r} from its extension; set format: csv, tsv or jsonl"
            )
        return FORMATS[extension]


def merge_column_options(source: str, columns: Mapping[str, str] | None, **old: str | None) -> dict[str, str] | None:
    """``columns`` with the older one-column options (``column``, ``text_column``, ...)
    folded in, each ``<field>_column`` (or ``column`` for ``text``) naming one field."""
    given = {
        ("text" if key == "column" else key.removesuffix("_column")): value
        for key, value in old.items()
        if value is not None
    }
    if given and columns is not None:
        raise ValueError(f"{source}: give columns or {', '.join(k for k, v in old.items() if v is not None)}, not both")
    return dict(columns) if columns is not None else (given or None)


@dataclass(kw_only=True, eq=False, repr=False)
class TableOptions(FileSetOptions):
    """Options of the sources that read table files through :func:`read_table`; after
    ``__post_init__``, ``table`` holds the checked :class:`TableColumns`.

    Args:
        format: ``csv``, ``tsv`` or ``jsonl``; null infers it from each file's extension
            (``.csv``; ``.tsv``/``.tab``; ``.jsonl``/``.ndjson``/``.json``).
    """

    fields: ClassVar[dict[str, str]] = {"text": "text"}  # example field -> default column

    columns: Mapping[str, str] | None = None
    format: str | None = None

    def __post_init__(self) -> None:
        columns = merge_column_options(self.name, self.columns, **self.older_column_options())
        self.table = TableColumns(self.name, self.fields, columns, self.format)
        super().__post_init__()
        for path in self.files.all_paths():
            self.table.format_of(path)

    def older_column_options(self) -> dict[str, str | None]:
        """The source's older one-column options (see :func:`merge_column_options`)."""
        return {}

    def rows(self, path: str, key: str, required: Sequence[str] = ()) -> Iterator[tuple[dict[str, Any], str]]:
        """Each row of ``path`` with its ``file:line``, read as the caller asks for it.

        Raises:
            DataError: once every row is read, if the file held none, or if no row had a
                column the fields read (JSON Lines: a row without a key counts as an empty
                value, but not every row may lack it).
        """
        wanted, seen = list(self.table.names.values()), set[str]()
        text = decode_file(path, self.policy, self.stats)
        for record, where in read_table(path, self.table.format_of(path), text, wanted, required):
            seen.update(record)
            yield record, where
        if not seen:
            raise no_examples(key, path)
        absent = [column for column in wanted if column not in seen]
        if absent:
            raise missing_columns(path, absent, sorted(seen))


@dataclass(kw_only=True, eq=False, repr=False)
class TableFilesSource(TableOptions, SplitSource):
    """The text column of CSV, TSV or JSON Lines files; one example per row.

    Args:
        columns: which column holds the text: ``{text: <column>}`` (CSV/TSV header name, or
            JSON key); default ``{text: text}``.
        column: the older spelling of ``columns: {text: <column>}``.
        valid_fraction: share of the rows of ``paths`` drawn for validation.
    """

    name = "table_files"

    column: str | None = None

    def older_column_options(self) -> dict[str, str | None]:
        return {"column": self.column}

    def read_file(self, path: str, key: str) -> list[str]:
        column = self.table.names["text"]
        values = [(record.get(column), f"{where}: column {column!r}") for record, where in self.rows(path, key)]
        examples = self.policy.clean(values, self.stats)
        if not examples:
            raise DataError(
                f"data.{key}: {path!r} contains no examples (all {len(values)} values of column {column!r} are empty)"
            )
        return examples

    def _load(self) -> dict[str, list[str]]:
        return self.files.load(self.read)
