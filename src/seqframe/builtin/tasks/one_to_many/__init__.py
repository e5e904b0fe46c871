"""``one_to_many``: one input vector conditions the generation of a sequence.

The task (``task.py``, registered through ``seqframe_tasks``), its model (``model.py``),
its batching (``batching.py``) and, where it exports, its export plan (``exported.py``).
This package module re-exports the task's public names and is the plugin
``builtin.one_to_many``.
"""

from seqframe.builtin.tasks.one_to_many.task import OneToManyTask, seqframe_tasks

__all__ = ["OneToManyTask", "seqframe_tasks"]
