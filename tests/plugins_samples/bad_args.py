"""A sample plugin whose hookimpl declares an argument the hookspec does not have."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from seqframe import hookimpl


def bad_args_head(in_features: int, num_outputs: int) -> nn.Module:
    return nn.Linear(in_features, num_outputs)


@hookimpl
def seqframe_heads() -> Mapping[str, Any]:
    return {"bad_args_head": bad_args_head}


@hookimpl
def seqframe_cells(extra: int) -> Mapping[str, Any]:
    return {}
