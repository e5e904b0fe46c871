"""The Multi30k benchmark's count of degenerate outputs (a word or subword piece 4 or more
times in a row), by hand."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from seqframe.builtin.tokenizers import CharTokenizer

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "translation.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # the script sets it if unset; keep the caller's as it was
        spec = importlib.util.spec_from_file_location("translation_benchmark", SCRIPT)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        patch.setitem(sys.modules, "translation_benchmark", module)
        spec.loader.exec_module(module)
        return module


def test_repeats_counts_runs_not_totals(bench: ModuleType) -> None:
    assert bench.repeats(["a", "b", "b", "b", "b"])
    assert not bench.repeats(["b", "b", "b", "a", "b"])  # four b, but at most three in a row
    assert not bench.repeats([])
    assert bench.repeats([7, 7], run=2) and not bench.repeats([7], run=2)


def test_degenerate_counts_sentences_looping_on_a_word_or_a_piece(bench: ModuleType) -> None:
    chars = CharTokenizer()
    chars.fit(["Ein Boririri mit T-Shirt", "ja ja ja ja"])
    hyps = [
        "Ein Boooor mit T-Shirt.",  # 'o' four times: a piece (character) loop
        "ja ja ja ja",  # a word four times
        "ja ja ja nein",  # three: fine
        "Ein Boririri mit T-Shirt",
    ]  # 'ri' three times is no run of one piece
    assert bench.degenerate(hyps, chars) == 2
