"""The training loop: one optimizer step per batch, explicit callbacks, periodic evaluation.

Trains any :class:`~seqframe.pipeline.Pipeline` whose task provides ``encode``,
``train_batches``, ``training_step`` and ``evaluate``. Imports layer 0 only.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from seqframe.engine.callbacks import Callback
from seqframe.errors import NonFiniteError
from seqframe.pipeline import Pipeline

__all__ = ["TrainResult", "build_optimizer", "resolve_device", "train"]

_OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


@dataclass
class TrainResult:
    """What :func:`train` returns: the last step, the last training loss and every
    validation row."""

    step: int = 0
    loss: float = math.nan
    evaluations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def final_eval(self) -> dict[str, Any] | None:
        """The last validation row, if any."""
        return self.evaluations[-1] if self.evaluations else None


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; anything else as torch spells it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"train.device is {name!r} but CUDA is not available here; use 'auto' or 'cpu'")
    return device


def build_optimizer(params: Any, settings: dict[str, Any]) -> torch.optim.Optimizer:
    """An optimizer from ``{"name": ..., **torch options}``."""
    options = dict(settings)
    name = options.pop("name", "adam")
    if name not in _OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(_OPTIMIZERS)}")
    return _OPTIMIZERS[name](params, **options)


def seed_everything(seed: int) -> None:
    """Seed Python's ``random`` and torch (CPU and CUDA)."""
    random.seed(seed)
    torch.manual_seed(seed)


def train(pipeline: Pipeline, callbacks: Sequence[Callback] = ()) -> TrainResult:
    """Train ``pipeline.model`` on ``pipeline.data``'s train split.

    Args:
        pipeline: a built pipeline with a data source.
        callbacks: event receivers (progress bar, metrics writer, checkpointing...).

    Returns:
        The final step, training loss and validation rows.

    Raises:
        NonFiniteError: the loss or gradient norm became NaN/inf (names the step).
    """
    config, task, model = pipeline.train, pipeline.task, pipeline.model
    if pipeline.data is None:
        raise ValueError("train: the pipeline has no data source")
    device = resolve_device(config.device)
    seed_everything(config.seed)
    model.to(device).train()
    ids = task.encode(pipeline.tokenizer, pipeline.data.texts("train"))
    valid_texts = pipeline.data.texts("valid")
    valid_ids = task.encode(pipeline.tokenizer, valid_texts) if valid_texts else None
    valid_chars = sum(len(t) for t in valid_texts)
    stream = task.train_batches(ids, config.batch_size, config.seed)
    optimizer = build_optimizer(model.parameters(), dict(config.optimizer))
    result = TrainResult()
    for callback in callbacks:
        callback.on_train_start(config.steps, 0)
    carry: Any = None
    for step in range(1, config.steps + 1):
        start = time.perf_counter()
        batch = {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in next(stream).items()}
        loss, tokens, carry = task.training_step(model, batch, carry)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = _clip(model, config.max_grad_norm)
        value = float(loss.detach())
        if not math.isfinite(value) or not math.isfinite(grad_norm):
            what = "loss" if not math.isfinite(value) else "gradient norm"
            raise NonFiniteError(
                f"step {step}: the {what} is {value if what == 'loss' else grad_norm}; training stopped "
                "before the optimizer step (lower train.optimizer.lr or set train.max_grad_norm)"
            )
        optimizer.step()
        elapsed = time.perf_counter() - start
        result.step, result.loss = step, value
        row = {"loss": value, "lr": optimizer.param_groups[0]["lr"], "grad_norm": grad_norm,
               "tokens_per_s": tokens / max(elapsed, 1e-9)}
        for callback in callbacks:
            callback.on_train_batch_end(step, row)
        at_eval = config.eval_every and step % config.eval_every == 0
        if valid_ids is not None and (at_eval or step == config.steps):
            metrics = task.evaluate(model, valid_ids, config.batch_size, device, valid_chars)
            result.evaluations.append({"step": step, **metrics})
            for callback in callbacks:
                callback.on_eval_end(step, metrics)
    for callback in callbacks:
        callback.on_train_end(result.step)
    return result


def _clip(model: torch.nn.Module, max_norm: float | None) -> float:
    params = [p for p in model.parameters() if p.grad is not None]
    if not params:
        return 0.0
    if max_norm is None:
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
        return float(norm)
    return float(torch.nn.utils.clip_grad_norm_(params, max_norm))
