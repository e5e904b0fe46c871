"""``huggingface``: one text column of a dataset on the HuggingFace Hub (or in its local
cache), by id, config, split and revision; loading, offline behaviour and error messages
are :class:`~seqframe.builtin.data.hub.loader.HubLoader`'s. Imports layer 0 only.
"""

from __future__ import annotations

from seqframe.builtin.data.hub.loader import HubLoader
from seqframe.builtin.data.splits import SPLITS, ExamplePolicy, SplitSource, split_examples, warn_stats
from seqframe.errors import DataError

__all__ = ["HuggingFaceSource"]


class HuggingFaceSource(SplitSource):
    """A text column of a Hub dataset.

    Offline (``HF_HUB_OFFLINE=1`` or ``HF_DATASETS_OFFLINE=1``) a dataset missing from the
    cache fails at once with an error saying how to pre-cache it. Dataset loading scripts
    are never enabled (no ``trust_remote_code``), and only Hub ids are accepted.

    Args:
        path: the Hub id, e.g. ``Salesforce/wikitext``.
        config: the dataset's configuration (subset) name, e.g. ``wikitext-2-raw-v1``.
        split: one Hub split (``train``, or a slice such as ``train[:10%]``) cut into
            train/valid/test by ``seed`` and the fractions, or a mapping such as
            ``{train: train, valid: validation, test: test}`` (``train`` required).
        column: the column holding the text.
        revision: a branch, tag or commit of the dataset repository (pin it for reproducibility).
        valid_fraction: share drawn for validation when ``split`` is one split.
        test_fraction: share drawn for test when ``split`` is one split.
        seed: the shuffle seed of that split.
        max_chars: longest example in characters, or null.
        on_overlength: ``truncate``, ``drop`` or ``error`` past ``max_chars``.
        on_empty: ``drop`` (counted) or ``error`` for blank or missing values.
    """

    name = "huggingface"

    def __init__(
        self,
        path: str,
        config: str | None = None,
        split: str | dict[str, str] = "train",
        column: str = "text",
        revision: str | None = None,
        valid_fraction: float = 0.05,
        test_fraction: float = 0.05,
        seed: int = 0,
        max_chars: int | None = None,
        on_overlength: str = "truncate",
        on_empty: str = "drop",
    ) -> None:
        super().__init__()
        self.loader = HubLoader.from_options(self.name, path, config, split, revision, valid_fraction, test_fraction)
        try:
            self.policy = ExamplePolicy(max_chars=max_chars, on_overlength=on_overlength, on_empty=on_empty)
        except ValueError as exc:
            raise ValueError(f"{self.name}: {exc}") from None
        self.path, self.config, self.column, self.revision = path, config, column, revision
        self.split_names, self.is_single_split = dict(self.loader.split_names), self.loader.is_single_split
        self.valid_fraction, self.test_fraction, self.seed = valid_fraction, test_fraction, seed
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
            if self.is_single_split:
                examples = self._examples(self.split_names["train"])
                self._loaded = split_examples(examples, self.valid_fraction, self.test_fraction, self.seed)
            else:
                name = self.split_names.get(split)
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
