"""The masked losses shared by the built-in tasks, against hand-computed values."""

from __future__ import annotations

import math

import torch

from seqframe.builtin.tasks.losses import known_cross_entropy, masked_cross_entropy


def test_masked_cross_entropy_counts_only_positions_within_each_length() -> None:
    logits = torch.zeros(2, 3, 4)  # uniform: every real position costs log 4
    targets = torch.tensor([[1, 2, 3], [0, 9999 % 4, 1]])
    loss, count = masked_cross_entropy(logits, targets, torch.tensor([3, 1]))
    assert count == 4
    assert math.isclose(float(loss), math.log(4), rel_tol=1e-6)


def test_label_smoothing_changes_the_loss_of_a_confident_prediction() -> None:
    logits = torch.tensor([[[10.0, 0.0]]])
    targets, lengths = torch.tensor([[0]]), torch.tensor([1])
    plain, _ = masked_cross_entropy(logits, targets, lengths)
    smoothed, _ = masked_cross_entropy(logits, targets, lengths, label_smoothing=0.2)
    assert float(smoothed) > float(plain)


def test_known_cross_entropy_skips_negative_targets_and_is_zero_without_any() -> None:
    logits = torch.zeros(1, 3, 2, requires_grad=True)
    loss, count = known_cross_entropy(logits, torch.tensor([[1, -1, 0]]))
    assert count == 2 and math.isclose(float(loss), math.log(2), rel_tol=1e-6)
    none, zero = known_cross_entropy(logits, torch.full((1, 3), -1))
    none.backward()
    assert zero == 0 and float(none) == 0.0 and logits.grad is not None and float(logits.grad.abs().sum()) == 0.0
