"""``classification`` (many-to-one) and ``one_to_one``: one label for a whole sequence, or for
one feature vector read as a sequence of length 1, through the same recurrent machinery.

Both learn their sorted label list from the training split (``fit``) and save it in
``task.json``, so a finished run predicts without its data. ``one_to_one`` also saves the
feature size and the source's ``feature_spec``, with which it featurizes raw input text.
Imports layers 0-0b and the built-in data helpers (features, metrics, structured examples).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from seqframe.builtin.tasks.classification.batching import collate_sequences
from seqframe.builtin.tasks.classification.exported import ExportedClassifier, sequence_classifier_plan
from seqframe.builtin.tasks.classification.labels import LabelTask
from seqframe.builtin.tasks.classification.model import POOLINGS, SequenceClassifier
from seqframe.builtin.tasks.classification.one_to_one import OneToOneTask
from seqframe.builtin.tasks.encoding import encode_texts
from seqframe.builtin.tasks.samples import label_sample
from seqframe.errors import DataError
from seqframe.hookspecs import hookimpl
from seqframe.interfaces import ExportPlan, GraphRunner, ModelParts, TextSource, Tokenizers

__all__ = ["ClassificationTask", "OneToOneTask"]


class ClassificationTask(LabelTask):
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

    def build_model(self, parts: ModelParts, *, pooling: str = "last") -> nn.Module:
        """Wire embedding -> topology -> pooling -> head(output_size, number of labels).

        Args:
            pooling: ``last``, ``mean`` or ``max`` (the recipe's ``model.pooling``).
        """
        if pooling not in POOLINGS:
            raise ValueError(f"classification: pooling must be one of {', '.join(POOLINGS)}; got {pooling!r}")
        self._require_labels()
        tokenizer, topology = parts.tokenizers.source, parts.topology
        head = parts.head(topology.output_size, len(self.labels))
        return SequenceClassifier(tokenizer.vocab_size, parts.embedding_dim, topology, head, tokenizer.pad_id, pooling)

    def encode_settings(self) -> dict[str, Any]:
        """What :meth:`encode` depends on besides the tokenizer (the cache key)."""
        return {"labels": self.labels, "max_len": self.max_len}

    def encode(self, tokenizers: Tokenizers, inputs: Sequence[Any]) -> dict[str, Tensor]:
        """Examples (or plain texts, to predict) -> ``ids`` (all texts' ids, joined),
        ``offsets`` and ``lengths`` ``(N,)``, and ``labels`` ``(N,)`` for examples.

        Raises:
            DataError: a text with no token, or a label the task does not know.
        """
        texts = [x if isinstance(x, str) else x["text"] for x in inputs]
        ids = encode_texts(tokenizers.source, texts)
        for i, row in enumerate(ids):
            if not row:
                raise DataError(f"classification: input {i} ({texts[i]!r}) has no tokens; give it some text")
        cut = sum(len(row) > self.max_len for row in ids)
        if cut:
            warnings.warn(
                f"classification: {cut} of {len(ids)} inputs are longer than max_len={self.max_len} "
                "tokens and were cut to it",
                stacklevel=2,
            )
        lengths = torch.tensor([min(len(row), self.max_len) for row in ids], dtype=torch.int64)
        encoded = {
            "ids": torch.tensor([t for row in ids for t in row[: self.max_len]], dtype=torch.int64),
            "offsets": torch.cumsum(lengths, 0) - lengths,
            "lengths": lengths,
        }
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

    def _encode_raw(self, tokenizers: Tokenizers, inputs: Sequence[str]) -> Mapping[str, Tensor]:
        return self.encode(tokenizers, list(inputs))


@hookimpl
def seqframe_tasks() -> Mapping[str, Any]:
    """Built-in label tasks."""
    return {"classification": ClassificationTask, "one_to_one": OneToOneTask}
