"""Data sources that read the user's local files: ``text_files`` (:mod:`.files`),
``table_files`` and ``labelled_files`` (one table reader, :mod:`.tables`, with a
``columns:`` mapping), ``tagged_files`` (:mod:`.tagged`) and ``parallel_files``
(:mod:`.parallel`). Every one of them resolves paths against the recipe's folder and splits
by the one policy of :mod:`.paths`. Imports layer 0 only."""
