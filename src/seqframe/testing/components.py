"""Conformance checks for tokenizers and data sources, for plugin authors to run from their
own tests. Each ``run_*_checks`` returns one :class:`CheckResult` per check; each
``check_*`` raises one AssertionError listing every failure. Exceptions raised by the
component become failed checks. Facade layer: imports the contracts only.

Example:
    >>> from seqframe.testing import check_data_source, check_tokenizer
    >>> def test_my_components_conform():
    ...     check_tokenizer(MyTokenizer, texts=["some text", "more text"])
    ...     check_data_source(MyData, options={"size": 20})
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from seqframe.interfaces import SPLITS, ExampleSource, FeatureSource, TargetSource, TextSource, Tokenizer
from seqframe.testing.report import CheckResult, raise_failures

__all__ = [
    "DATA_CHECKS",
    "TOKENIZER_CHECKS",
    "check_data_source",
    "check_tokenizer",
    "run_data_checks",
    "run_tokenizer_checks",
]

TOKENIZER_CHECKS = ("construct", "fit", "specials", "ids_in_range", "round_trip", "state_round_trip")
DATA_CHECKS = ("construct", "splits", "deterministic", "examples", "targets", "features")
_TEXTS = ("The cat sat on the mat.", "A dog ran under the log, then slept!", "naïve café: 3 + 4 = 7")


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _run(names: Sequence[str], steps: Sequence[Callable[[], str]]) -> list[CheckResult]:
    """Each step's result; after ``construct`` fails, the rest are reported as not run."""
    results: list[CheckResult] = []
    for name, step in zip(names, steps):
        if results and not results[0].passed:
            results.append(CheckResult(name, False, "not run: 'construct' failed"))
            continue
        try:
            results.append(CheckResult(name, True, step() or ""))
        except AssertionError as exc:
            results.append(CheckResult(name, False, str(exc)))
        except Exception as exc:  # the component's own error: a failed check
            results.append(CheckResult(name, False, f"raised {type(exc).__name__}: {exc}"))
    return results


class _TokenizerKit:
    """The tokenizer checks, sharing the instance they build and fit."""

    def __init__(
        self, factory: Callable[..., Any], options: Mapping[str, Any], texts: Sequence[str], lossless: bool
    ) -> None:
        self.factory, self.options, self.texts, self.lossless = factory, dict(options), list(texts), lossless
        self.tok: Any = None

    def construct(self) -> str:
        self.tok = self.factory(**self.options)
        _expect(
            isinstance(self.tok, Tokenizer),
            f"{type(self.tok).__name__} lacks part of seqframe.interfaces."
            "Tokenizer (pad_id, bos_id, eos_id, unk_id, vocab_size, fit, encode, "
            "decode, state_dict, load_state_dict)",
        )
        return type(self.tok).__name__

    def fit(self) -> str:
        self.tok.fit(self.texts)
        size = self.tok.vocab_size
        _expect(isinstance(size, int) and size > 4, f"vocab_size must be an int > 4 after fit, got {size!r}")
        return f"vocab_size {size}"

    def specials(self) -> str:
        ids = [self.tok.pad_id, self.tok.bos_id, self.tok.eos_id, self.tok.unk_id]
        _expect(
            len(set(ids)) == 4 and all(isinstance(i, int) and 0 <= i < self.tok.vocab_size for i in ids),
            f"pad, bos, eos and unk must be 4 distinct ids in [0, {self.tok.vocab_size}), got {ids}",
        )
        return ""

    def ids_in_range(self) -> str:
        _expect(self.tok.encode("") == [], f"encode('') must be [], got {self.tok.encode('')!r}")
        size = self.tok.vocab_size
        bad = [
            i
            for text in [*self.texts, "unseen ⌘ symbols"]
            for i in self.tok.encode(text)
            if not (isinstance(i, int) and 0 <= i < size)
        ]
        _expect(not bad, f"encode gave ids outside [0, {size}): {bad[:5]}")
        return ""

    def round_trip(self) -> str:
        if not self.lossless:
            return "skipped: lossless=False"
        wrong = [(t, self.tok.decode(self.tok.encode(t))) for t in self.texts]
        wrong = [(t, back) for t, back in wrong if back != t]
        if wrong:
            raise AssertionError(
                f"decode(encode(text)) != text: {wrong[0][0]!r} -> {wrong[0][1]!r} (pass "
                "lossless=False for a tokenizer that normalises text)"
            )
        return ""

    def state_round_trip(self) -> str:
        fresh = self.factory(**self.options)
        fresh.load_state_dict(json.loads(json.dumps(self.tok.state_dict())))
        _expect(
            fresh.vocab_size == self.tok.vocab_size and all(fresh.encode(t) == self.tok.encode(t) for t in self.texts),
            "a fresh tokenizer loaded with the JSON round trip of state_dict() encodes differently",
        )
        return ""


def run_tokenizer_checks(
    factory: Callable[..., Any],
    *,
    options: Mapping[str, Any] | None = None,
    texts: Sequence[str] = _TEXTS,
    lossless: bool = True,
) -> list[CheckResult]:
    """Run :data:`TOKENIZER_CHECKS` on a tokenizer.

    Args:
        factory: the tokenizer class, called as ``factory(**options)``.
        options: its options, as a recipe's ``tokenizer`` section gives them.
        texts: training texts (also encoded and decoded).
        lossless: whether ``decode(encode(text)) == text`` for the training texts (False
            for a tokenizer that normalises, e.g. collapses whitespace).
    """
    kit = _TokenizerKit(factory, options or {}, texts, lossless)
    return _run(
        TOKENIZER_CHECKS, [kit.construct, kit.fit, kit.specials, kit.ids_in_range, kit.round_trip, kit.state_round_trip]
    )


def check_tokenizer(factory: Callable[..., Any], **kwargs: Any) -> list[CheckResult]:
    """:func:`run_tokenizer_checks`, raising AssertionError listing every failed check."""
    results = run_tokenizer_checks(factory, **kwargs)
    raise_failures(f"tokenizer {getattr(factory, '__name__', factory)!r}", results)
    return results


class _DataKit:
    """The data-source checks, sharing the instance they build."""

    def __init__(self, factory: Callable[..., Any], options: Mapping[str, Any]) -> None:
        self.factory, self.options = factory, dict(options)
        self.data: Any = None

    def construct(self) -> str:
        self.data = self.factory(**self.options)
        _expect(isinstance(self.data, TextSource), f"{type(self.data).__name__} has no texts(split): not a TextSource")
        kinds = [p.__name__ for p in (ExampleSource, TargetSource, FeatureSource) if isinstance(self.data, p)]
        return ", ".join(["TextSource", *kinds])

    def splits(self) -> str:
        texts = {split: self.data.texts(split) for split in SPLITS}
        for split, found in texts.items():
            _expect(
                isinstance(found, list) and all(isinstance(t, str) for t in found),
                f"texts({split!r}) must be a list of str, got {found!r:.80}",
            )
        _expect(bool(texts["train"]), "texts('train') is empty")
        try:
            self.data.texts("training")
        except ValueError:
            return ", ".join(f"{split} {len(found)}" for split, found in texts.items())
        raise AssertionError("texts('training') must raise ValueError (an unknown split)")

    def deterministic(self) -> str:
        again = self.factory(**self.options)
        _expect(
            all(again.texts(s) == self.data.texts(s) for s in SPLITS),
            "two sources built with the same options serve different texts",
        )
        return ""

    def examples(self) -> str:
        if not isinstance(self.data, ExampleSource):
            return "not an ExampleSource"
        for split in SPLITS:
            found, texts = self.data.examples(split), self.data.texts(split)
            _expect(
                isinstance(found, list) and all(isinstance(e, dict) for e in found),
                f"examples({split!r}) must be a list of dicts",
            )
            _expect(len(found) == len(texts), f"{split}: {len(found)} examples but {len(texts)} texts")
        self.data.examples("train")[0].clear()
        _expect(
            bool(self.data.examples("train")[0]), "examples() must return fresh dicts (clearing one changed the source)"
        )
        return f"fields {', '.join(sorted(self.data.examples('train')[0]))}"

    def targets(self) -> str:
        if not isinstance(self.data, TargetSource):
            return "not a TargetSource"
        found = self.data.target_texts("train")
        _expect(
            len(found) == len(self.data.examples("train")) and all(isinstance(t, str) for t in found),
            "target_texts('train') must give one str per training example",
        )
        return ""

    def features(self) -> str:
        if not isinstance(self.data, FeatureSource):
            return "not a FeatureSource"
        size = self.data.feature_size
        bad = [
            e
            for s in SPLITS
            for e in self.data.examples(s)
            if len(e["features"]) != size or not all(math.isfinite(v) for v in e["features"])
        ]
        if bad:
            raise AssertionError(f"examples whose features are not {size} finite numbers: {bad[0]!r:.80}")
        json.dumps(self.data.feature_spec)
        return f"feature_size {size}"


def run_data_checks(factory: Callable[..., Any], *, options: Mapping[str, Any] | None = None) -> list[CheckResult]:
    """Run :data:`DATA_CHECKS` on a data source, called as ``factory(**options)``. The
    ``examples``, ``targets`` and ``features`` checks apply to sources that implement
    :class:`ExampleSource`, :class:`TargetSource` and :class:`FeatureSource`."""
    kit = _DataKit(factory, options or {})
    return _run(DATA_CHECKS, [kit.construct, kit.splits, kit.deterministic, kit.examples, kit.targets, kit.features])


def check_data_source(factory: Callable[..., Any], **kwargs: Any) -> list[CheckResult]:
    """:func:`run_data_checks`, raising AssertionError listing every failed check."""
    results = run_data_checks(factory, **kwargs)
    raise_failures(f"data source {getattr(factory, '__name__', factory)!r}", results)
    return results
