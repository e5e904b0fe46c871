"""The state and steps of one training call (:class:`TrainingLoop`), which
:func:`seqframe.engine.trainer.train` drives: one optimizer step per ``train.accumulate``
batches, evaluation and checkpoints when due, exact resume from a checkpoint's state, and
the stop checks, in one process or several. Imports layer 0 only.
"""

from __future__ import annotations

import logging
import math
import sys
import time
import warnings
from collections.abc import Sequence
from typing import Any

import torch

from seqframe.cache import cached_encode
from seqframe.engine.callbacks import Callback
from seqframe.engine.checkpoint import Checkpoint, CheckpointStore
from seqframe.engine.distributed import (
    World,
    all_gather_objects,
    broadcast,
    describe_run,
    rank_state,
    run_on_main,
    shard_batch,
)
from seqframe.engine.monitor import MetricMonitor
from seqframe.engine.precision import Precision
from seqframe.engine.result import TrainResult
from seqframe.engine.rng import capture_rng, restore_rng, seed_everything
from seqframe.engine.schedules import LRSchedule
from seqframe.engine.signals import StopRequest
from seqframe.engine.step import GradientStep
from seqframe.errors import NonFiniteError, RecipeError, RecipeIssue, TrainingInterrupted
from seqframe.interfaces import EvalSettings, Task, TextSource, check_batches
from seqframe.optim import build_optimizer
from seqframe.pipeline import Pipeline

__all__ = ["TrainingLoop", "count_chars", "task_inputs"]

_log = logging.getLogger("seqframe")


def _move(value: Any, device: torch.device | str) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, (tuple, list)):
        return type(value)(_move(v, device) for v in value)
    return value


def task_inputs(task: Task, data: TextSource, split: str) -> list[Any]:
    """What the task encodes for ``split`` (:meth:`Task.inputs`: texts or examples)."""
    return list(task.inputs(data, split))


def count_chars(inputs: Sequence[Any]) -> int:
    """Characters in plain-text inputs (for bits per character); 0 for structured examples."""
    return sum(len(x) for x in inputs if isinstance(x, str))


class TrainingLoop:
    """The state of one training call; :meth:`state_dict` is what a checkpoint stores."""

    def __init__(
        self,
        pipeline: Pipeline,
        callbacks: Sequence[Callback],
        device: torch.device,
        store: CheckpointStore | None,
        stop: StopRequest,
        world: World,
    ) -> None:
        if pipeline.data is None:
            raise ValueError("train: the pipeline has no data source")
        self.pipeline, self.config, self.callbacks = pipeline, pipeline.train, list(callbacks)
        self.device, self.store, self.stop, self.world = device, store, stop, world
        config, task = self.config, pipeline.task
        if config.batch_size < world.size:
            raise RecipeError(
                [
                    RecipeIssue(
                        "train.batch_size",
                        (
                            f"{config.batch_size} is smaller than the {world.size} processes training together; each process "
                            f"trains on its share of every batch, so raise train.batch_size to at least {world.size} or start "
                            "fewer processes"
                        ),
                    )
                ]
            )
        try:
            self.precision = Precision(config.precision, device)
        except ValueError as exc:
            raise RecipeError(str(exc)) from None
        seed_everything(config.seed + world.rank)  # same data order on every rank, its own dropout masks
        self.model = pipeline.model.to(device).train()
        tokenizers = pipeline.tokenizers
        ids = cached_encode(task, tokenizers, task_inputs(task, pipeline.data, "train"))
        valid_inputs = task_inputs(task, pipeline.data, "valid")
        self.valid = (
            (
                cached_encode(task, tokenizers, valid_inputs),
                EvalSettings(tokenizers, config.batch_size, device, count_chars(valid_inputs)),
            )
            if valid_inputs
            else None
        )
        self.stream = check_batches(task, task.train_batches(ids, config.batch_size, config.seed, tokenizers))
        self.optimizer = build_optimizer(self.model.parameters(), dict(config.optimizer))
        self.schedule = LRSchedule(self.optimizer, config.scheduler, config.steps)
        early = config.early_stopping
        self.early: MetricMonitor | None = None
        self.best = MetricMonitor()  # the validation loss, unless early stopping names a metric
        if early is not None:
            where = "train.early_stopping.metric"
            self.early = MetricMonitor(early.metric, early.mode, early.min_delta, early.patience, where)
            self.best = MetricMonitor(early.metric, early.mode, where=where)
        self.saving = bool(broadcast(store is not None, world))  # rank 0 decides; all ranks join each save
        self.stepper: GradientStep | None = None  # built in run(), after any restore
        self.carry: Any = None
        self.step, self.skips, self.saved_step, self.agreed_stop = 0, 0, -1, False
        self.result = TrainResult(
            deterministic=config.deterministic,
            world_size=world.size,
            effective_batch=config.batch_size * config.accumulate,
        )

    def state_dict(self) -> dict[str, Any]:
        """Everything besides the weights that the next step depends on. With several
        processes, each rank's RNG states and TBPTT carry are gathered under ``ranks`` (a
        collective: every rank calls this at the same step)."""
        data = self.stream.state_dict()
        state = {
            "step": self.step,
            "epoch": (data or {}).get("epoch"),
            "data": data,
            "carry": _move(self.carry, "cpu"),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "best": self.best.state_dict(),
            "early_stopping": self.early.state_dict() if self.early else None,
            "skips": self.skips,
            "rng": capture_rng(),
            "precision": self.precision.state_dict(),
            "world_size": self.world.size,
        }
        if self.world.distributed:
            state["ranks"] = all_gather_objects({"rng": state["rng"], "carry": state["carry"]}, self.world)
        return state

    def restore(self, checkpoint: Checkpoint) -> None:
        """Continue exactly where ``checkpoint`` left off (under several processes, rank 0
        loads the weights and DDP copies them to the others when training starts)."""
        state = checkpoint.state
        if self.world.is_main:
            checkpoint.load_weights(self.model)
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        if state["data"] is not None:
            self.stream.load_state_dict(state["data"])
        else:
            warnings.warn(
                "the task's batches cannot be resumed; training data restarts from the beginning", stacklevel=3
            )
        self.best.load_state_dict(state["best"])
        if self.early and state["early_stopping"]:
            self.early.load_state_dict(state["early_stopping"])
        self.precision.load_state_dict(state.get("precision"))
        self.skips = int(state["skips"])
        self.step = self.saved_step = self.result.step = self.result.start_step = checkpoint.step
        self.result.checkpoint = str(checkpoint.path)
        rng, carry, note = rank_state(state, self.world)
        if note and self.world.is_main:
            warnings.warn(note, stacklevel=3)
        self.carry = _move(carry, self.device)
        if rng is not None:
            restore_rng(rng)  # last: nothing above may draw from the restored generators
        if self.step >= self.config.steps:
            warnings.warn(
                f"the checkpoint is at step {self.step} and train.steps is {self.config.steps}: "
                "nothing to train (raise train.steps to continue)",
                stacklevel=3,
            )

    def run(self) -> TrainResult:
        """Train to ``train.steps`` (or an early stop)."""
        config = self.config
        self.stepper = GradientStep(
            self.model,
            self.optimizer,
            self.pipeline.task,
            self.precision,
            self.world,
            config.accumulate,
            config.max_grad_norm,
            self.device,
        )
        if self.world.is_main:
            _log.info(describe_run(config.batch_size, config.accumulate, config.precision, self.device, self.world))
            if self.precision.note is not None and self.step < config.steps:
                warnings.warn(self.precision.note, stacklevel=3)
        for callback in self.callbacks:
            callback.on_train_start(config.steps, self.step)
        try:
            while self.step < config.steps and not self.result.stopped_early:
                self.step += 1
                row = self._train_step(self.step)
                for callback in self.callbacks:
                    callback.on_train_batch_end(self.step, row)
                self._after_step(self.step)
        except BaseException as exc:
            self._end_callbacks(exc)
            raise
        self._end_callbacks(None)
        if self.result.skipped_steps:
            warnings.warn(
                f"{self.result.skipped_steps} non-finite step(s) were skipped (train.on_nonfinite: skip)", stacklevel=3
            )
        return self.result

    def _end_callbacks(self, in_flight: BaseException | None) -> None:
        """Tell every callback training ended. One that raises does not stop the others, nor
        hide the error that ended training (it is attached to it as a note)."""
        failures: list[Exception] = []
        for callback in self.callbacks:
            try:
                callback.on_train_end(self.result.step)
            except Exception as exc:  # reported below, after every callback ran
                failures.append(exc)
        if in_flight is not None:
            for failure in failures:
                note = f"while training stopped, {type(failure).__name__} in on_train_end: {failure}"
                if sys.version_info >= (3, 11):
                    in_flight.add_note(note)
                else:  # pragma: no cover - Python 3.10 has no exception notes
                    warnings.warn(note, stacklevel=2)
        elif failures:
            raise failures[0]

    def _next_batch(self) -> tuple[dict[str, Any], bool]:
        """This rank's rows of the next batch, on the device, and whether it has real rows."""
        batch, real = shard_batch(next(self.stream), self.world)
        return {
            k: v.to(self.device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()
        }, real

    def _train_step(self, step: int) -> dict[str, Any]:
        start = time.perf_counter()
        assert self.stepper is not None, "built by run()"
        self.schedule.apply(step)
        out = self.stepper.compute(self._next_batch, self.carry, self.stop.signum or 0)
        self.agreed_stop = bool(out.stop_signal)  # some rank had a stop request when the step began
        if out.stop_signal and not self.stop.requested:
            self.stop.request(out.stop_signal)  # another rank was asked to stop: stop together
        value, grad_norm = out.loss, out.grad_norm
        row = {"loss": value, "lr": self.optimizer.param_groups[0]["lr"], "grad_norm": grad_norm}
        if out.tokens == 0:  # an all-padding batch teaches nothing: never a 0/0 loss nor an optimizer step
            self.stepper.discard()
            self.result.empty_batches += 1
            row["skipped_empty"] = True
        elif math.isfinite(value) and (math.isfinite(grad_norm) or self.precision.scaler is not None):
            if not self.stepper.apply():  # fp16: the scaler skipped an overflowing step and lowered its scale
                self.result.overflow_steps += 1
                row["overflow"] = True
            self.carry, self.skips = out.carry, 0
        else:
            self._non_finite(step, value, grad_norm)
            self.stepper.discard()  # nothing of this step reaches the weights
            self.carry = None  # the state may be NaN too: the next window starts from zero
            self.result.skipped_steps += 1
            row["skipped"] = True
        self.result.step, self.result.loss = step, value
        row["tokens_per_s"] = out.tokens / max(time.perf_counter() - start, 1e-9)
        return row

    def _non_finite(self, step: int, value: float, grad_norm: float) -> None:
        """A NaN or infinite loss: raise under ``error`` (or after too many skips), so a diverged
        run stops with its step named instead of writing NaN weights; otherwise count the skip."""
        data = self.stream.state_dict() or {}
        where = f"step {step}" + (f" (epoch {data['epoch']}, batch {data['index'] - 1})" if "index" in data else "")
        what = f"the loss is {value}" if not math.isfinite(value) else f"the gradient norm is {grad_norm}"
        kept = (
            f"the last checkpoint is {self.result.checkpoint}"
            if self.result.checkpoint
            else "no checkpoint was written"
        )
        if self.config.on_nonfinite == "error":
            raise NonFiniteError(
                f"{where}: {what}; training stopped before the optimizer step and {kept} "
                "(lower train.optimizer.lr, set train.max_grad_norm, or set train.on_nonfinite: skip)"
            )
        self.skips += 1
        if self.skips > self.config.max_consecutive_skips:
            raise NonFiniteError(
                f"{where}: {what}; {self.skips} non-finite steps in a row exceed "
                f"train.max_consecutive_skips ({self.config.max_consecutive_skips}); {kept}"
            )

    def _after_step(self, step: int) -> None:
        final = step == self.config.steps
        improved = self._evaluate(step, final)
        if self.early is not None and self.early.exhausted:
            self.result.stopped_early = final = True
        every = self.config.checkpoint.every
        if self.saving and ((every and step % every == 0) or improved or final):
            self._save(step, improved)
        # Several ranks stop at the step they agreed on (one may have its signal a moment later).
        if self.agreed_stop if self.world.distributed else self.stop.requested:
            path = self._save(step, False) if self.saving else None
            raise TrainingInterrupted(self.stop.signal_name, self.stop.signum or 2, step, path)

    def _evaluate(self, step: int, final: bool) -> bool:
        """Validate when due; returns True at a new best. Only scheduled evaluations (every
        ``eval_every``) feed early stopping and reduce-on-plateau, so where a run ends does
        not change how a resumed run trains."""
        scheduled = bool(self.config.eval_every) and step % self.config.eval_every == 0
        if self.valid is None or not (scheduled or final):
            return False
        ids, settings = self.valid
        metrics = run_on_main(lambda: self.pipeline.task.evaluate(self.model, ids, settings), self.world)
        self.result.evaluations.append({"step": step, **metrics})
        for callback in self.callbacks:
            callback.on_eval_end(step, metrics)
        improved = self.best.update(metrics)
        if scheduled:
            self.schedule.observe(metrics)
            if self.early is not None:
                self.early.update(metrics)
        return improved

    def _save(self, step: int, best: bool) -> str:
        """Write the checkpoint of ``step`` (once, however many reasons) and mark it best;
        under several processes every rank gathers its state and rank 0 writes."""
        state = self.state_dict() if self.saved_step != step else None

        def write() -> str:
            if self.store is None:
                raise RuntimeError("train: rank 0 has no checkpoint store")
            path = self.store.path_for(step)
            if state is not None:
                path = self.store.save(
                    step, self.model, state, self.pipeline.tokenizer.state_dict(), self.pipeline.extra_state()
                )
            if best and self.best.best is not None:
                self.store.mark_best(path, self.best.metric, self.best.best)
            return str(path)

        path = run_on_main(write, self.world)
        self.saved_step = step
        self.result.checkpoint = path
        return path
