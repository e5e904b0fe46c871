"""Training, evaluation and run-directory I/O for a :class:`~seqframe.pipeline.Pipeline`.

Imports layer 0 only: the engine knows nothing of recipes or plugins."""

from seqframe.engine.callbacks import Callback, MetricsWriter, ProgressBar
from seqframe.engine.checkpoint import FORMAT_VERSION, Checkpoint, CheckpointStore
from seqframe.engine.monitor import MetricMonitor
from seqframe.engine.plot import LossPlot, render_loss_plot
from seqframe.engine.rundir import RunDir, write_atomic
from seqframe.engine.schedules import SCHEDULES, LRSchedule
from seqframe.engine.signals import StopRequest, signal_handlers
from seqframe.engine.trainer import TrainResult, resolve_device, train
from seqframe.engine.weights import check_weights, load_weights, save_weights

__all__ = [
    "FORMAT_VERSION",
    "SCHEDULES",
    "Callback",
    "Checkpoint",
    "CheckpointStore",
    "LRSchedule",
    "LossPlot",
    "MetricMonitor",
    "MetricsWriter",
    "ProgressBar",
    "RunDir",
    "StopRequest",
    "TrainResult",
    "check_weights",
    "load_weights",
    "render_loss_plot",
    "resolve_device",
    "save_weights",
    "signal_handlers",
    "train",
    "write_atomic",
]
