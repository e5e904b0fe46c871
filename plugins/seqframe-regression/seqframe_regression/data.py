"""``spelled_numbers``: numbers spelt out by num2words, with their values.

Written against seqframe's documented data contract only: it declares
:class:`seqframe.interfaces.ExampleSource` and serves ``examples(split)`` and
``texts(split)``.
"""

from __future__ import annotations

import random
from typing import Any

from seqframe import DataError
from seqframe.interfaces import SPLITS, ExampleSource

__all__ = ["SpelledNumbersDataset"]


def _count(name: str, value: Any, minimum: int, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"spelled_numbers: {name} must be an int >= {minimum}{' or null' if optional else ''}, got {value!r}"
        )


class SpelledNumbersDataset(ExampleSource):
    """Numbers spelt out in words, with their values (text regression, generated offline).

    Examples ``{"text": "three hundred and forty-two", "value": 342.0}`` for the numbers
    ``0 .. max_number - 1``, dealt to the splits by a seeded shuffle (each split has its own
    numbers): valid takes the first ``valid_size``, test the next ``test_size``, train the
    next ``size`` (all the rest when null).

    Args:
        lang: num2words language code.
        max_number: numbers are drawn from ``0 .. max_number - 1``.
        size: training examples; null takes every number left after valid and test.
        valid_size: validation examples.
        test_size: test examples.
        seed: the shuffle seed.
    """

    def __init__(
        self,
        lang: str = "en",
        max_number: int = 1000,
        size: int | None = None,
        valid_size: int = 100,
        test_size: int = 100,
        seed: int = 0,
    ) -> None:
        _count("max_number", max_number, 2)
        _count("size", size, 1, optional=True)
        _count("valid_size", valid_size, 0)
        _count("test_size", test_size, 0)
        _count("seed", seed, 0)
        if valid_size + test_size >= max_number:
            raise ValueError(
                f"spelled_numbers: valid_size={valid_size} and test_size={test_size} leave none of the "
                f"{max_number} numbers for training; lower them or raise max_number"
            )
        try:
            from num2words import CONVERTER_CLASSES
        except ImportError as exc:
            raise DataError("spelled_numbers: needs the num2words package; pip install num2words") from exc
        if lang not in CONVERTER_CLASSES:
            raise ValueError(
                f"spelled_numbers: num2words has no language {lang!r} (it has: {', '.join(sorted(CONVERTER_CLASSES))})"
            )
        self.lang, self.max_number, self.size, self.seed = lang, max_number, size, seed
        self.valid_size, self.test_size = valid_size, test_size
        self._splits: dict[str, list[dict[str, Any]]] | None = None

    def _load(self) -> dict[str, list[dict[str, Any]]]:
        from num2words import num2words

        numbers = list(range(self.max_number))
        random.Random(self.seed).shuffle(numbers)
        cut = self.valid_size + self.test_size
        dealt = {
            "valid": numbers[: self.valid_size],
            "test": numbers[self.valid_size : cut],
            "train": numbers[cut:] if self.size is None else numbers[cut : cut + self.size],
        }
        return {
            split: [{"text": num2words(n, lang=self.lang), "value": float(n)} for n in dealt[split]] for split in SPLITS
        }

    def examples(self, split: str) -> list[dict[str, Any]]:
        """The ``{"text", "value"}`` examples of ``split``, as fresh dicts."""
        if split not in SPLITS:
            raise ValueError(f"spelled_numbers: unknown split {split!r}; expected one of {SPLITS}")
        if self._splits is None:
            self._splits = self._load()
        return [dict(example) for example in self._splits[split]]

    def texts(self, split: str) -> list[str]:
        """The spelt-out numbers of ``split`` (they fit the tokenizer)."""
        return [example["text"] for example in self.examples(split)]
