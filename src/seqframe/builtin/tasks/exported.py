"""Export plans and exported stand-ins of the models that read a sequence once: the
language model (one step: embedding, stack, head), the tagger, and the classifiers.

Each ``*_plan(model)`` returns the :class:`~seqframe.interfaces.ExportPlan` its task's
``export_plan`` gives; each ``Exported*`` class is what its task's ``exported_model``
returns: it answers the calls the task's ``predict`` makes on the torch model, computing
with the exported graphs only. Imports layer 0 and the models' own modules.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from seqframe.builtin.tasks.classifiers import pool
from seqframe.interfaces import State
from seqframe.interfaces.export import ExportedModel, ExportPlan, Graph
from seqframe.interfaces.stepwise import StackStep, run_topology, stepwise_cells, topology_graphs, topology_meta

__all__ = ["ExportedClassifier", "ExportedLanguageModel", "ExportedTagger", "ExportedVectorClassifier",
           "embedding_graph", "language_model_plan", "sequence_classifier_plan", "tagger_plan", "vector_classifier_plan"]

TOPOLOGY = "model.topology"


def _ids(vocab: int, *shape: int) -> Tensor:
    return torch.randint(0, vocab, shape, generator=torch.Generator().manual_seed(0))


def _randn(*shape: int, like: Tensor) -> Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(1)).to(like)


def _states(meta: dict[str, Any], batch: int, like: Tensor) -> dict[str, Tensor]:
    rows = meta["layers"] * meta["directions"]
    return {f"state{i}": _randn(rows, batch, w, like=like) * 0.5 for i, w in enumerate(meta["state_widths"])}


def _state_outputs(meta: dict[str, Any]) -> tuple[str, ...]:
    return tuple(f"state{i}_out" for i in range(len(meta["state_widths"])))


def embedding_graph(embedding: nn.Embedding, batch: int = 2, steps: int = 3) -> Graph:
    """``ids (B, T) -> embedded (B, T, E)``."""
    return Graph(embedding, {"ids": _ids(embedding.num_embeddings, batch, steps)}, ("embedded",),
                 {"ids": {0: "B", 1: "T"}})


class _LanguageModelStep(nn.Module):
    """One token for every row: embedding, one step of every layer, head."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.embedding, self.stack, self.head = model.embedding, StackStep(model.topology, TOPOLOGY), model.head

    def forward(self, tokens: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        h, *state_out = self.stack(self.embedding(tokens), *state)
        return (self.head(h), *state_out)


def language_model_plan(model: nn.Module, batch: int = 2) -> ExportPlan:
    """One graph ``step``: ``(tokens (B,), state_i (L, B, W_i)...) -> (logits (B, V),
    state_i_out...)``; a prompt is read by running it once per token."""
    meta = topology_meta(model.topology, TOPOLOGY)
    step = _LanguageModelStep(model).eval()
    like = next(model.parameters())
    inputs = {"tokens": _ids(model.embedding.num_embeddings, batch), **_states(meta, batch, like)}
    dynamic = {"tokens": {0: "B"}, **{name: {1: "B"} for name in inputs if name != "tokens"}}
    cells = tuple(cell for layer in stepwise_cells(model.topology, TOPOLOGY) for cell in layer)
    return ExportPlan({"step": Graph(step, inputs, ("logits", *_state_outputs(meta)), dynamic, cells)},
                      {TOPOLOGY: meta})


def _zero_state(meta: dict[str, Any], batch: int, like: Tensor) -> State:
    rows = meta["layers"] * meta["directions"]
    return tuple(like.new_zeros(rows, batch, w) for w in meta["state_widths"])


class ExportedLanguageModel(ExportedModel):
    """The language model's ``model(ids, lengths, state) -> (logits, state)`` on the
    ``step`` graph: one call per position; a row past its length keeps its state."""

    def __call__(self, ids: Tensor, lengths: Tensor | None = None, state: State | None = None) -> tuple[Tensor, State]:
        meta = self.graphs.meta[TOPOLOGY]
        batch, steps = ids.shape
        carried = list(state) if state is not None else list(_zero_state(meta, batch, torch.zeros(())))
        limit = torch.full((batch,), steps) if lengths is None else torch.as_tensor(lengths).to("cpu")
        logits = []
        for t in range(steps):
            out, *new = self.graphs.run("step", ids[:, t].contiguous(), *carried)
            keep = (t < limit).view(1, batch, 1)
            carried = [torch.where(keep, n, c) for n, c in zip(new, carried)]
            logits.append(out)
        return torch.stack(logits, 1), tuple(carried)


def _encoder_plan(model: nn.Module, batch: int) -> ExportPlan:
    """``embedding`` and the topology's layer graphs."""
    return ExportPlan({"embedding": embedding_graph(model.embedding, batch)}).merged(
        topology_graphs("encoder", model.topology, batch=batch, where=TOPOLOGY))


def _encode(graphs: Any, ids: Tensor, lengths: Tensor | None) -> tuple[Tensor, tuple[Tensor, ...]]:
    (embedded,) = graphs.run("embedding", ids.contiguous())
    return run_topology(graphs.run, "encoder", graphs.meta["encoder"], embedded, lengths)


def tagger_plan(model: nn.Module, batch: int = 2) -> ExportPlan:
    """``embedding``, ``encoder.layer{l}`` and ``head``: ``features (B, T, D*H) -> logits (B, T, K)``."""
    plan = _encoder_plan(model, batch)
    like = next(model.parameters())
    features = _randn(batch, 3, plan.meta["encoder"]["output_size"], like=like)
    head = Graph(model.head, {"features": features}, ("logits",), {"features": {0: "B", 1: "T"}})
    return plan.merged(ExportPlan({"head": head}))


class ExportedTagger(ExportedModel):
    """The tagger's ``model(ids, lengths) -> logits (B, T, K)``."""

    def __call__(self, ids: Tensor, lengths: Tensor | None = None) -> Tensor:
        features, _ = _encode(self.graphs, ids, lengths)
        return self.graphs.run("head", features)[0]


class _PoolHead(nn.Module):
    """:func:`pool` then the head."""

    def __init__(self, head: nn.Module, pooling: str) -> None:
        super().__init__()
        self.head, self.pooling = head, pooling

    def forward(self, outputs: Tensor, hidden: Tensor, lengths: Tensor) -> Tensor:
        logits: Tensor = self.head(pool(outputs, (hidden,), lengths, self.pooling))
        return logits


def sequence_classifier_plan(model: nn.Module, batch: int = 2) -> ExportPlan:
    """``embedding``, ``encoder.layer{l}`` and ``pool_head``: ``(outputs (B, T, D*H),
    final h (L*D, B, H), lengths (B,)) -> logits (B, K)``."""
    plan = _encoder_plan(model, batch)
    meta, like = plan.meta["encoder"], next(model.parameters())
    inputs = {"outputs": _randn(batch, 3, meta["output_size"], like=like),
              "hidden": _randn(meta["layers"] * meta["directions"], batch, meta["state_widths"][0], like=like),
              "lengths": torch.tensor([3] + [2] * (batch - 1))}
    dynamic = {"outputs": {0: "B", 1: "T"}, "hidden": {1: "B"}, "lengths": {0: "B"}}
    return plan.merged(ExportPlan({"pool_head": Graph(_PoolHead(model.head, model.pooling).eval(), inputs,
                                                      ("logits",), dynamic)}))


class ExportedClassifier(ExportedModel):
    """The sequence classifier's ``model(ids, lengths) -> logits (B, K)``."""

    def __call__(self, ids: Tensor, lengths: Tensor) -> Tensor:
        lengths = torch.as_tensor(lengths).to("cpu", torch.int64)
        outputs, state = _encode(self.graphs, ids, lengths)
        return self.graphs.run("pool_head", outputs, state[0].contiguous(), lengths)[0]


def vector_classifier_plan(model: nn.Module, batch: int = 2) -> ExportPlan:
    """``encoder.layer{l}`` (one step from the zero state) and ``head``: ``(B, D*H) -> (B, K)``."""
    plan = topology_graphs("encoder", model.topology, batch=batch, where=TOPOLOGY)
    features = _randn(batch, plan.meta["encoder"]["output_size"], like=next(model.parameters()))
    return plan.merged(ExportPlan({"head": Graph(model.head, {"features": features}, ("logits",),
                                                 {"features": {0: "B"}})}))


class ExportedVectorClassifier(ExportedModel):
    """The vector classifier's ``model(features (B, F)) -> logits (B, K)``."""

    def __call__(self, features: Tensor) -> Tensor:
        outputs, _ = run_topology(self.graphs.run, "encoder", self.graphs.meta["encoder"], features.unsqueeze(1))
        return self.graphs.run("head", outputs[:, 0].contiguous())[0]
