"""Feature specs turn raw input into the vectors the sources produce."""

from __future__ import annotations

import pytest

from seqframe.builtin.data.features import featurize
from seqframe.builtin.data.generated.numbers import NumberLanguageFeaturesSource, NumberSpellingSource
from seqframe.errors import DataError


def test_digit_spec_reproduces_the_source_features() -> None:
    source = NumberSpellingSource(max_number=1000, valid_size=5, test_size=5)
    example = source.examples("valid")[0]
    assert featurize(source.feature_spec, example["text"]) == example["features"]
    assert len(example["features"]) == source.feature_size == 30


def test_character_count_spec_reproduces_the_source_features() -> None:
    source = NumberLanguageFeaturesSource(max_number=200, size=80, valid_size=16, test_size=16)
    example = source.examples("test")[3]
    assert featurize(source.feature_spec, example["text"]) == example["features"]


@pytest.mark.parametrize("bad", ["12345", "-3", "abc", ""])
def test_digit_spec_rejects_input_that_does_not_fit(bad: str) -> None:
    with pytest.raises(DataError, match="at most 4 digits"):
        featurize({"kind": "digits", "digits": 4}, bad)
