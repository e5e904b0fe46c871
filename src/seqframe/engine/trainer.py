"""The training loop: one optimizer step per ``train.accumulate`` batches, explicit
callbacks, periodic evaluation, checkpoints, exact resume and a graceful stop on
SIGINT/SIGTERM, in one process or several (``torchrun``).

Trains any :class:`~seqframe.pipeline.Pipeline` whose task provides ``encode``,
``train_batches``, ``training_step`` and ``evaluate``. Each step, in order: set the
learning rate, forward and backward over the micro-batches (:mod:`~seqframe.engine.step`),
clip, check the loss and gradient norm are finite (before ``optimizer.step``), step,
callbacks, evaluation when due, checkpoint when due, then a pending stop request. A
checkpoint therefore holds everything the next step reads: weights, optimizer, schedule,
data position, the TBPTT carry, the fp16 loss scale and every RNG state (of every rank).

Under several processes every rank reads the same batches and trains on its rows
``rank::size`` of each, so the global batch is ``train.batch_size`` whatever the number of
processes; rank 0 alone evaluates and writes checkpoints, and shares what it found, so all
ranks take the same decisions. Imports layer 0 only.
"""

from __future__ import annotations

from collections.abc import Sequence

from seqframe.devices import resolve_device
from seqframe.engine.callbacks import Callback
from seqframe.engine.checkpoint import Checkpoint, CheckpointStore
from seqframe.engine.distributed import DistributedError, World, current_world, is_collective_failure, rank_device
from seqframe.engine.loop import TrainingLoop, count_chars, task_inputs
from seqframe.engine.result import TrainResult
from seqframe.engine.rng import deterministic_mode, seed_everything
from seqframe.engine.signals import StopRequest, signal_handlers
from seqframe.optim import build_optimizer
from seqframe.pipeline import Pipeline

__all__ = ["TrainResult", "build_optimizer", "count_chars", "resolve_device", "seed_everything", "task_inputs", "train"]


def train(
    pipeline: Pipeline,
    callbacks: Sequence[Callback] = (),
    *,
    checkpoints: CheckpointStore | None = None,
    resume_from: Checkpoint | None = None,
    stop: StopRequest | None = None,
    handle_signals: bool = False,
    world: World | None = None,
) -> TrainResult:
    """Train ``pipeline.model`` on ``pipeline.data``'s train split.

    Args:
        pipeline: a built pipeline with a data source.
        callbacks: event receivers (progress bar, metrics writer, plot...).
        checkpoints: where to save checkpoints (None: none are saved).
        resume_from: a checkpoint to continue from exactly (weights, optimizer, schedule,
            data position, TBPTT carry, RNG states, counters).
        stop: a stop request to honour at step boundaries (one is made if None).
        handle_signals: route SIGINT/SIGTERM to ``stop`` during training (main thread only;
            the previous handlers are restored).
        world: the processes training together (default: the process group this process
            joined, if any; see :func:`~seqframe.engine.distributed.init_from_env`). Every
            rank calls ``train`` with the same pipeline; only rank 0 should be given a
            checkpoint store and writing callbacks.

    Returns:
        The final step, training loss and validation rows.

    Raises:
        NonFiniteError: a NaN/inf loss or gradient norm (names the step), with
            ``on_nonfinite: error`` or too many skips in a row.
        TrainingInterrupted: a stop was requested; a checkpoint was saved first.
        CheckpointError: a checkpoint could not be written or loaded.
        RecipeError: ``train.batch_size`` below the number of processes, or a precision
            the device cannot run.
        DistributedError: another rank failed or was lost (a collective operation failed).
    """
    config = pipeline.train
    world = world or current_world()
    device = rank_device(resolve_device(config.device), world)
    stop = stop or StopRequest()
    if world.distributed:  # torchrun passes on the signal each worker may also get directly
        stop.repeat_window_s = max(stop.repeat_window_s, 5.0)
    with deterministic_mode(config.deterministic, device), signal_handlers(stop, handle_signals):
        loop = TrainingLoop(pipeline, callbacks, device, checkpoints, stop, world)
        try:
            if resume_from is not None:
                loop.restore(resume_from)
            return loop.run()
        except RuntimeError as exc:
            if not (world.distributed and is_collective_failure(exc)):
                raise
            raise DistributedError(
                f"rank {world.rank}: a collective operation failed at step {loop.step}: another rank probably "
                f"failed or was stopped (see its message) or its machine was lost ({str(exc).splitlines()[0]})"
            ) from exc
