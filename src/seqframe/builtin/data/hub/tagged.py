"""``huggingface_tagged``: tagging examples from a Hub dataset of words and word tags
(``conll2003``, ``wnut_17``, ``universal_dependencies`` style: a list of words and a list of
tag ids or names per row), turned into the framework's ``{"text", "tags"}`` examples with
one tag per character (``tag_unit: char``, as ``capitalisation`` and ``tagged_files``) or one
per word (``tag_unit: word``, for the ``word`` tokenizer). Imports layer 0 only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from seqframe.builtin.data.hub.examples import HubExampleSource
from seqframe.builtin.data.hub.loader import class_names
from seqframe.builtin.data.options import UnseenLabelOptions, check_choice
from seqframe.builtin.data.sources import Example
from seqframe.errors import DataError

__all__ = ["HuggingFaceTaggedSource", "word_tags"]


def word_tags(
    words: Sequence[str], tags: Sequence[str], unit: str = "char", space_tag: str = "O"
) -> tuple[str, list[str]]:
    """The text of ``words`` (joined by single spaces) and its tags.

    Args:
        words: the words of a sentence.
        tags: one tag per word.
        unit: ``char``: every character of a word takes the word's tag and every space
            between words takes ``space_tag``; ``word``: the word tags unchanged.
        space_tag: the tag of the spaces between words (``char`` only).

    Example:
        >>> word_tags(["New", "York"], ["B-LOC", "I-LOC"])
        ('New York', ['B-LOC', 'B-LOC', 'B-LOC', 'O', 'I-LOC', 'I-LOC', 'I-LOC', 'I-LOC'])
    """
    if unit == "word":
        return " ".join(words), list(tags)
    chars: list[str] = []
    for i, (word, tag) in enumerate(zip(words, tags)):
        chars += ([space_tag] if i else []) + [tag] * len(word)
    return " ".join(words), chars


@dataclass(kw_only=True, eq=False, repr=False)
class HuggingFaceTaggedSource(UnseenLabelOptions, HubExampleSource):
    """Tagging examples from the word and word-tag columns of a Hub dataset (conll2003 style).

    Examples are ``{"text": str, "tags": list[str]}``, e.g. from ``eriktks/conll2003`` with
    ``ner_tags``. The words of a row are joined by single spaces. With ``tag_unit: char`` (for the
    ``char`` tokenizer) every character of a word takes the word's tag and each space
    between words takes ``space_tag``, so ``["New", "York"]`` tagged ``B-LOC I-LOC`` gives
    ``"New York"`` tagged ``B-LOC B-LOC B-LOC O I-LOC I-LOC I-LOC I-LOC``: a word's tag is the
    tag of its first character. With ``tag_unit: word`` (for ``tokenizer: {name: word}``)
    each word keeps its one tag; a word that is empty or holds whitespace is then an error.
    Tag ids of a ``ClassLabel`` column become their names; other tags become strings.
    Dataset loading scripts are never enabled (no ``trust_remote_code``); offline, an
    uncached dataset fails at once saying how to cache it.

    Args:
        path: the Hub id, e.g. ``eriktks/conll2003``.
        config: the dataset's configuration (subset) name.
        split: one Hub split cut into train/valid/test by ``seed`` and the fractions, or a
            mapping such as ``{train: train, valid: validation, test: test}`` (``train`` required).
        tokens_column: the column holding each row's list of words.
        tags_column: the column holding each row's list of tags, one per word (class labels,
            text or integers), e.g. ``ner_tags``, ``pos_tags`` or ``upos``.
        tag_unit: ``char`` (one tag per character) or ``word`` (one tag per word).
        space_tag: the tag of the spaces between words when ``tag_unit`` is ``char``.
        max_chars: longest text (words and spaces) in characters, or null.
        on_overlength: ``truncate`` (text and tags; ``word`` keeps whole words), ``drop`` or
            ``error`` past ``max_chars``.
        on_empty: ``drop`` (counted) or ``error`` for a row without words.
        on_unseen_label: ``error`` (a tag of valid/test never seen in train, listed with the
            row it first occurs on) or ``keep``.
    """

    name = "huggingface_tagged"
    unseen_field = "tags"

    tokens_column: str = "tokens"
    tags_column: str = "ner_tags"
    tag_unit: str = "char"
    space_tag: str = "O"

    def __post_init__(self) -> None:
        super().__post_init__()
        for key, value in (
            ("tokens_column", self.tokens_column),
            ("tags_column", self.tags_column),
            ("space_tag", self.space_tag),
        ):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{self.name}: {key} must be a non-empty string, got {value!r}")
        if self.tokens_column == self.tags_column:
            raise ValueError(f"{self.name}: tokens_column and tags_column are both {self.tokens_column!r}")
        check_choice(self.name, "tag_unit", self.tag_unit, ("char", "word"))

    def _read(self, hub_split: str) -> list[Example]:
        table = self.loader.load(hub_split)
        self.loader.column(table, "tokens_column", self.tokens_column, {"list[text]"})
        names = class_names(
            self.loader.column(table, "tags_column", self.tags_column, {"list[class_label]", "list[text]", "list[int]"})
        )
        examples = []
        for i, (words, tags) in enumerate(zip(table[self.tokens_column], table[self.tags_column]), 1):
            example = self._example(words or [], tags or [], names, f"{self.loader.where(hub_split)} row {i}")
            if example is not None:
                examples.append(example)
        return examples

    def _example(self, words: list[Any], tags: list[Any], names: list[str] | None, where: str) -> Example | None:
        if len(words) != len(tags):
            raise DataError(
                f"{where}: {len(tags)} tags for {len(words)} words; data.tags_column must hold one tag "
                "per word of data.tokens_column"
            )
        if not all(isinstance(w, str) for w in words):
            raise DataError(f"{where}: every word of data.tokens_column must be text, got {words!r}")
        bad = next((w for w in words if len(w.split()) != 1), None) if self.tag_unit == "word" else None
        if bad is not None:
            raise DataError(
                f"{where}: word {bad!r} is empty or holds whitespace, so the word tokenizer would not "
                "give one token per tag; use data.tag_unit: char"
            )
        text, per_unit = word_tags(words, [self._tag(tag, names, where) for tag in tags], self.tag_unit, self.space_tag)
        fitted = self.policy.fit_length(text, where, self.stats)
        if fitted is not None and len(fitted) < len(text) and self.tag_unit == "word":
            kept, length = 0, -1  # the longest run of whole words (and their spaces) that fits
            while kept < len(words) and length + 1 + len(words[kept]) <= len(fitted):
                length, kept = length + 1 + len(words[kept]), kept + 1
            fitted, per_unit = " ".join(words[:kept]), per_unit[:kept]
        if not self.policy.keep(fitted, where, self.stats) or fitted is None:
            return None
        return {
            "text": fitted,
            "tags": per_unit[: len(fitted)] if self.tag_unit == "char" else per_unit,
            "_where": where,
        }

    @staticmethod
    def _tag(tag: Any, names: list[str] | None, where: str) -> str:
        if names is None:
            if tag is None or (isinstance(tag, str) and not tag):
                raise DataError(f"{where}: a word without a tag ({tag!r}); every word needs one")
            return str(tag)
        if not isinstance(tag, int) or not 0 <= tag < len(names):
            raise DataError(f"{where}: tag {tag!r} is not an id of the column's {len(names)} class names")
        return names[tag]
