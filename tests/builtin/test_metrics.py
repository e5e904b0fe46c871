"""Metrics: label metrics by hand, BLEU and chrF equal to sacrebleu's own."""

from __future__ import annotations

import pytest
import sacrebleu

from seqframe.builtin.metrics import CorpusScore, accuracy, bleu, chrf, exact_match, macro_f1, token_accuracy

HYPS = ["the cat sat on the mat", "a dog barks loudly", "vierundzwanzig"]
REFS = ["the cat sat on a mat", "the dog barks loudly", "vierundzwanzig"]


def test_accuracy_is_the_share_of_matches() -> None:
    assert accuracy(["a", "b", "c", "a"], ["a", "b", "a", "b"]) == 0.5


def test_macro_f1_averages_per_label_f1() -> None:
    # a: 2TP/(pred+gold) = 2/3; b: 2/4; c: predicted, never gold -> 0
    assert macro_f1(["a", "b", "a", "c"], ["a", "b", "b", "b"]) == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    assert macro_f1(["x", "y"], ["x", "y"]) == 1.0


def test_macro_f1_weighs_rare_labels_like_frequent_ones() -> None:
    gold = ["common"] * 9 + ["rare"]
    pred = ["common"] * 10
    assert accuracy(pred, gold) == 0.9
    assert macro_f1(pred, gold) == pytest.approx((18 / 19 + 0) / 2)


def test_exact_match_compares_whole_sequences() -> None:
    assert exact_match(["vierundzwanzig", "Eins"], ["vierundzwanzig", "eins"]) == 0.5


def test_token_accuracy_counts_positions_over_all_items() -> None:
    pred = [["U", "L", "O"], ["L"]]
    gold = [["U", "U", "O"], ["L"]]
    assert token_accuracy(pred, gold) == 0.75
    assert token_accuracy(pred, gold, ignore={"O"}) == pytest.approx(2 / 3)


@pytest.mark.parametrize("metric", [accuracy, macro_f1, exact_match])
def test_label_metrics_reject_length_mismatch_and_empty_input(metric: object) -> None:
    with pytest.raises(ValueError, match="2 predictions for 1 gold"):
        metric(["a", "b"], ["a"])  # type: ignore[operator]
    with pytest.raises(ValueError, match="no items"):
        metric([], [])  # type: ignore[operator]


def test_token_accuracy_rejects_an_item_of_another_length() -> None:
    with pytest.raises(ValueError, match="item 1 has 1 predicted tags for 2 gold tags"):
        token_accuracy([["L"], ["L"]], [["L"], ["L", "U"]])
    with pytest.raises(ValueError, match="no tag positions"):
        token_accuracy([["O"]], [["O"]], ignore={"O"})


def test_bleu_equals_sacrebleu_corpus_bleu() -> None:
    result = bleu(HYPS, REFS)
    assert isinstance(result, CorpusScore)
    assert result.score == sacrebleu.corpus_bleu(HYPS, [REFS]).score
    assert result.signature.startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")


def test_bleu_options_reach_sacrebleu() -> None:
    assert bleu(["The Cat sat on the Mat"], ["the cat sat on the mat"], lowercase=True).score == pytest.approx(100.0)
    assert "tok:char" in bleu(HYPS, REFS, tokenize="char").signature


def test_chrf_equals_sacrebleu_corpus_chrf() -> None:
    assert chrf(HYPS, REFS).score == sacrebleu.corpus_chrf(HYPS, [REFS]).score
    assert chrf(HYPS, REFS, word_order=2).score == sacrebleu.corpus_chrf(HYPS, [REFS], word_order=2).score
    assert "nw:2" in chrf(HYPS, REFS, word_order=2).signature


def test_corpus_metrics_reject_tokenized_input() -> None:
    with pytest.raises(TypeError, match="hypothesis 0 must be a str"):
        bleu([["the", "cat"]], ["the cat"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="1 predictions for 2 gold"):
        chrf(["a"], ["a", "b"])
