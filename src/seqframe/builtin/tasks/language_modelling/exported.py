"""The language model's export plan (one step: embedding, stack, head) and its exported
stand-in, which answers the calls :class:`~.task.LanguageModellingTask`'s ``predict`` makes
on the torch model with the exported graphs only. Imports layer 0 and the shared export
pieces.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqframe.builtin.tasks.exported import TOPOLOGY, example_ids, example_states, state_names, zero_state
from seqframe.interfaces import State
from seqframe.interfaces.export import ExportedModel, ExportPlan, Graph
from seqframe.interfaces.stepwise import StackStep, stepwise_cells, topology_meta

__all__ = ["ExportedLanguageModel", "language_model_plan"]


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
    inputs = {
        "tokens": example_ids(model.embedding.num_embeddings, batch),
        **example_states("state", meta, batch, like),
    }
    dynamic = {"tokens": {0: "B"}, **{name: {1: "B"} for name in inputs if name != "tokens"}}
    cells = tuple(cell for layer in stepwise_cells(model.topology, TOPOLOGY) for cell in layer)
    return ExportPlan(
        {
            "step": Graph(
                step, inputs, ("logits", *(f"{name}_out" for name in state_names("state", meta))), dynamic, cells
            )
        },
        {TOPOLOGY: meta},
    )


class ExportedLanguageModel(ExportedModel):
    """The language model's ``model(ids, lengths, state) -> (logits, state)`` on the
    ``step`` graph: one call per position; a row past its length keeps its state."""

    def __call__(self, ids: Tensor, lengths: Tensor | None = None, state: State | None = None) -> tuple[Tensor, State]:
        meta = self.graphs.meta[TOPOLOGY]
        batch, steps = ids.shape
        carried = list(state) if state is not None else list(zero_state(meta, batch, torch.zeros(())))
        limit = torch.full((batch,), steps) if lengths is None else torch.as_tensor(lengths).to("cpu")
        logits = []
        for t in range(steps):
            out, *new = self.graphs.run("step", ids[:, t].contiguous(), *carried)
            keep = (t < limit).view(1, batch, 1)
            carried = [torch.where(keep, n, c) for n, c in zip(new, carried)]
            logits.append(out)
        return torch.stack(logits, 1), tuple(carried)
