"""Exporting the text regressor (``seqframe export``), with seqframe's export contract only:
the embedding, the topology a step at a time (``seqframe.interfaces.stepwise``) and the
pooling with the head, and the stand-in ``predict`` uses with the exported graphs."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqframe.interfaces import ExportedModel, ExportPlan, Graph
from seqframe.interfaces.stepwise import run_topology, topology_graphs

__all__ = ["ExportedRegressor", "regression_plan"]


class _PoolHead(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: Tensor, lengths: Tensor) -> Tensor:
        value: Tensor = self.model.pool_head(features, lengths)
        return value


def regression_plan(model: nn.Module, batch: int = 2) -> ExportPlan:
    """``embedding`` (ids -> vectors), ``encoder.layer{l}`` and ``pool_head`` ((B, T, D*H), lengths -> (B,))."""
    like = next(model.parameters())
    ids = torch.randint(0, model.embedding.num_embeddings, (batch, 3), generator=torch.Generator().manual_seed(0))
    plan = ExportPlan({"embedding": Graph(model.embedding, {"ids": ids}, ("embedded",), {"ids": {0: "B", 1: "T"}})})
    plan = plan.merged(topology_graphs("encoder", model.topology, batch=batch))
    features = torch.randn(batch, 3, plan.meta["encoder"]["output_size"], generator=torch.Generator().manual_seed(1))
    inputs = {"features": features.to(like), "lengths": torch.tensor([3] + [2] * (batch - 1))}
    return plan.merged(
        ExportPlan(
            {
                "pool_head": Graph(
                    _PoolHead(model).eval(), inputs, ("value",), {"features": {0: "B", 1: "T"}, "lengths": {0: "B"}}
                )
            }
        )
    )


class ExportedRegressor(ExportedModel):
    """The regressor's ``model(ids, lengths) -> (B,)`` on the exported graphs."""

    def __call__(self, ids: Tensor, lengths: Tensor) -> Tensor:
        lengths = torch.as_tensor(lengths).to("cpu", torch.int64)
        (embedded,) = self.graphs.run("embedding", ids.contiguous())
        features, _ = run_topology(self.graphs.run, "encoder", self.graphs.meta["encoder"], embedded, lengths)
        return self.graphs.run("pool_head", features, lengths)[0]
