"""``one_to_many``: one input vector conditions the generation of a sequence.

Examples are ``{"features": list[float], "text": str, "target": str}`` (``number_spelling``:
the one-hot digits of 24 -> "twenty-four"). The recipe's ``model.topology`` is the decoder: a
learned ``tanh`` projection of the feature vector gives its initial state (every layer, and
``c`` too for an LSTM), then it writes the target token by token. Training uses teacher
forcing over the whole target at once; decoding reuses the greedy and beam search of
:mod:`..search` one step at a time, carrying the state. The model is in :mod:`.model`, the
batches in :mod:`.batching`. Imports layers 0-0b and ``seqframe.builtin`` only.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from seqframe.builtin.data.features import featurize
from seqframe.builtin.metrics import char_accuracy, exact_match
from seqframe.builtin.tasks.batching import BucketedBatches
from seqframe.builtin.tasks.losses import masked_cross_entropy
from seqframe.builtin.tasks.one_to_many.batching import collate_targets
from seqframe.builtin.tasks.one_to_many.exported import ExportedConditionedDecoder, conditioned_plan
from seqframe.builtin.tasks.one_to_many.model import ConditionedDecoder
from seqframe.builtin.tasks.options import check_number
from seqframe.builtin.tasks.samples import spelling_sample
from seqframe.builtin.tasks.search import beam_search, greedy_decode
from seqframe.errors import DataError, SeqframeError
from seqframe.hookspecs import hookimpl
from seqframe.interfaces import ExportPlan, FeatureSource, GraphRunner, Task, TextSource, Tokenizer, Tokenizers
from seqframe.interfaces.arguments import MAX_TOKENS, Device, EvalSettings, ModelParts

__all__ = ["OneToManyTask"]

_PREDICT_OPTIONS = ("beam", "max_tokens", "length_penalty")


class OneToManyTask(Task):
    """One vector in, a sequence out: a conditioning vector generates a text (one-to-many).

    The recipe's ``model.topology`` is the decoder (unidirectional: a bidirectional one is a
    recipe error) reading target-token embeddings of ``model.embedding_dim``; a learned
    ``tanh`` projection of the example's ``features`` gives its initial state, and
    ``model.head`` maps its outputs to the target vocabulary. Targets are encoded by
    ``tokenizers.target`` (the ``target_tokenizer`` section's tokenizer, or the ``tokenizer``
    when there is none).
    ``fit`` saves the data's ``feature_size`` and ``feature_spec`` with the run, so
    ``seqframe predict RUN "24"`` turns raw input into the same vector without the data (a
    source without a spec takes a JSON list of numbers). Evaluation reports ``loss`` (nats
    per target token, ``eos`` included) and, for greedy outputs of every validation example,
    ``exact_match`` and ``char_accuracy`` (:func:`char_accuracy`).

    Args:
        max_len: most tokens an output may have when decoding (``eos`` excluded; at most 100,000).
        beam: beam size of :meth:`predict` (1: greedy); ``seqframe predict --beam N`` overrides it.
        length_penalty: GNMT length-penalty ``alpha`` of beam search (0: plain log-probability).
        feed_features: also give the features to the decoder at every step, next to the
            previous token's embedding (the topology's input size becomes ``embedding_dim +
            feature_size``), so it need not carry them through its state to the end.
    """

    name = "one_to_many"
    causal = True  # model.topology is the decoder: recipes with a bidirectional one are rejected
    generates_targets = True
    needs_examples = True
    example_fields = ("features", "target")
    example_sources = "number_spelling"
    predict_options = _PREDICT_OPTIONS
    file_formats = ("jsonl",)  # feature vectors are lists

    def __init__(
        self, max_len: int = 100, beam: int = 1, length_penalty: float = 1.0, feed_features: bool = True
    ) -> None:
        check_number("one_to_many", "max_len", max_len, 1, below=MAX_TOKENS + 1)
        check_number("one_to_many", "beam", beam, 1)
        check_number("one_to_many", "length_penalty", length_penalty, 0.0, (int, float))
        self.max_len, self.beam, self.length_penalty = max_len, beam, float(length_penalty)
        self.feed_features = bool(feed_features)
        self.feature_size = 0
        self.feature_spec: dict[str, Any] | None = None

    def fit(self, data: TextSource) -> None:
        """Read the feature size (and spec, if the source has one) from the training split.

        Raises:
            DataError: the source has no examples with ``features`` and a ``target``.
        """
        examples = self.inputs(data, "train")
        if not examples or "features" not in examples[0] or "target" not in examples[0]:
            raise DataError(
                f"one_to_many: data source {type(data).__name__} gives no examples with 'features' and "
                "'target'; use number_spelling or a source of such examples"
            )
        features = isinstance(data, FeatureSource)
        size = data.feature_size if features else len(examples[0]["features"])
        self.load_state_dict({"feature_size": size, "feature_spec": data.feature_spec if features else None})

    def state_dict(self) -> dict[str, Any]:
        """The feature size and spec."""
        return {"feature_size": self.feature_size, "feature_spec": self.feature_spec}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.feature_size = int(state["feature_size"])
        self.feature_spec = dict(state["feature_spec"]) if state.get("feature_spec") is not None else None

    def topology_input_size(self, embedding_dim: int) -> int:
        """The decoder's input size: the target embedding, plus the features if fed."""
        return embedding_dim + (self.feature_size if self.feed_features else 0)

    def build_model(self, parts: ModelParts, *, decoder: nn.Module | None = None) -> ConditionedDecoder:
        """The decoder ``topology`` conditioned on the features, with ``head(H, V)``.

        Raises:
            ValueError: a ``model.decoder`` (here ``model.topology`` is the decoder), or a
                bidirectional topology.
        """
        if decoder is not None:
            raise ValueError("model.decoder: in one_to_many, model.topology is the decoder; remove model.decoder")
        if not self.feature_size:
            raise RuntimeError("one_to_many: call fit(data) or load_state_dict() before build_model")
        target, topology = parts.tokenizers.target, parts.topology
        head = parts.head(topology.output_size, target.vocab_size)
        return ConditionedDecoder(
            self.feature_size, target.vocab_size, parts.embedding_dim, topology, head, target.pad_id, self.feed_features
        )

    def sample_data(self) -> TextSource:
        """One-hot digits of numbers below 100 -> their digit names (``"42"`` -> ``"four two"``)."""
        return spelling_sample()

    def encode_settings(self) -> dict[str, Any]:
        """What :meth:`encode` depends on besides its arguments: the feature size."""
        return {"feature_size": self.feature_size}

    def encode(self, tokenizers: Tokenizers, examples: Sequence[Mapping[str, Any]]) -> dict[str, Tensor]:
        """``features (E, F)``, targets (``tokenizers.target``) as flat ``bos + ids + eos``
        with ``target_lengths``, and the raw target texts as UTF-8 bytes (``reference``,
        ``reference_lengths``).

        Raises:
            DataError: an example whose features are not ``feature_size`` numbers (names it).
        """
        target = tokenizers.target
        for i, example in enumerate(examples):
            if len(example["features"]) != self.feature_size:
                raise DataError(
                    f"one_to_many: example {i} ({example.get('text', '')!r}) has "
                    f"{len(example['features'])} features; the model reads {self.feature_size}"
                )
        ids = [[target.bos_id, *target.encode(e["target"]), target.eos_id] for e in examples]
        raw = [e["target"].encode("utf-8") for e in examples]
        features = torch.tensor([e["features"] for e in examples], dtype=torch.float32)
        return {
            "features": features.view(-1, self.feature_size),
            "target": torch.tensor([i for row in ids for i in row], dtype=torch.int64),
            "target_lengths": torch.tensor([len(row) for row in ids], dtype=torch.int64),
            "reference": torch.tensor(list(b"".join(raw)), dtype=torch.uint8),
            "reference_lengths": torch.tensor([len(r) for r in raw], dtype=torch.int64),
        }

    def train_batches(
        self, encoded: Mapping[str, Tensor], batch_size: int, seed: int, tokenizers: Tokenizers
    ) -> BucketedBatches:
        """Resumable batches of ``batch_size`` examples of similar target length."""
        collate = functools.partial(collate_targets, encoded, pad_id=tokenizers.target.pad_id)
        return BucketedBatches(encoded["target_lengths"], batch_size, collate, seed, where="one_to_many")

    def training_step(self, model: nn.Module, batch: Mapping[str, Any], carry: Any) -> tuple[Tensor, int, Any]:
        """Teacher forcing; the mean cross-entropy over real target tokens (``eos`` included)."""
        logits = model(batch["features"], batch["target_in"], batch["target_lengths"])
        loss, count = masked_cross_entropy(logits, batch["target_out"], batch["target_lengths"])
        return loss, count, None

    @torch.no_grad()
    def evaluate(self, model: nn.Module, encoded: Mapping[str, Tensor], settings: EvalSettings) -> dict[str, float]:
        """``loss``, then ``exact_match`` and ``char_accuracy`` of greedy outputs against the
        raw target texts (see the class docstring)."""
        target, batch_size, device = settings.tokenizers.target, settings.batch_size, settings.device
        was_training = model.training
        model.eval()
        try:
            total, count = 0.0, 0
            for rows in torch.arange(encoded["target_lengths"].numel()).split(batch_size):
                batch = {k: v.to(device) for k, v in collate_targets(encoded, rows, target.pad_id).items()}
                loss, n = masked_cross_entropy(
                    model(batch["features"], batch["target_in"], batch["target_lengths"]),
                    batch["target_out"],
                    batch["target_lengths"],
                )
                total, count = total + float(loss) * n, count + n
            hyps = self._generate(model, encoded["features"], target, device=device, beam=1, max_len=self.max_len)
        finally:
            model.train(was_training)
        data, lengths = bytes(encoded["reference"].tolist()), encoded["reference_lengths"]
        starts = (torch.cumsum(lengths, 0) - lengths).tolist()
        refs = [data[s : s + n].decode("utf-8") for s, n in zip(starts, lengths.tolist())]
        return {
            "loss": total / max(count, 1),
            "exact_match": exact_match(hyps, refs),
            "char_accuracy": char_accuracy(hyps, refs),
        }

    def _generate(
        self,
        model: nn.Module,
        features: Tensor,
        target: Tokenizer,
        *,
        device: Device,
        beam: int,
        max_len: int,
        length_penalty: float | None = None,
        batch_size: int = 256,
    ) -> list[str]:
        """Decoded texts of ``features (N, F)``: greedy for ``beam == 1``, else beam search."""
        alpha = self.length_penalty if length_penalty is None else length_penalty
        out: list[str] = []
        for chunk in features.split(batch_size):
            src = chunk.to(device)
            if beam == 1:
                ids = greedy_decode(model, src, None, target.bos_id, target.eos_id, max_len)
            else:
                ids = beam_search(model, src, None, target.bos_id, target.eos_id, beam, max_len, alpha)
            out += [target.decode(row) for row in ids]
        return out

    def featurize(self, text: str) -> list[float]:
        """The feature vector of a raw input: by the saved ``feature_spec`` (``"24"`` -> one-hot
        digits), or, for a source without one, a JSON list of ``feature_size`` numbers.

        Raises:
            DataError: the text does not fit.
        """
        if self.feature_spec is not None:
            return featurize(self.feature_spec, text)
        try:
            vector = json.loads(text)
        except ValueError:
            vector = None
        if (
            not isinstance(vector, list)
            or len(vector) != self.feature_size
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vector)
        ):
            raise DataError(
                f"one_to_many: this run's data has no feature spec, so an input must be a JSON list of "
                f"{self.feature_size} numbers; got {text[:60]!r}"
            )
        return [float(v) for v in vector]

    def export_plan(self, model: nn.Module) -> ExportPlan:
        """``condition`` (features -> the decoder's initial state) and ``decode_step``."""
        return conditioned_plan(model, self.feature_size)

    def exported_model(self, graphs: GraphRunner) -> ExportedConditionedDecoder:
        """The exported stand-in that :meth:`predict` accepts."""
        return ExportedConditionedDecoder(graphs)

    def predict(
        self, model: nn.Module, tokenizers: Tokenizers, inputs: Sequence[str], *, device: Device = "cpu", **options: Any
    ) -> list[str]:
        """Generate the text of each raw input (``"24"`` -> ``"twenty-four"``).

        Args:
            model: the trained :class:`ConditionedDecoder`.
            tokenizers: the tokenizers (``target`` writes the text).
            inputs: raw inputs, featurized by :meth:`featurize`.
            device: where the model is.
            **options: ``beam`` (default: the task's; 1 is greedy), ``max_tokens`` (default:
                ``max_len``) and ``length_penalty`` (default: the task's).

        Raises:
            SeqframeError: an option one_to_many does not take (e.g. ``temperature``).
            DataError: an input that cannot be featurized.
        """
        unknown = sorted(set(options) - set(_PREDICT_OPTIONS))
        if unknown:
            raise SeqframeError(
                f"one_to_many: predict takes {', '.join(_PREDICT_OPTIONS)}; got {', '.join(unknown)} "
                "(it decodes by greedy or beam search; it does not sample)"
            )
        chosen = {"beam": self.beam, "max_tokens": self.max_len, "length_penalty": self.length_penalty, **options}
        for key, minimum, below in (("beam", 1, None), ("max_tokens", 1, MAX_TOKENS + 1), ("length_penalty", 0, None)):
            try:
                check_number(
                    "one_to_many",
                    f"predict option {key}",
                    chosen[key],
                    minimum,
                    int if minimum else (int, float),
                    below,
                )
            except ValueError as exc:
                raise SeqframeError(str(exc)) from None
        features = torch.tensor([self.featurize(text) for text in inputs], dtype=torch.float32)
        return self._generate(
            model,
            features.view(-1, self.feature_size),
            tokenizers.target,
            device=device,
            beam=chosen["beam"],
            max_len=chosen["max_tokens"],
            length_penalty=chosen["length_penalty"],
        )


@hookimpl
def seqframe_tasks() -> Mapping[str, Any]:
    """The one-to-many task."""
    return {"one_to_many": OneToManyTask}
