"""The training losses shared by the built-in tasks: cross-entropy averaged over the real
positions of padded batches only. Imports torch only."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

__all__ = ["known_cross_entropy", "masked_cross_entropy"]


def _masked_mean(losses: Tensor, mask: Tensor) -> tuple[Tensor, int]:
    """Mean of ``losses (N,)`` where ``mask (N,)`` holds (zero with no gradient signal when
    it never does), and the number of such positions."""
    count = int(mask.sum())
    return (losses * mask).sum() / max(count, 1), count


def masked_cross_entropy(
    logits: Tensor, targets: Tensor, lengths: Tensor, label_smoothing: float = 0.0
) -> tuple[Tensor, int]:
    """Mean cross-entropy over the real target positions; padding never counts.

    Args:
        logits: ``(B, T, V)``.
        targets: ``(B, T)`` ids, anything past each length.
        lengths: real positions per row ``(B,)``.
        label_smoothing: torch's ``label_smoothing`` (0: plain cross-entropy).

    Returns:
        The mean loss (zero with no gradient signal when no position is real) and the
        number of real positions.
    """
    mask = torch.arange(targets.shape[1], device=targets.device) < lengths.to(targets.device).unsqueeze(1)
    losses = F.cross_entropy(
        logits.flatten(0, 1).float(), targets.flatten(), reduction="none", label_smoothing=label_smoothing
    )
    return _masked_mean(losses, mask.flatten())


def known_cross_entropy(logits: Tensor, targets: Tensor) -> tuple[Tensor, int]:
    """Mean cross-entropy over the positions whose target is known (``>= 0``): a negative
    target (padding, or a class the training split never had) adds nothing.

    Args:
        logits: ``(B, T, K)``.
        targets: ``(B, T)`` class ids, negative where unknown.

    Returns:
        The mean loss (zero with no gradient signal when no target is known) and the number
        of known positions.
    """
    known = targets >= 0  # (B, T)
    losses = F.cross_entropy(logits.flatten(0, 1).float(), targets.clamp(min=0).flatten(), reduction="none")
    return _masked_mean(losses, known.flatten())
