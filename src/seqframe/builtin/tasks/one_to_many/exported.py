"""The export plan and exported stand-in of :class:`~.model.ConditionedDecoder`:
``condition`` (features -> the decoder's initial state) and ``decode_step`` (one target
token for every row). The stand-in offers ``encode``, ``decode_step``, ``reorder`` and
``reorder_state``, so :mod:`seqframe.builtin.tasks.search` decodes it as it decodes the torch
model. Imports layer 0 and the shared export pieces.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from torch.nn import functional as F

from seqframe.builtin.tasks.exported import decoder_cells, example_ids, example_randn, example_states, state_names
from seqframe.builtin.tasks.one_to_many.model import Condition, ConditionedDecoder
from seqframe.interfaces import State
from seqframe.interfaces.export import ExportedModel, ExportPlan, Graph
from seqframe.interfaces.stepwise import StackStep, topology_meta

__all__ = ["ExportedConditionedDecoder", "conditioned_plan"]


class _Condition(nn.Module):
    """The decoder's initial state from the features."""

    def __init__(self, model: ConditionedDecoder) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: Tensor) -> tuple[Tensor, ...]:
        return tuple(self.model.encode(features).state)


class _ConditionedStep(nn.Module):
    """One decoder step: embedding (and the features, if fed), the stack, the head."""

    def __init__(self, model: ConditionedDecoder) -> None:
        super().__init__()
        self.model, self.stack = model, StackStep(model.decoder, "model.topology")

    def forward(self, tokens: Tensor, *rest: Tensor) -> tuple[Tensor, ...]:
        features, state = (rest[0], rest[1:]) if self.model.feed_features else (None, rest)
        inputs = self.model._inputs(tokens.unsqueeze(1), Condition(features, ()))[:, 0]  # type: ignore[arg-type]
        hidden, *state_out = self.stack(inputs, *state)
        return (F.log_softmax(self.model.head(hidden).float(), dim=-1), *state_out)


def conditioned_plan(model: ConditionedDecoder, feature_size: int, batch: int = 2) -> ExportPlan:
    """``condition``: ``features (B, F) -> state_i (L, B, W_i)...``; ``decode_step``:
    ``(tokens (B,), [features,] state_i...) -> (log_probs (B, V), state_i_out...)``."""
    like = next(model.parameters())
    meta = topology_meta(model.decoder, "model.topology")
    features = example_randn(batch, feature_size, like=like)
    condition = Graph(
        _Condition(model).eval(), {"features": features}, state_names("state", meta), {"features": {0: "B"}}
    )
    inputs = {"tokens": example_ids(model.embedding.num_embeddings, batch)}
    if model.feed_features:
        inputs["features"] = features
    inputs.update(example_states("state", meta, batch, like, seeds=2))
    dynamic = {
        "tokens": {0: "B"},
        "features": {0: "B"},
        **{f"state{i}": {1: "B"} for i in range(len(meta["state_widths"]))},
    }
    step = Graph(
        _ConditionedStep(model).eval(),
        inputs,
        ("log_probs", *state_names("state_out", meta)),
        {k: v for k, v in dynamic.items() if k in inputs},
        decoder_cells(model.decoder, "model.topology"),
    )
    return ExportPlan(
        {"condition": condition, "decode_step": step}, {"model.topology": meta, "feed_features": model.feed_features}
    )


class ExportedConditionedDecoder(ExportedModel):
    """:class:`ConditionedDecoder` 's ``encode``, ``decode_step``, ``reorder`` and
    ``reorder_state`` on the exported graphs."""

    reorder = staticmethod(ConditionedDecoder.reorder)
    reorder_state = staticmethod(ConditionedDecoder.reorder_state)

    def encode(self, features: Tensor, lengths: Any = None) -> Condition:
        """The decoder's initial state from ``features (B, F)``."""
        return Condition(features, tuple(self.graphs.run("condition", features.contiguous())))

    def decode_step(self, tokens: Tensor, state: State, condition: Condition) -> tuple[Tensor, State]:
        """``log_probs (B, V)`` of the next token after ``tokens (B,)`` and the new state."""
        fed = (condition.features.contiguous(),) if self.graphs.meta["feed_features"] else ()
        log_probs, *new = self.graphs.run("decode_step", tokens.contiguous(), *fed, *(s.contiguous() for s in state))
        return log_probs, tuple(new)
