"""The Multi30k benchmark's count of degenerate outputs (a word or subword piece 4 or more
times in a row), by hand; and its Multi30k mode end to end on tiny settings (given steps,
--save, --load) when the files are present."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

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


MULTI30K = Path(__file__).resolve().parents[2] / "shared" / "data" / "multi30k"


@pytest.mark.skipif(not MULTI30K.is_dir(), reason="needs the Multi30k files (../shared/data/multi30k)")
def test_multi30k_mode_plans_given_steps_saves_a_run_and_decodes_it_again(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def main(*words: str) -> dict[str, Any]:
        out = tmp_path / words[0]
        argv = ["translation.py", "--multi30k", str(MULTI30K), "--quick", "--threads", "1", "--out", str(out)]
        monkeypatch.setattr(sys, "argv", [*argv, *words[1:]])
        bench.main()
        result: dict[str, Any] = json.loads((out / "multi30k_quick.json").read_text())
        return result

    trained = main("trained", "--steps", "4", "--save", str(tmp_path / "run"))
    assert trained["planned_steps"] == 4 and trained["steps"] == 4  # no pilot: the steps given
    assert trained["pilot_cpu_s_per_step"] is None and trained["loaded"] is None
    loaded = main("loaded", "--load", str(tmp_path / "run"))
    assert loaded["loaded"] == str(tmp_path / "run") and loaded["steps"] == 0
    for name in ("beam 1, no blocking", "beam 5"):  # the saved run translates as the trained one did
        assert loaded["scores"][name]["examples"] == trained["scores"][name]["examples"]
        assert 0 <= loaded["scores"][name]["bleu_lowercase"] <= 100
