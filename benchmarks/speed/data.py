"""Section ``data``: tokenization throughput and the padding of length-bucketed batches.

1. Tokenization: seqframe's ``SentencePieceTokenizer`` over a list of sentences, one
   ``encode`` call per sentence vs one ``encode_batch`` call (sentencepiece's list encode),
   on the Multi30k English training sentences (tokenizer: the ``multi30k`` recipe's, 5000
   unigram pieces), or, without Multi30k, on the lines of the pydoc topics with a tokenizer
   trained on them. Both must give the same ids. The table also says which of the two the
   translation task's ``encode`` uses.
2. Padding: one epoch of the ``multi30k`` recipe's training batches
   (``TranslationTask.train_batches``: length-bucketed ``PairBatches``, batch 64): padded
   positions / all positions, for the source and target sides and together, beside the
   share random batches of the same pairs would pad. Target < 10%. Skipped when the
   Multi30k folder is missing.
"""

from __future__ import annotations

import gzip
import inspect
from pathlib import Path
from typing import Any

import torch
from benchmarks.speed.harness import Settings, check, compare, summarise
from benchmarks.speed.report import SectionResult, fmt_foreign, fmt_ratio, md_table

import seqframe

__all__ = ["run"]

FILES = {
    "source_path": "train.en.gz",
    "target_path": "train.de.gz",
    "valid_source_path": "val.en.gz",
    "valid_target_path": "val.de.gz",
    "test_source_path": "test_2016_flickr.en.gz",
    "test_target_path": "test_2016_flickr.de.gz",
}
TINY_PAIRS = 1000


def _subset(folder: Path, scratch: Path, pairs: int) -> Path:
    """A copy of ``folder`` whose training files hold only their first ``pairs`` lines."""
    out = scratch / "multi30k-subset"
    out.mkdir(parents=True, exist_ok=True)
    for name in FILES.values():
        with (
            gzip.open(folder / name, "rt", encoding="utf-8") as src,
            gzip.open(out / name, "wt", encoding="utf-8") as dst,
        ):
            for index, line in enumerate(src):
                if index >= pairs and name.startswith("train"):
                    break
                dst.write(line)
    return out


def _multi30k(folder: Path, settings: Settings, scratch: Path) -> seqframe.Pipeline:
    """The ``multi30k`` recipe's pipeline on ``folder`` (tiny: a subset and small vocabularies)."""
    if settings.tiny:
        folder = _subset(folder, scratch, TINY_PAIRS)
    overrides = [f"data.{key}={(folder / name).resolve()}" for key, name in FILES.items()] + ["train.device=cpu"]
    if settings.tiny:
        overrides += [
            "tokenizer.vocab_size=200",
            "target_tokenizer.vocab_size=200",
            "model.embedding_dim=8",
            "model.topology.hidden_size=8",
            "model.decoder.hidden_size=8",
        ]
    return seqframe.build("multi30k", overrides)


def _fallback_corpus(settings: Settings) -> tuple[list[str], Any]:
    """Pydoc-topics lines and a sentencepiece tokenizer trained on them."""
    from pydoc_data.topics import topics

    from seqframe.builtin.subword import SentencePieceTokenizer

    lines = [line for text in topics.values() for line in text.splitlines() if line.strip()]
    lines = lines[:TINY_PAIRS] if settings.tiny else lines
    tokenizer = SentencePieceTokenizer(vocab_size=100 if settings.tiny else 2000, hard_vocab_limit=False)
    tokenizer.fit(lines)
    return lines, tokenizer


def _tokenization(sentences: list[str], tokenizer: Any, corpus: str, settings: Settings, result: SectionResult) -> None:
    from seqframe.builtin.tasks.translation import TranslationTask

    same = [tokenizer.encode(s) for s in sentences] == tokenizer.encode_batch(sentences)
    verdict = check(0.0 if same else 1.0, 0.0, "ids of every sentence equal")
    variants = {
        "per sentence": lambda: [tokenizer.encode(s) for s in sentences],
        "batched": lambda: tokenizer.encode_batch(sentences),
    }
    summary = summarise(compare(variants, "per sentence", settings, torch.device("cpu")))
    rate = {name: len(sentences) / (ms / 1e3) for name, ms in summary["times_ms"].items()}
    source = inspect.getsource(inspect.getmodule(TranslationTask))
    uses_batch = "encode_texts" in source or "encode_batch" in source  # encode_texts: batched where possible
    result.rows.append(
        {
            "what": "sentencepiece encode",
            "corpus": corpus,
            "sentences": len(sentences),
            "sentences_per_s": rate,
            "check": verdict,
            "translation_task_uses_encode_batch": uses_batch,
            **summary,
        }
    )
    result.markdown += [
        f"Tokenization of {len(sentences):,} sentences ({corpus}); ratio = batched / per sentence. "
        f"The translation task's encode uses: {'encode_batch' if uses_batch else 'encode per sentence'}.",
        "",
    ]
    result.markdown += md_table(
        [
            "corpus",
            "per sentence ms",
            "batched ms",
            "per sentence sent/s",
            "batched sent/s",
            "ratio",
            "speed-up",
            "foreign CPU",
            "check",
        ],
        [
            [
                corpus,
                f"{summary['times_ms']['per sentence']:.1f}",
                f"{summary['times_ms']['batched']:.1f}",
                f"{rate['per sentence']:,.0f}",
                f"{rate['batched']:,.0f}",
                fmt_ratio(summary, "batched"),
                f"{1 / summary['ratios']['batched']:.1f}x",
                fmt_foreign(summary),
                "ok" if verdict["ok"] else "FAILED",
            ]
        ],
    )


def _padding(pipeline: seqframe.Pipeline, settings: Settings, result: SectionResult) -> None:
    from seqframe.cache import cached_encode
    from seqframe.engine.trainer import task_inputs

    task, batch_size = pipeline.task, pipeline.train.batch_size
    encoded = cached_encode(task, pipeline.tokenizers, task_inputs(task, pipeline.data, "train"))
    batches = task.train_batches(encoded, batch_size, pipeline.train.seed, pipeline.tokenizers)
    totals = {"source": [0, 0], "target": [0, 0]}  # real tokens, padded slots
    for _ in range(len(batches)):
        batch = next(batches)
        for side, key, lengths in (("source", "source", "source_lengths"), ("target", "target_in", "target_lengths")):
            totals[side][0] += int(batch[lengths].sum())
            totals[side][1] += batch[key].numel()
    src, tgt = encoded["source_lengths"], encoded["target_lengths"] - 1
    share = {side: 1 - real / slots for side, (real, slots) in totals.items()}
    share["both"] = 1 - sum(t[0] for t in totals.values()) / sum(t[1] for t in totals.values())
    seed, top = pipeline.train.seed, int(max(src.max(), tgt.max())) + 1
    other = {  # the same pairs batched by other rules, for comparison (information)
        "random batches (no length sorting)": _shares(src, tgt, torch.zeros_like(src), batch_size, 1, seed),
        "bucketed by target, then source length": _shares(src, tgt, tgt * top + src, batch_size, 50, seed),
        "bucketed by source + target length": _shares(src, tgt, src + tgt, batch_size, 50, seed),
        "bucketed by max(source, target) length, then source": _shares(
            src, tgt, torch.maximum(src, tgt) * top + src, batch_size, 50, seed
        ),
    }
    result.rows.append(
        {
            "what": "padding",
            "pairs": int(src.numel()),
            "batch_size": batch_size,
            "batches": len(batches),
            "padding_share": share,
            "other_batchings": other,
            "target": "< 0.10",
            "ok": share["both"] < 0.10,
        }
    )
    result.markdown += [
        "",
        f"Padding of one epoch of the multi30k recipe's training batches ({int(src.numel()):,} pairs, "
        f"batch {batch_size}, {len(batches)} batches; subword pieces). Target < 10%.",
        "",
    ]
    result.markdown += md_table(
        ["batching (seqframe first; the others for comparison)", "source padding", "target padding", "both"],
        [
            [
                "seqframe (length-bucketed PairBatches)",
                f"{100 * share['source']:.1f}%",
                f"{100 * share['target']:.1f}%",
                f"{100 * share['both']:.1f}%",
            ],
            *[
                [name, f"{100 * v['source']:.1f}%", f"{100 * v['target']:.1f}%", f"{100 * v['both']:.1f}%"]
                for name, v in other.items()
            ],
        ],
    )


def _shares(
    src: torch.Tensor, tgt: torch.Tensor, key: torch.Tensor, batch_size: int, bucket: int, seed: int
) -> dict[str, float]:
    """Padding shares of one epoch of :func:`bucketed_batches` under ``key`` (source, target, both)."""
    from seqframe.builtin.tasks.batching import bucketed_batches

    slots = [0, 0]
    for rows in bucketed_batches(key, batch_size, bucket, seed, 0):
        slots[0] += int(src[rows].max()) * rows.numel()
        slots[1] += int(tgt[rows].max()) * rows.numel()
    real = [int(src.sum()), int(tgt.sum())]
    return {"source": 1 - real[0] / slots[0], "target": 1 - real[1] / slots[1], "both": 1 - sum(real) / sum(slots)}


def run(settings: Settings, device: torch.device, *, multi30k: Path | None, scratch: Path) -> SectionResult:
    """Tokenization on Multi30k (or the pydoc topics), then Multi30k padding when the files exist."""
    result = SectionResult()
    present = multi30k is not None and all((multi30k / name).is_file() for name in FILES.values())
    if present:
        pipeline = _multi30k(multi30k, settings, scratch)  # type: ignore[arg-type]
        sentences = [pair["source"] for pair in pipeline.task.inputs(pipeline.data, "train")]
        _tokenization(sentences, pipeline.tokenizer, "Multi30k train.en", settings, result)
        _padding(pipeline, settings, result)
    else:
        sentences, tokenizer = _fallback_corpus(settings)
        _tokenization(sentences, tokenizer, "pydoc topics lines", settings, result)
        result.skipped.append(f"Multi30k padding: no Multi30k files in {multi30k} (give --multi30k DIR)")
    return result
