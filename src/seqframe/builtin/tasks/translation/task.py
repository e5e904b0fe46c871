"""``translation``: many-to-many delayed. Read the whole source, then write the target.

An encoder topology (any cell, one or two directions) reads the source; a unidirectional
decoder topology (``model.decoder``) starts from a learned bridge of the encoder's final
states and, optionally, attends over the encoder outputs (:mod:`.model`). Training uses
teacher forcing; evaluation reports the loss and, on the first ``eval_decode`` pairs,
greedy translations scored by sacrebleu BLEU and chrF and exact match; prediction decodes
greedily or by batched beam search. Imports layers 0-0b and ``seqframe.builtin`` only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from seqframe.builtin.metrics import bleu, chrf, exact_match
from seqframe.builtin.tasks.batching import BucketedBatches, padded
from seqframe.builtin.tasks.encoding import encode_texts
from seqframe.builtin.tasks.losses import masked_cross_entropy
from seqframe.builtin.tasks.options import check_number
from seqframe.builtin.tasks.samples import pair_sample
from seqframe.builtin.tasks.search import beam_search, greedy_decode
from seqframe.builtin.tasks.translation.batching import collate_pairs, pack_ids, pack_texts, pair_batches, unpack_texts
from seqframe.builtin.tasks.translation.exported import ExportedSeq2Seq, seq2seq_plan
from seqframe.builtin.tasks.translation.model import Seq2Seq
from seqframe.errors import DataError, SeqframeError
from seqframe.hookspecs import hookimpl
from seqframe.interfaces import ExportPlan, GraphRunner, Task, TextSource, Tokenizer, Tokenizers, directions_of
from seqframe.interfaces.arguments import MAX_TOKENS, Device, EvalSettings, ModelParts

__all__ = ["TranslationTask"]

_PREDICT_OPTIONS = ("beam", "max_tokens", "length_penalty", "no_repeat_ngram")


class TranslationTask(Task):
    """Sequence-to-sequence translation with an encoder, a bridge, a decoder and attention.

    Examples are ``{"source": str, "target": str}`` pairs (``number_translation``,
    ``parallel_files``). Sources are encoded with ``tokenizers.source`` followed by ``eos``;
    targets with ``tokenizers.target``: the ``target_tokenizer`` section's tokenizer, or the
    ``tokenizer`` when the recipe has none (one vocabulary is then fitted on both sides). Batches hold pairs of similar
    lengths. The model owns its output layer (it reads the attentional state), so the
    recipe's ``model.head`` is not used.

    Args:
        max_len: most tokens a translation may have when decoding (``eos`` excluded; at most 100,000).
        beam: beam size of :meth:`predict` (1: greedy); ``seqframe predict --beam N`` overrides it.
        length_penalty: GNMT length-penalty ``alpha`` of beam search (0: plain log-probability).
        eval_decode: how many validation pairs (the first ones) are translated greedily at
            each evaluation for BLEU, chrF and exact match; 0 reports the loss only.
        label_smoothing: share of the target mass spread over the vocabulary in training.
        bleu_tokenize: sacrebleu's tokenizer for BLEU: ``13a`` (its default, as published
            figures use), ``intl``, ``char`` (character BLEU, for one-word targets such as
            German number words, where word 4-grams do not exist), ``none``, ...
        no_repeat_ngram: greedy and beam search never repeat an n-gram of this many target
            tokens within a translation (0: off); 3 stops subword loops such as "Boririri"
            after a piece's third occurrence in a row.
    """

    name = "translation"
    causal = False  # the encoder may read both ways; Seq2Seq rejects a bidirectional decoder
    generates_targets = True
    needs_examples = True
    example_fields = ("source", "target")
    example_sources = "number_translation or parallel_files"
    predict_options = _PREDICT_OPTIONS

    def __init__(
        self,
        max_len: int = 200,
        beam: int = 5,
        length_penalty: float = 1.0,
        eval_decode: int = 500,
        label_smoothing: float = 0.0,
        bleu_tokenize: str = "13a",
        no_repeat_ngram: int = 0,
    ) -> None:
        check_number("translation", "max_len", max_len, 1, below=MAX_TOKENS + 1)
        check_number("translation", "beam", beam, 1)
        check_number("translation", "length_penalty", length_penalty, 0.0, (int, float))
        check_number("translation", "eval_decode", eval_decode, 0)
        check_number("translation", "label_smoothing", label_smoothing, 0.0, (int, float), below=1.0)
        check_number("translation", "no_repeat_ngram", no_repeat_ngram, 0)
        self.no_repeat_ngram = no_repeat_ngram
        self.max_len, self.beam, self.length_penalty = max_len, beam, float(length_penalty)
        self.eval_decode, self.label_smoothing = eval_decode, float(label_smoothing)
        from sacrebleu.metrics import BLEU  # the authority on its tokenizer names

        if bleu_tokenize not in BLEU.TOKENIZERS:
            raise ValueError(
                f"translation: unknown bleu_tokenize {bleu_tokenize!r}; sacrebleu has {', '.join(BLEU.TOKENIZERS)}"
            )
        self.bleu_tokenize = bleu_tokenize

    def build_model(
        self,
        parts: ModelParts,
        *,
        decoder: nn.Module | None,
        attention: str = "general",
        dropout: float = 0.0,
        tie_target_embeddings: bool = False,
        input_feeding: bool = False,
    ) -> Seq2Seq:
        """Encoder ``parts.topology`` (reading source embeddings) and ``decoder`` wired into a
        :class:`Seq2Seq`; ``parts.embedding_dim`` is the size of the source and target
        embeddings, ``parts.head`` is unused (the model's own output layer maps the
        attentional state to the vocabulary).

        Args:
            parts: the tokenizers (source and target), the encoder topology and the embedding size.
            decoder: the decoder topology, unidirectional (``model.decoder``).
            attention: ``none``, ``dot``, ``general`` (Luong) or ``additive`` (Bahdanau).
            dropout: dropout on the embeddings and on the features read by the output layer.
            tie_target_embeddings: share the output weight with the target embedding
                (needs ``embedding_dim`` equal to the decoder's hidden size).
            input_feeding: the decoder also reads the previous step's attentional state
                (Luong's input feeding; needs attention; the decoder then runs step by step
                in training).

        Raises:
            ValueError: no decoder, a bidirectional decoder, sizes that do not fit, or
                input feeding without attention.
        """
        if decoder is None:
            raise ValueError(
                "model.decoder: the translation task needs a decoder topology, e.g. "
                "decoder: {name: stacked, cell: lstm, hidden_size: 256}"
            )
        if directions_of(decoder) > 1:
            raise ValueError(
                "model.decoder: a decoder writes left to right, so it cannot be bidirectional; "
                "set model.decoder.bidirectional: false"
            )
        target = parts.tokenizers.target
        return Seq2Seq(
            parts.tokenizers.source.vocab_size,
            target.vocab_size,
            parts.embedding_dim,
            parts.topology,
            decoder,
            attention,
            pad_id=target.pad_id,
            dropout=dropout,
            tie_target_embeddings=tie_target_embeddings,
            input_feeding=input_feeding,
        )

    def sample_data(self) -> TextSource:
        """Digit names -> digits (``"four two"`` -> ``"42"``)."""
        return pair_sample()

    def encode_settings(self) -> dict[str, Any]:
        """What :meth:`encode` depends on besides its arguments: nothing (the tokenizers are
        part of the cache key)."""
        return {}

    def encode(self, tokenizers: Tokenizers, examples: Sequence[Mapping[str, Any]]) -> dict[str, Tensor]:
        """Pack the pairs: source ids + ``eos``, ``bos`` + target ids + ``eos``, the raw
        target texts (see :mod:`.batching`).

        Raises:
            DataError: an example without a ``source`` and a ``target`` string.
        """
        tokenizer, target = tokenizers.source, tokenizers.target
        for i, example in enumerate(examples):
            if not isinstance(example, Mapping) or not all(
                isinstance(example.get(k), str) for k in ("source", "target")
            ):
                raise DataError(
                    f"translation: example {i} must be a pair {{'source': str, 'target': str}}, got {example!r:.80}"
                )
        sources = encode_texts(tokenizer, [e["source"] for e in examples])
        source, source_lengths = pack_ids([ids + [tokenizer.eos_id] for ids in sources])
        targets, target_lengths = pack_ids(
            [[target.bos_id, *ids, target.eos_id] for ids in encode_texts(target, [e["target"] for e in examples])]
        )
        reference, reference_lengths = pack_texts([e["target"] for e in examples])
        return {
            "source": source,
            "source_lengths": source_lengths,
            "target": targets,
            "target_lengths": target_lengths,
            "reference": reference,
            "reference_lengths": reference_lengths,
        }

    def train_batches(
        self, encoded: Mapping[str, Tensor], batch_size: int, seed: int, tokenizers: Tokenizers
    ) -> BucketedBatches:
        """Length-bucketed, resumable batches of ``batch_size`` pairs."""
        return pair_batches(encoded, batch_size, tokenizers.source.pad_id, tokenizers.target.pad_id, seed)

    def training_step(self, model: nn.Module, batch: Mapping[str, Any], carry: Any) -> tuple[Tensor, int, Any]:
        """Teacher forcing; the mean (label-smoothed) cross-entropy over real target tokens.

        The decoder runs over the padded targets without their lengths: it reads left to
        right, so a real position never sees the padding after it, and torch's unpacked
        kernels are several times faster on CPU than the packed ones (whose backward pass
        zero-fills the whole sequence at every step).
        """
        logits = model(batch["source"], batch["source_lengths"], batch["target_in"], None)
        loss, tokens = masked_cross_entropy(logits, batch["target_out"], batch["target_lengths"], self.label_smoothing)
        return loss, tokens, None

    @torch.no_grad()
    def evaluate(self, model: nn.Module, encoded: Mapping[str, Tensor], settings: EvalSettings) -> dict[str, float]:
        """``loss`` (nats per target token, ``eos`` included, no label smoothing) and ``ppl``
        over every pair; with ``eval_decode``, greedy translations of the first pairs scored
        as ``bleu`` and ``chrf`` (sacrebleu, 0-100, detokenized) and ``exact_match`` (0-1)
        against the raw target texts."""
        source_pad, target = settings.tokenizers.source.pad_id, settings.tokenizers.target
        batch_size, device = settings.batch_size, settings.device
        was_training = model.training
        model.eval()
        try:
            total, tokens = 0.0, 0
            for rows in torch.argsort(encoded["source_lengths"], descending=True).split(batch_size):
                batch = {k: v.to(device) for k, v in collate_pairs(encoded, rows, source_pad, target.pad_id).items()}
                logits = model(batch["source"], batch["source_lengths"], batch["target_in"], None)
                loss, n = masked_cross_entropy(logits, batch["target_out"], batch["target_lengths"])
                total, tokens = total + float(loss) * n, tokens + n
            mean = total / max(tokens, 1)
            metrics = {"loss": mean, "ppl": math.exp(min(mean, 50.0))}
            count = min(self.eval_decode, int(encoded["source_lengths"].numel()))
            if count:
                metrics.update(self._score(model, encoded, count, batch_size, device, source_pad, target))
        finally:
            model.train(was_training)
        return metrics

    def _score(
        self,
        model: nn.Module,
        encoded: Mapping[str, Tensor],
        count: int,
        batch_size: int,
        device: torch.device,
        source_pad: int,
        target: Tokenizer,
    ) -> dict[str, float]:
        """BLEU, chrF and exact match of greedy translations of the first ``count`` pairs."""
        lengths = encoded["source_lengths"][:count]
        starts = (torch.cumsum(lengths, 0) - lengths).tolist()
        sources = [encoded["source"][s : s + n] for s, n in zip(starts, lengths.tolist())]
        ids = self.decode_ids(model, sources, source_pad, target, device=device, beam=1, batch_size=batch_size)
        hyps = [target.decode(h) for h in ids]
        refs = unpack_texts(encoded["reference"], encoded["reference_lengths"], range(count))
        return {
            "bleu": bleu(hyps, refs, tokenize=self.bleu_tokenize).score,
            "chrf": chrf(hyps, refs).score,
            "exact_match": exact_match(hyps, refs),
        }

    def decode_ids(
        self,
        model: nn.Module,
        sources: Sequence[Tensor],
        source_pad: int,
        target: Tokenizer,
        *,
        device: Device,
        beam: int = 1,
        max_len: int | None = None,
        length_penalty: float | None = None,
        batch_size: int = 64,
        no_repeat_ngram: int | None = None,
    ) -> list[list[int]]:
        """Translate encoded sources (ids + ``eos`` each) in length-sorted padded batches:
        greedy for ``beam == 1``, else batched beam search.

        Args:
            model: a :class:`Seq2Seq`.
            sources: one int64 id tensor per source.
            source_pad: padding id of the source batches.
            target: the target tokenizer (its ``bos_id`` and ``eos_id``).
            device: where the model is.
            beam: beam size (1: greedy).
            max_len: most output tokens (default: the task's ``max_len``).
            length_penalty: beam search's alpha (default: the task's).
            batch_size: sources decoded together.
            no_repeat_ngram: n-grams never repeated in an output (default: the task's; 0: off).

        Returns:
            Target ids of each source, in input order, without ``bos``/``eos``.
        """
        lengths = torch.tensor([s.numel() for s in sources], dtype=torch.int64)
        flat = torch.cat(list(sources)) if len(sources) else torch.zeros(0, dtype=torch.int64)
        starts = torch.cumsum(lengths, 0) - lengths
        limit = self.max_len if max_len is None else max_len
        alpha = self.length_penalty if length_penalty is None else length_penalty
        ngram = self.no_repeat_ngram if no_repeat_ngram is None else no_repeat_ngram
        out: list[list[int]] = [[] for _ in sources]
        for rows in torch.argsort(lengths, descending=True).split(max(1, batch_size)):
            src = padded(flat, starts[rows], lengths[rows], source_pad).to(device)
            if beam == 1:
                hyps = greedy_decode(model, src, lengths[rows], target.bos_id, target.eos_id, limit, ngram)
            else:
                hyps = beam_search(
                    model, src, lengths[rows], target.bos_id, target.eos_id, beam, limit, alpha, no_repeat_ngram=ngram
                )
            for row, hyp in zip(rows.tolist(), hyps):
                out[row] = list(hyp)
        return out

    def predict(
        self, model: nn.Module, tokenizers: Tokenizers, inputs: Sequence[str], *, device: Device = "cpu", **options: Any
    ) -> list[str]:
        """Translate each input sentence.

        Args:
            model: the trained :class:`Seq2Seq`.
            tokenizers: the source and target tokenizers.
            inputs: source sentences.
            device: where the model is.
            **options: ``beam`` (default: the task's ``beam``; 1 is greedy), ``max_tokens``
                (default: ``max_len``), ``length_penalty`` and ``no_repeat_ngram`` (defaults: the task's).

        Raises:
            SeqframeError: an option translation does not take (e.g. ``temperature``).
        """
        unknown = sorted(set(options) - set(_PREDICT_OPTIONS))
        if unknown:
            raise SeqframeError(
                f"translation: predict takes {', '.join(_PREDICT_OPTIONS)}; got {', '.join(unknown)} "
                "(translation decodes by greedy or beam search; it does not sample)"
            )
        beam, max_tokens = options.get("beam", self.beam), options.get("max_tokens")
        check_number("translation", "beam", beam, 1)
        if max_tokens is not None:
            check_number("translation", "max_tokens", max_tokens, 1, below=MAX_TOKENS + 1)
        if "no_repeat_ngram" in options:
            check_number("translation", "no_repeat_ngram", options["no_repeat_ngram"], 0)
        tokenizer, target = tokenizers.source, tokenizers.target
        sources = [torch.tensor(ids + [tokenizer.eos_id], dtype=torch.int64) for ids in encode_texts(tokenizer, inputs)]
        ids = self.decode_ids(
            model,
            sources,
            tokenizer.pad_id,
            target,
            device=device,
            beam=beam,
            max_len=max_tokens,
            length_penalty=options.get("length_penalty"),
            no_repeat_ngram=options.get("no_repeat_ngram"),
        )
        return [target.decode(h) for h in ids]

    def export_plan(self, model: nn.Module) -> ExportPlan:
        """``source_embedding``, ``encoder.layer{l}``, ``bridge`` and ``decode_step``."""
        return seq2seq_plan(model)

    def exported_model(self, graphs: GraphRunner) -> ExportedSeq2Seq:
        """The exported stand-in that :meth:`predict` accepts."""
        return ExportedSeq2Seq(graphs)


@hookimpl
def seqframe_tasks() -> Mapping[str, Any]:
    """The translation task."""
    return {"translation": TranslationTask}
