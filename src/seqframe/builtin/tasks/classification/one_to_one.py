"""``one_to_one``: one feature vector in, one label out, read as a sequence of length 1. Also
saves the feature size and the source's ``feature_spec``, with which it featurizes raw
input text. Imports layers 0-0b and the built-in data helpers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from seqframe.builtin.data.features import featurize
from seqframe.builtin.tasks.classification.exported import ExportedVectorClassifier, vector_classifier_plan
from seqframe.builtin.tasks.classification.labels import LabelTask
from seqframe.builtin.tasks.classification.model import VectorClassifier
from seqframe.builtin.tasks.samples import vector_sample
from seqframe.errors import DataError
from seqframe.interfaces import ExportPlan, FeatureSource, GraphRunner, ModelParts, TextSource, Tokenizers

__all__ = ["OneToOneTask"]


class OneToOneTask(LabelTask):
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
    file_formats = ("jsonl",)  # feature vectors are lists

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
                    raise DataError(
                        f"one_to_one: {split} example {i} has {len(example['features'])} features; "
                        f"expected {size} (the data's feature_size)"
                    )
        spec = data.feature_spec if features else None
        self.feature_size, self.feature_spec = int(size), dict(spec) if spec else None

    def topology_input_size(self, embedding_dim: int) -> int:
        """The feature size (``embedding_dim`` is not used)."""
        if self.feature_size is None:
            raise ValueError("one_to_one: the feature size is unknown; fit the task on data or load its saved state")
        return self.feature_size

    def build_model(self, parts: ModelParts) -> nn.Module:
        """Wire topology (input ``(B, 1, F)``) -> head(output_size, number of labels)."""
        self._require_labels()
        return VectorClassifier(parts.topology, parts.head(parts.topology.output_size, len(self.labels)))

    def encode_settings(self) -> dict[str, Any]:
        """What :meth:`encode` depends on (the cache key)."""
        return {"labels": self.labels, "feature_size": self.feature_size}

    def encode(self, tokenizers: Tokenizers, inputs: Sequence[Mapping[str, Any]]) -> dict[str, Tensor]:
        """Examples -> ``features`` ``(N, F)`` float32 and ``labels`` ``(N,)``."""
        features = torch.tensor([list(x["features"]) for x in inputs], dtype=torch.float32)
        if features.dim() != 2 or features.shape[1] != self.feature_size:
            raise DataError(
                f"one_to_one: expected feature vectors of size {self.feature_size}, got a {tuple(features.shape)} table"
            )
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

    def _encode_raw(self, tokenizers: Tokenizers, inputs: Sequence[str]) -> Mapping[str, Tensor]:
        """Raw texts featurized with the saved ``feature_spec``.

        Raises:
            DataError: the run has no feature spec, or a text does not fit it.
        """
        if self.feature_spec is None:
            raise DataError(
                "one_to_one: this run's data source has no feature_spec, so raw text cannot be turned "
                "into its feature vectors; train on a source that has one (number_language_features)"
            )
        features = torch.tensor([featurize(self.feature_spec, text) for text in inputs], dtype=torch.float32)
        return {"features": features.view(len(inputs), self.feature_size or 0)}

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
