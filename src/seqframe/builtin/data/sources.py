"""Structured data sources: each example is a dict of named fields rather than a bare text.

A structured source serves ``examples(split)`` for ``train``, ``valid`` and ``test``, plus
``texts(split)`` (the input texts, to fit the input tokenizer) and, where examples have a
``target`` field, ``target_texts(split)`` (to fit the target tokenizer). Field conventions,
one per task shape:

- classification (many-to-one): ``{"text": str, "label": str}``
- one-to-one: ``{"features": list[float], "label": str, "text": str}``; every example of a
  source has ``feature_size`` features (the source's attribute)
- one-to-many: ``{"features": list[float], "text": str, "target": str}``
- tagging (many-to-many in step): ``{"text": str, "tags": list[str]}``, one tag per character
- translation (many-to-many delayed): ``{"source": str, "target": str}``

``text`` in the feature shapes is a human-readable rendering of the input. Splits are
deterministic for a given ``seed`` and never share an example. Imports layer 0 only.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from seqframe.builtin.data.splits import SPLITS, ExamplePolicy, permutation, warn_stats
from seqframe.errors import DataError
from seqframe.interfaces import ExampleSource as ExampleSourceProtocol
from seqframe.interfaces import TargetSource

__all__ = [
    "ExampleSource",
    "TargetExampleSource",
    "check_count",
    "check_unseen",
    "describe_unseen",
    "draw_numbers",
    "unseen_labels",
]

Example = dict[str, Any]


def check_count(source: str, name: str, value: Any, minimum: int = 0, *, optional: bool = False) -> None:
    """Raise ValueError unless ``value`` is an int ``>= minimum`` (or None when ``optional``)."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = f"an int >= {minimum}" + (" or null" if optional else "")
        raise ValueError(f"{source}: {name} must be {kind}, got {value!r}")


def draw_numbers(
    source: str,
    max_number: int,
    counts: Mapping[str, int | None],
    seed: int,
    make: Callable[[int], list[Example] | None],
    stats: dict[str, int],
) -> dict[str, list[Example]]:
    """Examples of disjoint sets of the numbers ``0 .. max_number - 1``, one set per split.

    The numbers are shuffled with ``seed`` and dealt in that order: valid takes the first
    ``counts["valid"]`` usable ones, test the next ``counts["test"]``, train the next
    ``counts["train"]`` (all the rest when None). ``make(n)`` returns the examples of
    number ``n``, or None to skip it (counted in ``stats["skipped_numbers"]``).

    Raises:
        DataError: no usable number is left for training. A train count larger than what is
            left is cut to it, with a warning.
    """
    out: dict[str, list[Example]] = {split: [] for split in SPLITS}
    order = iter(permutation(max_number, seed))
    for split in ("valid", "test", "train"):
        wanted, taken = counts[split], 0
        while wanted is None or taken < wanted:
            number = next(order, None)
            if number is None:
                break
            examples = make(number)
            if examples is None:
                stats["skipped_numbers"] = stats.get("skipped_numbers", 0) + 1
                continue
            out[split] += examples
            taken += 1
        if split == "train" and not taken:
            raise DataError(
                f"data {source!r}: no number below max_number={max_number} is left for training after "
                f"valid and test; lower valid_size and test_size or raise max_number"
            )
        if split == "train" and wanted is not None and taken < wanted:
            warnings.warn(
                f"{source}: only {taken} numbers below max_number={max_number} are left for training, "
                f"fewer than size asks for ({wanted}); using {taken}",
                stacklevel=4,
            )
    return out


def unseen_labels(splits: Mapping[str, Sequence[Example]], key: str) -> dict[str, dict[str, str]]:
    """For valid and test: each label (or tag) absent from train -> the ``where`` of its first
    example (the example's ``_where`` entry, else its index)."""
    known = {value for example in splits["train"] for value in _values(example, key)}
    found: dict[str, dict[str, str]] = {}
    for split in ("valid", "test"):
        for i, example in enumerate(splits[split]):
            for value in _values(example, key):
                if value not in known:
                    found.setdefault(split, {}).setdefault(value, str(example.get("_where", f"example {i}")))
    return found


def describe_unseen(splits: Mapping[str, Sequence[Example]], key: str) -> str:
    """The :func:`unseen_labels` of ``splits`` for an error message, e.g.
    ``valid: 'x' (first at a.csv:3); test: 'y' (first at example 0)``; empty when none."""
    return "; ".join(
        f"{split}: " + ", ".join(f"{value!r} (first at {where})" for value, where in values.items())
        for split, values in unseen_labels(splits, key).items()
    )


def _values(example: Example, key: str) -> list[str]:
    value = example[key]
    return list(value) if isinstance(value, list) else [value]


class ExampleSource(ExampleSourceProtocol):
    """Base of the structured sources: loads all splits on first use, then serves copies.
    Implements :class:`seqframe.interfaces.ExampleSource`.

    Subclasses implement ``_load() -> {split: [example, ...]}``; an example may carry a
    ``_where`` entry (``file:line``) for error messages, which is never served.

    Attributes:
        stats: counters of what loading changed or dropped, for logs and run metadata.
    """

    name = "data"
    input_field = "text"

    def __init__(self) -> None:
        self.stats: dict[str, int] = {}
        self._splits: dict[str, list[Example]] | None = None

    def _load(self) -> dict[str, list[Example]]:
        raise NotImplementedError

    def _split(self, split: str) -> list[Example]:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        if self._splits is None:
            self._splits = self._load()
        return self._splits[split]

    def examples(self, split: str) -> list[dict[str, Any]]:
        """The examples of ``split`` (``train``, ``valid`` or ``test``), as fresh dicts.

        Raises:
            ValueError: an unknown split name.
            DataError: the data cannot be read or generated.
        """
        return [
            {
                key: list(value) if isinstance(value, list) else value
                for key, value in example.items()
                if key != "_where"
            }
            for example in self._split(split)
        ]

    def texts(self, split: str) -> list[str]:
        """The input texts of ``split`` (to fit the input tokenizer)."""
        return [example[self.input_field] for example in self._split(split)]

    def checked(
        self, splits: dict[str, list[Example]], paths: Sequence[str], key: str, on_unseen: str, policy: ExamplePolicy
    ) -> dict[str, list[Example]]:
        """``splits`` of a file or Hub source once checked: one warning per loading counter, a
        training split that is not empty, and (unless ``on_unseen`` is ``keep``) no ``key``
        value in valid/test that train lacks.

        Raises:
            DataError: no training example is left, or an unseen label or tag.
        """
        warn_stats(self.name, self.stats, policy)
        if not splits["train"]:
            raise DataError(f"{self.name}: no training example left in {', '.join(map(repr, paths))}")
        check_unseen(self.name, splits, key, on_unseen)
        return splits


class TargetExampleSource(ExampleSource, TargetSource):
    """An :class:`ExampleSource` whose examples have a ``target`` text (implements
    :class:`seqframe.interfaces.TargetSource`)."""

    def target_texts(self, split: str) -> list[str]:
        """The ``target`` texts of ``split`` (to fit the target tokenizer)."""
        return [example["target"] for example in self._split(split)]


def check_unseen(source: str, splits: Mapping[str, Sequence[Example]], key: str, policy: str) -> None:
    """Raise a DataError listing labels of valid/test never seen in train, with where each
    first occurs, unless ``policy`` is ``keep``: the model has no output for such a label, so
    scoring it would silently count it wrong."""
    if policy == "keep":
        return
    listing = describe_unseen(splits, key)
    if listing:
        raise DataError(
            f"{source}: {key} not seen in training: {listing}; add training examples with them, remove "
            f"them, or set data.on_unseen_label: keep"
        )
