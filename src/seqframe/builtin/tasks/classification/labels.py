"""What ``classification`` and ``one_to_one`` share (:class:`LabelTask`): a sorted label
list learnt from the training split and saved in ``task.json``, length-bucketed batches,
cross-entropy, accuracy and macro-F1, and label predictions. Imports layers 0-0b and the
built-in data helpers."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from seqframe.builtin.data.sources import describe_unseen
from seqframe.builtin.metrics import accuracy, macro_f1
from seqframe.builtin.tasks.batching import BucketedBatches
from seqframe.errors import DataError, SeqframeError
from seqframe.interfaces import Device, EvalSettings, Task, Tokenizers

__all__ = ["LabelTask"]


class LabelTask(Task):
    """What both label tasks share: labels, batches, loss, metrics and predictions."""

    name = "label"
    causal = False  # reads the whole input before answering: bidirectional topologies fit
    needs_examples = True
    predict_options = ()  # one label per input: nothing to sample or search
    example_fields = ("label",)

    def __init__(self) -> None:
        self.labels: list[str] = []

    def _fit_labels(self, splits: Mapping[str, list[dict[str, Any]]]) -> None:
        if not splits["train"]:
            raise DataError(f"task {self.name!r}: the training split has no examples")
        for split, examples in splits.items():
            for i, example in enumerate(examples):
                if any(key not in example for key in self.example_fields):
                    raise DataError(
                        f"task {self.name!r}: {split} example {i} has fields {', '.join(example)}; "
                        f"expected {', '.join(self.example_fields)}"
                    )
        labels = sorted({str(example["label"]) for example in splits["train"]})
        if len(labels) < 2:
            raise DataError(
                f"task {self.name!r}: the training split has a single label {labels[0]!r}; a classifier "
                "needs at least 2"
            )
        listing = describe_unseen({s: [{**e, "label": str(e["label"])} for e in x] for s, x in splits.items()}, "label")
        if listing:
            raise DataError(
                f"task {self.name!r}: labels not seen in training: {listing}; the model has no output for "
                "them: add training examples with them or remove them"
            )
        self.labels = labels

    def _label_ids(self, examples: Sequence[Mapping[str, Any]]) -> Tensor:
        index = {label: i for i, label in enumerate(self.labels)}
        unknown = sorted({str(e["label"]) for e in examples} - index.keys())
        if unknown:
            listed = ", ".join(map(repr, unknown[:10])) + (" ..." if len(unknown) > 10 else "")
            raise DataError(
                f"task {self.name!r}: labels the model was not trained on: {listed} "
                f"(it knows: {', '.join(self.labels)})"
            )
        return torch.tensor([index[str(e["label"])] for e in examples], dtype=torch.int64)

    def _require_labels(self) -> None:
        if not self.labels:
            raise ValueError(f"task {self.name!r}: no labels yet; fit it on data or load its saved state first")

    def _collate(self, encoded: Mapping[str, Tensor], rows: Tensor, pad_id: int) -> dict[str, Tensor]:
        raise NotImplementedError

    def _forward(self, model: nn.Module, batch: Mapping[str, Tensor]) -> Tensor:
        raise NotImplementedError

    def _lengths(self, encoded: Mapping[str, Tensor]) -> Tensor:
        return encoded["lengths"]

    def _encode_raw(self, tokenizers: Tokenizers, inputs: Sequence[str]) -> Mapping[str, Tensor]:
        """Raw inputs as :meth:`predict` receives them, encoded without labels."""
        raise NotImplementedError

    def train_batches(
        self, encoded: Mapping[str, Tensor], batch_size: int, seed: int, tokenizers: Tokenizers
    ) -> BucketedBatches:
        """Resumable shuffled batches of similar-length examples (dicts with ``labels``)."""
        collate = functools.partial(self._collate, encoded, pad_id=tokenizers.source.pad_id)
        return BucketedBatches(self._lengths(encoded), batch_size, collate, seed, where=self.name)

    def training_step(self, model: nn.Module, batch: Mapping[str, Any], carry: Any) -> tuple[Tensor, int, Any]:
        """Mean cross-entropy over the batch's examples; returns ``(loss, examples, None)``."""
        return F.cross_entropy(self._forward(model, batch), batch["labels"]), int(batch["labels"].numel()), None

    @torch.no_grad()
    def _logits(
        self, model: nn.Module, encoded: Mapping[str, Tensor], batch_size: int, device: Any, pad_id: int
    ) -> Tensor:
        """Logits ``(N, num_labels)`` of every example, in order, computed in length-sorted batches."""
        was_training = model.training
        model.eval()
        order = torch.argsort(self._lengths(encoded), stable=True)
        logits = torch.empty(order.numel(), len(self.labels))
        for rows in order.split(max(batch_size, 1)):
            batch = {k: v.to(device) for k, v in self._collate(encoded, rows, pad_id).items()}
            logits[rows] = self._forward(model, batch).float().cpu()
        model.train(was_training)
        return logits

    def evaluate(self, model: nn.Module, encoded: Mapping[str, Tensor], settings: EvalSettings) -> dict[str, float]:
        """Mean cross-entropy (``loss``, nats per example), ``accuracy`` and ``macro_f1``."""
        pad_id = settings.tokenizers.source.pad_id
        logits, gold = self._logits(model, encoded, settings.batch_size, settings.device, pad_id), encoded["labels"]
        pred = logits.argmax(-1).tolist()
        return {
            "loss": float(F.cross_entropy(logits, gold)),
            "accuracy": accuracy(pred, gold.tolist()),
            "macro_f1": macro_f1(pred, gold.tolist()),
        }

    def predict(
        self, model: nn.Module, tokenizers: Tokenizers, inputs: Sequence[str], *, device: Device = "cpu", **options: Any
    ) -> list[str]:
        """The most likely label of each raw input.

        Raises:
            SeqframeError: an option was given (one label per input: nothing to sample).
            DataError: an input that does not fit the task.
        """
        encoded = self._encode_raw(tokenizers, inputs)
        if options:
            raise SeqframeError(
                f"task {self.name!r} answers with one label per input and takes no predict options; "
                f"got {', '.join(sorted(options))}"
            )
        if not self._lengths(encoded).numel():
            return []
        logits = self._logits(model, encoded, 64, device, tokenizers.source.pad_id)
        return [self.labels[i] for i in logits.argmax(-1).tolist()]

    def state_dict(self) -> dict[str, Any]:
        """The label list (saved as ``task.json``)."""
        return {"labels": list(self.labels)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a saved label list."""
        labels = state.get("labels")
        if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) for x in labels):
            raise DataError(
                f"task {self.name!r}: a saved state needs 'labels', a list of at least 2 strings; got {labels!r}"
            )
        self.labels = list(labels)
