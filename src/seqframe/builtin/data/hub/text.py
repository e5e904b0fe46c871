"""``huggingface``: one text column of a dataset on the HuggingFace Hub (or in its local
cache), by id, config, split and revision; loading, offline behaviour and error messages
are :class:`~seqframe.builtin.data.hub.loader.HubLoader`'s. Imports layer 0 only.
"""

from __future__ import annotations

from dataclasses import dataclass

from seqframe.builtin.data.hub.options import HubOptions
from seqframe.builtin.data.splits import SPLITS, SplitSource, warn_stats
from seqframe.errors import DataError

__all__ = ["HuggingFaceSource"]


@dataclass(kw_only=True, eq=False, repr=False)
class HuggingFaceSource(HubOptions, SplitSource):
    """A text column of a Hub dataset; each Hub split is loaded on first use.

    Args:
        column: the column holding the text.
    """

    name = "huggingface"

    column: str = "text"

    def __post_init__(self) -> None:
        super().__post_init__()
        self._loaded: dict[str, list[str]] = {}

    def texts(self, split: str) -> list[str]:
        """The examples of ``split``; each Hub split is loaded on first use.

        Raises:
            ValueError: an unknown split name.
            DataError: the dataset cannot be loaded (offline and not cached, unknown id,
                config, split or column).
        """
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        if split not in self._loaded:
            if self.loader.is_single_split:
                self._loaded = self.loader.splits(self._examples, self.valid_fraction, self.test_fraction, self.seed)
            else:
                name = self.loader.split_names.get(split)
                self._loaded[split] = self._examples(name) if name else []
        return list(self._loaded[split])

    def _examples(self, hub_split: str) -> list[str]:
        table = self.loader.load(hub_split)
        self.loader.column(table, "column", self.column, {"text"})
        stats: dict[str, int] = {}
        where = f"{self.loader.where(hub_split)} row"
        examples = self.policy.clean(((v, f"{where} {i}") for i, v in enumerate(table[self.column], 1)), stats)
        for key, value in stats.items():
            self.stats[key] = self.stats.get(key, 0) + value
        warn_stats(f"huggingface {self.path!r} [{hub_split}]", stats, self.policy)
        if not examples:
            raise DataError(f"data.split: {self.path!r} split {hub_split!r} contains no examples")
        return examples
