"""``language_modelling``: many-to-many in step. Predict token ``t+1`` from tokens ``<= t``.

Training reads the corpus as ``B`` parallel contiguous streams and cuts them into windows
of ``seq_len`` tokens; the recurrent state is carried from one window to the next and
detached (truncated backpropagation through time). Documents are joined with ``eos``,
which also starts generation from an empty prompt.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from seqframe.builtin.tasks.batching import BucketedBatches
from seqframe.builtin.tasks.encoding import encode_texts
from seqframe.builtin.tasks.language_modelling.batching import TokenStream, collate, sentence_batches, split_sentences
from seqframe.builtin.tasks.language_modelling.exported import ExportedLanguageModel, language_model_plan
from seqframe.builtin.tasks.language_modelling.model import LanguageModel
from seqframe.builtin.tasks.options import check_number
from seqframe.hookspecs import hookimpl
from seqframe.interfaces import (
    MAX_TOKENS,
    Device,
    EvalSettings,
    ExportPlan,
    GraphRunner,
    ModelParts,
    State,
    Task,
    Tokenizers,
    directions_of,
)

__all__ = ["LanguageModel", "LanguageModellingTask", "TokenStream", "sample"]


def _detach(state: State | None) -> State | None:
    return None if state is None else tuple(s.detach() for s in state)


class LanguageModellingTask(Task):
    """Language modelling: an output at every step, the next token, no delay.

    Two ways to batch the text:

    - ``stream`` (default): the corpus is one token stream read as ``B`` parallel
      contiguous rows, cut into windows of ``seq_len``; the state is carried from window
      to window and detached (truncated backpropagation through time).
    - ``sentences``: every non-empty line is an example (``bos`` + tokens + ``eos``, lines
      longer than ``seq_len`` cut into pieces), batched with sentences of similar length;
      each starts from the zero state and padding never counts in the loss.

    Args:
        seq_len: tokens per training window (stream) or longest example (sentences).
        carry_state: stream mode: carry the recurrent state across windows; if false,
            every window starts from the zero state.
        mode: ``stream`` or ``sentences``.
    """

    name = "language_modelling"
    causal = True  # predicts left to right: recipes with a bidirectional topology are rejected
    continues_prompt = True  # predict continues each prompt; a run writes sample.txt
    predict_options = ("max_tokens", "temperature", "top_k", "top_p", "seed")

    def __init__(self, seq_len: int = 128, carry_state: bool = True, mode: str = "stream") -> None:
        if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
            raise ValueError(f"language_modelling: seq_len must be an int >= 1, got {seq_len!r}")
        if mode not in ("stream", "sentences"):
            raise ValueError(f"language_modelling: mode must be 'stream' or 'sentences', got {mode!r}")
        self.seq_len = seq_len
        self.carry_state = carry_state
        self.mode = mode

    def check_topology(self, topology: nn.Module) -> None:
        """A generating model reads left to right: reject bidirectional topologies."""
        if directions_of(topology) > 1:
            raise ValueError(
                "a language model predicts the next token, so it cannot read ahead: use a "
                "unidirectional topology (bidirectional: false)"
            )

    def build_model(self, parts: ModelParts) -> nn.Module:
        """Wire embedding -> topology -> head(output_size, vocab_size)."""
        self.check_topology(parts.topology)
        tokenizer, topology = parts.tokenizers.source, parts.topology
        head = parts.head(topology.output_size, tokenizer.vocab_size)
        return LanguageModel(tokenizer.vocab_size, parts.embedding_dim, topology, head, tokenizer.pad_id)

    def encode_settings(self) -> dict[str, Any]:
        """What :meth:`encode` depends on besides the tokenizer (the cache key)."""
        return {"mode": self.mode}

    def encode(self, tokenizers: Tokenizers, texts: Sequence[str]) -> Tensor:
        """One id stream as int64 ``(N,)``: documents (stream) or non-empty lines
        (sentences) each followed by ``eos`` (``tokenizers.source``'s)."""
        if self.mode == "sentences":
            texts = [line for text in texts for line in text.splitlines() if line.strip()]
        ids: list[int] = []
        for encoded in encode_texts(tokenizers.source, texts):
            ids += encoded
            ids.append(tokenizers.source.eos_id)
        return torch.tensor(ids, dtype=torch.int64)

    def train_batches(
        self, ids: Tensor, batch_size: int, seed: int, tokenizers: Tokenizers
    ) -> TokenStream | BucketedBatches:
        """The resumable training batches (a ``TokenStream``, or length-bucketed sentences)."""
        if self.mode == "stream":
            return TokenStream(ids, batch_size, self.seq_len, seed)
        tokenizer = tokenizers.source
        sentences = split_sentences(ids, tokenizer.eos_id, self.seq_len)
        return sentence_batches(sentences, batch_size, tokenizer.bos_id, tokenizer.pad_id, seed)

    def training_step(self, model: nn.Module, batch: Mapping[str, Any], carry: Any) -> tuple[Tensor, int, Any]:
        """Mean cross-entropy over the real target tokens; returns ``(loss, tokens, carry)``.

        Padding is masked; a batch with no real target gives a zero loss with no gradient
        signal and ``tokens == 0`` (never 0/0).
        """
        state = None if (batch.get("reset") or not self.carry_state) else carry
        lengths = batch.get("lengths")
        logits, state = model(batch["inputs"], lengths, state)
        targets = batch["targets"]
        if lengths is None:
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
            return loss, targets.numel(), _detach(state)
        mask = torch.arange(targets.shape[1], device=targets.device) < lengths.to(targets.device).unsqueeze(1)
        tokens = int(mask.sum())
        losses = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none")
        loss = (losses * mask.flatten()).sum() / max(tokens, 1)
        return loss, tokens, None

    @torch.no_grad()
    def evaluate(self, model: nn.Module, ids: Tensor, settings: EvalSettings) -> dict[str, float]:
        """Loss (nats/token), perplexity, bits per token and per character over ``ids``."""
        was_training = model.training
        model.eval()
        if self.mode == "sentences":
            total, count = self._evaluate_sentences(model, ids, settings)
        else:
            total, count = self._evaluate_stream(model, ids, settings.batch_size, settings.device)
        model.train(was_training)
        loss = total / max(count, 1)
        chars = settings.num_chars * count / max(ids.numel() - 1, 1)
        return {
            "loss": loss,
            "ppl": math.exp(min(loss, 50.0)),
            "bits_per_token": loss / math.log(2),
            "bpc": total / math.log(2) / max(chars, 1.0),
        }

    def _evaluate_stream(
        self, model: nn.Module, ids: Tensor, batch_size: int, device: torch.device
    ) -> tuple[float, int]:
        batch_size = max(1, min(batch_size, (ids.numel() - 1) // 2))
        columns = (ids.numel() - 1) // batch_size
        data = ids[: columns * batch_size + 1]
        inputs = data[:-1].view(batch_size, columns).to(device)
        targets = data[1:].view(batch_size, columns).to(device)
        total, count, state = 0.0, 0, None
        for start in range(0, columns, self.seq_len):
            window = slice(start, start + self.seq_len)
            logits, state = model(inputs[:, window], None, state)
            total += float(F.cross_entropy(logits.flatten(0, 1), targets[:, window].flatten(), reduction="sum"))
            count += targets[:, window].numel()
        return total, count

    def _evaluate_sentences(self, model: nn.Module, ids: Tensor, settings: EvalSettings) -> tuple[float, int]:
        tokenizer, batch_size, device = settings.tokenizers.source, settings.batch_size, settings.device
        sentences = sorted(split_sentences(ids, tokenizer.eos_id, self.seq_len), key=lambda s: s.numel())
        total, count = 0.0, 0
        for start in range(0, len(sentences), batch_size):
            batch = collate(sentences[start : start + batch_size], tokenizer.bos_id, tokenizer.pad_id)
            batch = {k: v.to(device) if isinstance(v, Tensor) and k != "lengths" else v for k, v in batch.items()}
            loss, tokens, _ = self.training_step(model, batch, None)
            total += float(loss) * tokens
            count += tokens
        return total, count

    def export_plan(self, model: nn.Module) -> ExportPlan:
        """One graph ``step``: ``(tokens (B,), state...) -> (logits (B, V), state...)``."""
        return language_model_plan(model)

    def exported_model(self, graphs: GraphRunner) -> ExportedLanguageModel:
        """The exported stand-in that :meth:`predict` accepts."""
        return ExportedLanguageModel(graphs)

    @torch.no_grad()
    def predict(
        self,
        model: nn.Module,
        tokenizers: Tokenizers,
        inputs: Sequence[str],
        *,
        device: Device = "cpu",
        max_tokens: int = 200,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
    ) -> list[str]:
        """Continue each prompt, one token at a time, carrying the recurrent state.

        Args:
            model: the trained :class:`LanguageModel`.
            tokenizers: its tokenizers (``source``; a language model has no targets).
            inputs: the prompts to continue (an empty prompt starts after ``eos``).
            device: where the model is.
            max_tokens: tokens generated per prompt.
            temperature: sampling temperature; 0 is greedy.
            top_k: sample among the ``k`` most likely tokens (None: all).
            top_p: nucleus sampling mass (None: all).
            seed: the sampling seed (None: 0), so the same call gives the same text.

        Returns:
            The continuation of each prompt (without the prompt).

        Raises:
            ValueError: ``max_tokens`` is not an int in ``[0, MAX_TOKENS]``.
        """
        check_number("language_modelling", "max_tokens", max_tokens, 0, below=MAX_TOKENS + 1)
        if not inputs:
            return []
        tokenizer, was_training = tokenizers.source, model.training
        model.eval()
        generator = torch.Generator(device=device)
        generator.manual_seed(0 if seed is None else seed)
        encoded = [[tokenizer.eos_id] + tokenizer.encode(p) for p in inputs]
        lengths = torch.tensor([len(e) for e in encoded])
        ids = torch.full((len(encoded), int(lengths.max())), tokenizer.pad_id, dtype=torch.int64)
        for row, seq in enumerate(encoded):
            ids[row, : len(seq)] = torch.tensor(seq)
        logits, state = model(ids.to(device), lengths, None)
        last = logits[torch.arange(len(encoded)), lengths.to(device) - 1]  # (B, V)
        out: list[list[int]] = [[] for _ in inputs]
        for _ in range(max_tokens):
            token = sample(last, temperature, top_k, top_p, generator)  # (B,)
            for row, t in enumerate(token.tolist()):
                out[row].append(t)
            logits, state = model(token.unsqueeze(1), None, state)
            last = logits[:, 0]
        model.train(was_training)
        return [tokenizer.decode(seq) for seq in out]


def sample(
    logits: Tensor, temperature: float, top_k: int | None, top_p: float | None, generator: torch.Generator
) -> Tensor:
    """Draw one id per row from ``logits (B, V)``; temperature 0 is greedy."""
    if temperature <= 0:
        return logits.argmax(-1)
    logits = logits.float() / temperature
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = torch.softmax(sorted_logits, -1)
        drop = probs.cumsum(-1) - probs > top_p  # keep the smallest prefix reaching top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    probs = torch.softmax(logits, -1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


@hookimpl
def seqframe_tasks() -> Mapping[str, Any]:
    """Built-in tasks."""
    return {"language_modelling": LanguageModellingTask}
