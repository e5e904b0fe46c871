"""Character tagging data (many-to-many in step): ``capitalisation``, embedded English
sentences from CPython's ``pydoc_data`` whose case the model restores, and ``tagged_files``,
the user's own JSON Lines. Examples are ``{"text": str, "tags": list[str]}`` with exactly one
tag per character of ``text``. Imports layer 0 only.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from typing import Any

from seqframe.builtin.data.examples import split_examples, split_text, warn_stats
from seqframe.builtin.data.files import decode_file, expand_paths, make_policy
from seqframe.builtin.data.structured import Example, ExampleSource, check_count, check_unseen
from seqframe.errors import DataError

__all__ = ["CapitalisationDataset", "TaggedFilesDataset", "case_tags", "pydoc_topics", "pydoc_sentences"]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"(])")
_WORD = re.compile(r"[A-Za-z]+[,;.:]?")


def pydoc_topics(source: str, instead: str) -> dict[str, str]:
    """The help topics embedded in CPython (``pydoc_data.topics.topics``), or a DataError
    naming the data ``source`` and the file-based source to use ``instead``."""
    try:
        from pydoc_data.topics import topics
    except ImportError as exc:  # some minimal Python builds strip pydoc_data
        raise DataError(f"data {source!r}: this Python has no pydoc_data module; use data "
                        f"{{name: {instead}, paths: [...]}} instead") from exc
    return dict(topics)


def _paragraphs(text: str) -> Iterator[list[str]]:
    block: list[str] = []
    for line in [*text.split("\n"), ""]:
        if line.strip():
            block.append(line)
        elif block:
            yield block
            block = []


def _prose(block: list[str]) -> str | None:
    """A paragraph's lines joined, or None for a heading, grammar rule or code (fewer than
    70% plain words)."""
    text = " ".join(line.strip() for line in block)
    if ">>>" in text or "::=" in text or set(block[-1].strip()) <= set("*=-~^"):
        return None
    tokens = text.split()
    if sum(bool(_WORD.fullmatch(token)) for token in tokens) < 0.7 * len(tokens):
        return None
    return re.sub(r"^[*-] ", "", text)  # a list item's bullet


def pydoc_sentences() -> list[str]:
    """The distinct prose sentences of the pydoc topics, in topic order."""
    topics = pydoc_topics("capitalisation", "tagged_files")
    sentences = (sentence for key in sorted(topics) for block in _paragraphs(topics[key])
                 if (paragraph := _prose(block)) is not None for sentence in _SENTENCE_END.split(paragraph))
    return list(dict.fromkeys(sentences))


def case_tags(text: str) -> tuple[str, list[str]]:
    """``text`` lower-cased and its tags: ``U`` for an upper-case letter, ``L`` for a
    lower-case one, ``O`` for anything else (digits, spaces, punctuation, letters without
    case). A character whose lower case is longer (``İ``) is kept as it is, so the lowered
    text has one character per tag."""
    lowered = "".join(char.lower() if len(char.lower()) == 1 else char for char in text)
    tags = ["U" if char.isupper() else "L" if char.islower() else "O" for char in text]
    return lowered, tags


class CapitalisationDataset(ExampleSource):
    """Restoring the case of lower-cased English sentences (character tagging, embedded).

    Examples ``{"text": "the "if" statement is used ...", "tags": ["U", "L", "L", "O", ...]}``
    from the prose sentences of CPython's ``pydoc_data`` help topics (headings, grammar rules
    and code left out). Tags: ``U`` upper-case letter, ``L`` lower-case letter, ``O`` not a
    letter (predictable from the input, so score letters alone to judge a model). On CPython
    3.11: 1790/224/224 sentences of 20-200 characters, 2% of whose letters are upper case
    (58% of those begin a sentence); the text changes with the Python version.

    Args:
        min_chars: shortest sentence kept, in characters.
        max_chars: longest sentence kept, in characters (longer ones are dropped and counted).
        valid_fraction: share of the sentences drawn for validation.
        test_fraction: share drawn for test.
        seed: the shuffle seed of the split (by sentence; duplicates are removed first).
    """

    name = "capitalisation"

    def __init__(self, min_chars: int = 20, max_chars: int = 200, valid_fraction: float = 0.1,
                 test_fraction: float = 0.1, seed: int = 0) -> None:
        super().__init__()
        check_count(self.name, "min_chars", min_chars, 1)
        check_count(self.name, "max_chars", max_chars, min_chars)
        split_text("", valid_fraction, test_fraction)  # validates the fractions
        self.min_chars, self.max_chars, self.seed = min_chars, max_chars, seed
        self.valid_fraction, self.test_fraction = valid_fraction, test_fraction

    def _load(self) -> dict[str, list[Example]]:
        examples = []
        for sentence in pydoc_sentences():
            if not self.min_chars <= len(sentence) <= self.max_chars:
                key = "dropped_short" if len(sentence) < self.min_chars else "dropped_overlength"
                self.stats[key] = self.stats.get(key, 0) + 1
                continue
            text, tags = case_tags(sentence)
            examples.append({"text": text, "tags": tags})
        return split_examples(examples, self.valid_fraction, self.test_fraction, self.seed)


class TaggedFilesDataset(ExampleSource):
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

    def __init__(self, paths: Sequence[str] | str, text_field: str = "text", tags_field: str = "tags",
                 valid_paths: Sequence[str] | str | None = None, test_paths: Sequence[str] | str | None = None,
                 valid_fraction: float = 0.05, test_fraction: float = 0.05, seed: int = 0, encoding: str = "utf-8",
                 encoding_errors: str = "strict", max_chars: int | None = None, on_overlength: str = "truncate",
                 on_empty: str = "drop", on_unseen_label: str = "error", base_dir: str | None = None) -> None:
        super().__init__()
        if on_unseen_label not in ("error", "keep"):
            raise ValueError(f"{self.name}: on_unseen_label must be error or keep; got {on_unseen_label!r}")
        self.policy = make_policy(self.name, encoding=encoding, encoding_errors=encoding_errors,
                                  max_chars=max_chars, on_overlength=on_overlength, on_empty=on_empty)
        base_dir = base_dir or os.getcwd()
        self.paths = expand_paths(paths, "paths", base_dir)
        self.valid_paths = expand_paths(valid_paths, "valid_paths", base_dir) if valid_paths else None
        self.test_paths = expand_paths(test_paths, "test_paths", base_dir) if test_paths else None
        self.valid_fraction = 0.0 if self.valid_paths else valid_fraction
        self.test_fraction = 0.0 if self.test_paths else test_fraction
        split_text("", self.valid_fraction, self.test_fraction)  # validates the fractions
        self.text_field, self.tags_field, self.seed = text_field, tags_field, seed
        self.on_unseen_label = on_unseen_label

    def _example(self, record: Any, where: str) -> Example | None:
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
        missing = [key for key in (self.text_field, self.tags_field) if key not in record]
        if missing:
            raise DataError(f"{where}: no {' or '.join(repr(k) for k in missing)} field (fields: "
                            f"{', '.join(record) or 'none'}); set data.text_field / data.tags_field")
        text, tags = record[self.text_field], record[self.tags_field]
        if not isinstance(text, str):
            raise DataError(f"{where}: {self.text_field!r} must be a string, got {type(text).__name__}")
        if not isinstance(tags, list) or not all(isinstance(t, (str, int)) and not isinstance(t, bool) for t in tags):
            raise DataError(f"{where}: {self.tags_field!r} must be a list of strings, got {tags!r}")
        if len(tags) != len(text):
            raise DataError(f"{where}: {len(tags)} tags for {len(text)} characters of {self.text_field!r}; give one "
                            "tag per character")
        fitted = self.policy.fit_length(text, where, self.stats)
        if not self.policy.keep(fitted, where, self.stats) or fitted is None:
            return None
        return {"text": fitted, "tags": [str(tag) for tag in tags[:len(fitted)]], "_where": where}

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
                    raise DataError(f"{path}:{number}: not valid JSON ({exc}); a JSON Lines file holds one JSON "
                                    "object per line") from None
                example = self._example(record, f"{path}:{number}")
                if example is not None:
                    examples.append(example)
            if not found:
                raise DataError(f"data.{key}: {path!r} contains no examples; remove it from data.{key} or fill it")
        return examples

    def _load(self) -> dict[str, list[Example]]:
        splits = split_examples(self._read(self.paths, "paths"), self.valid_fraction, self.test_fraction, self.seed)
        if self.valid_paths:
            splits["valid"] = self._read(self.valid_paths, "valid_paths")
        if self.test_paths:
            splits["test"] = self._read(self.test_paths, "test_paths")
        warn_stats(self.name, self.stats, self.policy)
        if not splits["train"]:
            raise DataError(f"{self.name}: no training example left in {', '.join(map(repr, self.paths))}")
        check_unseen(self.name, splits, "tags", self.on_unseen_label)
        return splits
