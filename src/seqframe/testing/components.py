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

__all__ = ["DATA_CHECKS", "TOKENIZER_CHECKS", "check_data_source", "check_tokenizer", "run_data_checks",
           "run_tokenizer_checks"]

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


def run_tokenizer_checks(factory: Callable[..., Any], *, options: Mapping[str, Any] | None = None,
                         texts: Sequence[str] = _TEXTS, lossless: bool = True) -> list[CheckResult]:
    """Run :data:`TOKENIZER_CHECKS` on a tokenizer.

    Args:
        factory: the tokenizer class, called as ``factory(**options)``.
        options: its options, as a recipe's ``tokenizer`` section gives them.
        texts: training texts (also encoded and decoded).
        lossless: whether ``decode(encode(text)) == text`` for the training texts (False
            for a tokenizer that normalises, e.g. collapses whitespace).
    """
    made: dict[str, Any] = {}

    def construct() -> str:
        made["tok"] = tok = factory(**dict(options or {}))
        _expect(isinstance(tok, Tokenizer), f"{type(tok).__name__} lacks part of seqframe.interfaces.Tokenizer "
                                            "(pad_id, bos_id, eos_id, unk_id, vocab_size, fit, encode, decode, "
                                            "state_dict, load_state_dict)")
        return type(tok).__name__

    def fit() -> str:
        made["tok"].fit(list(texts))
        size = made["tok"].vocab_size
        _expect(isinstance(size, int) and size > 4, f"vocab_size must be an int > 4 after fit, got {size!r}")
        return f"vocab_size {size}"

    def specials() -> str:
        tok = made["tok"]
        ids = [tok.pad_id, tok.bos_id, tok.eos_id, tok.unk_id]
        _expect(len(set(ids)) == 4 and all(isinstance(i, int) and 0 <= i < tok.vocab_size for i in ids),
                f"pad, bos, eos and unk must be 4 distinct ids in [0, {tok.vocab_size}), got {ids}")
        return ""

    def ids_in_range() -> str:
        tok = made["tok"]
        encoded = [tok.encode(text) for text in [*texts, "", "unseen ⌘ symbols"]]
        _expect(encoded[len(texts)] == [], f"encode('') must be [], got {encoded[len(texts)]!r}")
        bad = [i for ids in encoded for i in ids if not (isinstance(i, int) and 0 <= i < tok.vocab_size)]
        _expect(not bad, f"encode gave ids outside [0, {tok.vocab_size}): {bad[:5]}")
        return ""

    def round_trip() -> str:
        if not lossless:
            return "skipped: lossless=False"
        tok = made["tok"]
        wrong = [(t, tok.decode(tok.encode(t))) for t in texts if tok.decode(tok.encode(t)) != t]
        if wrong:
            raise AssertionError(f"decode(encode(text)) != text: {wrong[0][0]!r} -> {wrong[0][1]!r} (pass "
                                 "lossless=False for a tokenizer that normalises text)")
        return ""

    def state_round_trip() -> str:
        tok = made["tok"]
        state = json.loads(json.dumps(tok.state_dict()))
        fresh = factory(**dict(options or {}))
        fresh.load_state_dict(state)
        _expect(fresh.vocab_size == tok.vocab_size and all(fresh.encode(t) == tok.encode(t) for t in texts),
                "a fresh tokenizer loaded with the JSON round trip of state_dict() encodes differently")
        return ""

    return _run(TOKENIZER_CHECKS, [construct, fit, specials, ids_in_range, round_trip, state_round_trip])


def check_tokenizer(factory: Callable[..., Any], **kwargs: Any) -> list[CheckResult]:
    """:func:`run_tokenizer_checks`, raising AssertionError listing every failed check."""
    results = run_tokenizer_checks(factory, **kwargs)
    raise_failures(f"tokenizer {getattr(factory, '__name__', factory)!r}", results)
    return results


def run_data_checks(factory: Callable[..., Any], *, options: Mapping[str, Any] | None = None) -> list[CheckResult]:
    """Run :data:`DATA_CHECKS` on a data source, called as ``factory(**options)``. The
    ``examples``, ``targets`` and ``features`` checks apply to sources that implement
    :class:`ExampleSource`, :class:`TargetSource` and :class:`FeatureSource`."""
    made: dict[str, Any] = {}

    def construct() -> str:
        made["data"] = data = factory(**dict(options or {}))
        _expect(isinstance(data, TextSource), f"{type(data).__name__} has no texts(split): not a TextSource")
        kinds = [p.__name__ for p in (ExampleSource, TargetSource, FeatureSource) if isinstance(data, p)]
        return ", ".join(["TextSource", *kinds])

    def splits() -> str:
        data = made["data"]
        texts = {split: data.texts(split) for split in SPLITS}
        for split, found in texts.items():
            _expect(isinstance(found, list) and all(isinstance(t, str) for t in found),
                    f"texts({split!r}) must be a list of str, got {found!r:.80}")
        _expect(bool(texts["train"]), "texts('train') is empty")
        try:
            data.texts("training")
        except ValueError:
            return ", ".join(f"{split} {len(found)}" for split, found in texts.items())
        raise AssertionError("texts('training') must raise ValueError (an unknown split)")

    def deterministic() -> str:
        again = factory(**dict(options or {}))
        _expect(all(again.texts(s) == made["data"].texts(s) for s in SPLITS),
                "two sources built with the same options serve different texts")
        return ""

    def examples() -> str:
        data = made["data"]
        if not isinstance(data, ExampleSource):
            return "not an ExampleSource"
        for split in SPLITS:
            found = data.examples(split)
            _expect(isinstance(found, list) and all(isinstance(e, dict) for e in found),
                    f"examples({split!r}) must be a list of dicts")
            _expect(len(found) == len(data.texts(split)), f"{split}: {len(found)} examples but "
                                                          f"{len(data.texts(split))} texts")
        first = data.examples("train")
        first[0].clear()
        _expect(bool(data.examples("train")[0]), "examples() must return fresh dicts (clearing one changed the source)")
        return f"fields {', '.join(sorted(data.examples('train')[0]))}"

    def targets() -> str:
        data = made["data"]
        if not isinstance(data, TargetSource):
            return "not a TargetSource"
        found = data.target_texts("train")
        _expect(len(found) == len(data.examples("train")) and all(isinstance(t, str) for t in found),
                "target_texts('train') must give one str per training example")
        return ""

    def features() -> str:
        data = made["data"]
        if not isinstance(data, FeatureSource):
            return "not a FeatureSource"
        size, spec = data.feature_size, data.feature_spec
        bad = [e for s in SPLITS for e in data.examples(s)
               if len(e["features"]) != size or not all(math.isfinite(v) for v in e["features"])]
        if bad:
            raise AssertionError(f"examples whose features are not {size} finite numbers: {bad[0]!r:.80}")
        json.dumps(spec)
        return f"feature_size {size}"

    return _run(DATA_CHECKS, [construct, splits, deterministic, examples, targets, features])


def check_data_source(factory: Callable[..., Any], **kwargs: Any) -> list[CheckResult]:
    """:func:`run_data_checks`, raising AssertionError listing every failed check."""
    results = run_data_checks(factory, **kwargs)
    raise_failures(f"data source {getattr(factory, '__name__', factory)!r}", results)
    return results
