"""``labelled_files``: classification examples from the text and label columns of local
CSV, TSV or JSON Lines files, read by the one table reader of :mod:`.tables` (same
``columns:`` mapping, formats and errors as ``table_files``). Imports layer 0 only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from seqframe.builtin.data.local.files import decode_file, make_policy
from seqframe.builtin.data.local.paths import LocalSplits
from seqframe.builtin.data.local.tables import TableColumns, merge_column_options, missing_columns, read_table
from seqframe.builtin.data.sources import Example, ExampleSource
from seqframe.errors import DataError

__all__ = ["LabelledFilesSource"]


class LabelledFilesSource(ExampleSource):
    """Classification examples from the text and label columns of CSV, TSV or JSON Lines files.

    One example per row, ``{"text": str, "label": str}``. Labels are stripped of surrounding
    spaces; JSON numbers become strings (``1`` -> ``"1"``).

    Args:
        paths: files or glob patterns (relative to the recipe's folder).
        columns: which columns (CSV/TSV header names, or JSON keys) hold the ``text`` and the
            ``label``; default ``{text: text, label: label}``.
        text_column: the older spelling of ``columns: {text: <column>}``.
        label_column: the older spelling of ``columns: {label: <column>}``.
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

    def __init__(
        self,
        paths: Sequence[str] | str,
        columns: Mapping[str, str] | None = None,
        text_column: str | None = None,
        label_column: str | None = None,
        format: str | None = None,
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
        on_unseen_label: str = "error",
        base_dir: str | None = None,
    ) -> None:
        super().__init__()
        if on_unseen_label not in ("error", "keep"):
            raise ValueError(f"{self.name}: on_unseen_label must be error or keep; got {on_unseen_label!r}")
        columns = merge_column_options(self.name, columns, text_column=text_column, label_column=label_column)
        self.table = TableColumns(self.name, {"text": "text", "label": "label"}, columns, format)
        self.policy = make_policy(
            self.name,
            encoding=encoding,
            encoding_errors=encoding_errors,
            max_chars=max_chars,
            on_overlength=on_overlength,
            on_empty=on_empty,
        )
        self.on_unseen_label = on_unseen_label
        self.files = LocalSplits.resolve(paths, valid_paths, test_paths, valid_fraction, test_fraction, seed, base_dir)
        for path in self.files.all_paths():
            self.table.format_of(path)

    def _read_file(self, path: str, key: str) -> list[Example]:
        text = decode_file(path, self.policy, self.stats)
        text_column, label_column = self.table.names["text"], self.table.names["label"]
        examples: list[Example] = []
        columns: set[str] = set()
        rows = read_table(path, self.table.format_of(path), text, [text_column, label_column], [label_column])
        for record, where in rows:
            columns.update(record)
            label = record[label_column]
            if isinstance(label, bool) or not isinstance(label, (str, int)) or not str(label).strip():
                raise DataError(f"{where}: label {label_column!r} must be a non-empty string, got {label!r}")
            kept = self.policy.clean([(record.get(text_column), where)], self.stats)
            if kept:
                examples.append({"text": kept[0], "label": str(label).strip(), "_where": where})
        if not columns:
            raise DataError(f"data.{key}: {path!r} contains no examples; remove it from data.{key} or fill it")
        if text_column not in columns:  # JSON Lines: a row without the key counts as empty, but none has it
            raise missing_columns(path, [text_column], sorted(columns))
        return examples

    def _read(self, paths: list[str], key: str) -> list[Example]:
        return [example for path in paths for example in self._read_file(path, key)]

    def _load(self) -> dict[str, list[Example]]:
        return self.checked(self.files.load(self._read), self.files.paths, "label", self.on_unseen_label, self.policy)
