"""``sequence_regression``: many-to-one with a numeric target over sequences of feature
vectors (the adding problem). Read a sequence of vectors, answer one number.

Inputs are not tokens: each step is a vector of ``feature_size`` floats that enters the
topology as it is (no embedding). Imports layers 0-0b and the built-in batching helpers.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from seqframe.builtin.data.generated.long_memory import AddingSource
from seqframe.builtin.tasks.batching import BucketedBatches
from seqframe.builtin.tasks.sequence_regression.batching import collate_steps
from seqframe.builtin.tasks.sequence_regression.model import POOLINGS, SequenceRegressor
from seqframe.errors import DataError, SeqframeError
from seqframe.hookspecs import hookimpl
from seqframe.interfaces import Device, EvalSettings, ModelParts, SequenceSource, Task, TextSource, Tokenizers

__all__ = ["SequenceRegressionTask", "parse_sequence"]


def parse_sequence(text: str, feature_size: int) -> list[list[float]]:
    """A sequence written as text (steps separated by spaces, features by commas:
    ``"0.5,0 0.25,1"``) -> its steps.

    Raises:
        DataError: no step, a step with another number of features, or a word that is not a number.
    """
    steps = []
    for position, word in enumerate(text.split()):
        try:
            step = [float(value) for value in word.split(",")]
        except ValueError:
            raise DataError(
                f"sequence_regression: step {position} of {text[:40]!r} is {word!r}; expected "
                f"{feature_size} comma-separated numbers (e.g. '0.5,1')"
            ) from None
        if len(step) != feature_size:
            raise DataError(
                f"sequence_regression: step {position} of {text[:40]!r} has {len(step)} features; "
                f"expected {feature_size} (steps separated by spaces, features by commas)"
            )
        steps.append(step)
    if not steps:
        raise DataError(f"sequence_regression: {text!r} has no step; write steps such as '0.5,0 0.25,1'")
    return steps


def _value(example: Mapping[str, Any], index: int) -> float:
    value = example.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DataError(f"sequence_regression: example {index} has value {value!r}; expected a finite number")
    return float(value)


class SequenceRegressionTask(Task):
    """Sequence regression (many-to-one, numeric target) over sequences of feature vectors.

    The topology reads the vectors directly (its input size is the data's ``feature_size``;
    ``model.embedding_dim`` is unused, and so is the tokenizer, which every recipe names).
    ``model.pooling`` picks what the head sees: ``last`` (default; the final state of every
    direction) or ``mean`` (over the real steps). The loss is the mean squared error in the
    targets' own units. Metrics: ``loss`` and ``mse`` (the same), ``mae``, and
    ``baseline_mse``, the error of always answering the training mean (learnt by ``fit``; on
    the adding problem about 0.167): a model below it has learnt something. Examples are
    ``{"sequence": [[f_1, ..., f_F], ...], "value": float}`` (``adding``); ``predict`` reads a
    sequence written ``"0.5,0 0.25,1 ..."`` and answers with ``decimals`` decimals.

    Args:
        decimals: decimals of the predicted numbers.
    """

    name = "sequence_regression"
    needs_examples = True
    example_fields = ("sequence", "value")
    example_sources = "adding"

    def __init__(self, decimals: int = 4) -> None:
        if isinstance(decimals, bool) or not isinstance(decimals, int) or decimals < 0:
            raise ValueError(f"sequence_regression: decimals must be an int >= 0, got {decimals!r}")
        self.decimals = decimals
        self.feature_size: int | None = None
        self.mean = 0.0

    def fit(self, data: TextSource) -> None:
        """Learn the feature size and the mean of the training targets.

        Raises:
            DataError: no training example, a value that is not a number, or steps of
                differing sizes.
        """
        examples = self.inputs(data, "train")
        if not examples:
            raise DataError("sequence_regression: the training split has no examples")
        size = data.feature_size if isinstance(data, SequenceSource) else len(examples[0]["sequence"][0])
        values = [_value(example, i) for i, example in enumerate(examples)]
        self.load_state_dict({"feature_size": size, "mean": sum(values) / len(values)})

    def state_dict(self) -> dict[str, Any]:
        """The feature size and the training targets' mean (saved as ``task.json``)."""
        return {"feature_size": self.feature_size, "mean": self.mean}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`.

        Raises:
            DataError: a state without an int ``feature_size`` >= 1 and a finite ``mean``.
        """
        size, mean = state.get("feature_size"), state.get("mean")
        if (
            isinstance(size, bool)
            or not isinstance(size, int)
            or size < 1
            or isinstance(mean, bool)
            or not isinstance(mean, (int, float))
            or not math.isfinite(mean)
        ):
            raise DataError(
                f"sequence_regression: a saved state needs an int 'feature_size' >= 1 and a finite "
                f"'mean'; got {dict(state)!r}"
            )
        self.feature_size, self.mean = size, float(mean)

    def _size(self) -> int:
        if self.feature_size is None:
            raise ValueError(
                "sequence_regression: the feature size is unknown; fit the task on data or load its saved state"
            )
        return self.feature_size

    def topology_input_size(self, embedding_dim: int) -> int:
        """The feature size (``embedding_dim`` is not used)."""
        return self._size()

    def build_model(self, parts: ModelParts, *, pooling: str = "last") -> SequenceRegressor:
        """Topology -> pooling -> ``head(output_size, 1)``.

        Args:
            pooling: ``last`` (the final state of every direction) or ``mean`` (the recipe's
                ``model.pooling``).
        """
        if pooling not in POOLINGS:
            raise ValueError(f"sequence_regression: pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        self._size()
        return SequenceRegressor(parts.topology, parts.head(parts.topology.output_size, 1), pooling)

    def encode_settings(self) -> dict[str, Any]:
        """What :meth:`encode` depends on (the cache key)."""
        return {"feature_size": self.feature_size}

    def encode(self, tokenizers: Tokenizers, inputs: Sequence[Any]) -> dict[str, Tensor]:
        """Examples (or texts, to predict) -> joined ``steps`` ``(sum T, F)`` float32,
        ``lengths`` ``(N,)`` and, for examples, ``values`` ``(N,)`` float32.

        Raises:
            DataError: an empty sequence or a step with another number of features.
        """
        size = self._size()
        sequences = [parse_sequence(x, size) if isinstance(x, str) else x["sequence"] for x in inputs]
        for i, sequence in enumerate(sequences):
            if not sequence or any(len(step) != size for step in sequence):
                raise DataError(
                    f"sequence_regression: example {i} has {len(sequence)} steps of sizes "
                    f"{sorted({len(step) for step in sequence})}; expected at least one step of {size}"
                )
        flat = [step for sequence in sequences for step in sequence]
        encoded = {
            "steps": torch.tensor(flat, dtype=torch.float32).view(len(flat), size),
            "lengths": torch.tensor([len(s) for s in sequences], dtype=torch.int64),
        }
        if inputs and not isinstance(inputs[0], str):
            encoded["values"] = torch.tensor([_value(x, i) for i, x in enumerate(inputs)], dtype=torch.float32)
        return encoded

    def train_batches(
        self, encoded: Mapping[str, Tensor], batch_size: int, seed: int, tokenizers: Tokenizers
    ) -> BucketedBatches:
        """Resumable shuffled batches of similar-length sequences."""
        return BucketedBatches(
            encoded["lengths"], batch_size, functools.partial(collate_steps, encoded), seed, where="sequence_regression"
        )

    def training_step(self, model: nn.Module, batch: Mapping[str, Any], carry: Any) -> tuple[Tensor, int, Any]:
        """Mean squared error; returns ``(loss, examples, None)``."""
        predicted = model(batch["steps"], batch["lengths"])
        return F.mse_loss(predicted.float(), batch["values"]), int(batch["values"].numel()), None

    @torch.no_grad()
    def _predict_values(self, model: nn.Module, encoded: Mapping[str, Tensor], batch_size: int, device: Any) -> Tensor:
        """Predictions ``(N,)`` in input order."""
        was_training = model.training
        model.eval()
        out = torch.empty(encoded["lengths"].numel())
        try:
            for rows in torch.arange(out.numel()).split(max(batch_size, 1)):
                batch = collate_steps(encoded, rows)
                out[rows] = model(batch["steps"].to(device), batch["lengths"].to(device)).float().cpu()
        finally:
            model.train(was_training)
        return out

    def evaluate(self, model: nn.Module, encoded: Mapping[str, Tensor], settings: EvalSettings) -> dict[str, float]:
        """``loss`` and ``mse`` (mean squared error), ``mae``, and ``baseline_mse`` (of
        always answering the training mean)."""
        if not encoded["lengths"].numel():
            raise DataError("sequence_regression: no example to evaluate")
        gold = encoded["values"]
        error = self._predict_values(model, encoded, settings.batch_size, settings.device) - gold
        mse = float((error**2).mean())
        return {
            "loss": mse,
            "mse": mse,
            "mae": float(error.abs().mean()),
            "baseline_mse": float(((gold - self.mean) ** 2).mean()),
        }

    def predict(
        self, model: nn.Module, tokenizers: Tokenizers, inputs: Sequence[str], *, device: Device = "cpu", **options: Any
    ) -> list[str]:
        """The predicted number for each sequence written as text (``"0.5,0 0.25,1 ..."``).

        Raises:
            SeqframeError: an option was given (it answers with one number: nothing to sample).
            DataError: a text that is not such a sequence.
        """
        if options:
            raise SeqframeError(
                f"sequence_regression: predict takes no options, got {', '.join(sorted(options))} "
                "(it answers with one number per sequence)"
            )
        if not inputs:
            return []
        values = self._predict_values(model, self.encode(tokenizers, list(inputs)), 64, device)
        return [f"{float(v):.{self.decimals}f}" for v in values]

    def sample_data(self) -> TextSource:
        """A tiny adding problem: 48 sequences of 6 steps (32/8/8)."""
        return AddingSource(length=6, size=32, valid_size=8, test_size=8)


@hookimpl
def seqframe_tasks() -> Mapping[str, Any]:
    """Sequence regression over feature vectors."""
    return {"sequence_regression": SequenceRegressionTask}
