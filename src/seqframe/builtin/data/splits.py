"""What every data source shares: the splits, the example policy (over-long and empty
examples), its counters and warnings, and deterministic train/valid/test splitting.

Example-based sources split by a seeded shuffle of example indices; a single text stream is
cut into contiguous slices instead, so the model never sees the middle of a document in two
splits. Imports layer 0 only.
"""

from __future__ import annotations

import codecs
import random
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from seqframe.errors import DataError
from seqframe.interfaces import TextSource

__all__ = ["ExamplePolicy", "SPLITS", "SplitSource", "check_fractions", "permutation", "split_examples", "split_text"]

SPLITS = ("train", "valid", "test")
_T = TypeVar("_T")

_MESSAGES = {
    "replaced_lines": "replaced undecodable bytes in {n} line(s) (data.encoding_errors: replace)",
    "truncated": "truncated {n} example(s) longer than data.max_chars={max_chars}",
    "dropped_overlength": "dropped {n} example(s) longer than data.max_chars={max_chars}",
    "dropped_empty": "dropped {n} empty examples (blank or whitespace-only); set data.on_empty: error to "
    "reject them instead",
    "dropped_empty_pairs": "dropped {n} pair(s) with an empty side",
    "dropped_unlabelled": "dropped {n} row(s) without a label (missing, empty, or -1 as in GLUE test splits)",
}


def check_fractions(valid_fraction: float, test_fraction: float) -> None:
    """Raise ValueError unless both fractions lie in ``[0, 0.5)``."""
    for name, value in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 0.5:
            raise ValueError(f"{name} must lie in [0, 0.5), got {value!r}")


def split_text(text: str, valid_fraction: float, test_fraction: float) -> dict[str, str]:
    """Cut one text into contiguous train / valid / test slices at line boundaries.

    Args:
        text: the whole stream.
        valid_fraction: share (by characters) for validation, taken after train.
        test_fraction: share at the end for test.

    Returns:
        ``{"train": ..., "valid": ..., "test": ...}``, which concatenate back to ``text``.
    """
    check_fractions(valid_fraction, test_fraction)
    n = len(text)

    def cut(position: float) -> int:
        at = text.find("\n", int(position))
        return n if at < 0 else at + 1

    a = cut(n * (1 - valid_fraction - test_fraction)) if valid_fraction + test_fraction else n
    b = cut(n * (1 - test_fraction)) if test_fraction else n
    return {"train": text[:a], "valid": text[a:b], "test": text[b:]}


def permutation(n: int, seed: int) -> list[int]:
    """A seeded permutation of ``range(n)``: Fisher-Yates driven by ``Random.random()``, whose
    sequence Python keeps stable across versions (unlike ``shuffle``), so a seed names the
    same split everywhere."""
    order, rng = list(range(n)), random.Random(seed)
    for i in range(n - 1, 0, -1):
        j = int(rng.random() * (i + 1))
        order[i], order[j] = order[j], order[i]
    return order


def split_examples(
    examples: Sequence[_T], valid_fraction: float, test_fraction: float, seed: int
) -> dict[str, list[_T]]:
    """Split examples at random but deterministically: shuffle the indices with ``seed``,
    take ``round(n * fraction)`` for valid and test, leave the rest for train. Each split
    keeps the original order of its examples.

    Raises:
        DataError: no example would be left for training.
    """
    check_fractions(valid_fraction, test_fraction)
    n = len(examples)
    order = permutation(n, seed)
    n_valid, n_test = round(n * valid_fraction), round(n * test_fraction)
    if n and n_valid + n_test >= n:
        raise DataError(
            f"data: only {n} examples; too few for valid_fraction={valid_fraction} and "
            f"test_fraction={test_fraction} to leave any for training"
        )
    parts = {"valid": order[:n_valid], "test": order[n_valid : n_valid + n_test], "train": order[n_valid + n_test :]}
    return {name: [examples[i] for i in sorted(parts[name])] for name in SPLITS}


@dataclass(frozen=True)
class ExamplePolicy:
    """How a source treats bytes it cannot decode, over-long examples and empty ones.

    Args:
        encoding: text encoding of local files.
        encoding_errors: ``strict`` (an error naming file, line and byte) or ``replace``
            (undecodable bytes become U+FFFD; affected lines are counted).
        max_chars: longest example (for text files: longest line) in characters, or None.
        on_overlength: ``truncate``, ``drop`` or ``error`` for examples over ``max_chars``.
        on_empty: ``drop`` (counted, with a warning) or ``error`` for blank examples.
    """

    encoding: str = "utf-8"
    encoding_errors: str = "strict"
    max_chars: int | None = None
    on_overlength: str = "truncate"
    on_empty: str = "drop"

    def __post_init__(self) -> None:
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ValueError(f"unknown encoding {self.encoding!r}") from None
        for name, value, choices in (
            ("encoding_errors", self.encoding_errors, ("strict", "replace")),
            ("on_overlength", self.on_overlength, ("truncate", "drop", "error")),
            ("on_empty", self.on_empty, ("drop", "error")),
        ):
            if value not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
        if self.max_chars is not None and (
            isinstance(self.max_chars, bool) or not isinstance(self.max_chars, int) or self.max_chars < 1
        ):
            raise ValueError(f"max_chars must be an int >= 1 or null, got {self.max_chars!r}")

    def fit_length(self, text: str, where: str, stats: dict[str, int]) -> str | None:
        """``text`` cut to ``max_chars`` (truncate), None (drop), or a DataError (error)."""
        if self.max_chars is None or len(text) <= self.max_chars:
            return text
        if self.on_overlength == "error":
            raise DataError(
                f"{where}: {len(text)} characters, more than data.max_chars={self.max_chars}; raise it "
                "or set data.on_overlength: truncate or drop"
            )
        key = "truncated" if self.on_overlength == "truncate" else "dropped_overlength"
        stats[key] = stats.get(key, 0) + 1
        return text[: self.max_chars] if self.on_overlength == "truncate" else None

    def keep(self, text: str | None, where: str, stats: dict[str, int]) -> bool:
        """Whether an example survives: not dropped for length and not blank (or an error)."""
        if text is None:
            return False
        if text.strip():
            return True
        if self.on_empty == "error":
            raise DataError(f"{where}: empty example (blank or whitespace-only); remove it or set data.on_empty: drop")
        stats["dropped_empty"] = stats.get("dropped_empty", 0) + 1
        return False

    def clean(self, examples: Iterable[tuple[Any, str]], stats: dict[str, int]) -> list[str]:
        """Apply the length policy, then drop empty examples; items are ``(text, where)``,
        where ``text`` may be None (a missing value, counted as empty)."""
        kept = []
        for text, where in examples:
            text = "" if text is None else text
            if not isinstance(text, str):
                raise DataError(f"{where}: expected text, got {type(text).__name__} {text!r}")
            fitted = self.fit_length(text, where, stats)
            if self.keep(fitted, where, stats) and fitted is not None:
                kept.append(fitted)
        return kept


def warn_stats(source: str, stats: dict[str, int], policy: ExamplePolicy) -> None:
    """One warning per non-zero counter, e.g. ``text_files: dropped 2 empty examples ...``."""
    for key, template in _MESSAGES.items():
        if stats.get(key):
            warnings.warn(f"{source}: " + template.format(n=stats[key], max_chars=policy.max_chars), stacklevel=3)


class SplitSource(TextSource):
    """Base of the built-in text sources: loads all splits on first use, then serves copies.
    Implements :class:`seqframe.interfaces.TextSource`.

    Attributes:
        stats: counters of what loading changed (``replaced_lines``, ``truncated``,
            ``dropped_overlength``, ``dropped_empty``), for logs and run metadata.
    """

    name = "data"
    policy = ExamplePolicy()

    def __init__(self) -> None:
        self.stats: dict[str, int] = {}
        self._splits: dict[str, list[str]] | None = None

    def _load(self) -> dict[str, list[str]]:
        raise NotImplementedError

    def texts(self, split: str) -> list[str]:
        """The documents or examples of ``split`` (``train``, ``valid`` or ``test``).

        Raises:
            ValueError: an unknown split name.
            DataError: the data cannot be read; the message names the file or dataset.
        """
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        if self._splits is None:
            self._splits = self._load()
            warn_stats(self.name, self.stats, self.policy)
        return list(self._splits[split])
