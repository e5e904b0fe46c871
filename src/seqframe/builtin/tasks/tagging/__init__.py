"""``tagging``: one tag per input token (many-to-many in step).

The task (``task.py``, registered through ``seqframe_tasks``), its model (``model.py``),
its batching (``batching.py``) and, where it exports, its export plan (``exported.py``).
This package module re-exports the task's public names and is the plugin
``builtin.tagging``.
"""

from seqframe.builtin.tasks.tagging.task import TaggingTask, seqframe_tasks

__all__ = ["TaggingTask", "seqframe_tasks"]
