"""``classification`` and ``one_to_one``: one label for a whole sequence or vector.

The task (``task.py``, registered through ``seqframe_tasks``), its model (``model.py``),
its batching (``batching.py``) and, where it exports, its export plan (``exported.py``).
This package module re-exports the task's public names and is the plugin
``builtin.classification``.
"""

from seqframe.builtin.tasks.classification.task import ClassificationTask, OneToOneTask, seqframe_tasks

__all__ = ["ClassificationTask", "OneToOneTask", "seqframe_tasks"]
