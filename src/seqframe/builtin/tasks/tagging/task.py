"""``tagging``: many-to-many in step. One tag per input token, read with context on both sides.

Examples are ``{"text": str, "tags": list[str]}`` (``capitalisation``, ``tagged_files``)
with one tag per token of ``text``: with the ``char`` tokenizer, one per character. The
model is embedding -> topology -> head at every step; a bidirectional topology sees the
whole sentence before tagging any position. Imports layers 0-0b only.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from seqframe.builtin.tasks.batching import BucketedBatches
from seqframe.builtin.tasks.losses import known_cross_entropy
from seqframe.builtin.tasks.samples import tagged_sample
from seqframe.builtin.tasks.tagging.batching import UNSEEN, collate_tagged
from seqframe.builtin.tasks.tagging.exported import ExportedTagger, tagger_plan
from seqframe.builtin.tasks.tagging.model import Tagger
from seqframe.errors import DataError, SeqframeError
from seqframe.hookspecs import hookimpl
from seqframe.interfaces import Device, EvalSettings, ExportPlan, GraphRunner, ModelParts, Task, TextSource, Tokenizers

__all__ = ["TaggingTask"]

CASE_TAGS = frozenset("ULO")


class TaggingTask(Task):
    """Sequence tagging: a tag for every input token, no delay (many-to-many in step).

    The tag list is learnt from the training split and saved with the run (``task.json``).
    The tokenizer must give exactly one token per tag: for character tags (``capitalisation``,
    ``tagged_files``) use ``tokenizer: {name: char}``. The loss is the mean cross-entropy
    over real positions (padding masked). Evaluation reports ``loss``, ``accuracy`` (every
    position), and over the tags not in ``ignore_tags``: ``macro_f1`` and one ``f1_<tag>``
    each; with ``ignore_tags`` also ``scored_accuracy``, the accuracy at positions whose gold
    tag is not ignored. For capitalisation, ``ignore_tags: [O]`` scores letters alone: ``O``
    (not a letter) follows from the input, and ``U`` is rare (about 2% of letters).

    Prediction answers in one of two forms:

    - ``render: tags``: the tags aligned with the input, one per token (``"the python
      tutorial"`` -> ``"ULLOULLLLLOLLLLLLLL"``), joined without spaces when every tag is one
      character, else with spaces;
    - ``render: case``: for ``U``/``L``/``O`` tags, the input with its case restored
      (``"the python tutorial"`` -> ``"The Python tutorial"``); needs a ``char`` tokenizer.

    Args:
        ignore_tags: tags whose gold positions ``scored_accuracy`` skips and ``macro_f1``
            leaves out (e.g. ``[O]``); each must occur in the training tags.
        render: the form of the predictions: ``tags`` (the tags, aligned with the input) or
            ``case`` (the input with its case restored; needs U/L/O tags and a char tokenizer).
    """

    name = "tagging"
    causal = False  # tags every step with the whole input in view: bidirectional topologies fit
    needs_examples = True
    example_fields = ("text", "tags")
    example_sources = "capitalisation or tagged_files"
    predict_options = ()  # tags every token in one pass
    file_formats = ("jsonl",)  # tags are lists, as tagged_files reads them

    def __init__(self, ignore_tags: Sequence[str] = (), render: str = "tags") -> None:
        if isinstance(ignore_tags, str) or not all(isinstance(t, str) for t in ignore_tags):
            raise ValueError(f"tagging: ignore_tags must be a list of tag names, got {ignore_tags!r}")
        if render not in ("tags", "case"):
            raise ValueError(f"tagging: render must be 'tags' or 'case', got {render!r}")
        self.ignore_tags, self.render = list(ignore_tags), render
        self.tags: list[str] = []

    def fit(self, data: TextSource) -> None:
        """Learn the tag list from the training examples.

        Raises:
            DataError: the data source has no tagged examples.
            ValueError: ``ignore_tags`` or ``render`` do not fit the tags found.
        """
        tags = sorted({str(tag) for example in self.inputs(data, "train") for tag in example["tags"]})
        if not tags:
            raise DataError("tagging: the training split has no tags")
        self.load_state_dict({"tags": tags})

    def state_dict(self) -> dict[str, Any]:
        """The tag list, in id order."""
        return {"tags": list(self.tags)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the tag list and check the options against it."""
        tags = [str(tag) for tag in state["tags"]]
        unknown = [t for t in self.ignore_tags if t not in tags]
        if unknown:
            raise ValueError(
                f"tagging: ignore_tags names {', '.join(map(repr, unknown))}, which the training data "
                f"never uses (tags: {', '.join(tags)})"
            )
        if self.render == "case" and not set(tags) <= CASE_TAGS:
            raise ValueError(
                f"tagging: render 'case' needs the tags U, L and O (capitalisation); got "
                f"{', '.join(tags)}; use render: tags"
            )
        self.tags = tags

    def build_model(self, parts: ModelParts) -> Tagger:
        """Embedding -> ``topology`` -> ``head(output_size, number of tags)``."""
        if not self.tags:
            raise RuntimeError("tagging: call fit(data) or load_state_dict() before build_model")
        tokenizer, topology = parts.tokenizers.source, parts.topology
        head = parts.head(topology.output_size, len(self.tags))
        return Tagger(tokenizer.vocab_size, parts.embedding_dim, topology, head, tokenizer.pad_id)

    def sample_data(self) -> TextSource:
        """Short lower-cased phrases with one case tag (U, L, O) per character."""
        return tagged_sample()

    def encode_settings(self) -> dict[str, Any]:
        """What :meth:`encode` depends on besides the tokenizer: the tag list."""
        return {"tags": self.tags}

    def encode(self, tokenizers: Tokenizers, examples: Sequence[Mapping[str, Any]]) -> dict[str, Tensor]:
        """Pack the examples: flat token ``ids`` and tag ids ``tags`` (one per token; a tag
        unseen in training is :data:`UNSEEN`) and each example's ``lengths``. Empty texts
        are left out.

        Raises:
            DataError: an example whose token count differs from its tag count (names it).
        """
        tokenizer, index = tokenizers.source, {tag: i for i, tag in enumerate(self.tags)}
        ids: list[int] = []
        tags: list[int] = []
        lengths: list[int] = []
        for number, example in enumerate(examples):
            text, gold = example["text"], example["tags"]
            tokens = tokenizer.encode(text)
            if len(tokens) != len(gold):
                kind = getattr(tokenizer, "kind", type(tokenizer).__name__)
                raise DataError(
                    f"tagging: example {number} ({text[:40]!r}{'...' if len(text) > 40 else ''}) has "
                    f"{len(gold)} tags but the {kind} tokenizer gives {len(tokens)} tokens; the tokenizer "
                    "must give one token per tag (for one tag per character use tokenizer: {name: char})"
                )
            if tokens:
                ids += tokens
                tags += [index.get(str(tag), UNSEEN) for tag in gold]
                lengths.append(len(tokens))
        return {
            "ids": torch.tensor(ids, dtype=torch.int64),
            "tags": torch.tensor(tags, dtype=torch.int64),
            "lengths": torch.tensor(lengths, dtype=torch.int64),
        }

    def train_batches(
        self, encoded: Mapping[str, Tensor], batch_size: int, seed: int, tokenizers: Tokenizers
    ) -> BucketedBatches:
        """Length-bucketed, resumable batches of ``batch_size`` examples."""
        collate = functools.partial(collate_tagged, encoded, pad_id=tokenizers.source.pad_id)
        return BucketedBatches(encoded["lengths"], batch_size, collate, seed, where="tagging", what="tagged examples")

    def training_step(self, model: nn.Module, batch: Mapping[str, Any], carry: Any) -> tuple[Tensor, int, Any]:
        """Mean cross-entropy over the real positions; returns ``(loss, positions, None)``."""
        loss, count = known_cross_entropy(model(batch["ids"], batch["lengths"]), batch["tags"])
        return loss, count, None

    @torch.no_grad()
    def evaluate(self, model: nn.Module, encoded: Mapping[str, Tensor], settings: EvalSettings) -> dict[str, float]:
        """``loss``, ``accuracy``, ``scored_accuracy`` (with ``ignore_tags``), ``macro_f1``
        and ``f1_<tag>`` (see the class docstring).

        Raises:
            DataError: no example with a token to score.
        """
        if encoded["lengths"].numel() == 0:
            raise DataError("tagging: no tagged example to evaluate (every text is empty)")
        pad_id, device = settings.tokenizers.source.pad_id, settings.device
        was_training = model.training
        model.eval()
        total, count, gold, pred = 0.0, 0, [], []
        try:
            for rows in torch.argsort(encoded["lengths"], descending=True).split(settings.batch_size):
                batch = {k: v.to(device) for k, v in collate_tagged(encoded, rows, pad_id).items()}
                logits = model(batch["ids"], batch["lengths"])
                loss, n = known_cross_entropy(logits, batch["tags"])
                total, count = total + float(loss) * n, count + n
                real = torch.arange(logits.shape[1], device=device) < batch["lengths"].unsqueeze(1)
                gold.append(batch["tags"][real].cpu())
                pred.append(logits.argmax(-1)[real].cpu())
        finally:
            model.train(was_training)
        return {"loss": total / max(count, 1), **self._scores(torch.cat(pred), torch.cat(gold))}

    def _scores(self, pred: Tensor, gold: Tensor) -> dict[str, float]:
        """Accuracies and F1 from flat predicted and gold tag ids of every real position."""
        scores = {"accuracy": float((pred == gold).float().mean())}
        ignored = torch.tensor([self.tags.index(t) for t in self.ignore_tags], dtype=torch.int64)
        if self.ignore_tags:
            scored = ~torch.isin(gold, ignored)
            scores["scored_accuracy"] = float((pred[scored] == gold[scored]).float().mean()) if scored.any() else 0.0
        f1 = {}
        for i, tag in enumerate(self.tags):
            if tag not in self.ignore_tags:
                both = int(((pred == i) & (gold == i)).sum())
                seen = int((pred == i).sum() + (gold == i).sum())
                if seen:  # F1 = 2 TP / (predicted + gold); a tag absent from both is not averaged
                    f1[tag] = 2 * both / seen
        scores["macro_f1"] = sum(f1.values()) / len(f1) if f1 else 0.0
        scores.update({f"f1_{tag}": value for tag, value in f1.items()})
        return scores

    @torch.no_grad()
    def export_plan(self, model: nn.Module) -> ExportPlan:
        """``embedding``, the topology's layer graphs and ``head``."""
        return tagger_plan(model)

    def exported_model(self, graphs: GraphRunner) -> ExportedTagger:
        """The exported stand-in that :meth:`predict` accepts."""
        return ExportedTagger(graphs)

    def predict(
        self, model: nn.Module, tokenizers: Tokenizers, inputs: Sequence[str], *, device: Device = "cpu", **options: Any
    ) -> list[str]:
        """Tag each input: the tags as a string, or with ``render: case`` the input with its
        case restored (see the class docstring).

        Raises:
            SeqframeError: an option was given (tagging has none: it tags in one pass).
            DataError: ``render: case`` with a tokenizer that is not one token per character.
        """
        if options:
            raise SeqframeError(
                f"tagging: predict takes no options, got {', '.join(sorted(options))} (it tags every "
                "token in one pass: nothing to sample or search)"
            )
        tokenizer, was_training = tokenizers.source, model.training
        model.eval()
        try:
            encoded = [tokenizer.encode(text) for text in inputs]
            out: list[list[str]] = [[] for _ in inputs]
            rows = [i for i, ids in enumerate(encoded) if ids]
            for start in range(0, len(rows), 64):
                chunk = rows[start : start + 64]
                lengths = torch.tensor([len(encoded[i]) for i in chunk])
                ids = torch.full((len(chunk), int(lengths.max())), tokenizer.pad_id, dtype=torch.int64)
                for row, i in enumerate(chunk):
                    ids[row, : len(encoded[i])] = torch.tensor(encoded[i])
                best = model(ids.to(device), lengths).argmax(-1).cpu()  # (B, T)
                for row, i in enumerate(chunk):
                    out[i] = [self.tags[t] for t in best[row, : len(encoded[i])].tolist()]
        finally:
            model.train(was_training)
        return [self._render(text, tags) for text, tags in zip(inputs, out)]

    def _render(self, text: str, tags: list[str]) -> str:
        if self.render == "tags":
            return ("" if all(len(t) == 1 for t in self.tags) else " ").join(tags)
        if len(tags) != len(text):
            raise DataError(
                f"tagging: render 'case' needs one token per character, but the tokenizer gives "
                f"{len(tags)} tokens for the {len(text)} characters of {text[:40]!r}; use tokenizer: "
                "{name: char}"
            )
        return "".join(c.upper() if t == "U" else c.lower() if t == "L" else c for c, t in zip(text, tags))


@hookimpl
def seqframe_tasks() -> Mapping[str, Any]:
    """The tagging task."""
    return {"tagging": TaggingTask}
