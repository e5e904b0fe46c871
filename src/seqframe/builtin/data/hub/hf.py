"""Interop with HuggingFace ``datasets``: a quiet context for loads whose errors seqframe
translates itself, the root cause of a wrapped library error, and the offline setting.

``datasets`` is imported inside the functions, never at module import, and reads
``HF_HUB_OFFLINE`` / ``HF_DATASETS_OFFLINE`` when it is first imported.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = ["causes", "offline_setting", "quiet"]


@contextlib.contextmanager
def quiet(*, progress: bool = False) -> Iterator[None]:
    """Silence ``datasets`` logging (and its progress bars unless ``progress``) for one call,
    then restore the caller's settings."""
    import datasets
    from datasets.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars_were_off = datasets.are_progress_bars_disabled()
    hf_logging.set_verbosity(hf_logging.CRITICAL)
    if not progress:
        datasets.disable_progress_bars()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if not progress and not bars_were_off:
            datasets.enable_progress_bars()


def causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and its chain of causes/contexts, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def offline_setting() -> str | None:
    """``"HF_HUB_OFFLINE=1"``-style text naming what turned offline mode on, or None if it is off."""
    import datasets.config

    if not (datasets.config.HF_HUB_OFFLINE or getattr(datasets.config, "HF_DATASETS_OFFLINE", False)):
        return None
    named = [f"{name}={os.environ[name]}" for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE") if name in os.environ]
    return ", ".join(named) or "offline mode (set before datasets was imported)"
