"""Built-in data sources: ``pydoc_topics`` (English prose embedded in every CPython: the
help topics of ``pydoc_data``, about 0.47 MB, read at run time), ``text_files``,
``table_files`` (CSV/TSV/JSON Lines) and ``huggingface`` (Hub datasets).

A source returns each split as a list of texts. A single stream is cut into contiguous
slices (train first); example-based sources split by a seeded shuffle. Both are
deterministic and never overlap. The sources themselves live in :mod:`seqframe.builtin.data`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seqframe.builtin.data import (
    HuggingFaceDataset, SplitSource, TableFilesDataset, TextFilesDataset, read_parallel, split_examples, split_text,
)
from seqframe.errors import DataError
from seqframe.hookspecs import hookimpl

__all__ = [
    "HuggingFaceDataset", "PydocTopicsDataset", "TableFilesDataset", "TextFilesDataset", "read_parallel",
    "split_examples", "split_text",
]


class PydocTopicsDataset(SplitSource):
    """English prose shipped with CPython (``pydoc_data.topics``), split by position.

    Args:
        valid_fraction: share of the text (from the end, before test) used for validation.
        test_fraction: share of the text at the end used for test.
    """

    name = "pydoc_topics"

    def __init__(self, valid_fraction: float = 0.05, test_fraction: float = 0.05) -> None:
        super().__init__()
        split_text("", valid_fraction, test_fraction)  # validates the fractions
        self.valid_fraction, self.test_fraction = valid_fraction, test_fraction

    def _load(self) -> dict[str, list[str]]:
        try:
            from pydoc_data.topics import topics
        except ImportError as exc:  # some minimal Python builds strip pydoc_data
            raise DataError(
                "data 'pydoc_topics': this Python has no pydoc_data module; use data "
                "{name: text_files, paths: [...]} instead"
            ) from exc
        text = "\n\n".join(topics[key].strip("\n") for key in sorted(topics)) + "\n"
        splits = split_text(text, self.valid_fraction, self.test_fraction)
        return {name: [part] if part else [] for name, part in splits.items()}


@hookimpl
def seqframe_datasets() -> Mapping[str, Any]:
    """Built-in data sources."""
    return {
        "pydoc_topics": PydocTopicsDataset,
        "text_files": TextFilesDataset,
        "table_files": TableFilesDataset,
        "huggingface": HuggingFaceDataset,
    }
