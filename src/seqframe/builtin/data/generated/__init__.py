"""Data sources that generate their examples offline, with no file to read: number words
(:mod:`.numbers`, through ``num2words``), the pydoc topics embedded in CPython
(:mod:`.pydoc`: ``pydoc_topics`` and ``capitalisation``) and the long-memory problems
(:mod:`.long_memory`: ``adding``, ``copy``). Imports layer 0 only."""
