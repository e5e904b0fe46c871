"""Data sources on the HuggingFace Hub (or in its local cache), all loaded by one
:class:`~.loader.HubLoader` (offline behaviour, revisions, error messages): a text column
(:mod:`.text`: ``huggingface``), labelled and parallel examples (:mod:`.examples`:
``huggingface_labelled``, ``huggingface_parallel``) and tagged tokens (:mod:`.tagged`:
``huggingface_tagged``). :mod:`.hf` holds the interop with the ``datasets`` library.
Imports layer 0 only; ``datasets`` is imported when a source first loads."""
