"""The long-memory problems of the recurrent-network literature, generated offline and
deterministically from a seed: ``adding`` (Hochreiter & Schmidhuber, 1997, in the form of
Le et al., 2015 and Arjovsky et al., 2016) and ``copy_memory`` (Arjovsky et al., 2016).

Both take ``length`` (T, the distance the network must remember across) and draw each split
from its own seeded generator, so the splits never depend on each other's sizes. Imports
layer 0 only.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping
from typing import Any

import torch

from seqframe.builtin.data.sources import Example, ExampleSource, check_count
from seqframe.builtin.data.splits import SPLITS
from seqframe.hookspecs import hookimpl
from seqframe.interfaces import SequenceSource

__all__ = ["AddingSource", "CopyMemorySource", "adding_baseline", "copy_baseline", "render_sequence"]

BLANK, DELIMITER = "-", ":"
"""The copy problem's blank and delimiter characters (its symbols are ``a``, ``b``, ...)."""


def render_sequence(steps: list[list[float]]) -> str:
    """A sequence of feature vectors as text: steps separated by spaces, a step's features by
    commas, numbers with at most 4 significant digits (``"0.5213,0 0.03,1"``)."""
    return " ".join(",".join(f"{value:.4g}" for value in step) for step in steps)


def adding_baseline() -> float:
    """The mean squared error of always answering 1.0 on the adding problem: the variance
    of the sum of two uniform values, 1/6."""
    return 1.0 / 6.0


def copy_baseline(length: int, copy_length: int = 10, symbols: int = 8) -> float:
    """The cross-entropy per position (nats) of the memoryless strategy on the copy problem:
    blanks wherever a blank is due, then a uniform guess over the symbols:
    ``copy_length * log(symbols) / (length + 2 * copy_length)`` (``10 log 8 / (T + 20)``)."""
    return copy_length * math.log(symbols) / (length + 2 * copy_length)


def _generator(seed: int, split: str) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + SPLITS.index(split))


class _Generated(ExampleSource):
    """Shared set-up: ``length``, split sizes and seed, all checked; examples made per split."""

    name = "generated"

    def __init__(self, length: int, size: int, valid_size: int, test_size: int, seed: int, minimum: int) -> None:
        super().__init__()
        check_count(self.name, "length", length, minimum)
        check_count(self.name, "size", size, 1)
        check_count(self.name, "valid_size", valid_size, 0)
        check_count(self.name, "test_size", test_size, 0)
        check_count(self.name, "seed", seed, 0)
        self.length, self.seed = length, seed
        self.sizes = {"train": size, "valid": valid_size, "test": test_size}

    def _make(self, count: int, generator: torch.Generator) -> list[Example]:
        raise NotImplementedError

    def _load(self) -> dict[str, list[Example]]:
        return {split: self._make(self.sizes[split], _generator(self.seed, split)) for split in SPLITS}


class AddingSource(_Generated, SequenceSource):
    """The adding problem: remember two marked values across ``length`` steps and add them.

    Each example is a sequence of ``length`` steps ``[value, marker]``: every value is drawn
    uniformly from [0, 1), and exactly two markers are 1, one in the first half of the
    sequence and one in the second; the target ``value`` is the sum of the two marked values.
    Always answering 1.0 scores a mean squared error of 1/6 ≈ 0.167 (the baseline to beat).
    Examples are ``{"sequence": [[v, m], ...], "value": float}``; ``texts`` render them as
    ``"0.52,0 0.03,1 ..."`` (what ``seqframe predict`` reads).

    Args:
        length: T, the number of steps (>= 2).
        size: training examples.
        valid_size: validation examples.
        test_size: test examples.
        seed: the generators' seed (each split has its own).
    """

    name = "adding"
    feature_size = 2

    def __init__(
        self, length: int = 50, size: int = 10000, valid_size: int = 1000, test_size: int = 1000, seed: int = 0
    ) -> None:
        super().__init__(length, size, valid_size, test_size, seed, 2)

    def _make(self, count: int, generator: torch.Generator) -> list[Example]:
        T, half = self.length, self.length // 2
        values = torch.rand(count, T, generator=generator, dtype=torch.float64)
        first = torch.randint(0, half, (count,), generator=generator)
        second = torch.randint(half, T, (count,), generator=generator)
        markers = torch.zeros(count, T, dtype=torch.float64)
        rows = torch.arange(count)
        markers[rows, first] = 1.0
        markers[rows, second] = 1.0
        targets = (values[rows, first] + values[rows, second]).tolist()
        steps = torch.stack([values, markers], -1).tolist()  # (N, T, 2)
        return [{"sequence": sequence, "value": target} for sequence, target in zip(steps, targets)]

    def texts(self, split: str) -> list[str]:
        """Each sequence rendered as text (see :func:`render_sequence`)."""
        return [render_sequence(example["sequence"]) for example in self._split(split)]


class CopyMemorySource(_Generated):
    """The copy problem: read ``copy_length`` symbols, wait ``length`` steps, write them back.

    The input is ``copy_length`` symbols drawn uniformly from the first ``symbols`` letters
    (``a``, ``b``, ...), ``length - 1`` blanks (``-``), the delimiter (``:``) and
    ``copy_length`` more blanks: ``length + 2 * copy_length`` characters. The target, one tag
    per character (the ``tagging`` task with a ``char`` tokenizer), is blank everywhere except
    the last ``copy_length`` positions, which repeat the symbols. A model without memory
    scores the cross-entropy :func:`copy_baseline` (``10 log 8 / (T + 20)`` with the defaults).
    Examples are ``{"text": "dhb...-----:-----", "tags": ["-", ..., "d", "h", "b", ...]}``.

    Args:
        length: T, the blanks between the last symbol read and the first one written (>= 1).
        copy_length: how many symbols to copy.
        symbols: the alphabet size (2 to 26).
        size: training examples.
        valid_size: validation examples.
        test_size: test examples.
        seed: the generators' seed (each split has its own).
    """

    name = "copy_memory"

    def __init__(
        self,
        length: int = 50,
        copy_length: int = 10,
        symbols: int = 8,
        size: int = 10000,
        valid_size: int = 500,
        test_size: int = 500,
        seed: int = 0,
    ) -> None:
        super().__init__(length, size, valid_size, test_size, seed, 1)
        check_count(self.name, "copy_length", copy_length, 1)
        check_count(self.name, "symbols", symbols, 2)
        if symbols > 26:
            raise ValueError(f"{self.name}: symbols must be at most 26 (the letters a-z), got {symbols!r}")
        self.copy_length, self.symbols = copy_length, symbols

    def _make(self, count: int, generator: torch.Generator) -> list[Example]:
        letters = string.ascii_lowercase[: self.symbols]
        drawn = torch.randint(0, self.symbols, (count, self.copy_length), generator=generator).tolist()
        wait = BLANK * (self.length - 1) + DELIMITER + BLANK * self.copy_length
        silent = [BLANK] * (self.length + self.copy_length)
        examples = []
        for row in drawn:
            word = "".join(letters[i] for i in row)
            examples.append({"text": word + wait, "tags": silent + list(word)})
        return examples


@hookimpl
def seqframe_datasets() -> Mapping[str, Any]:
    """The long-memory problems."""
    return {"adding": AddingSource, "copy_memory": CopyMemorySource}
