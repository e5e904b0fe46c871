"""``language_modelling``: predict the next token (many-to-many in step).

The task (``task.py``, registered through ``seqframe_tasks``), its model (``model.py``),
its batching (``batching.py``) and, where it exports, its export plan (``exported.py``).
This package module re-exports the task's public names and is the plugin
``builtin.language_modelling``.
"""

from seqframe.builtin.tasks.language_modelling.task import (
    LanguageModel,
    LanguageModellingTask,
    TokenStream,
    sample,
    seqframe_tasks,
)

__all__ = ["LanguageModel", "LanguageModellingTask", "TokenStream", "sample", "seqframe_tasks"]
