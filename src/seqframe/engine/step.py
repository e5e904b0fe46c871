"""One optimizer step's gradient: ``train.accumulate`` micro-batches, mixed precision and
DistributedDataParallel, weighted so that the result equals one large batch's gradient.

Each micro-batch's mean loss is multiplied by its target count before ``backward``; after
the last one the gradients are divided by the step's target count summed over every
micro-batch and rank. An accumulated or distributed step therefore gives the gradient of
the mean loss over all its targets, exactly as one batch holding them all would (up to
float rounding), however unevenly the targets fall. DDP averages gradients over ranks, so
the division multiplies by the world size first. One all-gather per step also agrees on
the loss, the target count and any stop signal, so every rank takes the same decisions.
Imports layer 0 only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from seqframe.engine.distributed import World, reduce_step
from seqframe.engine.precision import Precision
from seqframe.errors import RecipeError

__all__ = ["GradientStep", "StepOutcome"]


@dataclass
class StepOutcome:
    """What one step's forward and backward passes found, agreed by every rank.

    Attributes:
        loss: mean loss per target over the whole step (all micro-batches and ranks).
        tokens: targets of the whole step (0: nothing to learn from; the step is skipped).
        grad_norm: the total gradient norm before clipping (NaN/inf when a gradient is).
        carry: the task's carry after the last micro-batch (this rank's rows).
        stop_signal: the highest signal number any rank was asked to stop by (0: none).
    """

    loss: float
    tokens: int
    grad_norm: float
    carry: Any
    stop_signal: int


class GradientStep:
    """Computes the gradient of each step; :meth:`apply` then updates the weights.

    Args:
        model: the model (the optimizer's parameters); wrapped in DDP here when the
            world has several ranks. Evaluation and checkpoints use it unwrapped.
        optimizer: its optimizer.
        task: the task (``training_step``).
        precision: autocast and loss scaling.
        world: the ranks training together.
        accumulate: micro-batches per optimizer step.
        max_grad_norm: clip the total gradient norm to this (None: no clipping).
        device: the training device.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        task: Any,
        precision: Precision,
        world: World,
        accumulate: int,
        max_grad_norm: float | None,
        device: torch.device,
    ) -> None:
        self.model, self.optimizer, self.task, self.precision = model, optimizer, task, precision
        self.world, self.accumulate, self.max_grad_norm, self.device = world, accumulate, max_grad_norm, device
        self.train_model: nn.Module = model
        if world.distributed:
            # Built after any resume: the constructor copies rank 0's weights to every rank.
            ids = [device.index] if device.type == "cuda" else None
            self.train_model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        # One process without accumulation keeps the plain mean-loss backward: no weighting needed.
        self.weighted = world.distributed or accumulate > 1

    def compute(
        self, next_batch: Callable[[], tuple[dict[str, Any], bool]], carry: Any, stop_signal: int
    ) -> StepOutcome:
        """Forward and backward over ``accumulate`` micro-batches from ``next_batch``
        (which returns this rank's batch and whether it holds real rows), then agree on
        the totals with the other ranks and normalise, unscale and clip the gradients."""
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum: torch.Tensor | float = 0.0
        tokens = 0
        for micro in range(self.accumulate):
            batch, real = next_batch()
            last = micro == self.accumulate - 1
            sync = self.train_model.no_sync() if self.world.distributed and not last else contextlib.nullcontext()
            with sync:
                loss, count, carry = self._forward(batch, carry)
                count = int(count) if real else 0  # a rank past a short batch's end contributes nothing
                self.precision.scale(loss * count if self.weighted else loss).backward()
            part = loss.detach().double() * count if self.weighted else loss.detach()
            loss_sum = part if micro == 0 else loss_sum + part
            tokens += count
        if self.world.distributed:
            (loss_total, total), (signum,) = reduce_step(
                [loss_sum, float(tokens)], [float(stop_signal)], self.device, self.world
            )
            tokens, stop_signal = round(total), int(signum)
        else:
            loss_total = float(loss_sum)
        if tokens == 0:
            return StepOutcome(0.0, 0, 0.0, carry, stop_signal)
        if self.weighted:
            self._divide_gradients(tokens / self.world.size)
            loss_total /= tokens
        self.precision.unscale(self.optimizer)
        grad_norm = _clip(self.model, self.max_grad_norm)
        return StepOutcome(loss_total, tokens, grad_norm, carry, stop_signal)

    def _forward(self, batch: dict[str, Any], carry: Any) -> tuple[torch.Tensor, int, Any]:
        try:
            with self.precision.autocast():
                return self.task.training_step(self.train_model, batch, carry)  # type: ignore[no-any-return]
        except RuntimeError as exc:
            if self.precision.name == "fp16" and self.device.type == "cpu" and "primitive descriptor" in str(exc):
                raise RecipeError(
                    "train.precision: fp16 on this CPU: torch's oneDNN recurrent kernels (lstm, gru, elman) have no "
                    f"float16 version here ({str(exc).splitlines()[0]}); use bf16 on CPU (no loss scaling needed) "
                    "or fp16 on a GPU"
                ) from exc
            raise

    def _divide_gradients(self, divisor: float) -> None:
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        if grads:
            torch._foreach_div_(grads, divisor)

    def apply(self) -> bool:
        """Step the optimizer; returns False when the fp16 scaler skipped an overflowing step."""
        return self.precision.step(self.optimizer)

    def discard(self) -> None:
        """Drop this step's gradients (nothing of it reaches the weights)."""
        self.precision.skip()
        self.optimizer.zero_grad(set_to_none=True)


def _clip(model: nn.Module, max_norm: float | None) -> float:
    """Clip to ``max_norm`` (if set); returns the total gradient norm before clipping, which
    is NaN/inf when a gradient is (``clip_grad_norm_`` does not raise on that)."""
    params = [p for p in model.parameters() if p.grad is not None]
    if not params:
        return 0.0
    if max_norm is None:
        return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params])))
    return float(torch.nn.utils.clip_grad_norm_(params, max_norm))
