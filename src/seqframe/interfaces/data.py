"""Protocols of data sources: what the engine and tasks read from a recipe's ``data``.

Layer 0: imports only the stdlib.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["DataSource"]


@runtime_checkable
class DataSource(Protocol):
    """Yields the raw text examples of a split (``"train"``, ``"valid"``, ``"test"``)."""

    def texts(self, split: str) -> list[str]: ...
