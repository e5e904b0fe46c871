"""seqframe-regression: the ``text_regression`` task and the ``spelled_numbers`` data source.

seqframe finds them through the ``seqframe`` entry point ``regression``, which names
:mod:`seqframe_regression.plugin`; nothing here needs importing by hand.
"""

from __future__ import annotations

from seqframe_regression.data import SpelledNumbersDataset
from seqframe_regression.task import TextRegressionTask, TextRegressor

__all__ = ["SpelledNumbersDataset", "TextRegressionTask", "TextRegressor"]
__version__ = "0.1.0"
