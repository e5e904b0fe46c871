"""Training, evaluation and run-directory I/O for a :class:`~seqframe.pipeline.Pipeline`.

Imports layer 0 only: the engine knows nothing of recipes or plugins."""

from seqframe.engine.callbacks import Callback, MetricsWriter, ProgressBar
from seqframe.engine.rundir import load_weights, read_json, save_weights, write_atomic
from seqframe.engine.trainer import TrainResult, resolve_device, train

__all__ = [
    "Callback",
    "MetricsWriter",
    "ProgressBar",
    "TrainResult",
    "load_weights",
    "read_json",
    "resolve_device",
    "save_weights",
    "train",
    "write_atomic",
]
