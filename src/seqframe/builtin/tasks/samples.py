"""The built-in tasks' ``sample_data``: a few dozen generated examples per split in each
task's input format, for the conformance kit (``seqframe.testing.check_task``) and
``seqframe plugins check``. Deterministic, offline, no third-party data. Imports the
built-in data helpers only.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from seqframe.builtin.data.features import digit_one_hot
from seqframe.builtin.data.generated.numbers import character_counts
from seqframe.builtin.data.generated.pydoc import case_tags
from seqframe.builtin.data.memory import MemoryExamples, MemoryFeatureExamples

__all__ = ["DIGIT_NAMES", "label_sample", "pair_sample", "spelling_sample", "tagged_sample", "vector_sample"]

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_SIZES = {"train": 32, "valid": 8, "test": 8}
_WORDS = ("river", "stone", "light", "Paris", "Python", "the", "a", "cat", "sat", "Mat", "NASA", "on")


def _splits(make: Callable[[random.Random], dict[str, Any]], seed: int = 0) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(seed)
    return {split: [make(rng) for _ in range(size)] for split, size in _SIZES.items()}


def _letters(rng: random.Random) -> str:
    return "".join(rng.choice("ab") for _ in range(rng.randint(2, 7)))


def _labelled(rng: random.Random) -> dict[str, Any]:
    text = _letters(rng)
    return {"text": text, "label": "a" if text.count("a") >= text.count("b") else "b"}


def label_sample() -> MemoryExamples:
    """``{"text", "label"}``: strings of a and b, labelled by the more frequent letter."""
    return MemoryExamples(_splits(_labelled))


def vector_sample() -> MemoryFeatureExamples:
    """``{"features", "label", "text"}``: the bag-of-characters vector of such strings."""

    def make(rng: random.Random) -> dict[str, Any]:
        example = _labelled(rng)
        return {**example, "features": character_counts(example["text"])}

    splits = _splits(make)
    return MemoryFeatureExamples(splits, len(character_counts("")), {"kind": "character_counts"})


def tagged_sample() -> MemoryExamples:
    """``{"text", "tags"}``: short lower-cased phrases, one case tag per character."""

    def make(rng: random.Random) -> dict[str, Any]:
        text, tags = case_tags(" ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 4))))
        return {"text": text, "tags": tags}

    return MemoryExamples(_splits(make))


def _number(rng: random.Random) -> tuple[str, str]:
    digits = str(rng.randint(0, 99))
    return digits, " ".join(DIGIT_NAMES[int(d)] for d in digits)


def pair_sample() -> MemoryExamples:
    """``{"source", "target"}``: digit names to digits (``"four two"`` -> ``"42"``)."""

    def make(rng: random.Random) -> dict[str, Any]:
        digits, names = _number(rng)
        return {"source": names, "target": digits}

    return MemoryExamples(_splits(make), input_field="source")


def spelling_sample() -> MemoryFeatureExamples:
    """``{"features", "text", "target"}``: one-hot digits of a number below 100 to its
    digit names (``"42"`` -> ``"four two"``)."""

    def make(rng: random.Random) -> dict[str, Any]:
        digits, names = _number(rng)
        return {"features": digit_one_hot(digits, 2), "text": digits, "target": names}

    return MemoryFeatureExamples(_splits(make), 20, {"kind": "digits", "digits": 2})
