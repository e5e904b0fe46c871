"""Pieces shared by the tasks' export plans: example inputs for tracing, the embedding
graph and the embedding + topology encoder. Each task's ``exported.py`` builds its plan and
its exported stand-in from them. Imports layer 0 only.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from seqframe.interfaces.export import ExportPlan, Graph
from seqframe.interfaces.stepwise import run_topology, stepwise_cells, topology_graphs

__all__ = [
    "TOPOLOGY",
    "decoder_cells",
    "embedding_graph",
    "encode",
    "encoder_plan",
    "example_ids",
    "example_randn",
    "example_states",
    "state_names",
    "zero_state",
]

TOPOLOGY = "model.topology"


def example_ids(vocab: int, *shape: int) -> Tensor:
    """Seeded random token ids of ``shape`` (tracing inputs)."""
    return torch.randint(0, vocab, shape, generator=torch.Generator().manual_seed(0))


def example_randn(*shape: int, like: Tensor, seed: int = 1) -> Tensor:
    """Seeded normal values of ``shape``, on ``like``'s device and dtype (tracing inputs)."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).to(like)


def example_states(
    prefix: str, meta: dict[str, Any], batch: int, like: Tensor, *, seeds: int | None = None
) -> dict[str, Tensor]:
    """``{prefix}{i}: (L*D, B, W_i)`` example states of a topology described by ``meta``;
    every state uses seed 1, or seed ``seeds + i`` when ``seeds`` is given."""
    rows = meta["layers"] * meta["directions"]
    return {
        f"{prefix}{i}": example_randn(rows, batch, w, like=like, seed=1 if seeds is None else seeds + i) * 0.5
        for i, w in enumerate(meta["state_widths"])
    }


def state_names(prefix: str, meta: dict[str, Any]) -> tuple[str, ...]:
    """``(prefix0, prefix1, ...)``, one name per state tensor of the topology."""
    return tuple(f"{prefix}{i}" for i in range(len(meta["state_widths"])))


def zero_state(meta: dict[str, Any], batch: int, like: Tensor) -> tuple[Tensor, ...]:
    """The zero state ``(L*D, B, W_i)...`` of a topology described by ``meta``."""
    rows = meta["layers"] * meta["directions"]
    return tuple(like.new_zeros(rows, batch, w) for w in meta["state_widths"])


def decoder_cells(topology: nn.Module, where: str) -> tuple[nn.Module, ...]:
    """The first cell of every layer of a unidirectional topology (what a decode step runs)."""
    return tuple(layer[0] for layer in stepwise_cells(topology, where))


def embedding_graph(embedding: nn.Embedding, batch: int = 2, steps: int = 3) -> Graph:
    """``ids (B, T) -> embedded (B, T, E)``."""
    return Graph(
        embedding,
        {"ids": example_ids(embedding.num_embeddings, batch, steps)},
        ("embedded",),
        {"ids": {0: "B", 1: "T"}},
    )


def encoder_plan(model: nn.Module, batch: int) -> ExportPlan:
    """``embedding`` and the topology's layer graphs (``encoder.layer{l}``)."""
    return ExportPlan({"embedding": embedding_graph(model.embedding, batch)}).merged(
        topology_graphs("encoder", model.topology, batch=batch, where=TOPOLOGY)
    )


def encode(graphs: Any, ids: Tensor, lengths: Tensor | None) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run the graphs of :func:`encoder_plan` over ``ids (B, T)``: outputs and final state."""
    (embedded,) = graphs.run("embedding", ids.contiguous())
    return run_topology(graphs.run, "encoder", graphs.meta["encoder"], embedded, lengths)
