"""Protocols of data sources: what the engine, the recipe builder and tasks read from a
recipe's ``data``.

A :class:`TextSource` serves plain texts per split (a corpus for a language model); an
:class:`ExampleSource` also serves structured examples (dicts of named fields); a
:class:`TargetSource` is an example source whose examples have a ``target`` text (what a
task with ``generates_targets`` writes), and a :class:`FeatureSource` one whose examples
carry fixed-size feature vectors; a :class:`SequenceSource` one whose examples are sequences of
feature vectors (the long-memory problems). A source declares which it implements by
subclassing the protocol (the built-ins do); one that only matches structurally works too.
Splits are ``"train"``, ``"valid"`` and ``"test"``; an empty split is an empty list.

Layer 0: imports only the stdlib.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["DataSource", "ExampleSource", "FeatureSource", "SPLITS", "SequenceSource", "TargetSource", "TextSource"]

SPLITS = ("train", "valid", "test")
"""The split names every source serves."""


@runtime_checkable
class TextSource(Protocol):
    """Plain texts per split.

    The recipe builder fits the input tokenizer on ``texts("train")``; a task that reads
    texts (a language model) encodes ``texts(split)`` itself.
    """

    def texts(self, split: str) -> list[str]:
        """The texts of ``split`` (documents, lines or examples' inputs), in a fixed order.

        Raises:
            ValueError: an unknown split name.
            DataError: the data cannot be read (names the file or dataset).
        """
        ...


DataSource = TextSource
"""The former name of :class:`TextSource` (every data source serves texts)."""


@runtime_checkable
class ExampleSource(TextSource, Protocol):
    """Structured examples per split, for tasks with ``needs_examples``.

    Each example is a fresh dict of named fields; the field conventions are the task's
    (``Task.example_fields``): e.g. ``{"text", "label"}`` for classification, ``{"source",
    "target"}`` for translation. ``texts(split)`` are the examples' input texts (they fit
    the input tokenizer).
    """

    def examples(self, split: str) -> list[dict[str, Any]]:
        """The examples of ``split``, as fresh dicts (the caller may change them).

        Raises:
            ValueError: an unknown split name.
            DataError: the data cannot be read or generated.
        """
        ...


@runtime_checkable
class TargetSource(ExampleSource, Protocol):
    """Examples with a ``target`` text, for tasks with ``generates_targets`` (translation,
    one-to-many): ``target_texts("train")`` fits the target tokenizer (or, without a
    ``target_tokenizer`` section, the one tokenizer together with ``texts("train")``).
    """

    def target_texts(self, split: str) -> list[str]:
        """The ``target`` field of every example of ``split``, in order."""
        ...


@runtime_checkable
class FeatureSource(ExampleSource, Protocol):
    """Examples with a ``features`` field: a list of ``feature_size`` floats each.

    Attributes:
        feature_size: the length of every example's feature vector.
        feature_spec: how a raw input text becomes that vector (a JSON-able mapping a task
            saves with the run, so ``seqframe predict`` featurizes new input the same way),
            or None when raw text cannot be featurized.
    """

    feature_size: int
    feature_spec: Mapping[str, Any] | None


@runtime_checkable
class SequenceSource(ExampleSource, Protocol):
    """Examples with a ``sequence`` field: a list of steps, each a list of ``feature_size``
    floats (inputs that are not tokens, such as the adding problem's (value, marker) pairs).

    ``texts(split)`` render each sequence as text, steps separated by spaces and a step's
    features by commas (``"0.52,0 0.03,1 0.77,0"``): the form ``seqframe predict`` reads.

    Attributes:
        feature_size: the number of features of every step.
    """

    feature_size: int
