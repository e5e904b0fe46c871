"""A sample plugin with a misspelt hook (``seqframe_cell``) beside a valid one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from seqframe import hookimpl


def typo_head(in_features: int, num_outputs: int) -> nn.Module:
    return nn.Linear(in_features, num_outputs)


@hookimpl
def seqframe_cell() -> Mapping[str, Any]:
    return {}


@hookimpl
def seqframe_heads() -> Mapping[str, Any]:
    return {"typo_head": typo_head}
