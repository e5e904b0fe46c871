"""Training events as callback objects (:class:`Callback`), and the experiment-logger
contract (:class:`Logger`) that plugins implement to send a run's metrics elsewhere.

Layer 0: imports only the stdlib.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Callback", "Logger"]


class Callback:
    """Base class: override the events you need. ``row`` is a dict of JSON-able numbers.

    Events, in order: ``on_train_start``, then per step ``on_train_batch_end``, after each
    evaluation ``on_eval_end``, and finally ``on_train_end``.
    """

    def on_train_start(self, total_steps: int, start_step: int) -> None:
        """Called once before the first step (``start_step`` > 0 when resuming)."""

    def on_train_batch_end(self, step: int, row: dict[str, Any]) -> None:
        """Called after every optimizer step with ``step`` (1-based), ``loss``, ``lr``, ..."""

    def on_eval_end(self, step: int, row: dict[str, Any]) -> None:
        """Called after each validation pass with its metrics."""

    def on_train_end(self, step: int) -> None:
        """Called once after the last step (also when stopped early)."""


class Logger(Callback):
    """An experiment logger (``train.loggers`` in a recipe): a :class:`Callback` that
    records every training row (each step) and validation row of a run, plus the text a
    language model generates at the end, somewhere besides ``metrics.jsonl``.

    Registered through the ``seqframe_loggers`` hook; each factory is called as
    ``factory(log_dir, **options)`` with ``log_dir`` a folder of the run directory
    (``logs/<name>/``, created by seqframe and listed in its manifest, so ``--overwrite``
    removes it) and the options written beside the logger's ``name`` in the recipe. Only
    the process of rank 0 logs. A resumed run calls ``on_train_start`` with the step it
    resumes after: rows already logged past it were logged by the interrupted run and come
    again, so a logger drops or hides them (TensorBoard's ``purge_step``).
    """

    def on_sample(self, step: int, text: str) -> None:
        """Called after ``on_train_end`` with the text a language model generated (``sample.txt``)."""

    def close(self) -> None:
        """Called last, also when training failed: release files and connections."""
