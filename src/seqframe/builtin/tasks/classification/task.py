"""``classification`` (many-to-one) and ``one_to_one``: one label for a whole sequence, or for
one feature vector read as a sequence of length 1, through the same recurrent machinery.

Both learn their sorted label list from the training split (``fit``) and save it in
``task.json``, so a finished run predicts without its data. ``one_to_one`` also saves the
feature size and the source's ``feature_spec``, with which it featurizes raw input text.
Imports layers 0-0b and the built-in data helpers (features, metrics, structured examples).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from seqframe.builtin.data.features import featurize
from seqframe.builtin.data.sources import unseen_labels
from seqframe.builtin.metrics import accuracy, macro_f1
from seqframe.builtin.tasks.batching import BucketedBatches
from seqframe.builtin.tasks.classification.batching import collate_sequences
from seqframe.builtin.tasks.classification.exported import (
    ExportedClassifier,
    ExportedVectorClassifier,
    sequence_classifier_plan,
    vector_classifier_plan,
)
from seqframe.builtin.tasks.classification.model import POOLINGS, SequenceClassifier, VectorClassifier
from seqframe.builtin.tasks.encoding import encode_texts
from seqframe.builtin.tasks.samples import label_sample, vector_sample
from seqframe.errors import DataError, SeqframeError
from seqframe.hookspecs import hookimpl
from seqframe.interfaces import ExportPlan, FeatureSource, GraphRunner, Task, TextSource, Tokenizer

__all__ = ["ClassificationTask", "OneToOneTask"]


class _LabelTask(Task):
    """What both label tasks share: labels, batches, loss, metrics and predictions."""

    name = "label"
    causal = False  # reads the whole input before answering: bidirectional topologies fit
    needs_examples = True
    example_fields = ("label",)

    def __init__(self) -> None:
        self.labels: list[str] = []

    def _fit_labels(self, splits: Mapping[str, list[dict[str, Any]]]) -> None:
        if not splits["train"]:
            raise DataError(f"task {self.name!r}: the training split has no examples")
        for split, examples in splits.items():
            for i, example in enumerate(examples):
                if any(key not in example for key in self.example_fields):
                    raise DataError(f"task {self.name!r}: {split} example {i} has fields {', '.join(example)}; "
                                    f"expected {', '.join(self.example_fields)}")
        labels = sorted({str(example["label"]) for example in splits["train"]})
        if len(labels) < 2:
            raise DataError(f"task {self.name!r}: the training split has a single label {labels[0]!r}; a classifier "
                            "needs at least 2")
        found = unseen_labels({s: [{**e, "label": str(e["label"])} for e in x] for s, x in splits.items()}, "label")
        if found:
            listing = "; ".join(f"{split}: " + ", ".join(f"{label!r} (first at {where})" for label, where in pairs.items())
                                for split, pairs in found.items())
            raise DataError(f"task {self.name!r}: labels not seen in training: {listing}; the model has no output for "
                            "them: add training examples with them or remove them")
        self.labels = labels

    def _label_ids(self, examples: Sequence[Mapping[str, Any]]) -> Tensor:
        index = {label: i for i, label in enumerate(self.labels)}
        unknown = sorted({str(e["label"]) for e in examples} - index.keys())
        if unknown:
            listed = ", ".join(map(repr, unknown[:10])) + (" ..." if len(unknown) > 10 else "")
            raise DataError(f"task {self.name!r}: labels the model was not trained on: {listed} "
                            f"(it knows: {', '.join(self.labels)})")
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

    def train_batches(self, encoded: Mapping[str, Tensor], batch_size: int, seed: int, *, tokenizer: Tokenizer,
                      target_tokenizer: Tokenizer | None = None) -> BucketedBatches:
        """Resumable shuffled batches of similar-length examples (dicts with ``labels``)."""
        collate = functools.partial(self._collate, encoded, pad_id=tokenizer.pad_id)
        return BucketedBatches(self._lengths(encoded), batch_size, collate, seed, where=self.name)

    def training_step(self, model: nn.Module, batch: Mapping[str, Any], carry: Any) -> tuple[Tensor, int, Any]:
        """Mean cross-entropy over the batch's examples; returns ``(loss, examples, None)``."""
        return F.cross_entropy(self._forward(model, batch), batch["labels"]), int(batch["labels"].numel()), None

    @torch.no_grad()
    def _logits(self, model: nn.Module, encoded: Mapping[str, Tensor], batch_size: int, device: Any,
                pad_id: int) -> Tensor:
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

    def evaluate(self, model: nn.Module, encoded: Mapping[str, Tensor], batch_size: int, device: Any,
                 num_chars: int, *, tokenizer: Tokenizer, target_tokenizer: Tokenizer | None = None) -> dict[str, float]:
        """Mean cross-entropy (``loss``, nats per example), ``accuracy`` and ``macro_f1``."""
        logits, gold = self._logits(model, encoded, batch_size, device, tokenizer.pad_id), encoded["labels"]
        pred = logits.argmax(-1).tolist()
        return {"loss": float(F.cross_entropy(logits, gold)), "accuracy": accuracy(pred, gold.tolist()),
                "macro_f1": macro_f1(pred, gold.tolist())}

    def _predict(self, model: nn.Module, encoded: Mapping[str, Tensor], device: Any,
                 options: Mapping[str, Any], pad_id: int) -> list[str]:
        if options:
            raise SeqframeError(f"task {self.name!r} answers with one label per input and takes no predict options; "
                                f"got {', '.join(sorted(options))}")
        if not self._lengths(encoded).numel():
            return []
        return [self.labels[i] for i in self._logits(model, encoded, 64, device, pad_id).argmax(-1).tolist()]

    def state_dict(self) -> dict[str, Any]:
        """The label list (saved as ``task.json``)."""
        return {"labels": list(self.labels)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a saved label list."""
        labels = state.get("labels")
        if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) for x in labels):
            raise DataError(f"task {self.name!r}: a saved state needs 'labels', a list of at least 2 strings; "
                            f"got {labels!r}")
        self.labels = list(labels)


class ClassificationTask(_LabelTask):
    """Sequence classification (many-to-one): one label per input text.

    The model is embedding -> topology (any, bidirectional included, with each text's length)
    -> pooling -> head(output_size, number of labels). Pooling is the recipe's
    ``model.pooling``: ``last`` (default) takes the final state of every direction of the last
    layer (forward at each text's own last token, backward at its first, concatenated);
    ``mean`` and ``max`` pool the last layer's outputs over the real steps. Examples are
    ``{"text", "label"}`` (``number_language_id``, ``labelled_files``); batches group texts of
    similar length. Metrics: ``loss``, ``accuracy``, ``macro_f1``; predictions are labels.

    Args:
        max_len: longest input in tokens; longer texts keep their first ``max_len`` tokens
            (with a warning giving how many were cut).
    """

    name = "classification"
    example_fields = ("text", "label")
    example_sources = "number_language_id or labelled_files"

    def __init__(self, max_len: int = 512) -> None:
        super().__init__()
        if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
            raise ValueError(f"classification: max_len must be an int >= 1, got {max_len!r}")
        self.max_len = max_len

    def fit(self, data: TextSource) -> None:
        """Learn the sorted label list from the training split.

        Raises:
            DataError: no examples, fewer than 2 labels, or valid/test labels absent from train.
        """
        self._fit_labels({split: self.inputs(data, split) for split in ("train", "valid", "test")})

    def build_model(self, *, tokenizer: Tokenizer, topology: nn.Module, head: Callable[..., nn.Module],
                    embedding_dim: int, pooling: str = "last") -> nn.Module:
        """Wire embedding -> topology -> pooling -> head(output_size, number of labels).

        Args:
            pooling: ``last``, ``mean`` or ``max`` (the recipe's ``model.pooling``).
        """
        if pooling not in POOLINGS:
            raise ValueError(f"classification: pooling must be one of {', '.join(POOLINGS)}; got {pooling!r}")
        self._require_labels()
        return SequenceClassifier(tokenizer.vocab_size, embedding_dim, topology,
                                  head(topology.output_size, len(self.labels)), tokenizer.pad_id, pooling)

    def encode_settings(self) -> dict[str, Any]:
        """What :meth:`encode` depends on besides the tokenizer (the cache key)."""
        return {"labels": self.labels, "max_len": self.max_len}

    def encode(self, tokenizer: Tokenizer, inputs: Sequence[Any], *,
               target_tokenizer: Tokenizer | None = None) -> dict[str, Tensor]:
        """Examples (or plain texts, to predict) -> ``ids`` (all texts' ids, joined),
        ``offsets`` and ``lengths`` ``(N,)``, and ``labels`` ``(N,)`` for examples.

        Raises:
            DataError: a text with no token, or a label the task does not know.
        """
        texts = [x if isinstance(x, str) else x["text"] for x in inputs]
        ids = encode_texts(tokenizer, texts)
        for i, row in enumerate(ids):
            if not row:
                raise DataError(f"classification: input {i} ({texts[i]!r}) has no tokens; give it some text")
        cut = sum(len(row) > self.max_len for row in ids)
        if cut:
            warnings.warn(f"classification: {cut} of {len(ids)} inputs are longer than max_len={self.max_len} "
                          "tokens and were cut to it", stacklevel=2)
        lengths = torch.tensor([min(len(row), self.max_len) for row in ids], dtype=torch.int64)
        encoded = {"ids": torch.tensor([t for row in ids for t in row[: self.max_len]], dtype=torch.int64),
                   "offsets": torch.cumsum(lengths, 0) - lengths, "lengths": lengths}
        if inputs and not isinstance(inputs[0], str):
            encoded["labels"] = self._label_ids(inputs)
        return encoded

    def _collate(self, encoded: Mapping[str, Tensor], rows: Tensor, pad_id: int) -> dict[str, Tensor]:
        return collate_sequences(encoded, rows, pad_id)

    def sample_data(self) -> TextSource:
        """Strings of ``a`` and ``b`` labelled by their more frequent letter."""
        return label_sample()

    def _forward(self, model: nn.Module, batch: Mapping[str, Tensor]) -> Tensor:
        return model(batch["ids"], batch["lengths"])

    def export_plan(self, model: nn.Module) -> ExportPlan:
        """``embedding``, the topology's layer graphs and ``pool_head``."""
        return sequence_classifier_plan(model)

    def exported_model(self, graphs: GraphRunner) -> ExportedClassifier:
        """The exported stand-in that :meth:`predict` accepts."""
        return ExportedClassifier(graphs)

    def predict(self, model: nn.Module, tokenizer: Tokenizer, inputs: Sequence[str], *, device: Any = "cpu",
                target_tokenizer: Tokenizer | None = None, **options: Any) -> list[str]:
        """The most likely label of each text."""
        return self._predict(model, self.encode(tokenizer, list(inputs)), device, options, tokenizer.pad_id)


class OneToOneTask(_LabelTask):
    """One-to-one: one feature vector in, one label out, as a sequence of length 1.

    The vector ``(B, F)`` enters the topology as ``(B, 1, F)`` (``F`` is the data's
    ``feature_size``, learned by ``fit``); the output of that single step goes to the head.
    There is no embedding, so ``model.embedding_dim`` is unused; the tokenizer is fitted on the
    examples' ``text`` but unused too. Examples are ``{"features", "label"}``
    (``number_language_features``). ``task.json`` keeps the labels, the feature size and the
    source's ``feature_spec``, with which ``predict`` featurizes raw text
    (``seqframe predict RUN "vierundzwanzig"``). Metrics: ``loss``, ``accuracy``, ``macro_f1``.
    """

    name = "one_to_one"
    example_fields = ("features", "label")
    example_sources = "number_language_features"

    def __init__(self) -> None:
        super().__init__()
        self.feature_size: int | None = None
        self.feature_spec: dict[str, Any] | None = None

    def fit(self, data: TextSource) -> None:
        """Learn the labels, the feature size and the source's ``feature_spec`` (if any).

        Raises:
            DataError: no examples, unseen labels, or feature vectors of differing sizes.
        """
        splits = {split: self.inputs(data, split) for split in ("train", "valid", "test")}
        self._fit_labels(splits)
        features = isinstance(data, FeatureSource)
        size = data.feature_size if features else len(splits["train"][0]["features"])
        for split, examples in splits.items():
            for i, example in enumerate(examples):
                if len(example["features"]) != size:
                    raise DataError(f"one_to_one: {split} example {i} has {len(example['features'])} features; "
                                    f"expected {size} (the data's feature_size)")
        spec = data.feature_spec if features else None
        self.feature_size, self.feature_spec = int(size), dict(spec) if spec else None

    def topology_input_size(self, embedding_dim: int) -> int:
        """The feature size (``embedding_dim`` is not used)."""
        if self.feature_size is None:
            raise ValueError("one_to_one: the feature size is unknown; fit the task on data or load its saved state")
        return self.feature_size

    def build_model(self, *, tokenizer: Tokenizer, topology: nn.Module, head: Callable[..., nn.Module],
                    embedding_dim: int) -> nn.Module:
        """Wire topology (input ``(B, 1, F)``) -> head(output_size, number of labels)."""
        self._require_labels()
        return VectorClassifier(topology, head(topology.output_size, len(self.labels)))

    def encode_settings(self) -> dict[str, Any]:
        """What :meth:`encode` depends on (the cache key)."""
        return {"labels": self.labels, "feature_size": self.feature_size}

    def encode(self, tokenizer: Tokenizer, inputs: Sequence[Mapping[str, Any]], *,
               target_tokenizer: Tokenizer | None = None) -> dict[str, Tensor]:
        """Examples -> ``features`` ``(N, F)`` float32 and ``labels`` ``(N,)``."""
        features = torch.tensor([list(x["features"]) for x in inputs], dtype=torch.float32)
        if features.dim() != 2 or features.shape[1] != self.feature_size:
            raise DataError(f"one_to_one: expected feature vectors of size {self.feature_size}, got a "
                            f"{tuple(features.shape)} table")
        return {"features": features, "labels": self._label_ids(inputs)}

    def _collate(self, encoded: Mapping[str, Tensor], rows: Tensor, pad_id: int) -> dict[str, Tensor]:
        return {key: value[rows] for key, value in encoded.items()}

    def sample_data(self) -> TextSource:
        """Bag-of-characters vectors of strings of ``a`` and ``b``, labelled by the more frequent letter."""
        return vector_sample()

    def _forward(self, model: nn.Module, batch: Mapping[str, Tensor]) -> Tensor:
        return model(batch["features"])

    def _lengths(self, encoded: Mapping[str, Tensor]) -> Tensor:
        return torch.ones(encoded["features"].shape[0], dtype=torch.int64)  # every example is one step

    def export_plan(self, model: nn.Module) -> ExportPlan:
        """The topology's layer graphs (one step) and ``head``."""
        return vector_classifier_plan(model)

    def exported_model(self, graphs: GraphRunner) -> ExportedVectorClassifier:
        """The exported stand-in that :meth:`predict` accepts."""
        return ExportedVectorClassifier(graphs)

    def predict(self, model: nn.Module, tokenizer: Tokenizer, inputs: Sequence[str], *, device: Any = "cpu",
                target_tokenizer: Tokenizer | None = None, **options: Any) -> list[str]:
        """The most likely label of each raw text, featurized with the saved ``feature_spec``.

        Raises:
            DataError: the run has no feature spec, or a text does not fit it.
        """
        if self.feature_spec is None:
            raise DataError("one_to_one: this run's data source has no feature_spec, so raw text cannot be turned "
                            "into its feature vectors; train on a source that has one (number_language_features)")
        features = torch.tensor([featurize(self.feature_spec, text) for text in inputs], dtype=torch.float32)
        return self._predict(model, {"features": features.view(len(inputs), self.feature_size or 0)}, device, options,
                             tokenizer.pad_id)

    def state_dict(self) -> dict[str, Any]:
        """Labels, feature size and feature spec (saved as ``task.json``)."""
        return {**super().state_dict(), "feature_size": self.feature_size, "feature_spec": self.feature_spec}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the saved labels, feature size and feature spec."""
        super().load_state_dict(state)
        size = state.get("feature_size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise DataError(f"one_to_one: a saved state needs 'feature_size', an int >= 1; got {size!r}")
        self.feature_size, self.feature_spec = size, state.get("feature_spec")


@hookimpl
def seqframe_tasks() -> Mapping[str, Any]:
    """Built-in label tasks."""
    return {"classification": ClassificationTask, "one_to_one": OneToOneTask}
