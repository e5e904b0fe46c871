"""The hooks seqframe calls: one task and one data source."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import seqframe
from seqframe_regression.data import SpelledNumbersDataset
from seqframe_regression.task import TextRegressionTask


@seqframe.hookimpl
def seqframe_tasks() -> Mapping[str, Any]:
    """Text regression: one number per text."""
    return {"text_regression": TextRegressionTask}


@seqframe.hookimpl
def seqframe_datasets() -> Mapping[str, Any]:
    """Numbers spelt out in words, with their values."""
    return {"spelled_numbers": SpelledNumbersDataset}
