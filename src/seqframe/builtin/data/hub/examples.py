"""Structured examples from HuggingFace Hub datasets: ``huggingface_labelled`` (a text and a
label column, for classification) and ``huggingface_parallel`` (two text columns, or the
``translation`` column of wmt/opus-style datasets, for translation), on a shared base that
``huggingface_tagged`` (:mod:`.tagged`) also uses. Loading, splits, offline behaviour and
error messages are :class:`~seqframe.builtin.data.hub.loader.HubLoader`'s; the example
policy and its counters are those of the file-based sources. Imports layer 0 only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from seqframe.builtin.data.hub.loader import class_names
from seqframe.builtin.data.hub.options import HubOptions
from seqframe.builtin.data.options import UnseenLabelOptions
from seqframe.builtin.data.sources import Example, ExampleSource, TargetExampleSource
from seqframe.errors import DataError, suggest

__all__ = ["HubExampleSource", "HuggingFaceLabelledSource", "HuggingFaceParallelSource"]


@dataclass(kw_only=True, eq=False, repr=False)
class HubExampleSource(HubOptions, ExampleSource):
    """Base of the structured Hub sources: the options of every Hub source, and a
    ``_read(hub_split)`` per subclass that turns one loaded Hub split into examples (each
    with a ``_where`` such as ``glue [train] row 7``). A subclass that names an
    ``unseen_field`` (label, tags) also inherits :class:`UnseenLabelOptions`."""

    unseen_field: ClassVar[str | None] = None  # the field checked for values unseen in train (label, tags)

    def _read(self, hub_split: str) -> list[Example]:
        raise NotImplementedError

    def _read_split(self, hub_split: str) -> list[Example]:
        before = dict(self.stats)
        examples = self._read(hub_split)
        if not examples:
            dropped = ", ".join(
                f"{key} {n - before.get(key, 0)}" for key, n in self.stats.items() if n > before.get(key, 0)
            )
            raise DataError(
                f"data.split: {self.path!r} split {hub_split!r} has no usable example"
                + (f" (dropped: {dropped})" if dropped else "")
                + "; map that split to another or "
                "leave it out"
            )
        return examples

    def _load(self) -> dict[str, list[Example]]:
        splits = self.loader.splits(self._read_split, self.valid_fraction, self.test_fraction, self.seed)
        on_unseen = self.on_unseen_label if isinstance(self, UnseenLabelOptions) else "keep"
        return self.checked(splits, [self.path], self.unseen_field or "", on_unseen, self.policy)

    def _count(self, key: str) -> None:
        self.stats[key] = self.stats.get(key, 0) + 1


@dataclass(kw_only=True, eq=False, repr=False)
class HuggingFaceLabelledSource(UnseenLabelOptions, HubExampleSource):
    """Classification examples from the text and label columns of a Hub dataset.

    Examples are ``{"text": str, "label": str}``, e.g. from ``stanfordnlp/imdb`` or
    ``nyu-mll/glue`` (config ``sst2``, ``text_column: sentence``). An integer label of a
    ``ClassLabel`` column becomes its name (``1`` -> ``"pos"``); other labels become strings
    (``str(value)``; text labels are stripped). Rows without a label (missing, empty, or
    ``-1``, which marks the unlabelled test splits of GLUE) are dropped and counted
    (``stats["dropped_unlabelled"]``). Dataset loading scripts are never enabled (no
    ``trust_remote_code``); offline, an uncached dataset fails at once saying how to cache it.

    Args:
        path: the Hub id, e.g. ``stanfordnlp/imdb``.
        config: the dataset's configuration (subset) name, e.g. ``sst2``.
        split: one Hub split cut into train/valid/test by ``seed`` and the fractions, or a
            mapping such as ``{train: train, valid: validation}`` (``train`` required).
        text_column: the column holding the text.
        label_column: the column holding the label (class label, text, integer or boolean).
        max_chars: longest text in characters, or null.
        on_empty: ``drop`` (counted) or ``error`` for a blank or missing text.
    """

    name = "huggingface_labelled"
    unseen_field = "label"

    text_column: str = "text"
    label_column: str = "label"

    def __post_init__(self) -> None:
        super().__post_init__()
        for key, value in (("text_column", self.text_column), ("label_column", self.label_column)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{self.name}: {key} must be a non-empty string, got {value!r}")
        if self.text_column == self.label_column:
            raise ValueError(f"{self.name}: text_column and label_column are both {self.text_column!r}")

    def _read(self, hub_split: str) -> list[Example]:
        table = self.loader.load(hub_split)
        self.loader.column(table, "text_column", self.text_column, {"text"})
        names = class_names(
            self.loader.column(table, "label_column", self.label_column, {"class_label", "text", "int", "bool"})
        )
        examples: list[Example] = []
        rows = zip(table[self.text_column], table[self.label_column])
        for i, (text, label) in enumerate(rows, 1):
            where = f"{self.loader.where(hub_split)} row {i}"
            name = _label_name(label, names, where)
            if name is None:
                self._count("dropped_unlabelled")
                continue
            kept = self.policy.clean([(text, where)], self.stats)
            if kept:
                examples.append({"text": kept[0], "label": name, "_where": where})
        return examples


def _label_name(label: Any, names: list[str] | None, where: str) -> str | None:
    """A row's label as text, or None when it has none (missing, empty, -1)."""
    if label is None or (isinstance(label, str) and not label.strip()) or (names is not None and label == -1):
        return None
    if names is None:
        return label.strip() if isinstance(label, str) else str(label)
    if not isinstance(label, int) or not 0 <= label < len(names):
        raise DataError(f"{where}: label {label!r} is not an id of the column's {len(names)} class names")
    return names[label]


@dataclass(kw_only=True, eq=False, repr=False)
class HuggingFaceParallelSource(HubExampleSource, TargetExampleSource):
    """Translation pairs from a Hub dataset: a wmt/opus-style translation column, or two text columns.

    Examples are ``{"source": str, "target": str}``, read from one column of
    ``{language: text}`` mappings (``translation_column``, ``source_lang``, ``target_lang``) or
    from two text columns (``source_column``, ``target_column``).

    Pairs with an empty side are dropped and counted (``stats["dropped_empty_pairs"]``), as
    in ``parallel_files``. Dataset loading scripts are never enabled (no
    ``trust_remote_code``); offline, an uncached dataset fails at once saying how to cache it.

    Args:
        path: the Hub id, e.g. ``wmt/wmt16``.
        config: the dataset's configuration (subset) name, e.g. ``de-en``.
        split: one Hub split cut into train/valid/test by ``seed`` and the fractions, or a
            mapping such as ``{train: train, valid: validation, test: test}`` (``train`` required).
        source_lang: the source language's key in ``translation_column``, e.g. ``en``.
        target_lang: the target language's key, e.g. ``de``.
        translation_column: the column of ``{language: text}`` mappings.
        source_column: the column holding source texts (instead of the languages).
        target_column: the column holding target texts.
        max_chars: longest text per side in characters, or null.
        on_overlength: ``truncate``, ``drop`` (the pair) or ``error`` past ``max_chars``.
    """

    name = "huggingface_parallel"
    input_field = "source"

    source_lang: str | None = None
    target_lang: str | None = None
    translation_column: str = "translation"
    source_column: str | None = None
    target_column: str | None = None
    on_empty: str = field(default="drop", init=False)  # a pair with an empty side is always dropped

    def __post_init__(self) -> None:
        super().__post_init__()
        by_column, by_lang = (self.source_column, self.target_column), (self.source_lang, self.target_lang)
        for pair, kind in ((by_column, "column"), (by_lang, "lang")):
            if (pair[0] is None) != (pair[1] is None):
                given, missing = ("source", "target") if pair[1] is None else ("target", "source")
                raise ValueError(f"{self.name}: {given}_{kind} is set but {missing}_{kind} is not; give both")
            if pair[0] is not None and (not all(isinstance(v, str) and v for v in pair) or pair[0] == pair[1]):
                raise ValueError(
                    f"{self.name}: source_{kind} and target_{kind} must be two different non-empty "
                    f"strings, got {pair[0]!r} and {pair[1]!r}"
                )
        if (self.source_column is None) == (self.source_lang is None):
            raise ValueError(
                f"{self.name}: give source_lang and target_lang (a translation column of "
                "{language: text}) or source_column and target_column (two text columns), not "
                f"{'both' if self.source_column else 'neither'}"
            )

    def _sides(self, hub_split: str) -> tuple[list[Any], list[Any]]:
        table = self.loader.load(hub_split)
        if self.source_column is not None and self.target_column is not None:
            self.loader.column(table, "source_column", self.source_column, {"text"})
            self.loader.column(table, "target_column", self.target_column, {"text"})
            return list(table[self.source_column]), list(table[self.target_column])
        feature = self.loader.column(table, "translation_column", self.translation_column, {"translation"})
        languages = list(getattr(feature, "languages", None) or feature)
        for key, lang in (("source_lang", self.source_lang), ("target_lang", self.target_lang)):
            if lang not in languages:
                close = suggest(str(lang), languages)
                raise DataError(
                    f"data.{key}: {lang!r} is not a language of column {self.translation_column!r} of "
                    f"{self.path!r} (languages: {', '.join(languages)})"
                    + (f"; did you mean {close!r}?" if close else "")
                )
        rows = [row or {} for row in table[self.translation_column]]
        return [row.get(self.source_lang) for row in rows], [row.get(self.target_lang) for row in rows]

    def _read(self, hub_split: str) -> list[Example]:
        examples: list[Example] = []
        for i, pair in enumerate(zip(*self._sides(hub_split)), 1):
            where = f"{self.loader.where(hub_split)} row {i}"
            fitted = []
            for side, text in zip(("source", "target"), pair):
                text = "" if text is None else text
                if not isinstance(text, str):
                    raise DataError(f"{where}: expected {side} text, got {type(text).__name__} {text!r}")
                fitted.append(self.policy.fit_length(text, f"{where} ({side})", self.stats))
            source, target = fitted
            if source is None or target is None:
                continue
            if source.strip() and target.strip():
                examples.append({"source": source, "target": target, "_where": where})
            else:
                self._count("dropped_empty_pairs")
        return examples
