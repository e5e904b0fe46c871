"""The building blocks of the built-in data sources (registered by
:mod:`seqframe.builtin.datasets`): example policy and splitting, local text files, table
files and Hub datasets through HuggingFace ``datasets``. Imports layer 0 only."""

from seqframe.builtin.data.examples import SPLITS, ExamplePolicy, SplitSource, split_examples, split_text
from seqframe.builtin.data.files import TextFilesDataset, read_parallel
from seqframe.builtin.data.hub import HuggingFaceDataset
from seqframe.builtin.data.tables import TableFilesDataset

__all__ = [
    "SPLITS", "ExamplePolicy", "HuggingFaceDataset", "SplitSource", "TableFilesDataset", "TextFilesDataset",
    "read_parallel", "split_examples", "split_text",
]
