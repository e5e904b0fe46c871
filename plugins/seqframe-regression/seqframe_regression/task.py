"""``text_regression``: many-to-one with a numeric target. Read a text, predict one number.

Written against seqframe's documented task contract only (``seqframe.Task``,
``seqframe.interfaces``): its own model, resumable batches, loss and metrics.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

import seqframe
from seqframe import DataError, SeqframeError
from seqframe.interfaces import Device, EvalSettings, ExportPlan, GraphRunner, ModelParts, TextSource, Tokenizers
from seqframe_regression.export import ExportedRegressor, regression_plan

__all__ = ["ShuffledBatches", "TextRegressionTask", "TextRegressor", "collate"]

POOLINGS = ("last", "mean")


class TextRegressor(nn.Module):
    """Embedding -> topology -> pooling over the real steps -> head(output_size, 1).

    Shape:
        - ids: ``(B, T)`` token ids; lengths: ``(B,)``.
        - output: ``(B,)``, one (standardized) number per text.
    """

    def __init__(
        self, vocab_size: int, embedding_dim: int, topology: nn.Module, head: nn.Module, pad_id: int, pooling: str
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id)
        self.topology, self.head, self.pooling = topology, head, pooling

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        features, _ = self.topology(self.embedding(ids), lengths, None)  # (B, T, D*H)
        return self.pool_head(features, lengths)

    def pool_head(self, features: Tensor, lengths: Tensor) -> Tensor:
        """``(B, T, D*H)`` topology outputs and ``(B,)`` lengths -> ``(B,)`` numbers."""
        steps = lengths.to(features.device)
        if self.pooling == "last":
            pooled = features[torch.arange(features.shape[0], device=features.device), steps - 1]  # (B, D*H)
        else:
            real = (torch.arange(features.shape[1], device=features.device) < steps.unsqueeze(1)).unsqueeze(-1)
            pooled = (features * real).sum(1) / steps.unsqueeze(1).to(features.dtype)
        value: Tensor = self.head(pooled).squeeze(-1)
        return value


def collate(encoded: Mapping[str, Tensor], rows: Tensor, pad_id: int) -> dict[str, Tensor]:
    """Examples ``rows (B,)`` -> padded ``ids (B, T)``, ``lengths (B,)`` and ``values (B,)``
    (when the encoded data has values)."""
    lengths = encoded["lengths"][rows]
    steps = torch.arange(int(lengths.max()))
    real = steps < lengths.unsqueeze(1)
    positions = (encoded["offsets"][rows].unsqueeze(1) + steps).clamp(max=max(encoded["ids"].numel() - 1, 0))
    batch = {"ids": torch.where(real, encoded["ids"][positions], pad_id), "lengths": lengths}
    if "values" in encoded:
        batch["values"] = encoded["values"][rows]
    return batch


class ShuffledBatches:
    """Endless batches in a seeded random order per epoch, resumable from ``(epoch, index)``
    (a :class:`seqframe.interfaces.Batches`)."""

    def __init__(self, encoded: Mapping[str, Tensor], batch_size: int, pad_id: int, seed: int) -> None:
        if not encoded["lengths"].numel():
            raise DataError("text_regression: the training split has no examples to batch")
        self.encoded, self.batch_size, self.pad_id, self.seed = encoded, batch_size, pad_id, seed
        self.epoch, self.index = 0, 0
        self._order = self._shuffle()

    def _shuffle(self) -> Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.encoded["lengths"].numel(), generator=generator)

    def __iter__(self) -> ShuffledBatches:
        return self

    def __next__(self) -> dict[str, Tensor]:
        if self.index * self.batch_size >= self._order.numel():
            self.epoch, self.index = self.epoch + 1, 0
            self._order = self._shuffle()
        rows = self._order[self.index * self.batch_size : (self.index + 1) * self.batch_size]
        self.index += 1
        return collate(self.encoded, rows, self.pad_id)

    def state_dict(self) -> dict[str, int]:
        """The position to resume from."""
        return {"epoch": self.epoch, "index": self.index}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume at a saved position."""
        self.epoch, self.index = int(state["epoch"]), int(state["index"])
        self._order = self._shuffle()


class TextRegressionTask(seqframe.Task):
    """Text regression (many-to-one, numeric target): one number per input text.

    The model reads the text with any topology (bidirectional included), pools its outputs
    over the real steps (``model.pooling``: ``last``, the output at the last token, or
    ``mean``) and maps them to one number. Targets are standardized with the training
    split's mean and standard deviation (learnt by ``fit``, saved in ``task.json``); the
    loss is the mean squared error of the standardized values. Examples are ``{"text",
    "value"}`` (``spelled_numbers``). Metrics in the targets' own units: ``mse``, ``mae``,
    ``rmse`` and ``rounded_accuracy`` (the share of predictions that round to the target).
    Predictions are numbers written with ``decimals`` decimals.

    Args:
        max_len: longest input in tokens; longer texts keep their first ``max_len`` tokens.
        decimals: decimals of the predicted numbers (``seqframe predict`` prints them).
    """

    name = "text_regression"
    needs_examples = True
    example_fields = ("text", "value")
    example_sources = "spelled_numbers"
    predict_options = ("decimals",)

    def __init__(self, max_len: int = 64, decimals: int = 2) -> None:
        for key, value in (("max_len", max_len), ("decimals", decimals)):
            if isinstance(value, bool) or not isinstance(value, int) or value < (1 if key == "max_len" else 0):
                raise ValueError(
                    f"text_regression: {key} must be an int >= {1 if key == 'max_len' else 0}, got {value!r}"
                )
        self.max_len, self.decimals = max_len, decimals
        self.mean, self.std = 0.0, 1.0

    def fit(self, data: TextSource) -> None:
        """Learn the training values' mean and standard deviation.

        Raises:
            DataError: no training example, or a value that is not a finite number.
        """
        values = [self._value(example, i) for i, example in enumerate(self.inputs(data, "train"))]
        if not values:
            raise DataError("text_regression: the training split has no examples")
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        self.load_state_dict({"mean": mean, "std": std if std > 0 else 1.0})

    @staticmethod
    def _value(example: Mapping[str, Any], index: int) -> float:
        value = example.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise DataError(
                f"text_regression: example {index} ({example.get('text')!r:.40}) has value {value!r}; "
                "expected a finite number"
            )
        return float(value)

    def state_dict(self) -> dict[str, Any]:
        """The standardization: ``mean`` and ``std`` of the training values."""
        return {"mean": self.mean, "std": self.std}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`.

        Raises:
            DataError: a state without a finite ``mean`` and a positive ``std``.
        """
        mean, std = state.get("mean"), state.get("std")
        if (
            not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (mean, std))
            or std <= 0
        ):
            raise DataError(f"text_regression: a saved state needs a finite 'mean' and a positive 'std', got {state!r}")
        self.mean, self.std = float(mean), float(std)

    def build_model(self, parts: ModelParts, *, pooling: str = "last") -> TextRegressor:
        """Embedding -> ``topology`` -> pooling -> ``head(output_size, 1)``.

        Args:
            pooling: ``last`` (the output at each text's last token) or ``mean`` (over its tokens).
        """
        if pooling not in POOLINGS:
            raise ValueError(f"text_regression: pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        tokenizer, topology = parts.tokenizers.source, parts.topology
        head = parts.head(topology.output_size, 1)
        return TextRegressor(tokenizer.vocab_size, parts.embedding_dim, topology, head, tokenizer.pad_id, pooling)

    def export_plan(self, model: nn.Module) -> ExportPlan:
        """``embedding``, the topology's layer graphs and ``pool_head`` (see :mod:`.export`)."""
        return regression_plan(model)

    def exported_model(self, graphs: GraphRunner) -> ExportedRegressor:
        """The exported stand-in that :meth:`predict` accepts."""
        return ExportedRegressor(graphs)

    def encode(self, tokenizers: Tokenizers, inputs: Sequence[Any]) -> dict[str, Tensor]:
        """Examples (or plain texts, to predict) -> ``ids`` (joined), ``offsets``, ``lengths``
        ``(N,)`` and, for examples, standardized ``values`` ``(N,)`` float32.

        Raises:
            DataError: a text with no token, or a value that is not a finite number.
        """
        texts = [x if isinstance(x, str) else x["text"] for x in inputs]
        ids = [tokenizers.source.encode(text) for text in texts]
        for i, row in enumerate(ids):
            if not row:
                raise DataError(f"text_regression: input {i} ({texts[i]!r}) has no tokens; give it some text")
        cut = sum(len(row) > self.max_len for row in ids)
        if cut:
            warnings.warn(
                f"text_regression: {cut} of {len(ids)} inputs were cut to max_len={self.max_len} tokens", stacklevel=2
            )
        lengths = torch.tensor([min(len(row), self.max_len) for row in ids], dtype=torch.int64)
        encoded = {
            "ids": torch.tensor([t for row in ids for t in row[: self.max_len]], dtype=torch.int64),
            "offsets": torch.cumsum(lengths, 0) - lengths,
            "lengths": lengths,
        }
        if inputs and not isinstance(inputs[0], str):
            values = [(self._value(x, i) - self.mean) / self.std for i, x in enumerate(inputs)]
            encoded["values"] = torch.tensor(values, dtype=torch.float32)
        return encoded

    def train_batches(
        self, encoded: Mapping[str, Tensor], batch_size: int, seed: int, tokenizers: Tokenizers
    ) -> ShuffledBatches:
        """Endless shuffled batches, resumable."""
        return ShuffledBatches(encoded, batch_size, tokenizers.source.pad_id, seed)

    def training_step(self, model: nn.Module, batch: Mapping[str, Any], carry: Any) -> tuple[Tensor, int, Any]:
        """Mean squared error of the standardized values; returns ``(loss, examples, None)``."""
        predicted = model(batch["ids"], batch["lengths"])
        return F.mse_loss(predicted.float(), batch["values"]), int(batch["values"].numel()), None

    @torch.no_grad()
    def _predict_values(
        self, model: nn.Module, encoded: Mapping[str, Tensor], batch_size: int, device: Any, pad_id: int
    ) -> Tensor:
        """Standardized predictions ``(N,)`` in input order."""
        was_training = model.training
        model.eval()
        out = torch.empty(encoded["lengths"].numel())
        try:
            for rows in torch.arange(out.numel()).split(max(batch_size, 1)):
                batch = collate(encoded, rows, pad_id)
                out[rows] = model(batch["ids"].to(device), batch["lengths"].to(device)).float().cpu()
        finally:
            model.train(was_training)
        return out

    def evaluate(self, model: nn.Module, encoded: Mapping[str, Tensor], settings: EvalSettings) -> dict[str, float]:
        """``loss`` (MSE of standardized values), then ``mse``, ``mae``, ``rmse`` and
        ``rounded_accuracy`` in the targets' units."""
        pad_id = settings.tokenizers.source.pad_id
        predicted = self._predict_values(model, encoded, settings.batch_size, settings.device, pad_id)
        gold = encoded["values"]
        error = (predicted - gold) * self.std  # in the targets' units
        mse = float((error**2).mean())
        rounded = torch.round(predicted * self.std + self.mean) == torch.round(gold * self.std + self.mean)
        return {
            "loss": float(F.mse_loss(predicted, gold)),
            "mse": mse,
            "mae": float(error.abs().mean()),
            "rmse": math.sqrt(mse),
            "rounded_accuracy": float(rounded.float().mean()),
        }

    def predict(
        self, model: nn.Module, tokenizers: Tokenizers, inputs: Sequence[str], *, device: Device = "cpu", **options: Any
    ) -> list[str]:
        """The predicted number of each text, with ``decimals`` decimals (option ``decimals``
        overrides the task's).

        Raises:
            SeqframeError: an option other than ``decimals``.
        """
        decimals = options.pop("decimals", self.decimals)
        if isinstance(decimals, bool) or not isinstance(decimals, int) or decimals < 0:
            raise SeqframeError(f"text_regression: predict option decimals must be an int >= 0, got {decimals!r}")
        if options:
            raise SeqframeError(
                f"text_regression: predict takes only decimals; got {', '.join(sorted(options))} "
                "(it answers with one number per text: nothing to sample or search)"
            )
        if not inputs:
            return []
        encoded = self.encode(tokenizers, list(inputs))
        values = self._predict_values(model, encoded, 64, device, tokenizers.source.pad_id)
        return [f"{float(v) * self.std + self.mean:.{decimals}f}" for v in values]

    def sample_data(self) -> TextSource:
        """200 spelled numbers below 200 (the conformance kit's data)."""
        from seqframe_regression.data import SpelledNumbersDataset

        return SpelledNumbersDataset(max_number=200, valid_size=16, test_size=16)
