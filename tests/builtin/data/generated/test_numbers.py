"""The num2words sources: number_translation, number_language_id, number_language_features
and number_spelling. Small max_number keeps them fast."""

from __future__ import annotations

from collections import Counter

import pytest

from seqframe.builtin.data.generated.numbers import (
    ALPHABET,
    NumberLanguageFeaturesSource,
    NumberLanguageIdSource,
    NumberSpellingSource,
    NumberTranslationSource,
    character_counts,
)
from seqframe.builtin.data.sources import draw_numbers
from seqframe.errors import DataError

SPLITS = ("train", "valid", "test")


def small_translation(**options: object) -> NumberTranslationSource:
    options = {"max_number": 300, "valid_size": 30, "test_size": 30, **options}
    return NumberTranslationSource(**options)  # type: ignore[arg-type]


def test_translation_pairs_english_words_with_german_words() -> None:
    data = small_translation()
    pairs = {ex["source"]: ex["target"] for split in SPLITS for ex in data.examples(split)}
    assert pairs["twenty-four"] == "vierundzwanzig"  # units before tens: the output reorders the input
    assert pairs["one hundred and one"] == "einhunderteins"
    assert all(" " not in target for target in pairs.values())


def test_translation_splits_are_disjoint_and_sized() -> None:
    data = small_translation(size=100)
    sources = {split: [ex["source"] for ex in data.examples(split)] for split in SPLITS}
    assert [len(sources[s]) for s in SPLITS] == [100, 30, 30]
    assert not set(sources["train"]) & set(sources["valid"])
    assert not set(sources["train"]) & set(sources["test"])
    assert not set(sources["valid"]) & set(sources["test"])


def test_translation_default_size_takes_every_number_left() -> None:
    data = small_translation()
    assert len(data.examples("train")) == 300 - 30 - 30


def test_same_seed_same_data_other_seed_other_split() -> None:
    assert small_translation(seed=3).examples("valid") == small_translation(seed=3).examples("valid")
    assert small_translation(seed=3).examples("valid") != small_translation(seed=4).examples("valid")


def test_translation_texts_and_target_texts_follow_the_examples() -> None:
    data = small_translation(size=20)
    examples = data.examples("train")
    assert data.texts("train") == [ex["source"] for ex in examples]
    assert data.target_texts("train") == [ex["target"] for ex in examples]


def test_translation_other_languages() -> None:
    data = small_translation(source_lang="de", target_lang="fr")
    pairs = {ex["source"]: ex["target"] for split in SPLITS for ex in data.examples(split)}
    assert pairs["vierundzwanzig"] == "vingt-quatre"


def test_size_beyond_the_numbers_left_is_cut_with_a_warning() -> None:
    data = small_translation(size=1000)
    with pytest.warns(UserWarning, match="only 240 numbers"):
        assert len(data.examples("train")) == 240


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"source_lang": "english"}, "no language 'english'"),
        ({"target_lang": "dee"}, "did you mean 'de'"),
        ({"max_number": 2_000_000}, "at most 1000000"),
        ({"max_number": 50, "valid_size": 25, "test_size": 25}, "leave none"),
        ({"size": 0}, "size must be an int >= 1"),
        ({"valid_size": -1}, "valid_size"),
        ({"seed": "x"}, "seed must be an int"),
    ],
)
def test_bad_options_are_rejected_by_name(options: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        small_translation(**options)


def test_unknown_split_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        small_translation().examples("dev")


def test_draw_numbers_reports_no_training_number() -> None:
    with pytest.raises(DataError, match="no number below max_number=10 is left for training"):
        draw_numbers("x", 10, {"train": None, "valid": 5, "test": 5}, 0, lambda n: [{"n": n}], {})


def small_language_id(**options: object) -> NumberLanguageIdSource:
    options = {"max_number": 500, "size": 800, "valid_size": 160, "test_size": 160, **options}
    return NumberLanguageIdSource(**options)  # type: ignore[arg-type]


def test_language_id_is_balanced_per_split() -> None:
    data = small_language_id()
    for split, size in zip(SPLITS, (800, 160, 160)):
        counts = Counter(ex["label"] for ex in data.examples(split))
        assert set(counts) == {"en", "de", "fr", "es", "it", "pt", "nl", "sv"}
        assert set(counts.values()) == {size // 8}


def test_language_id_splits_share_no_text_and_no_number() -> None:
    data = small_language_id(languages=["en", "de"], size=200)
    texts = {split: {ex["text"] for ex in data.examples(split)} for split in SPLITS}
    assert not texts["train"] & texts["valid"] and not texts["train"] & texts["test"]
    assert not texts["valid"] & texts["test"]


def test_language_id_skips_numbers_spelt_alike() -> None:
    data = NumberLanguageIdSource(languages=["it", "sv"], max_number=10, size=14, valid_size=2, test_size=2)
    texts = [ex["text"] for split in SPLITS for ex in data.examples(split)]
    assert "tre" not in texts  # three is "tre" in both Italian and Swedish
    assert data.stats["skipped_numbers"] >= 1
    assert len(texts) == len(set(texts))


def test_language_id_fields_and_texts() -> None:
    data = small_language_id(languages=["en", "de"], size=20, valid_size=4, test_size=4)
    example = data.examples("train")[0]
    assert set(example) == {"text", "label"} and example["label"] in ("en", "de")
    assert data.texts("train") == [ex["text"] for ex in data.examples("train")]
    assert not hasattr(data, "target_texts")


@pytest.mark.parametrize("languages", [["en"], ["en", "en"], "en"])
def test_language_id_needs_two_distinct_languages(languages: object) -> None:
    with pytest.raises(ValueError, match="at least 2 distinct"):
        small_language_id(languages=languages)


def test_language_features_are_character_shares() -> None:
    data = NumberLanguageFeaturesSource(languages=["de", "sv"], max_number=100, size=40, valid_size=10, test_size=10)
    assert data.feature_size == len(ALPHABET) + 1
    for example in data.examples("train"):
        assert set(example) == {"features", "label", "text"}
        assert len(example["features"]) == data.feature_size
        assert sum(example["features"]) == pytest.approx(1.0)
        assert example["features"] == character_counts(example["text"])


def test_character_counts_places_each_character() -> None:
    vector = character_counts("für ö!")
    assert vector[ALPHABET.index("f")] == pytest.approx(1 / 6)
    assert vector[ALPHABET.index("ü")] == pytest.approx(1 / 6)
    assert vector[ALPHABET.index(" ")] == pytest.approx(1 / 6)
    assert vector[-1] == pytest.approx(1 / 6)  # "!" is outside the alphabet
    assert character_counts("") == [0.0] * (len(ALPHABET) + 1)


def test_spelling_features_are_one_hot_digits() -> None:
    data = NumberSpellingSource(max_number=10000, size=50, valid_size=10, test_size=10)
    assert data.feature_size == 40
    vector = data.features(24)
    assert [i for i, v in enumerate(vector) if v == 1.0] == [0, 10, 22, 34]  # 0, 0, 2, 4
    assert sum(vector) == 4
    for example in data.examples("valid"):
        assert data.features(int(example["text"])) == example["features"]
        assert set(example) == {"features", "text", "target"}


def test_spelling_targets_are_the_words_in_the_chosen_language() -> None:
    data = NumberSpellingSource(lang="fr", max_number=100, valid_size=10, test_size=10)
    spelt = {ex["text"]: ex["target"] for split in SPLITS for ex in data.examples(split)}
    assert spelt["24"] == "vingt-quatre" and spelt["0"] == "zéro"
    assert data.target_texts("test") == [ex["target"] for ex in data.examples("test")]
    assert len(spelt) == 100


def test_spelling_feature_size_follows_max_number() -> None:
    assert NumberSpellingSource(max_number=1000, valid_size=1, test_size=1).feature_size == 30
    assert NumberSpellingSource(max_number=1001, valid_size=1, test_size=1).feature_size == 40
    with pytest.raises(ValueError, match=r"\[0, 100\)"):
        NumberSpellingSource(max_number=100, valid_size=1, test_size=1).features(100)


def test_examples_are_fresh_copies() -> None:
    data = NumberSpellingSource(max_number=100, valid_size=10, test_size=10)
    data.examples("train")[0]["features"][0] = 99.0
    assert 99.0 not in data.examples("train")[0]["features"]
