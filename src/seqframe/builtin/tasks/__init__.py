"""The built-in tasks, one package each (``language_modelling``, ``classification``,
``tagging``, ``one_to_many``, ``translation``, ``sequence_regression``), every package laid
out alike: ``task.py`` (the :class:`~seqframe.interfaces.Task` and its ``seqframe_tasks``
hook), ``model.py``, ``batching.py`` and, where the task exports, ``exported.py``.

Shared by several tasks: :mod:`.batching` (the seeded, resumable length-bucketed batcher),
:mod:`.losses` (masked and label-smoothed cross-entropy), :mod:`.search` (greedy and beam
search over any step-wise decoder), :mod:`.exported` (export-plan pieces),
:mod:`.encoding` and :mod:`.samples` (the tiny built-in sample data). Metrics live in
:mod:`seqframe.builtin.metrics`. Imports layers 0-0b only.
"""
