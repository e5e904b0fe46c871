"""What a task's methods receive bundled: the parts ``build_model`` builds the model around
(:class:`ModelParts`), the settings ``evaluate`` scores a split with (:class:`EvalSettings`)
and the device type ``predict`` takes (:data:`Device`). The tokenizers travel as one
:class:`~seqframe.interfaces.Tokenizers`.

Layer 0: imports only torch, the stdlib and the other contracts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeAlias

import torch
from torch import nn

from seqframe.interfaces.components import Tokenizers

__all__ = ["MAX_TOKENS", "Device", "EvalSettings", "ModelParts"]

MAX_TOKENS = 100_000
"""The most tokens one generated output may have (a task's ``max_len``, ``max_tokens`` of
``predict`` and ``train.sample``): a decode whose model never ends a sequence stops there,
instead of running for days on a mistyped bound."""

Device: TypeAlias = torch.device | str
"""Where a model is: a ``torch.device`` or its name (``"cpu"``, ``"cuda:0"``)."""


@dataclass(frozen=True)
class EvalSettings:
    """How :meth:`~seqframe.interfaces.Task.evaluate` scores a split.

    Args:
        tokenizers: the fitted tokenizers (``tokenizers.target`` decodes generated text).
        batch_size: rows per forward pass.
        device: where the model is.
        num_chars: characters in the plain-text inputs (for bits per character); 0 for
            examples.
    """

    tokenizers: Tokenizers
    batch_size: int
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    num_chars: int = 0


@dataclass(frozen=True)
class ModelParts:
    """What :meth:`~seqframe.interfaces.Task.build_model` builds the model around.

    Args:
        tokenizers: the fitted tokenizers (``vocab_size``, ``pad_id``...).
        topology: the built ``model.topology`` (``output_size`` features per step).
        head: the head factory, ``head(in_features, num_outputs) -> nn.Module``.
        embedding_dim: the recipe's ``model.embedding_dim``.
    """

    tokenizers: Tokenizers
    topology: nn.Module
    head: Callable[..., nn.Module]
    embedding_dim: int
