"""Data sources held in memory: examples given as Python lists, for the tasks'
``sample_data`` (the conformance kit's tiny data) and for scripts and tests.

Implements :class:`seqframe.interfaces.TargetSource` (its ``target_texts`` are empty when
the examples have no ``target``), and :class:`~seqframe.interfaces.FeatureSource` when given
a feature size. Imports layer 0 only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from seqframe.builtin.data.sources import Example, TargetExampleSource
from seqframe.builtin.data.splits import SPLITS
from seqframe.interfaces import FeatureSource

__all__ = ["MemoryExamples", "MemoryFeatureExamples"]


class MemoryExamples(TargetExampleSource):
    """Examples given per split, served as fresh copies.

    Args:
        splits: ``{"train": [example, ...], "valid": [...], "test": [...]}``; a missing
            split is empty.
        input_field: the field whose texts fit the input tokenizer (``texts(split)``).
    """

    name = "memory"

    def __init__(self, splits: Mapping[str, Sequence[Mapping[str, Any]]], input_field: str = "text") -> None:
        super().__init__()
        unknown = sorted(set(splits) - set(SPLITS))
        if unknown:
            raise ValueError(f"{self.name}: unknown split(s) {', '.join(map(repr, unknown))}; expected {SPLITS}")
        self.input_field = input_field
        self._given = {split: [dict(example) for example in splits.get(split, ())] for split in SPLITS}

    def _load(self) -> dict[str, list[Example]]:
        return self._given

    def target_texts(self, split: str) -> list[str]:
        """The ``target`` texts of ``split``'s examples that have one."""
        return [example["target"] for example in self._split(split) if "target" in example]


class MemoryFeatureExamples(MemoryExamples, FeatureSource):
    """:class:`MemoryExamples` whose examples carry ``features`` of ``feature_size`` floats.

    Args:
        splits: as for :class:`MemoryExamples`.
        feature_size: the length of every feature vector.
        feature_spec: how raw text becomes a vector (see :mod:`.features`), or None.
        input_field: the field whose texts fit the input tokenizer.
    """

    def __init__(
        self,
        splits: Mapping[str, Sequence[Mapping[str, Any]]],
        feature_size: int,
        feature_spec: Mapping[str, Any] | None = None,
        input_field: str = "text",
    ) -> None:
        super().__init__(splits, input_field)
        self.feature_size = feature_size
        self.feature_spec = dict(feature_spec) if feature_spec is not None else None
