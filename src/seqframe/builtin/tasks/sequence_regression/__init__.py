"""``sequence_regression``: one real value from a sequence of real vectors.

The task (``task.py``, registered through ``seqframe_tasks``), its model (``model.py``),
its batching (``batching.py``) and, where it exports, its export plan (``exported.py``).
This package module re-exports the task's public names and is the plugin
``builtin.sequence_regression``.
"""

from seqframe.builtin.tasks.sequence_regression.task import SequenceRegressionTask, parse_sequence, seqframe_tasks

__all__ = ["SequenceRegressionTask", "parse_sequence", "seqframe_tasks"]
