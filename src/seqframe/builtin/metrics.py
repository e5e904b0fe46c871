"""Evaluation metrics of the built-in tasks: accuracy and macro F1 for labels, exact match
and per-character accuracy for generated sequences, per-position accuracy for tags, and corpus BLEU and chrF through
``sacrebleu`` (the reference implementation, so figures compare with published ones).

Label metrics return a fraction in ``[0, 1]``; BLEU and chrF return sacrebleu's ``0-100``
score with its signature. ``sacrebleu`` is imported when first used. Imports no seqframe
module.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["CorpusScore", "accuracy", "bleu", "char_accuracy", "chrf", "exact_match", "macro_f1", "token_accuracy"]


@dataclass(frozen=True)
class CorpusScore:
    """A corpus-level score and how it was computed.

    Attributes:
        score: the score on sacrebleu's 0-100 scale.
        signature: sacrebleu's signature string (references, case, tokenizer, smoothing,
            version), to report next to the score, e.g.
            ``nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0``.
    """

    score: float
    signature: str

    def __str__(self) -> str:
        return f"{self.score:.2f} ({self.signature})"


def _check_pairs(name: str, pred: Sequence[object], gold: Sequence[object]) -> None:
    if len(pred) != len(gold):
        raise ValueError(f"{name}: {len(pred)} predictions for {len(gold)} gold items; expected one per item")
    if not gold:
        raise ValueError(f"{name}: no items to score")


def accuracy(pred: Sequence[Hashable], gold: Sequence[Hashable]) -> float:
    """Share of items whose prediction equals the gold label.

    Args:
        pred: predicted labels, one per item.
        gold: gold labels, in the same order.

    Returns:
        A fraction in ``[0, 1]``.

    Raises:
        ValueError: the sequences differ in length or are empty.

    Example:
        >>> accuracy(["de", "en", "fr"], ["de", "en", "en"])
        0.6666666666666666
    """
    _check_pairs("accuracy", pred, gold)
    return sum(p == g for p, g in zip(pred, gold)) / len(gold)


def macro_f1(pred: Sequence[Hashable], gold: Sequence[Hashable]) -> float:
    """The unweighted mean over labels of each label's F1 (harmonic mean of precision and
    recall), so rare labels count as much as frequent ones.

    Labels are those of ``gold`` and ``pred`` together; a label never predicted, or
    predicted but never gold, has F1 0. This equals scikit-learn's
    ``f1_score(gold, pred, average="macro", zero_division=0)``. Arguments, result and errors
    as :func:`accuracy`.
    """
    _check_pairs("macro_f1", pred, gold)
    labels = set(gold) | set(pred)
    true_pos = dict.fromkeys(labels, 0)
    pred_count = dict.fromkeys(labels, 0)
    gold_count = dict.fromkeys(labels, 0)
    for p, g in zip(pred, gold):
        pred_count[p] += 1
        gold_count[g] += 1
        true_pos[g] += p == g
    # F1 = 2 TP / (predicted + gold), the same as 2PR / (P + R) and 0 when TP is 0
    return sum(2 * true_pos[label] / (pred_count[label] + gold_count[label]) for label in labels) / len(labels)


def exact_match(pred: Sequence[str], gold: Sequence[str]) -> float:
    """Share of predicted sequences identical to the gold ones (no normalisation: case,
    spaces and punctuation all count).

    Args:
        pred: predicted strings (or token sequences), one per item.
        gold: gold strings, in the same order.

    Returns:
        A fraction in ``[0, 1]``.

    Raises:
        ValueError: the sequences differ in length or are empty.
    """
    _check_pairs("exact_match", pred, gold)
    return sum(p == g for p, g in zip(pred, gold)) / len(gold)


def char_accuracy(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Characters equal at the same position, over the longer of each pair, summed over pairs
    (a missing or extra character counts as wrong).

    Args:
        hyps: generated strings, one per item.
        refs: the gold strings, in the same order.

    Returns:
        A fraction in ``[0, 1]`` (0 when there is no character at all).
    """
    same = sum(sum(a == b for a, b in zip(h, r)) for h, r in zip(hyps, refs))
    return same / max(sum(max(len(h), len(r)) for h, r in zip(hyps, refs)), 1)


def token_accuracy(
    pred_tags: Sequence[Sequence[str]], gold_tags: Sequence[Sequence[str]], *, ignore: Collection[str] = ()
) -> float:
    """Share of tag positions, over all items, whose predicted tag equals the gold tag
    (micro average: a long item weighs more than a short one).

    Args:
        pred_tags: the predicted tags of each item, one per position.
        gold_tags: the gold tags of each item, of the same lengths.
        ignore: gold tags whose positions are not scored, e.g. ``{"O"}`` to score the letters
            alone in capitalisation, where ``O`` (not a letter) follows from the input.

    Returns:
        A fraction in ``[0, 1]``.

    Raises:
        ValueError: different numbers of items, an item whose tag counts differ, or no
            position left to score.
    """
    if len(pred_tags) != len(gold_tags):
        raise ValueError(f"token_accuracy: {len(pred_tags)} predicted items for {len(gold_tags)} gold items")
    correct = total = 0
    for i, (pred, gold) in enumerate(zip(pred_tags, gold_tags)):
        if len(pred) != len(gold):
            raise ValueError(f"token_accuracy: item {i} has {len(pred)} predicted tags for {len(gold)} gold tags")
        for p, g in zip(pred, gold):
            if g not in ignore:
                correct += p == g
                total += 1
    if not total:
        raise ValueError("token_accuracy: no tag positions to score")
    return correct / total


def _check_corpus(name: str, hyps: Sequence[str], refs: Sequence[str]) -> None:
    _check_pairs(name, hyps, refs)
    for kind, texts in (("hypothesis", hyps), ("reference", refs)):
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"{name}: {kind} {i} must be a str (detokenized text), got {type(text).__name__}")


def _corpus_score(metric: Any, hyps: Sequence[str], refs: Sequence[str]) -> CorpusScore:
    """A sacrebleu ``metric``'s corpus score of ``hyps`` against one reference each."""
    result = metric.corpus_score(list(hyps), [list(refs)])
    return CorpusScore(float(result.score), str(metric.get_signature()))


def bleu(hyps: Sequence[str], refs: Sequence[str], *, tokenize: str = "13a", lowercase: bool = False) -> CorpusScore:
    """Corpus BLEU of detokenized hypotheses against one reference each, by sacrebleu.

    Pass plain text as a reader would see it: sacrebleu tokenizes itself (``13a``, its
    default and WMT's), so the score is comparable with published sacrebleu figures. It is
    ``sacrebleu.corpus_bleu(hyps, [refs]).score``.

    Args:
        hyps: the system's outputs, one string per sentence.
        refs: the reference translations, in the same order.
        tokenize: sacrebleu tokenizer (``13a``, ``intl``, ``char``, ``none``, ...).
        lowercase: score case-insensitively.

    Returns:
        The score (0-100) and sacrebleu's signature.

    Raises:
        ValueError: the sequences differ in length or are empty.
        TypeError: an item is not a string.
    """
    from sacrebleu.metrics import BLEU

    _check_corpus("bleu", hyps, refs)
    return _corpus_score(BLEU(tokenize=tokenize, lowercase=lowercase), hyps, refs)


def chrf(hyps: Sequence[str], refs: Sequence[str], *, word_order: int = 0) -> CorpusScore:
    """Corpus chrF (character n-gram F-score, beta 2) of detokenized hypotheses against one
    reference each, by sacrebleu; ``word_order=2`` gives chrF++.

    Args:
        hyps: the system's outputs, one string per sentence.
        refs: the reference translations, in the same order.
        word_order: word n-gram order added to the character n-grams (0: chrF, 2: chrF++).

    Returns and raises as :func:`bleu`.
    """
    from sacrebleu.metrics import CHRF

    _check_corpus("chrf", hyps, refs)
    return _corpus_score(CHRF(word_order=word_order), hyps, refs)
