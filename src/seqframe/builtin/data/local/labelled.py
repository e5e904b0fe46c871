"""``labelled_files``: classification examples from the text and label columns of local
CSV, TSV or JSON Lines files, read by the one table reader of :mod:`.tables` (same
``columns:`` mapping, formats and errors as ``table_files``). Imports layer 0 only.
"""

from __future__ import annotations

from dataclasses import dataclass

from seqframe.builtin.data.local.tables import TableOptions
from seqframe.builtin.data.options import UnseenLabelOptions
from seqframe.builtin.data.sources import Example, ExampleSource
from seqframe.errors import DataError

__all__ = ["LabelledFilesSource"]


@dataclass(kw_only=True, eq=False, repr=False)
class LabelledFilesSource(TableOptions, UnseenLabelOptions, ExampleSource):
    """Classification examples from the text and label columns of CSV, TSV or JSON Lines files.

    One example per row, ``{"text": str, "label": str}``. Labels are stripped of surrounding
    spaces; JSON numbers become strings (``1`` -> ``"1"``).

    Args:
        columns: which columns (CSV/TSV header names, or JSON keys) hold the ``text`` and the
            ``label``; default ``{text: text, label: label}``.
        text_column: the older spelling of ``columns: {text: <column>}``.
        label_column: the older spelling of ``columns: {label: <column>}``.
        valid_fraction: share of the rows of ``paths`` drawn for validation.
        max_chars: longest text in characters, or null.
        on_empty: ``drop`` (counted) or ``error`` for a blank or missing text.
    """

    name = "labelled_files"
    fields = {"text": "text", "label": "label"}

    text_column: str | None = None
    label_column: str | None = None

    def older_column_options(self) -> dict[str, str | None]:
        return {"text_column": self.text_column, "label_column": self.label_column}

    def read_file(self, path: str, key: str) -> list[Example]:
        text_column, label_column = self.table.names["text"], self.table.names["label"]
        examples: list[Example] = []
        for record, where in self.rows(path, key, required=[label_column]):
            label = record[label_column]
            if isinstance(label, bool) or not isinstance(label, (str, int)) or not str(label).strip():
                raise DataError(f"{where}: label {label_column!r} must be a non-empty string, got {label!r}")
            kept = self.policy.clean([(record.get(text_column), where)], self.stats)
            if kept:
                examples.append({"text": kept[0], "label": str(label).strip(), "_where": where})
        return examples

    def _load(self) -> dict[str, list[Example]]:
        return self.checked(self.files.load(self.read), self.files.paths, "label", self.on_unseen_label, self.policy)
