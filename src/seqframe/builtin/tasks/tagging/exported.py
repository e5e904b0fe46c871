"""The tagger's export plan (embedding, encoder layers, head) and its exported stand-in.
Imports layer 0 and the shared export pieces."""

from __future__ import annotations

from torch import Tensor, nn

from seqframe.builtin.tasks.exported import encode, encoder_plan, example_randn
from seqframe.interfaces.export import ExportedModel, ExportPlan, Graph

__all__ = ["ExportedTagger", "tagger_plan"]


def tagger_plan(model: nn.Module, batch: int = 2) -> ExportPlan:
    """``embedding``, ``encoder.layer{l}`` and ``head``: ``features (B, T, D*H) -> logits (B, T, K)``."""
    plan = encoder_plan(model, batch)
    like = next(model.parameters())
    features = example_randn(batch, 3, plan.meta["encoder"]["output_size"], like=like)
    head = Graph(model.head, {"features": features}, ("logits",), {"features": {0: "B", 1: "T"}})
    return plan.merged(ExportPlan({"head": head}))


class ExportedTagger(ExportedModel):
    """The tagger's ``model(ids, lengths) -> logits (B, T, K)``."""

    def __call__(self, ids: Tensor, lengths: Tensor | None = None) -> Tensor:
        features, _ = encode(self.graphs, ids, lengths)
        return self.graphs.run("head", features)[0]
