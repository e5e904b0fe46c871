"""``translation``: encoder-decoder with optional attention (many-to-many delayed).

The task (``task.py``, registered through ``seqframe_tasks``), its model (``model.py``),
its batching (``batching.py``) and, where it exports, its export plan (``exported.py``).
This package module re-exports the task's public names and is the plugin
``builtin.translation``.
"""

from seqframe.builtin.tasks.translation.task import TranslationTask, seqframe_tasks

__all__ = ["TranslationTask", "seqframe_tasks"]
