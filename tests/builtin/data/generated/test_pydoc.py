"""The sources generated from the pydoc topics: capitalisation (case tags of pydoc sentences)."""

from __future__ import annotations

import pytest

from seqframe.builtin.data.generated.pydoc import CapitalisationSource, case_tags

SPLITS = ("train", "valid", "test")


@pytest.fixture(scope="module")
def capitalisation() -> CapitalisationSource:
    return CapitalisationSource()


def test_case_tags_mark_upper_lower_and_other() -> None:
    assert case_tags("Hi, PEP 8!") == ("hi, pep 8!", ["U", "L", "O", "O", "U", "U", "U", "O", "O", "O"])


def test_case_tags_keep_one_character_per_tag() -> None:
    text, tags = case_tags("İstanbul")  # "İ".lower() has two characters
    assert len(text) == len(tags) == 8 and tags[0] == "U"


def test_capitalisation_has_one_tag_per_character_and_lowered_text(capitalisation: CapitalisationSource) -> None:
    for split in SPLITS:
        for example in capitalisation.examples(split):
            assert set(example) == {"text", "tags"}
            assert len(example["tags"]) == len(example["text"])
            assert example["text"] == example["text"].lower()
            assert set(example["tags"]) <= {"U", "L", "O"}


def test_capitalisation_sizes_and_bounds(capitalisation: CapitalisationSource) -> None:
    sizes = [len(capitalisation.examples(split)) for split in SPLITS]
    assert sizes[0] > 1000 and sizes[1] > 100 and sizes[2] > 100
    lengths = [len(text) for split in SPLITS for text in capitalisation.texts(split)]
    assert min(lengths) >= 20 and max(lengths) <= 200
    tags = [tag for ex in capitalisation.examples("train") for tag in ex["tags"]]
    assert 0.005 < tags.count("U") / (tags.count("U") + tags.count("L")) < 0.1


def test_capitalisation_splits_are_disjoint_and_seeded(capitalisation: CapitalisationSource) -> None:
    texts = {split: set(capitalisation.texts(split)) for split in SPLITS}
    assert not texts["train"] & texts["valid"] and not texts["train"] & texts["test"]
    assert not texts["valid"] & texts["test"]
    assert CapitalisationSource(seed=1).texts("valid") == CapitalisationSource(seed=1).texts("valid")
    assert CapitalisationSource(seed=1).texts("valid") != capitalisation.texts("valid")


def test_capitalisation_counts_dropped_sentences() -> None:
    data = CapitalisationSource(min_chars=50, max_chars=60)
    assert all(50 <= len(t) <= 60 for t in data.texts("train"))
    assert data.stats["dropped_short"] > 0 and data.stats["dropped_overlength"] > 0


def test_capitalisation_rejects_max_below_min() -> None:
    with pytest.raises(ValueError, match="max_chars must be an int >= 50"):
        CapitalisationSource(min_chars=50, max_chars=10)
