"""The long-memory problems (``adding``, ``copy_memory``): the data is what the papers
define, deterministic by seed, and passes the data-source kit."""

from __future__ import annotations

import math

import pytest
import torch

from seqframe.builtin.data.generated.long_memory import AddingSource, CopyMemorySource, adding_baseline, copy_baseline
from seqframe.interfaces import ExampleSource, SequenceSource
from seqframe.testing import check_data_source


def test_adding_examples_have_two_markers_one_per_half_and_their_sum_as_target() -> None:
    data = AddingSource(length=10, size=50, valid_size=5, test_size=5)
    assert isinstance(data, SequenceSource) and data.feature_size == 2
    for example in data.examples("train"):
        steps = example["sequence"]
        marked = [i for i, (_, marker) in enumerate(steps) if marker == 1.0]
        assert len(steps) == 10 and len(marked) == 2 and marked[0] < 5 <= marked[1]
        assert all(0.0 <= value < 1.0 and marker in (0.0, 1.0) for value, marker in steps)
        assert example["value"] == pytest.approx(steps[marked[0]][0] + steps[marked[1]][0])


def test_adding_is_deterministic_by_seed_and_splits_differ() -> None:
    a, b = AddingSource(length=6, size=20, seed=3), AddingSource(length=6, size=20, seed=3)
    assert a.examples("train") == b.examples("train")
    assert a.examples("train") != AddingSource(length=6, size=20, seed=4).examples("train")
    assert a.examples("valid")[0] != a.examples("train")[0]
    assert AddingSource(length=6, size=99, seed=3).examples("valid") == a.examples("valid")  # split sizes independent


def test_adding_baseline_is_the_variance_of_two_uniforms() -> None:
    values = torch.tensor([e["value"] for e in AddingSource(length=4, size=20000).examples("train")])
    assert adding_baseline() == pytest.approx(1 / 6)
    assert float(((values - 1.0) ** 2).mean()) == pytest.approx(adding_baseline(), abs=0.01)


def test_copy_memory_layout_is_symbols_blanks_delimiter_then_the_symbols_back() -> None:
    data = CopyMemorySource(length=6, copy_length=3, symbols=4, size=20, valid_size=2, test_size=2)
    assert isinstance(data, ExampleSource) and not isinstance(data, SequenceSource)
    for example in data.examples("train"):
        text, tags = example["text"], example["tags"]
        assert len(text) == len(tags) == 6 + 2 * 3
        word = text[:3]
        assert set(word) <= set("abcd") and text[3:] == "-----" + ":" + "---"
        assert tags == ["-"] * 9 + list(word)
    assert data.texts("valid") == [e["text"] for e in data.examples("valid")]


def test_copy_baseline_is_the_memoryless_cross_entropy() -> None:
    assert copy_baseline(100) == pytest.approx(10 * math.log(8) / 120)
    assert copy_baseline(5, copy_length=3, symbols=4) == pytest.approx(3 * math.log(4) / 11)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"length": 1}, "length must be an int >= 2"),
        ({"size": 0}, "size must be an int >= 1"),
        ({"seed": -1}, "seed must be an int >= 0"),
    ],
)
def test_adding_rejects_bad_options(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AddingSource(**options)


def test_copy_memory_rejects_too_many_symbols() -> None:
    with pytest.raises(ValueError, match="symbols must be at most 26"):
        CopyMemorySource(symbols=27)


@pytest.mark.parametrize(
    "factory, options", [(AddingSource, {"length": 5, "size": 20}), (CopyMemorySource, {"length": 5, "size": 20})]
)
def test_sources_pass_the_data_kit(factory, options) -> None:
    check_data_source(factory, options=options)
