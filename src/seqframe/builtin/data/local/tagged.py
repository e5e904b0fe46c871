"""``tagged_files``: character tagging examples (many-to-many in step) from the user's JSON
Lines files, ``{"text": str, "tags": list[str]}`` with one tag per character of ``text``.
Imports layer 0 only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from seqframe.builtin.data.local.options import FileSetOptions
from seqframe.builtin.data.local.reading import decode_file, no_examples
from seqframe.builtin.data.local.tables import read_table
from seqframe.builtin.data.options import UnseenLabelOptions
from seqframe.builtin.data.sources import Example, ExampleSource
from seqframe.errors import DataError

__all__ = ["TaggedFilesSource"]


@dataclass(kw_only=True, eq=False, repr=False)
class TaggedFilesSource(FileSetOptions, UnseenLabelOptions, ExampleSource):
    """Character tagging examples from JSON Lines files.

    One object per line with the text and a list of tags, one per character of the text,
    e.g. ``{"text": "hi you", "tags": ["U", "L", "O", "L", "L", "L"]}``. Tags are strings;
    numbers are turned into strings.

    Args:
        text_field: the key holding the text.
        tags_field: the key holding the list of tags.
        valid_fraction: share of the lines of ``paths`` drawn for validation.
        max_chars: longest text in characters, or null.
        on_overlength: ``truncate`` (text and tags), ``drop`` or ``error`` past ``max_chars``.
        on_empty: ``drop`` (counted) or ``error`` for an empty text.
        on_unseen_label: ``error`` (a tag of valid/test never seen in train, listed with the
            line it first occurs on) or ``keep``.
    """

    name = "tagged_files"

    text_field: str = "text"
    tags_field: str = "tags"

    def _example(self, record: dict[str, Any], where: str) -> Example | None:
        missing = [key for key in (self.text_field, self.tags_field) if key not in record]
        if missing:
            raise DataError(
                f"{where}: no {' or '.join(repr(k) for k in missing)} field (fields: "
                f"{', '.join(record) or 'none'}); set data.text_field / data.tags_field"
            )
        text, tags = record[self.text_field], record[self.tags_field]
        if not isinstance(text, str):
            raise DataError(f"{where}: {self.text_field!r} must be a string, got {type(text).__name__}")
        if not isinstance(tags, list) or not all(isinstance(t, (str, int)) and not isinstance(t, bool) for t in tags):
            raise DataError(f"{where}: {self.tags_field!r} must be a list of strings, got {tags!r}")
        if len(tags) != len(text):
            raise DataError(
                f"{where}: {len(tags)} tags for {len(text)} characters of {self.text_field!r}; give one "
                "tag per character"
            )
        fitted = self.policy.fit_length(text, where, self.stats)
        if not self.policy.keep(fitted, where, self.stats) or fitted is None:
            return None
        return {"text": fitted, "tags": [str(tag) for tag in tags[: len(fitted)]], "_where": where}

    def read_file(self, path: str, key: str) -> list[Example]:
        examples: list[Example] = []
        rows = 0
        for record, where in read_table(path, "jsonl", decode_file(path, self.policy, self.stats), ()):
            rows += 1
            example = self._example(record, where)
            if example is not None:
                examples.append(example)
        if not rows:
            raise no_examples(key, path)
        return examples

    def _load(self) -> dict[str, list[Example]]:
        return self.checked(self.files.load(self.read), self.files.paths, "tags", self.on_unseen_label, self.policy)
