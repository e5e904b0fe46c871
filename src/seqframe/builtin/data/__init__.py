"""The built-in data sources, grouped by where their data comes from; they are registered by
:mod:`seqframe.builtin.datasets`.

- :mod:`.local`: the user's files (``text_files``, ``table_files``, ``labelled_files``,
  ``tagged_files``, ``parallel_files``), with one path and split policy.
- :mod:`.hub`: datasets on the HuggingFace Hub (``huggingface``, ``huggingface_labelled``,
  ``huggingface_parallel``, ``huggingface_tagged``), with one loader.
- :mod:`.generated`: data made offline (number words, the pydoc topics, long-memory problems).

Shared by all of them: :mod:`.splits` (the splits, the example policy for undecodable,
over-long and empty examples, seeded splitting, and :class:`~.splits.SplitSource`, the base
of text sources), :mod:`.sources` (the base of example sources), :mod:`.memory` (examples
held in memory) and :mod:`.features` (feature vectors from raw text).

The concept is called a *data source* everywhere: the recipe key is ``data``, the contracts
are :class:`~seqframe.interfaces.TextSource` and its kin, and every class ends in ``Source``.
Only the hook keeps its published name, ``seqframe_datasets`` (registry kind ``dataset``),
because third-party plugins implement it. Imports layer 0 only.
"""
