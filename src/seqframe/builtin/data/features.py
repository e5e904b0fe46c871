"""Feature vectors from raw input text, described by a small JSON-able spec.

A source whose examples carry ``features`` exposes ``feature_spec`` (e.g.
``{"kind": "digits", "digits": 4}``); a task saves that spec in its state so a finished
run can turn a user's raw input (``seqframe predict RUN "24"``) into the same vector
without the data source.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seqframe.errors import DataError

__all__ = ["digit_one_hot", "featurize"]


def digit_one_hot(text: str, digits: int) -> list[float]:
    """One-hot digits of a non-negative integer written in ``text``, zero-padded to
    ``digits`` digits, most significant first (``10 * digits`` values)."""
    value = text.strip()
    if not value.isdigit() or len(value.lstrip("0") or "0") > digits:
        raise DataError(f"expected a whole number of at most {digits} digits, got {text!r}")
    vector = [0.0] * (10 * digits)
    for position, digit in enumerate(value.lstrip("0").zfill(digits)):
        vector[10 * position + int(digit)] = 1.0
    return vector


def featurize(spec: Mapping[str, Any], text: str) -> list[float]:
    """The feature vector of raw ``text`` under ``spec``.

    Kinds: ``digits`` (``{"digits": N}``: :func:`digit_one_hot`) and ``character_counts``
    (the bag-of-characters vector of ``number_language_features``).

    Raises:
        DataError: the text does not fit the spec, or the kind is unknown.
    """
    kind = spec.get("kind")
    if kind == "digits":
        return digit_one_hot(text, int(spec["digits"]))
    if kind == "character_counts":
        from seqframe.builtin.data.generated.numbers import character_counts

        return character_counts(text)
    raise DataError(f"unknown feature kind {kind!r} (known: digits, character_counts)")
