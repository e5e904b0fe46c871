"""A sample plugin whose import fails, like one with a missing dependency."""

import seqframe_sample_missing_dependency  # noqa: F401  (does not exist)
