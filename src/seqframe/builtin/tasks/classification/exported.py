"""The classifiers' export plans and exported stand-ins: the sequence classifier
(embedding, encoder layers, pooling and head) and the vector classifier (one step of the
encoder from the zero state, then the head). Imports layer 0, the shared export pieces and
the pooling of :mod:`.model`."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqframe.builtin.tasks.classification.model import pool
from seqframe.builtin.tasks.exported import TOPOLOGY, encode, encoder_plan, example_randn
from seqframe.interfaces.export import ExportedModel, ExportPlan, Graph
from seqframe.interfaces.stepwise import run_topology, topology_graphs

__all__ = ["ExportedClassifier", "ExportedVectorClassifier", "sequence_classifier_plan", "vector_classifier_plan"]


class _PoolHead(nn.Module):
    """:func:`pool` then the head."""

    def __init__(self, head: nn.Module, pooling: str, directions: int) -> None:
        super().__init__()
        self.head, self.pooling, self.directions = head, pooling, directions

    def forward(self, outputs: Tensor, lengths: Tensor) -> Tensor:
        logits: Tensor = self.head(pool(outputs, lengths, self.pooling, self.directions))
        return logits


def sequence_classifier_plan(model: nn.Module, batch: int = 2) -> ExportPlan:
    """``embedding``, ``encoder.layer{l}`` and ``pool_head``: ``(outputs (B, T, D*H),
    lengths (B,)) -> logits (B, K)``."""
    plan = encoder_plan(model, batch)
    meta, like = plan.meta["encoder"], next(model.parameters())
    inputs = {
        "outputs": example_randn(batch, 3, meta["output_size"], like=like),
        "lengths": torch.tensor([3] + [2] * (batch - 1)),
    }
    dynamic = {"outputs": {0: "B", 1: "T"}, "lengths": {0: "B"}}
    head = _PoolHead(model.head, model.pooling, meta["directions"]).eval()
    return plan.merged(
        ExportPlan({"pool_head": Graph(head, inputs, ("logits",), dynamic)}, {"pool_head": {"inputs": list(inputs)}})
    )


class ExportedClassifier(ExportedModel):
    """The sequence classifier's ``model(ids, lengths) -> logits (B, K)``."""

    def __call__(self, ids: Tensor, lengths: Tensor) -> Tensor:
        lengths = torch.as_tensor(lengths).to("cpu", torch.int64)
        outputs, state = encode(self.graphs, ids, lengths)
        if "pool_head" not in self.graphs.meta:  # exported before pooling read only the outputs
            return self.graphs.run("pool_head", outputs, state[0].contiguous(), lengths)[0]
        return self.graphs.run("pool_head", outputs, lengths)[0]


def vector_classifier_plan(model: nn.Module, batch: int = 2) -> ExportPlan:
    """``encoder.layer{l}`` (one step from the zero state) and ``head``: ``(B, D*H) -> (B, K)``."""
    plan = topology_graphs("encoder", model.topology, batch=batch, where=TOPOLOGY)
    features = example_randn(batch, plan.meta["encoder"]["output_size"], like=next(model.parameters()))
    return plan.merged(
        ExportPlan({"head": Graph(model.head, {"features": features}, ("logits",), {"features": {0: "B"}})})
    )


class ExportedVectorClassifier(ExportedModel):
    """The vector classifier's ``model(features (B, F)) -> logits (B, K)``."""

    def __call__(self, features: Tensor) -> Tensor:
        outputs, _ = run_topology(self.graphs.run, "encoder", self.graphs.meta["encoder"], features.unsqueeze(1))
        return self.graphs.run("head", outputs[:, 0].contiguous())[0]
