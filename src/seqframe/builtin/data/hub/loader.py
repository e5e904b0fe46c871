"""What every HuggingFace Hub source shares: the ``path``/``config``/``split``/``revision``
options, loading one Hub split (never with ``trust_remote_code``), translating the library's
errors into a DataError naming the recipe key, and checking that a column exists and holds
the kind of values a source needs.

Offline (``HF_HUB_OFFLINE=1`` or ``HF_DATASETS_OFFLINE=1``, read when ``datasets`` is first
imported) a dataset missing from the cache fails at once with an error saying how to
pre-cache it. Only Hub ids are accepted, not URLs or local paths. ``datasets`` is imported
inside the functions, never at module import. Imports layer 0 only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from seqframe.builtin.data.hub.hf import causes, offline_setting, quiet
from seqframe.builtin.data.splits import SPLITS, check_fractions, split_examples
from seqframe.errors import DataError, suggest

__all__ = ["HubLoader", "class_names", "describe_feature"]

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
_T = TypeVar("_T")


def describe_feature(feature: Any) -> str:
    """A short name for the kind of values a ``datasets`` feature holds: ``text``, ``int``,
    ``float``, ``bool``, ``class_label``, ``translation``, ``list[<kind>]`` or the feature's
    type name. Duck-typed, so ``Sequence`` (datasets 2-3) and ``List`` (4+) read alike."""
    if isinstance(feature, dict):  # a struct column, e.g. {"en": Value("string"), "de": ...}
        return "translation" if feature and all(describe_feature(f) == "text" for f in feature.values()) else "mapping"
    kind = type(feature).__name__
    if kind == "ClassLabel":
        return "class_label"
    if kind == "Translation":
        return "translation"
    if kind in ("List", "LargeList", "Sequence") and hasattr(feature, "feature"):
        return f"list[{describe_feature(feature.feature)}]"
    dtype = str(getattr(feature, "dtype", ""))
    if kind == "Value":
        if dtype in ("string", "large_string"):
            return "text"
        if dtype == "bool":
            return "bool"
        if re.fullmatch(r"u?int\d+", dtype):
            return "int"
        if re.fullmatch(r"float\d+|double|halffloat", dtype):
            return "float"
        return dtype
    return kind


def class_names(feature: Any) -> list[str] | None:
    """The names of a ``ClassLabel`` feature (or of the items of a list of them), else None."""
    inner = getattr(feature, "feature", feature) if describe_feature(feature).startswith("list[") else feature
    return list(inner.names) if type(inner).__name__ == "ClassLabel" else None


@dataclass(frozen=True)
class HubLoader:
    """Where a Hub source reads its rows: dataset id, config, revision and split names.

    Build it with :meth:`from_options`, which checks the recipe's options. ``split_names``
    maps ``train`` (always) and optionally ``valid``/``test`` to Hub split names; with one
    split (``is_single_split``) the source cuts it into train/valid/test itself.

    Attributes:
        source: the registered name of the source, for messages.
        path: the Hub id, e.g. ``Salesforce/wikitext``.
        config: the dataset's configuration (subset), or None.
        revision: a branch, tag or commit, or None (the default branch).
        split_names: our split -> Hub split name.
        is_single_split: ``split`` named one Hub split rather than a mapping.
    """

    source: str
    path: str
    config: str | None
    revision: str | None
    split_names: Mapping[str, str]
    is_single_split: bool

    @classmethod
    def from_options(
        cls,
        source: str,
        path: Any,
        config: str | None,
        split: Any,
        revision: str | None,
        valid_fraction: float,
        test_fraction: float,
    ) -> HubLoader:
        """Check the options shared by the Hub sources (see ``huggingface``'s docstring).

        Raises:
            ValueError: ``path`` is not a Hub id, ``split`` is neither a split name nor a
                mapping of train (required), valid and test, or a fraction is out of range.
        """
        if not isinstance(path, str) or not _HUB_ID.fullmatch(path) or ".." in path:
            raise ValueError(
                f"{source}: path must be a Hub dataset id such as 'Salesforce/wikitext', got "
                f"{path!r}; for local files use text_files, table_files, labelled_files, "
                "tagged_files or parallel_files"
            )
        if isinstance(split, Mapping):
            unknown = sorted(set(split) - set(SPLITS))
            if unknown or "train" not in split or not all(isinstance(v, str) and v for v in split.values()):
                raise ValueError(
                    f"{source}: split must map train (required), valid and test to Hub split names; got {dict(split)!r}"
                )
            return cls(source, path, config, revision, dict(split), False)
        if isinstance(split, str) and split:
            check_fractions(valid_fraction, test_fraction)
            return cls(source, path, config, revision, {"train": split}, True)
        raise ValueError(f"{source}: split must be a split name or a mapping, got {split!r}")

    def where(self, hub_split: str) -> str:
        """``path [split]``, the start of a row's location in messages."""
        return f"{self.path} [{hub_split}]"

    def load(self, hub_split: str) -> Any:
        """One Hub split as a ``datasets.Dataset`` (from the cache when it is there).

        Raises:
            DataError: offline and not cached, unknown id, config or split, unreachable Hub.
        """
        import datasets

        try:
            with quiet(progress=True):
                return datasets.load_dataset(self.path, self.config, split=hub_split, revision=self.revision)
        except Exception as exc:  # network, cache and lookup errors, translated below
            raise self._translate(exc, hub_split) from exc

    def splits(
        self, read: Callable[[str], list[_T]], valid_fraction: float, test_fraction: float, seed: int
    ) -> dict[str, list[_T]]:
        """Every split: ``read(hub_split)`` of each mapped Hub split (an unmapped one is
        empty), or the one Hub split cut by ``seed`` and the fractions."""
        if self.is_single_split:
            return split_examples(read(self.split_names["train"]), valid_fraction, test_fraction, seed)
        return {split: read(self.split_names[split]) if split in self.split_names else [] for split in SPLITS}

    def column(self, table: Any, key: str, column: str, accepted: Collection[str]) -> Any:
        """The feature of ``column`` in ``table``, checked to hold one of the ``accepted``
        kinds (see :func:`describe_feature`).

        Raises:
            DataError: no such column, or it holds another kind of value; names ``data.<key>``
                and suggests a close column name (among those of an accepted kind first, or the
                only column of that kind).
        """
        features = dict(table.features)
        fitting = [name for name, feature in features.items() if describe_feature(feature) in accepted]
        wanted = " or ".join(sorted(accepted))
        if column not in features:
            close = suggest(column, fitting) or suggest(column, features) or (fitting[0] if len(fitting) == 1 else None)
            hint = f"; did you mean {close!r}?" if close else ""
            raise DataError(
                f"data.{key}: {column!r} is not a column of {self.path!r} (columns: "
                f"{', '.join(features) or 'none'}){hint}"
            )
        kind = describe_feature(features[column])
        if kind not in accepted:
            close = suggest(column, fitting, cutoff=0.0) if fitting else None
            hint = f"; did you mean {close!r}?" if close else ""
            listed = f" (columns of that kind: {', '.join(fitting)})" if fitting else ""
            raise DataError(
                f"data.{key}: column {column!r} of {self.path!r} holds {kind}, expected {wanted}{listed}{hint}"
            )
        return features[column]

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
                f'pre-cache it where the network is reachable, with the same HF_HOME: python -c "import datasets; '
                f'datasets.load_dataset({self.path!r}{config})", or unset the offline variables'
            )
        if isinstance(exc, DatasetNotFoundError):
            return DataError(
                f"data.path: no dataset {described} on the Hub, or it is private or gated (log in with `hf auth login`)"
            )
        if unreachable:
            return DataError(
                f"data.path: could not reach the HuggingFace Hub for dataset {described} ({exc}); check "
                "the network, or pre-cache the dataset and set HF_HUB_OFFLINE=1"
            )
        message = str(exc)
        if "BuilderConfig" in message or "Config name" in message:
            return DataError(f"data.config: {message}")
        if "split" in message.lower() and isinstance(exc, (ValueError, KeyError)):
            return DataError(f"data.split: {hub_split!r}: {message}")
        root = chain[-1]
        return DataError(f"data: could not load dataset {described}: {type(root).__name__}: {root}")
