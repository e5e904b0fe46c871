"""What a task's ``evaluate`` is run with (:class:`EvalSettings`) and the device type its
``predict`` takes (:data:`Device`).

Layer 0: imports only torch, the stdlib and the other contracts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

import torch

from seqframe.interfaces.components import Tokenizers

__all__ = ["Device", "EvalSettings"]

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
