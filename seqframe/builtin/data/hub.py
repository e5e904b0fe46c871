"""``huggingface``: one text column of a dataset on the HuggingFace Hub (or in its local
cache), by id, config, split and revision.

Offline (``HF_HUB_OFFLINE=1`` or ``HF_DATASETS_OFFLINE=1``, read when ``datasets`` is first
imported) a dataset missing from the cache fails at once with an error saying how to
pre-cache it. Dataset loading scripts are never enabled (no ``trust_remote_code``), and
only Hub ids are accepted, not URLs or local paths. Imports layer 0 only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from seqframe.builtin.data.examples import SPLITS, ExamplePolicy, SplitSource, split_examples, split_text, warn_stats
from seqframe.builtin.data.hf import causes, offline_setting, quiet
from seqframe.errors import DataError, suggest

__all__ = ["HuggingFaceDataset"]

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


class HuggingFaceDataset(SplitSource):
    """A text column of a Hub dataset.

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
        if not isinstance(path, str) or not _HUB_ID.fullmatch(path) or ".." in path:
            raise ValueError(f"huggingface: path must be a Hub dataset id such as 'Salesforce/wikitext', got "
                             f"{path!r}; for local files use text_files or table_files")
        if isinstance(split, Mapping):
            unknown = sorted(set(split) - set(SPLITS))
            if unknown or "train" not in split or not all(isinstance(v, str) and v for v in split.values()):
                raise ValueError(f"huggingface: split must map train (required), valid and test to Hub split names; "
                                 f"got {dict(split)!r}")
            self.split_names = dict(split)
        elif isinstance(split, str) and split:
            split_text("", valid_fraction, test_fraction)  # validates the fractions
            self.split_names = {"train": split}
        else:
            raise ValueError(f"huggingface: split must be a split name or a mapping, got {split!r}")
        try:
            self.policy = ExamplePolicy(max_chars=max_chars, on_overlength=on_overlength, on_empty=on_empty)
        except ValueError as exc:
            raise ValueError(f"huggingface: {exc}") from None
        self.path, self.config, self.column, self.revision = path, config, column, revision
        self.is_single_split = not isinstance(split, Mapping)
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
        import datasets

        try:
            with quiet(progress=True):
                table = datasets.load_dataset(self.path, self.config, split=hub_split, revision=self.revision)
        except Exception as exc:  # network, cache and lookup errors, translated below
            raise self._translate(exc, hub_split) from exc
        columns = list(table.column_names)
        if self.column not in columns:
            close = suggest(self.column, columns)
            hint = f"; did you mean {close!r}?" if close else ""
            raise DataError(f"data.column: {self.column!r} is not a column of {self.path!r} (columns: "
                            f"{', '.join(columns)}){hint}")
        stats: dict[str, int] = {}
        where = f"{self.path} [{hub_split}] row"
        examples = self.policy.clean(((v, f"{where} {i}") for i, v in enumerate(table[self.column], 1)), stats)
        for key, value in stats.items():
            self.stats[key] = self.stats.get(key, 0) + value
        warn_stats(f"huggingface {self.path!r} [{hub_split}]", stats, self.policy)
        if not examples:
            raise DataError(f"data.split: {self.path!r} split {hub_split!r} contains no examples")
        return examples

    def _translate(self, exc: Exception, hub_split: str) -> DataError:
        from datasets.exceptions import DatasetNotFoundError

        chain = causes(exc)
        described = f"{self.path!r}" + (f" (config {self.config!r})" if self.config else "")
        unreachable = any(isinstance(e, (ConnectionError, FileNotFoundError, TimeoutError)) for e in chain)
        setting = offline_setting()
        if setting and (unreachable or isinstance(exc, DatasetNotFoundError)):
            config = f", {self.config!r}" if self.config else ""
            return DataError(
                f"data.path: dataset {described} is not in the local cache and offline mode is on ({setting}); "
                f"pre-cache it where the network is reachable, with the same HF_HOME: python -c \"import datasets; "
                f"datasets.load_dataset({self.path!r}{config})\", or unset the offline variables")
        if isinstance(exc, DatasetNotFoundError):
            return DataError(f"data.path: no dataset {described} on the Hub, or it is private or gated (log in with "
                             "`hf auth login`)")
        if unreachable:
            return DataError(f"data.path: could not reach the HuggingFace Hub for dataset {described} ({exc}); check "
                             "the network, or pre-cache the dataset and set HF_HUB_OFFLINE=1")
        message = str(exc)
        if "BuilderConfig" in message or "Config name" in message:
            return DataError(f"data.config: {message}")
        if "split" in message.lower() and isinstance(exc, (ValueError, KeyError)):
            return DataError(f"data.split: {hub_split!r}: {message}")
        root = chain[-1]
        return DataError(f"data: could not load dataset {described}: {type(root).__name__}: {root}")

