"""Built-in output heads: ``linear`` (a linear map to logits; softmax lives in the loss)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from seqframe.hookspecs import hookimpl

__all__ = ["LinearHead"]


class LinearHead(nn.Module):
    """Linear map from features to logits, optionally after dropout.

    Args:
        in_features: features of the topology's output.
        num_outputs: number of classes (the vocabulary size for a language model).
        dropout: dropout applied to the features before the linear map.
        bias: whether the linear map has a bias.

    Shape:
        - features: ``(..., in_features)``
        - output: ``(..., num_outputs)`` logits
    """

    def __init__(
        self,
        in_features: int,
        num_outputs: int,
        dropout: float = 0.0,
        bias: bool = True,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"LinearHead: dropout must lie in [0, 1), got {dropout!r}")
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.proj = nn.Linear(in_features, num_outputs, bias=bias, device=device, dtype=dtype)

    def forward(self, features: Tensor) -> Tensor:
        return self.proj(self.dropout(features))


@hookimpl
def seqframe_heads() -> Mapping[str, Any]:
    """Built-in heads."""
    return {"linear": LinearHead}
