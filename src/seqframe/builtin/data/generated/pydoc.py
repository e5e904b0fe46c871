"""Data generated from the English prose embedded in every CPython (the help topics of
``pydoc_data``, about 0.47 MB, read at run time): ``pydoc_topics``, the default language
modelling corpus, split by position; and ``capitalisation``, sentences whose case the model
restores (tagging examples ``{"text": str, "tags": list[str]}``, one tag per character).
Imports layer 0 only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from seqframe.builtin.data.sources import Example, ExampleSource, check_count
from seqframe.builtin.data.splits import SplitSource, split_examples, split_text
from seqframe.errors import DataError

__all__ = ["CapitalisationSource", "PydocTopicsSource", "case_tags", "pydoc_sentences", "pydoc_topics"]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"(])")
_WORD = re.compile(r"[A-Za-z]+[,;.:]?")


def pydoc_topics(source: str, instead: str) -> dict[str, str]:
    """The help topics embedded in CPython (``pydoc_data.topics.topics``), or a DataError
    naming the data ``source`` and the file-based source to use ``instead``."""
    try:
        from pydoc_data.topics import topics
    except ImportError as exc:  # some minimal Python builds strip pydoc_data
        raise DataError(
            f"data {source!r}: this Python has no pydoc_data module; use data {{name: {instead}, paths: [...]}} instead"
        ) from exc
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
    sentences = (
        sentence
        for key in sorted(topics)
        for block in _paragraphs(topics[key])
        if (paragraph := _prose(block)) is not None
        for sentence in _SENTENCE_END.split(paragraph)
    )
    return list(dict.fromkeys(sentences))


def case_tags(text: str) -> tuple[str, list[str]]:
    """``text`` lower-cased and its tags: ``U`` for an upper-case letter, ``L`` for a
    lower-case one, ``O`` for anything else (digits, spaces, punctuation, letters without
    case). A character whose lower case is longer (``İ``) is kept as it is, so the lowered
    text has one character per tag."""
    lowered = "".join(char.lower() if len(char.lower()) == 1 else char for char in text)
    tags = ["U" if char.isupper() else "L" if char.islower() else "O" for char in text]
    return lowered, tags


class CapitalisationSource(ExampleSource):
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

    def __init__(
        self,
        min_chars: int = 20,
        max_chars: int = 200,
        valid_fraction: float = 0.1,
        test_fraction: float = 0.1,
        seed: int = 0,
    ) -> None:
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


class PydocTopicsSource(SplitSource):
    """English prose shipped with CPython (``pydoc_data.topics``), split by position.

    Args:
        valid_fraction: share of the text (from the end, before test) used for validation.
        test_fraction: share of the text at the end used for test.
    """

    name = "pydoc_topics"

    def __init__(self, valid_fraction: float = 0.05, test_fraction: float = 0.05) -> None:
        super().__init__()
        split_text("", valid_fraction, test_fraction)  # validates the fractions
        self.valid_fraction, self.test_fraction = valid_fraction, test_fraction

    def _load(self) -> dict[str, list[str]]:
        topics = pydoc_topics("pydoc_topics", "text_files")
        text = "\n\n".join(topics[key].strip("\n") for key in sorted(topics)) + "\n"
        splits = split_text(text, self.valid_fraction, self.test_fraction)
        return {name: [part] if part else [] for name, part in splits.items()}
