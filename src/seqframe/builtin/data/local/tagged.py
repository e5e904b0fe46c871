"""``tagged_files``: character tagging examples (many-to-many in step) from the user's JSON
Lines files, ``{"text": str, "tags": list[str]}`` with one tag per character of ``text``.
Imports layer 0 only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from seqframe.builtin.data.local.files import decode_file, make_policy
from seqframe.builtin.data.local.paths import LocalSplits
from seqframe.builtin.data.sources import Example, ExampleSource
from seqframe.errors import DataError

__all__ = ["TaggedFilesSource"]


class TaggedFilesSource(ExampleSource):
    """Character tagging examples from JSON Lines files.

    One object per line with the text and a list of tags, one per character of the text,
    e.g. ``{"text": "hi you", "tags": ["U", "L", "O", "L", "L", "L"]}``. Tags are strings;
    numbers are turned into strings.

    Args:
        paths: files or glob patterns (relative to the recipe's folder).
        text_field: the key holding the text.
        tags_field: the key holding the list of tags.
        valid_paths: files for validation; if set, ``valid_fraction`` is not used.
        test_paths: files for test; if set, ``test_fraction`` is not used.
        valid_fraction: share of the lines of ``paths`` drawn for validation.
        test_fraction: share drawn for test.
        seed: the shuffle seed of the split.
        encoding: text encoding (any that writes ``\\n`` as one byte).
        encoding_errors: ``strict`` or ``replace`` (affected lines counted in ``stats``).
        max_chars: longest text in characters, or null.
        on_overlength: ``truncate`` (text and tags), ``drop`` or ``error`` past ``max_chars``.
        on_empty: ``drop`` (counted) or ``error`` for an empty text.
        on_unseen_label: ``error`` (a tag of valid/test never seen in train, listed with the
            line it first occurs on) or ``keep``.
        base_dir: folder relative paths resolve against (set by the recipe builder).
    """

    name = "tagged_files"

    def __init__(
        self,
        paths: Sequence[str] | str,
        text_field: str = "text",
        tags_field: str = "tags",
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
        self.policy = make_policy(
            self.name,
            encoding=encoding,
            encoding_errors=encoding_errors,
            max_chars=max_chars,
            on_overlength=on_overlength,
            on_empty=on_empty,
        )
        self.files = LocalSplits.resolve(paths, valid_paths, test_paths, valid_fraction, test_fraction, seed, base_dir)
        self.text_field, self.tags_field = text_field, tags_field
        self.on_unseen_label = on_unseen_label

    def _example(self, record: Any, where: str) -> Example | None:
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
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

    def _read(self, paths: list[str], key: str) -> list[Example]:
        examples = []
        for path in paths:
            text, found = decode_file(path, self.policy, self.stats), 0
            for number, line in enumerate(text.split("\n"), 1):
                if not line.strip():
                    continue
                found += 1
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    raise DataError(
                        f"{path}:{number}: not valid JSON ({exc}); a JSON Lines file holds one JSON object per line"
                    ) from None
                example = self._example(record, f"{path}:{number}")
                if example is not None:
                    examples.append(example)
            if not found:
                raise DataError(f"data.{key}: {path!r} contains no examples; remove it from data.{key} or fill it")
        return examples

    def _load(self) -> dict[str, list[Example]]:
        return self.checked(self.files.load(self._read), self.files.paths, "tags", self.on_unseen_label, self.policy)
