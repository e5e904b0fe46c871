"""The tokenizer and data-source conformance kits: every built-in passes, and a component
that breaks the contract gets a failed check naming what is wrong."""

from __future__ import annotations

from typing import Any

import pytest

from seqframe.builtin.data.generated.numbers import (
    NumberLanguageFeaturesSource,
    NumberSpellingSource,
    NumberTranslationSource,
)
from seqframe.builtin.data.generated.pydoc import CapitalisationSource
from seqframe.builtin.datasets import PydocTopicsSource
from seqframe.builtin.subword import SentencePieceTokenizer
from seqframe.builtin.tokenizers import CharTokenizer, WordTokenizer
from seqframe.testing import (
    DATA_CHECKS,
    TOKENIZER_CHECKS,
    check_data_source,
    check_tokenizer,
    run_data_checks,
    run_tokenizer_checks,
)

NUMBERS = {"max_number": 60, "valid_size": 6, "test_size": 6}


@pytest.mark.parametrize(
    ("factory", "options", "lossless"),
    [
        (CharTokenizer, {}, True),
        (WordTokenizer, {}, False),
        (SentencePieceTokenizer, {"vocab_size": 40}, False),
    ],
    ids=["char", "word", "sentencepiece"],
)
def test_every_builtin_tokenizer_passes_the_kit(factory: Any, options: dict[str, Any], lossless: bool) -> None:
    results = check_tokenizer(factory, options=options, lossless=lossless)
    assert [r.name for r in results] == list(TOKENIZER_CHECKS)


@pytest.mark.parametrize(
    ("factory", "options"),
    [
        (PydocTopicsSource, {}),
        (CapitalisationSource, {}),
        (NumberTranslationSource, NUMBERS),
        (NumberSpellingSource, NUMBERS),
        (NumberLanguageFeaturesSource, {**NUMBERS, "languages": ["en", "de"], "size": 40}),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_every_kind_of_builtin_source_passes_the_kit(factory: Any, options: dict[str, Any]) -> None:
    assert [r.name for r in check_data_source(factory, options=options)] == list(DATA_CHECKS)


class _Forgetful(CharTokenizer):
    def state_dict(self) -> dict[str, Any]:
        return {"kind": "char", "symbols": self.symbols[:-1]}


def test_a_tokenizer_whose_state_loses_symbols_fails_the_round_trip() -> None:
    failed = {r.name: r.reason for r in run_tokenizer_checks(_Forgetful) if not r.passed}
    assert list(failed) == ["state_round_trip"] and "encodes differently" in failed["state_round_trip"]


class _Shared:
    """Serves the same dicts every time and no way to reject an unknown split."""

    examples_ = [{"text": "a", "label": "x"}, {"text": "b", "label": "y"}]

    def texts(self, split: str) -> list[str]:
        return [e["text"] for e in self.examples_]

    def examples(self, split: str) -> list[dict[str, Any]]:
        return self.examples_


def test_a_source_that_shares_its_examples_fails_with_reasons() -> None:
    failed = {r.name: r.reason for r in run_data_checks(_Shared) if not r.passed}
    assert failed == {
        "splits": "texts('training') must raise ValueError (an unknown split)",
        "examples": "examples() must return fresh dicts (clearing one changed the source)",
    }
